package sqlstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// jobsDoneChannel is the PostgreSQL notification channel on which a job's end
// is announced, with the job ID as payload.
const jobsDoneChannel = "vidjob_job_done"

// NotifyJobDone announces, inside tx, that a job has ended; PostgreSQL delivers
// the notification only if tx commits. On SQLite (one process) it does nothing.
func (db *DB) NotifyJobDone(ctx context.Context, tx Querier, jobID string) error {
	if db.Dialect != Postgres {
		return nil
	}
	if _, err := db.q(tx).ExecContext(ctx, `SELECT pg_notify($1, $2)`, jobsDoneChannel, jobID); err != nil {
		return fmt.Errorf("notify job %s done: %w", jobID, err)
	}
	return nil
}

// ListenJobsDone calls announce with the ID of every job that ends in any
// process, until ctx is cancelled. It holds one PostgreSQL connection of its
// own and reconnects after failures, so a database restart only delays
// announcements (waiters also re-read the database on their own).
func ListenJobsDone(ctx context.Context, db *DB, logger *slog.Logger, announce func(jobID string)) {
	if db.Dialect != Postgres {
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, db.url, announce)
		if ctx.Err() != nil {
			return
		}
		logger.Warn("job notifications interrupted; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func listenOnce(ctx context.Context, url string, announce func(string)) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+jobsDoneChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		announce(n.Payload)
	}
}

// ListenerPool opens a small pgx pool on the same PostgreSQL database, for a
// component that holds a connection of its own to LISTEN (River's notifier).
// The caller closes it. On SQLite it returns nil.
func (db *DB) ListenerPool(ctx context.Context) (*pgxpool.Pool, error) {
	if db.Dialect != Postgres {
		return nil, nil
	}
	cfg, err := pgxpool.ParseConfig(db.url)
	if err != nil {
		return nil, fmt.Errorf("listener pool: %w", err)
	}
	// One connection listens; one more covers a reconnect.
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("listener pool: %w", err)
	}
	return pool, nil
}
