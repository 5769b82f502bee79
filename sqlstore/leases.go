package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLeaseLost is returned by a write made under a lease that is no longer
// held: another worker took the attempt's job over. The write was refused.
var ErrLeaseLost = errors.New("the attempt's lease was taken over by another worker")

// Lease is one running attempt's hold on its River job (job_leases).
type Lease struct {
	RiverJobID int64
	Token      string
	// JobID is vidjob's job the River job works on.
	JobID string
	// Kind is the River job's kind.
	Kind string
	// Attempt is River's attempt number of the holder.
	Attempt int
	// Host and Holder name the holding worker: its machine, and its work
	// directory there (which lives exactly as long as the worker process).
	Host, Holder string
	Expires      time.Time
}

// dbNowMillis is the database's clock in Unix milliseconds: leases are judged
// by one clock, whichever machines hold and take them.
func (db *DB) dbNowMillis() string {
	if db.Dialect == Postgres {
		return `(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT`
	}
	return `CAST(unixepoch('subsec') * 1000 AS INTEGER)`
}

// AcquireLease records l as the running attempt of its River job, valid for
// ttl, replacing any earlier attempt's lease of the same River job (River
// rescued it and runs it again): that attempt's writes are refused from now on.
func (db *DB) AcquireLease(ctx context.Context, l Lease, ttl time.Duration) error {
	now := db.dbNowMillis()
	_, err := db.SQL.ExecContext(ctx, db.rebind(`INSERT INTO job_leases (river_job_id, token, job_id, kind, attempt, host, holder, acquired_ms, expires_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, `+now+`, `+now+` + ?)
		ON CONFLICT (river_job_id) DO UPDATE SET token = excluded.token, job_id = excluded.job_id, kind = excluded.kind,
			attempt = excluded.attempt, host = excluded.host, holder = excluded.holder,
			acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms`),
		l.RiverJobID, l.Token, l.JobID, l.Kind, l.Attempt, l.Host, l.Holder, ttl.Milliseconds())
	if err != nil {
		return unavailable(fmt.Errorf("acquire lease of river job %d: %w", l.RiverJobID, err))
	}
	return nil
}

// RenewLease extends the lease named by token to ttl from now. It returns
// ErrLeaseLost when the lease is no longer there.
func (db *DB) RenewLease(ctx context.Context, token string, ttl time.Duration) error {
	res, err := db.SQL.ExecContext(ctx, db.rebind(`UPDATE job_leases SET expires_ms = `+db.dbNowMillis()+` + ? WHERE token = ?`), ttl.Milliseconds(), token)
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// ReleaseLease drops the lease named by token, inside tx when it is not nil;
// it reports ErrLeaseLost when the lease was no longer there. Releasing
// inside the transaction that ends the attempt's job locks the lease until
// the commit, so that no takeover can happen between the check and the end.
func (db *DB) ReleaseLease(ctx context.Context, tx Querier, token string) error {
	res, err := db.q(tx).ExecContext(ctx, db.rebind(`DELETE FROM job_leases WHERE token = ?`), token)
	if err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// HoldsLease reports whether the lease named by token is still there.
func (db *DB) HoldsLease(ctx context.Context, token string) (bool, error) {
	var n int
	if err := db.SQL.QueryRowContext(ctx, db.rebind(`SELECT COUNT(*) FROM job_leases WHERE token = ?`), token).Scan(&n); err != nil {
		return false, fmt.Errorf("check lease: %w", err)
	}
	return n > 0, nil
}

const leaseColumns = `river_job_id, token, job_id, kind, attempt, host, holder, expires_ms`

// TakeoverCandidates lists up to limit leases that another worker may take
// over: those expired by the database's clock, and any held by a worker of
// host whose holder dead reports gone (a worker restarted on the same
// machine finds its predecessor's at once).
func (db *DB) TakeoverCandidates(ctx context.Context, host string, dead func(holder string) bool, limit int) ([]Lease, error) {
	rows, err := db.SQL.QueryContext(ctx, db.rebind(`SELECT `+leaseColumns+` FROM job_leases
		WHERE expires_ms < `+db.dbNowMillis()+` OR host = ? ORDER BY expires_ms LIMIT ?`), host, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list leases: %w", err))
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		var expires int64
		if err := rows.Scan(&l.RiverJobID, &l.Token, &l.JobID, &l.Kind, &l.Attempt, &l.Host, &l.Holder, &expires); err != nil {
			return nil, fmt.Errorf("list leases: %w", err)
		}
		l.Expires = time.UnixMilli(expires)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	// Live leases of this host were read only to ask dead about them.
	kept := out[:0]
	for _, l := range out {
		if l.Host != host || dead(l.Holder) {
			kept = append(kept, l)
		} else if l.Expires.Before(time.Now()) {
			kept = append(kept, l) // expired anyway; the takeover checks again by the database's clock
		}
	}
	return kept, nil
}

// TakeLease removes the lease named by token inside tx, for a takeover:
// only when it has expired by the database's clock, or whatever its expiry
// when force is set (its holder is known dead). It reports whether it did;
// a lease renewed or taken meanwhile is left alone.
func (db *DB) TakeLease(ctx context.Context, tx Querier, token string, force bool) (bool, error) {
	q := `DELETE FROM job_leases WHERE token = ?`
	if !force {
		q += ` AND expires_ms < ` + db.dbNowMillis()
	}
	res, err := db.q(tx).ExecContext(ctx, db.rebind(q), token)
	if err != nil {
		return false, fmt.Errorf("take lease: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RequeueJob puts a job whose attempt was taken over back in state queued,
// unless it has ended.
func (db *DB) RequeueJob(ctx context.Context, tx Querier, id string) error {
	_, err := db.q(tx).ExecContext(ctx, db.rebind(`UPDATE jobs SET state = 'queued', progress = 0, updated_ms = ?
		WHERE id = ? AND state NOT IN ('completed', 'failed')`), db.Now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("requeue job %s: %w", id, err)
	}
	return nil
}

// leaseHeld is the condition, for a statement on jobs, that the lease named
// by the next placeholder is still held. On PostgreSQL it locks the lease row
// until the statement's transaction ends, so a takeover waits for the write
// instead of passing it.
func (db *DB) leaseHeld() string {
	if db.Dialect == Postgres {
		return `EXISTS (SELECT 1 FROM job_leases WHERE token = ? FOR SHARE)`
	}
	return `EXISTS (SELECT 1 FROM job_leases WHERE token = ?)`
}
