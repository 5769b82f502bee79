package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vidjob/vidjob"
)

// Postback delivery states kept on a job.
const (
	PostbackNone      = "none"      // the job has no postback_url
	PostbackPending   = "pending"   // delivery is queued or being retried
	PostbackDelivered = "delivered" // the receiver answered 2xx
	PostbackFailed    = "failed"    // every attempt failed; the results stay on /listen
)

// InsertJob stores a newly accepted job in state queued, inside tx so that the
// job and its queue entry are committed together.
func (db *DB) InsertJob(ctx context.Context, tx Querier, job *vidjob.Job) error {
	return db.InsertJobs(ctx, tx, []*vidjob.Job{job})
}

// InsertJobs stores newly accepted jobs in state queued with one statement:
// a group of submissions costs one round trip to the database, not one each.
func (db *DB) InsertJobs(ctx context.Context, tx Querier, jobs []*vidjob.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	var query strings.Builder
	query.WriteString(`INSERT INTO jobs (id, application_id, state, progress, request, postback_state, created_ms, updated_ms) VALUES `)
	args := make([]any, 0, 7*len(jobs))
	now := db.Now()
	for i, job := range jobs {
		req, err := json.Marshal(job.Request)
		if err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		job.State, job.CreatedAt, job.UpdatedAt = vidjob.StateQueued, now, now
		postback := PostbackNone
		if job.Request.PostbackURL != "" {
			postback = PostbackPending
		}
		if i > 0 {
			query.WriteString(", ")
		}
		query.WriteString("(?, ?, ?, 0, ?, ?, ?, ?)")
		args = append(args, job.ID, job.ApplicationID, string(job.State), string(req), postback, now.UnixMilli(), now.UnixMilli())
	}
	if _, err := db.q(tx).ExecContext(ctx, db.rebind(query.String()), args...); err != nil {
		return unavailable(fmt.Errorf("insert %d jobs: %w", len(jobs), err))
	}
	return nil
}

const jobColumns = `id, application_id, state, progress, request, result, created_ms, updated_ms`

// scanJob reads jobColumns, then any extra columns into extra.
func scanJob(row interface{ Scan(...any) error }, extra ...any) (*vidjob.Job, error) {
	var job vidjob.Job
	var state, req string
	var result sql.NullString
	var created, updated int64
	dest := append([]any{&job.ID, &job.ApplicationID, &state, &job.Progress, &req, &result, &created, &updated}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	job.State = vidjob.State(state)
	job.CreatedAt, job.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	if err := json.Unmarshal([]byte(req), &job.Request); err != nil {
		return nil, fmt.Errorf("decode job %s request: %w", job.ID, err)
	}
	if result.Valid {
		job.Result = new(vidjob.Result)
		if err := json.Unmarshal([]byte(result.String), job.Result); err != nil {
			return nil, fmt.Errorf("decode job %s result: %w", job.ID, err)
		}
	}
	return &job, nil
}

// FindJob returns the job, with its Run once it is done, or an ENOTFOUND error.
func (db *DB) FindJob(ctx context.Context, id string) (*vidjob.Job, error) {
	var run sql.NullString
	var finished, delivered sql.NullInt64
	job, err := scanJob(db.SQL.QueryRowContext(ctx, db.rebind(`SELECT `+jobColumns+`, run, finished_ms, delivered_ms FROM jobs WHERE id = ?`), id),
		&run, &finished, &delivered)
	if err == nil && run.Valid {
		job.Run = new(vidjob.Run)
		if err := json.Unmarshal([]byte(run.String), job.Run); err != nil {
			return nil, fmt.Errorf("decode job %s run: %w", id, err)
		}
		if finished.Valid && delivered.Valid {
			job.Run.Phases = append(job.Run.Phases, vidjob.PhaseTime{Phase: vidjob.PhasePostback, Millis: max(0, delivered.Int64-finished.Int64)})
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vidjob.Errorf(vidjob.ENOTFOUND, "Job %q is not known.", id)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("find job: %w", err))
	}
	return job, nil
}

// SetState moves a running job to state with progress, unless it has already
// ended: a late update from a worker never reopens a finished job.
func (db *DB) SetState(ctx context.Context, id string, state vidjob.State, progress float64) error {
	return db.SetStateHeld(ctx, id, "", state, progress)
}

// SetStateHeld is SetState by the attempt holding lease (a token of
// job_leases; "" for none): the statement itself checks that the lease is
// still held, and ErrLeaseLost says it was not and nothing was written.
func (db *DB) SetStateHeld(ctx context.Context, id, lease string, state vidjob.State, progress float64) error {
	q := `UPDATE jobs SET state = ?, progress = ?, updated_ms = ? WHERE id = ? AND state NOT IN ('completed', 'failed')`
	args := []any{string(state), progress, db.Now().UnixMilli(), id}
	if lease != "" {
		q += ` AND ` + db.leaseHeld()
		args = append(args, lease)
	}
	res, err := db.SQL.ExecContext(ctx, db.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("set job %s state: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 && lease != "" {
		if held, err := db.HoldsLease(ctx, lease); err == nil && !held {
			return ErrLeaseLost
		}
	}
	return nil
}

// FinishJob records a job's end inside tx: its final state, result and run
// and, for a completed job, its charge. It reports false when the job had already ended, in
// which case nothing was written; the unique key on charges.job_id backs this up.
func (db *DB) FinishJob(ctx context.Context, tx Querier, job *vidjob.Job, charge *vidjob.Charge, pricePerMinute vidjob.Micros) (bool, error) {
	return db.FinishJobHeld(ctx, tx, job, "", charge, pricePerMinute)
}

// FinishJobHeld is FinishJob by the attempt holding lease ("" for none): it
// first releases the lease inside tx, which fails with ErrLeaseLost when the
// attempt was taken over and otherwise keeps any takeover out until tx ends,
// so that a stale attempt can neither end nor charge the job.
func (db *DB) FinishJobHeld(ctx context.Context, tx Querier, job *vidjob.Job, lease string, charge *vidjob.Charge, pricePerMinute vidjob.Micros) (bool, error) {
	if lease != "" {
		if err := db.ReleaseLease(ctx, tx, lease); err != nil {
			return false, err
		}
	}
	result, err := json.Marshal(job.Result)
	if err != nil {
		return false, fmt.Errorf("finish job: %w", err)
	}
	var run sql.NullString
	if job.Run != nil {
		b, err := json.Marshal(job.Run)
		if err != nil {
			return false, fmt.Errorf("finish job: %w", err)
		}
		run = sql.NullString{String: string(b), Valid: true}
	}
	now := db.Now().UnixMilli()
	progress := job.Progress
	if job.State == vidjob.StateCompleted {
		progress = 1
	}
	res, err := db.q(tx).ExecContext(ctx, db.rebind(`UPDATE jobs SET state = ?, progress = ?, result = ?, run = ?, updated_ms = ?, finished_ms = ?
		WHERE id = ? AND state NOT IN ('completed', 'failed')`),
		string(job.State), progress, string(result), run, now, now, job.ID)
	if err != nil {
		return false, fmt.Errorf("finish job %s: %w", job.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if charge != nil {
		_, err := db.q(tx).ExecContext(ctx, db.rebind(`INSERT INTO charges (job_id, application_id, duration_ms, minutes, price_per_minute_micro, amount_micro, created_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?)`),
			charge.JobID, charge.ApplicationID, charge.DurationMillis, charge.Minutes, int64(pricePerMinute), int64(charge.Amount), now)
		if err != nil {
			return false, fmt.Errorf("charge job %s: %w", job.ID, err)
		}
	}
	return true, nil
}

// FindCharge returns a job's charge, or nil when it has none.
func (db *DB) FindCharge(ctx context.Context, jobID string) (*vidjob.Charge, error) {
	var c vidjob.Charge
	var amount int64
	err := db.SQL.QueryRowContext(ctx, db.rebind(`SELECT job_id, application_id, duration_ms, minutes, amount_micro FROM charges WHERE job_id = ?`), jobID).
		Scan(&c.JobID, &c.ApplicationID, &c.DurationMillis, &c.Minutes, &amount)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find charge: %w", err)
	}
	c.Amount = vidjob.Micros(amount)
	return &c, nil
}

// Usage sums an application's charges with from ≤ charged time < to; a zero
// time is no bound.
func (db *DB) Usage(ctx context.Context, appID string, from, to time.Time) (vidjob.Usage, error) {
	u := vidjob.Usage{ApplicationID: appID}
	lo, hi := int64(0), int64(1<<62)
	if !from.IsZero() {
		lo = from.UnixMilli()
	}
	if !to.IsZero() {
		hi = to.UnixMilli()
	}
	var amount int64
	err := db.SQL.QueryRowContext(ctx, db.rebind(`SELECT COUNT(*), COALESCE(SUM(minutes), 0), COALESCE(SUM(amount_micro), 0)
		FROM charges WHERE application_id = ? AND created_ms >= ? AND created_ms < ?`), appID, lo, hi).
		Scan(&u.Jobs, &u.Minutes, &amount)
	if err != nil {
		return u, unavailable(fmt.Errorf("usage: %w", err))
	}
	u.Amount = vidjob.Micros(amount)
	return u, nil
}

// AddPostbackAttempt records one delivery attempt.
func (db *DB) AddPostbackAttempt(ctx context.Context, a vidjob.PostbackAttempt) error {
	_, err := db.SQL.ExecContext(ctx, db.rebind(`INSERT INTO postback_attempts (job_id, attempt, url, status_code, error, duration_ms, at_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?)`),
		a.JobID, a.Attempt, a.URL, a.StatusCode, a.Error, a.Duration.Milliseconds(), a.At.UnixMilli())
	if err != nil {
		return fmt.Errorf("record postback attempt: %w", err)
	}
	return nil
}

// PostbackAttempts lists a job's delivery attempts, oldest first.
func (db *DB) PostbackAttempts(ctx context.Context, jobID string) ([]vidjob.PostbackAttempt, error) {
	rows, err := db.SQL.QueryContext(ctx, db.rebind(`SELECT job_id, attempt, url, status_code, error, duration_ms, at_ms
		FROM postback_attempts WHERE job_id = ? ORDER BY attempt`), jobID)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postback attempts: %w", err))
	}
	defer rows.Close()
	var out []vidjob.PostbackAttempt
	for rows.Next() {
		var a vidjob.PostbackAttempt
		var dur, at int64
		if err := rows.Scan(&a.JobID, &a.Attempt, &a.URL, &a.StatusCode, &a.Error, &dur, &at); err != nil {
			return nil, fmt.Errorf("postback attempts: %w", err)
		}
		a.Duration, a.At = time.Duration(dur)*time.Millisecond, time.UnixMilli(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// SetPostbackState records where a job's delivery stands and, when it is
// delivered, when.
func (db *DB) SetPostbackState(ctx context.Context, jobID, state string) error {
	var delivered sql.NullInt64
	if state == PostbackDelivered {
		delivered = sql.NullInt64{Int64: db.Now().UnixMilli(), Valid: true}
	}
	_, err := db.SQL.ExecContext(ctx, db.rebind(`UPDATE jobs SET postback_state = ?, delivered_ms = COALESCE(?, delivered_ms) WHERE id = ?`), state, delivered, jobID)
	if err != nil {
		return fmt.Errorf("set postback state: %w", err)
	}
	return nil
}

// PostbackState returns where a job's delivery stands.
func (db *DB) PostbackState(ctx context.Context, jobID string) (string, error) {
	var s string
	err := db.SQL.QueryRowContext(ctx, db.rebind(`SELECT postback_state FROM jobs WHERE id = ?`), jobID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", vidjob.Errorf(vidjob.ENOTFOUND, "Job %q is not known.", jobID)
	}
	if err != nil {
		return "", fmt.Errorf("postback state: %w", err)
	}
	return s, nil
}
