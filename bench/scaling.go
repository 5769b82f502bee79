package main

import (
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the bench reads and trims the servers' SQLite files
)

// scalingOptions shape the scaling suite.
type scalingOptions struct {
	levels []int // queue sizes, smallest first
	rounds int   // each size is measured once per round
	jobs   int   // submissions measured per size and round
	count  int   // how many times the whole suite runs
}

// queueAtLevel is one `vidjob serve --workers 0` whose queue is held at a size.
type queueAtLevel struct {
	level  int
	server *apiServer
	db     database
	sql    *sql.DB // the same database as the server's, to count and trim
	p50    []time.Duration
	p99    []time.Duration
	rates  []float64
}

// scalingSuite measures submission latency at each queue size side by side.
// Each size gets a server and a database of its own, filled once. Then, in
// every round, each size is measured in turn (each round starting at a
// different size), and the jobs a measurement added are deleted after it, so
// every size is measured where it was filled to and whatever else the machine
// is doing falls on all sizes alike. The table gives the median over rounds and
// each size's figures as a ratio of the smallest size's.
func (e benchEnv) scalingSuite(o scalingOptions) error {
	if len(o.levels) == 0 || o.rounds < 1 || o.jobs < 1 {
		return fmt.Errorf("scaling: need at least one level, round and job")
	}
	kinds := []string{"SQLite"}
	if os.Getenv("VIDJOB_TEST_DATABASE_URL") != "" {
		kinds = append(kinds, "PostgreSQL")
	} else {
		fmt.Fprintln(os.Stderr, "bench: PostgreSQL skipped: VIDJOB_TEST_DATABASE_URL is not set")
	}
	e.out.heading("Scaling: submission latency as the queue grows")
	e.out.note("%d clients; %d rounds of %d submissions at each size, interleaved; each measurement's jobs deleted after it. p50 and p99 are the medians of the rounds, *spread* the lowest and highest round, and ÷ %s the ratio to the same figure at the smallest queue.",
		e.clients, o.rounds, o.jobs, thousands(int64(o.levels[0])))
	t := table{header: scalingHeader(o.levels[0])}
	for run := 1; run <= max(1, o.count); run++ {
		for _, kind := range kinds {
			rows, err := e.scaleOne(kind, o)
			if err != nil {
				return err
			}
			for _, r := range rows {
				t.rows = append(t.rows, append([]string{fmt.Sprint(run)}, r...))
			}
		}
	}
	e.out.table(t)
	return nil
}

func scalingHeader(smallest int) []string {
	per := "÷ " + thousands(int64(smallest))
	return []string{"run", "database", "queued", "p50", "p99", "p50 " + per, "p99 " + per,
		"p50 spread", "p99 spread", "jobs/s", "vidjob RSS"}
}

// levelFigures are one queue size's measurements over the rounds of a run.
type levelFigures struct {
	level    int
	p50, p99 []time.Duration
	rates    []float64
	rssMiB   float64
}

// scalingRows is one database's rows of the scaling table (without the run
// column), the first level being the one the others are divided by.
func scalingRows(kind string, levels []levelFigures) [][]string {
	var rows [][]string
	base := levels[0]
	for _, q := range levels {
		p50, p99 := medianOf(q.p50), medianOf(q.p99)
		rows = append(rows, []string{kind, thousands(int64(q.level)), ms(p50), ms(p99),
			fmt.Sprintf("%.2f", float64(p50)/float64(medianOf(base.p50))),
			fmt.Sprintf("%.2f", float64(p99)/float64(medianOf(base.p99))),
			spread(q.p50), spread(q.p99), thousands(int64(math.Round(medianOf(q.rates)))),
			fmt.Sprintf("%.0f MiB", q.rssMiB)})
	}
	return rows
}

func (e benchEnv) scaleOne(kind string, o scalingOptions) ([][]string, error) {
	var queues []*queueAtLevel
	defer func() {
		for _, q := range queues {
			q.close()
		}
	}()
	for _, level := range o.levels {
		q, err := e.startQueueAt(kind, level)
		if err != nil {
			return nil, err
		}
		queues = append(queues, q)
	}
	for r := 0; r < o.rounds; r++ {
		for i := range queues {
			q := queues[(r+i)%len(queues)]
			if err := q.measure(e.clients, o.jobs); err != nil {
				return nil, err
			}
		}
	}
	var figures []levelFigures
	for _, q := range queues {
		figures = append(figures, levelFigures{level: q.level, p50: q.p50, p99: q.p99, rates: q.rates,
			rssMiB: procMiB(q.server.cmd.Process.Pid, "VmRSS")})
	}
	return scalingRows(kind, figures), nil
}

// startQueueAt starts a server on a fresh database and fills its queue to level.
func (e benchEnv) startQueueAt(kind string, level int) (*queueAtLevel, error) {
	db := database{name: kind}
	if kind == "PostgreSQL" {
		var err error
		if db, err = freshPostgres(); err != nil {
			return nil, err
		}
	}
	s, err := e.startAPI(db, "--workers", "0")
	if err != nil {
		if db.drop != nil {
			db.drop()
		}
		return nil, err
	}
	q := &queueAtLevel{level: level, server: s, db: db}
	if db.url != "" {
		q.sql, err = sql.Open("pgx", db.url)
	} else {
		q.sql, err = sql.Open("sqlite", "file:"+filepath.Join(s.data, "vidjob.db")+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		q.close()
		return nil, err
	}
	for n := 0; n < 3; n++ {
		queued, err := q.queued()
		if err != nil {
			q.close()
			return nil, err
		}
		if queued >= level {
			break
		}
		s.submit(e.clients, level-queued, 0)
	}
	if err := q.check(); err != nil {
		q.close()
		return nil, err
	}
	return q, nil
}

// measure submits jobs, records their latency, then deletes the jobs it added
// so that the queue is back at its level.
func (q *queueAtLevel) measure(clients, jobs int) error {
	var lastJob int64
	var lastMs sql.NullInt64
	if err := q.sql.QueryRow(`SELECT COALESCE(MAX(id), 0) FROM river_job`).Scan(&lastJob); err != nil {
		return fmt.Errorf("scaling: %w", err)
	}
	if err := q.sql.QueryRow(`SELECT MAX(created_ms) FROM jobs`).Scan(&lastMs); err != nil {
		return fmt.Errorf("scaling: %w", err)
	}
	// A job created in the same millisecond as the last one kept would not be
	// told apart from it by created_ms.
	time.Sleep(2 * time.Millisecond)
	l := q.server.submit(clients, jobs, 0)
	if l.errors > 0 {
		return fmt.Errorf("scaling: %d of %d submissions failed at %d queued", l.errors, jobs, q.level)
	}
	q.p50 = append(q.p50, l.percentile(0.50))
	q.p99 = append(q.p99, l.percentile(0.99))
	q.rates = append(q.rates, l.rate())
	bind := func(query string) string {
		if q.db.url != "" {
			return strings.Replace(query, "?", "$1", 1)
		}
		return query
	}
	if _, err := q.sql.Exec(bind(`DELETE FROM river_job WHERE id > ?`), lastJob); err != nil {
		return fmt.Errorf("scaling: trim: %w", err)
	}
	if _, err := q.sql.Exec(bind(`DELETE FROM jobs WHERE created_ms > ?`), lastMs.Int64); err != nil {
		return fmt.Errorf("scaling: trim: %w", err)
	}
	return q.check()
}

// queued counts the jobs row and River's jobs; both must be at the level.
func (q *queueAtLevel) queued() (int, error) {
	var jobs, riverJobs int
	if err := q.sql.QueryRow(`SELECT COUNT(*) FROM jobs`).Scan(&jobs); err != nil {
		return 0, fmt.Errorf("scaling: count: %w", err)
	}
	if err := q.sql.QueryRow(`SELECT COUNT(*) FROM river_job`).Scan(&riverJobs); err != nil {
		return 0, fmt.Errorf("scaling: count: %w", err)
	}
	if jobs != riverJobs {
		return 0, fmt.Errorf("scaling: %d jobs but %d River jobs", jobs, riverJobs)
	}
	return jobs, nil
}

func (q *queueAtLevel) check() error {
	n, err := q.queued()
	if err != nil {
		return err
	}
	if n != q.level {
		return fmt.Errorf("scaling: %d jobs queued where %d should be", n, q.level)
	}
	return nil
}

func (q *queueAtLevel) close() {
	if q.sql != nil {
		q.sql.Close()
	}
	q.server.stop()
	if q.db.drop != nil {
		q.db.drop()
	}
}

// spread is the lowest and highest of the rounds.
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%.1f–%.1f ms", float64(s[0].Microseconds())/1000, float64(s[len(s)-1].Microseconds())/1000)
}
