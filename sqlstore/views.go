package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vidjob/vidjob"
)

// JobFilter narrows ListJobs. Empty fields do not filter.
type JobFilter struct {
	ApplicationID string
	State         vidjob.State
	// UpdatedAfter keeps jobs changed strictly after this time (the dashboard's
	// live feed asks for what changed since its last look).
	UpdatedAfter time.Time
	// Limit bounds the rows returned; default 50, at most 500.
	Limit int
}

// ListJobs returns jobs, newest first (or, with UpdatedAfter, oldest change
// first, so that a feed can resume from the last row it saw).
func (db *DB) ListJobs(ctx context.Context, f JobFilter) ([]*vidjob.Job, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	var where []string
	var args []any
	if f.ApplicationID != "" {
		where = append(where, "application_id = ?")
		args = append(args, f.ApplicationID)
	}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, string(f.State))
	}
	order := "created_ms DESC, id"
	if !f.UpdatedAfter.IsZero() {
		where = append(where, "updated_ms > ?")
		args = append(args, f.UpdatedAfter.UnixMilli())
		order = "updated_ms, id"
	}
	q := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order + " LIMIT ?"
	args = append(args, limit)
	rows, err := db.SQL.QueryContext(ctx, db.rebind(q), args...)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list jobs: %w", err))
	}
	defer rows.Close()
	var out []*vidjob.Job
	for rows.Next() {
		job, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, job)
	}
	return out, rows.Err()
}

// ListApplications returns every application, oldest first.
func (db *DB) ListApplications(ctx context.Context) ([]vidjob.Application, error) {
	rows, err := db.SQL.QueryContext(ctx, `SELECT a.id, a.name, a.created_ms,
		(SELECT COUNT(*) FROM app_presets p WHERE p.application_id = a.id)
		FROM applications a ORDER BY a.created_ms, a.id`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list applications: %w", err))
	}
	defer rows.Close()
	var out []vidjob.Application
	for rows.Next() {
		var app vidjob.Application
		var created int64
		if err := rows.Scan(&app.ID, &app.Name, &created, &app.OwnPresets); err != nil {
			return nil, fmt.Errorf("list applications: %w", err)
		}
		app.CreatedAt = time.UnixMilli(created)
		out = append(out, app)
	}
	return out, rows.Err()
}

// DayUsage is one UTC day of an application's charges.
type DayUsage struct {
	Day     time.Time // midnight UTC
	Jobs    int64
	Minutes int64
	Amount  vidjob.Micros
}

// DailyUsage sums an application's charges per UTC day with from ≤ charged time
// < to, oldest day first; days without charges are left out.
func (db *DB) DailyUsage(ctx context.Context, appID string, from, to time.Time) ([]DayUsage, error) {
	const dayMs = 86400000
	rows, err := db.SQL.QueryContext(ctx, db.rebind(`SELECT created_ms / 86400000 AS day, COUNT(*), SUM(minutes), SUM(amount_micro)
		FROM charges WHERE application_id = ? AND created_ms >= ? AND created_ms < ?
		GROUP BY created_ms / 86400000 ORDER BY day`), appID, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, unavailable(fmt.Errorf("daily usage: %w", err))
	}
	defer rows.Close()
	var out []DayUsage
	for rows.Next() {
		var d DayUsage
		var day, amount int64
		if err := rows.Scan(&day, &d.Jobs, &d.Minutes, &amount); err != nil {
			return nil, fmt.Errorf("daily usage: %w", err)
		}
		d.Day, d.Amount = time.UnixMilli(day*dayMs).UTC(), vidjob.Micros(amount)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Stats is the service's state as the metrics endpoint reports it; it is read
// from the database so that every process of a cluster reports the same.
type Stats struct {
	JobsByState map[vidjob.State]int64
	// OldestQueued is when the longest-waiting queued job was accepted; zero
	// when none waits.
	OldestQueued     time.Time
	BilledMinutes    int64
	BilledMicros     vidjob.Micros
	PostbackAttempts int64
	PostbackFailures int64
}

// Stats counts jobs by state, the queue's oldest entry, billed minutes and
// postback attempts.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	s := Stats{JobsByState: map[vidjob.State]int64{}}
	rows, err := db.SQL.QueryContext(ctx, `SELECT state, COUNT(*) FROM jobs GROUP BY state`)
	if err != nil {
		return s, unavailable(fmt.Errorf("stats: %w", err))
	}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return s, fmt.Errorf("stats: %w", err)
		}
		s.JobsByState[vidjob.State(state)] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("stats: %w", err)
	}
	var oldest *int64
	if err := db.SQL.QueryRowContext(ctx, `SELECT MIN(created_ms) FROM jobs WHERE state = 'queued'`).Scan(&oldest); err != nil {
		return s, fmt.Errorf("stats: oldest queued: %w", err)
	}
	if oldest != nil {
		s.OldestQueued = time.UnixMilli(*oldest)
	}
	var micros int64
	if err := db.SQL.QueryRowContext(ctx, `SELECT COALESCE(SUM(minutes), 0), COALESCE(SUM(amount_micro), 0) FROM charges`).Scan(&s.BilledMinutes, &micros); err != nil {
		return s, fmt.Errorf("stats: charges: %w", err)
	}
	s.BilledMicros = vidjob.Micros(micros)
	if err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN error <> '' THEN 1 ELSE 0 END), 0) FROM postback_attempts`).
		Scan(&s.PostbackAttempts, &s.PostbackFailures); err != nil {
		return s, fmt.Errorf("stats: postback attempts: %w", err)
	}
	return s, nil
}
