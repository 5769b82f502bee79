// Package queue runs vidjob's jobs on River: it accepts submissions (the job row
// and its River job in one transaction), runs transcodes and postback deliveries
// as River workers, and tells waiting /listen requests when a job ends.
//
// River owns retries, backoff and timeouts; this package owns what a job does,
// and the failover of jobs whose worker is lost (lease.go), with River's own
// rescue as the last resort.
package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/vidjob/vidjob/sqlstore"
)

// The River queues: transcodes are CPU-bound and few at a time; postbacks are
// small network calls that must not wait behind a long encode.
const (
	QueueTranscode = "transcode"
	QueuePostback  = "postback"
)

// TranscodeArgs is the River job that runs one vidjob job.
type TranscodeArgs struct {
	JobID string `json:"job_id"`
	// WaitRetryDelay is the client's wait_retry_delay in seconds.
	WaitRetryDelay int `json:"wait_retry_delay"`
	// Lost counts the attempts of earlier River jobs of this job that were
	// taken over from lost workers (lease.go); they count against
	// Config.MaxAttempts like River's own.
	Lost int `json:"lost,omitempty"`
}

// Kind names the River job kind.
func (TranscodeArgs) Kind() string { return "vidjob_transcode" }

// PostbackArgs is the River job that delivers one job's results.
type PostbackArgs struct {
	JobID string `json:"job_id"`
	// Inline says the finishing worker makes the first attempt itself
	// (postbackNow); this job is then the retry and the safety net.
	Inline bool `json:"inline,omitempty"`
}

// Kind names the River job kind.
func (PostbackArgs) Kind() string { return "vidjob_postback" }

// Config tunes the queue.
type Config struct {
	// Workers is how many transcodes run at once in this process; 0 runs none
	// (an API-only process).
	Workers int
	// MaxAttempts is how many times a transcode is tried before it fails; Blitline
	// tried up to 5 times. Default 5.
	MaxAttempts int
	// JobTimeout bounds one attempt's wall-clock time. Default 2 hours.
	JobTimeout time.Duration
	// PostbackSchedule is the wait before each retry of a failed postback; its
	// length+1 is the number of attempts. Default: 1s, 3s, 15s, 1m, 5m, 10m, 30m, 1h.
	PostbackSchedule []time.Duration
	// FetchPollInterval is how often an idle worker looks for jobs when it hears
	// no notification; default 200 ms. On SQLite it is the only way a worker
	// learns of jobs; on PostgreSQL workers hear of new jobs at once
	// (LISTEN/NOTIFY) and polling is the fallback.
	FetchPollInterval time.Duration
	// RescueAfter is River's own rescue, the last resort behind the leases
	// (lease.go): how long a running job may go without finishing before
	// River assumes its worker died and runs it again; River never rescues
	// an attempt younger than JobTimeout. Default: JobTimeout + 10 minutes.
	RescueAfter time.Duration
	// LeaseRenew is how often a running attempt renews its lease; default 3 s.
	LeaseRenew time.Duration
	// TakeoverAfter is how long a lease lives without renewal before any
	// worker takes its job over; default 15 s. An attempt that cannot renew
	// stops itself one LeaseRenew before.
	TakeoverAfter time.Duration
	// Host and Holder name this worker process in its leases: its machine
	// and something unique to the process there (its work directory).
	Host, Holder string
	// DeadHolder reports whether the holder of a lease taken on this same
	// host is a process that is gone, so that its jobs are taken over at
	// once rather than when the lease expires; nil knows of none.
	DeadHolder func(holder string) bool
	// AccelerateAfter turns on segment-parallel encoding for sources at
	// least this long (accelerate.go); 0 turns it off.
	AccelerateAfter time.Duration
	// AccelerateSegment is the length of the pieces a source is cut into;
	// default 45 s.
	AccelerateSegment time.Duration
	// ScratchBucket holds accelerated jobs' pieces and parts while they run;
	// default "vidjob-scratch". No application should be allowed it.
	ScratchBucket string
}

func (c *Config) defaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = 2 * time.Hour
	}
	if c.PostbackSchedule == nil {
		c.PostbackSchedule = []time.Duration{time.Second, 3 * time.Second, 15 * time.Second, time.Minute,
			5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}
	}
	if c.FetchPollInterval == 0 {
		c.FetchPollInterval = 200 * time.Millisecond
	}
	if c.AccelerateSegment <= 0 {
		c.AccelerateSegment = 45 * time.Second
	}
	if c.ScratchBucket == "" {
		c.ScratchBucket = "vidjob-scratch"
	}
	if c.LeaseRenew <= 0 {
		c.LeaseRenew = 3 * time.Second
	}
	if c.TakeoverAfter <= 0 {
		c.TakeoverAfter = 15 * time.Second
	}
	if c.Holder == "" {
		c.Holder = randomToken(22)
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = c.JobTimeout + 10*time.Minute
	}
}

// Queue is the River client with vidjob's workers registered.
type Queue struct {
	db     *sqlstore.DB
	river  *river.Client[*sql.Tx]
	hub    *Hub
	config Config
	logger *slog.Logger

	// submissions feeds the writer goroutines that group inserts (submit.go).
	submissions chan submission
	writers     sync.WaitGroup
	closeOnce   sync.Once
	// postbacks delivers postbacks; inline tracks first attempts made by the
	// finishing worker (postbackNow), and stopping ends their retry waits.
	postbacks *PostbackWorker
	inline    sync.WaitGroup
	stopping  chan struct{}
	stopOnce  sync.Once
	// closeListener releases River's LISTEN connection on PostgreSQL.
	closeListener func()
	// stopTakeover ends the takeover loop (lease.go).
	stopTakeover context.CancelFunc
	// liveLeases holds the tokens of this process's running attempts, which
	// its own takeover loop leaves alone.
	liveLeases sync.Map
}

// submitTimeout bounds the writing of one group of submissions.
const submitTimeout = 30 * time.Second

func driverFor(db *sqlstore.DB) riverdriver.Driver[*sql.Tx] {
	if db.Dialect == sqlstore.Postgres {
		return riverdatabasesql.New(db.SQL)
	}
	return riversqlite.New(db.SQL)
}

// Migrate applies River's schema migrations. Call it once at start, before New.
func Migrate(ctx context.Context, db *sqlstore.DB) error {
	migrator, err := rivermigrate.New(driverFor(db), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrate: %w", err)
	}
	return nil
}

// New builds the queue. Workers may be nil for a process that only submits.
func New(db *sqlstore.DB, transcoder *TranscodeWorker, cfg Config, logger *slog.Logger) (*Queue, error) {
	cfg.defaults()
	if cfg.TakeoverAfter < 2*cfg.LeaseRenew {
		return nil, fmt.Errorf("the takeover delay (%s) must be at least twice the lease renewal period (%s)", cfg.TakeoverAfter, cfg.LeaseRenew)
	}
	q := &Queue{db: db, hub: NewHub(), config: cfg, logger: logger, closeListener: func() {}, stopping: make(chan struct{}), stopTakeover: func() {}}
	driver := driverFor(db)
	rc := &river.Config{
		Logger:               logger.With("component", "river"),
		MaxAttempts:          cfg.MaxAttempts,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    cfg.FetchPollInterval,
		FetchCooldown:        min(cfg.FetchPollInterval, 20*time.Millisecond),
	}
	if transcoder != nil && cfg.Workers > 0 {
		workers := river.NewWorkers()
		transcoder.queue = q
		river.AddWorker(workers, transcoder)
		river.AddWorker(workers, &PartWorker{t: transcoder})
		q.postbacks = &PostbackWorker{queue: q, sender: transcoder.Postbacks, schedule: cfg.PostbackSchedule}
		river.AddWorker(workers, q.postbacks)
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{
			QueueTranscode: {MaxWorkers: cfg.Workers},
			QueuePostback:  {MaxWorkers: 10},
		}
		// River's inserts on PostgreSQL send a notification; with a listener an
		// idle worker starts a job, and a finished job's postback, at once
		// instead of at its next poll (measured: queue wait median 90 ms and
		// postback 166 ms polling, on bench -suite overhead -postgres).
		pool, err := db.ListenerPool(context.Background())
		if err != nil {
			return nil, err
		}
		if pool != nil {
			driver = riverdatabasesql.NewWithPgxListener(db.SQL, pool)
			q.closeListener = pool.Close
		}
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		q.closeListener()
		return nil, fmt.Errorf("river client: %w", err)
	}
	q.river = client
	q.submissions = make(chan submission, maxGroup)
	// SQLite has one writer, so one goroutine. On PostgreSQL two writers keep
	// one group in flight while the next one gathers: more writers make
	// smaller groups, and so more statements and round trips per job (16
	// writers measured 15-25 % fewer jobs/s than 2 or 4, side by side,
	// with go run ./bench -suite submit).
	writers := 1
	if db.Dialect == sqlstore.Postgres {
		writers = 2
	}
	for i := 0; i < writers; i++ {
		q.writers.Add(1)
		go q.writeSubmissions()
	}
	return q, nil
}

// Close stops accepting submissions after those already handed over are
// written. Call it after the HTTP server has stopped.
func (q *Queue) Close() {
	q.closeOnce.Do(func() {
		close(q.submissions)
		q.writers.Wait()
		q.closeListener()
	})
}

// Hub returns the notifier that /listen waits on.
func (q *Queue) Hub() *Hub { return q.hub }

// Start starts working jobs (when this process has workers).
func (q *Queue) Start(ctx context.Context) error {
	if q.config.Workers == 0 {
		return nil
	}
	// River treats the end of Start's context as a hard stop that cancels
	// running jobs; shutdown goes through Stop instead, which lets them finish.
	if err := q.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start queue: %w", err)
	}
	// Every worker takes over lost attempts; its first round, right away,
	// resumes at once the jobs of a process that ran here before and died.
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.stopTakeover = cancel
	go q.takeoverLoop(tctx)
	return nil
}

// Stop stops taking new jobs and waits for running ones until ctx ends, then
// cancels them so that River retries them later.
func (q *Queue) Stop(ctx context.Context) error {
	if q.config.Workers == 0 {
		return nil
	}
	q.stopTakeover()
	err := q.river.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		hard, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = q.river.StopAndCancel(hard)
	}
	// Postbacks being sent by finishing workers get to finish; those waiting
	// to retry are left to their queued jobs.
	q.stopOnce.Do(func() { close(q.stopping) })
	inline := make(chan struct{})
	go func() { q.inline.Wait(); close(inline) }()
	select {
	case <-inline:
	case <-ctx.Done():
	}
	return err
}

// NewJobID returns a job ID in Blitline's shape: a digit and 22 URL-safe base64
// characters. After the random digit come 7 characters of the time in
// milliseconds, in an alphabet that sorts as the numbers do, then 15 random
// characters: 93 random bits in all, from the system's cryptographic source.
// IDs made one after the other sort next to each other, so a new job's key
// joins one of ten ends of the jobs table's primary-key index instead of a
// random page of it: with entirely random IDs every job of a group commit
// dirtied a page of its own, and SQLite's p99 at 100,000 queued jobs was
// 1.12-1.30 times its p99 at 100 in seven runs, against 0.71-1.05 in four with these
// (go run ./bench -suite scaling; docs/PERFORMANCE.md has the current figures).
func NewJobID() string {
	d, err := rand.Int(rand.Reader, big.NewInt(10))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return d.String() + sortableTime(time.Now(), 7) + randomToken(15)
}

// sortableDigits are the 64 characters of URL-safe base64 in byte order, so
// that strings of them sort as the numbers they write.
const sortableDigits = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

// sortableTime writes t's Unix milliseconds in n sortableDigits, most
// significant first (7 digits hold 42 bits: until the year 2109).
func sortableTime(t time.Time, n int) string {
	ms := uint64(t.UnixMilli())
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = sortableDigits[ms&63]
		ms >>= 6
	}
	return string(b)
}

// NewApplicationID returns a new unguessable application ID: 32 URL-safe base64
// characters (192 random bits), never starting with "-" so that it cannot be
// mistaken for a flag on the command line.
func NewApplicationID() string {
	for {
		if id := randomToken(32); id[0] != '-' {
			return id
		}
	}
}

func randomToken(n int) string {
	b := make([]byte, (n*6+7)/8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
