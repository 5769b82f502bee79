package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vidjob/vidjob/sqlstore"
)

// Failover: leases and takeover (docs/ARCHITECTURE.md, "Failover").
//
// River rescues a running job only once its attempt is older than the job
// timeout, so a lost worker would hold its jobs for hours. Instead, every
// running attempt of a transcode or a part holds a lease in job_leases that a
// goroutine of its own renews every Config.LeaseRenew, whatever ffmpeg does.
// Every worker looks for leases not renewed for Config.TakeoverAfter (and for
// leases of dead workers of its own machine, at once) and takes their jobs
// over: in one transaction it removes the lease, asks River to cancel the
// stale River job (JobCancelTx: a running job is only marked, and whatever
// its worker later reports is a no-op for the job) and inserts a new River job
// for the same work, which any worker then runs as the next attempt.
//
// Fencing: the stale attempt's writes to the job carry its lease token and
// the database refuses them once the lease is gone (sqlstore.SetStateHeld,
// FinishJobHeld); its object writes and deletes are refused locally once it
// cannot show a renewal recent enough (lease.held); and it cancels its own
// context, stopping ffmpeg, when it finds the lease gone or cannot renew it
// for TakeoverAfter - LeaseRenew.

// errLeaseLost is the cause of an attempt's context ending because its lease
// was taken over, or could not be renewed in time.
var errLeaseLost = sqlstore.ErrLeaseLost

// lease is one running attempt's hold on its River job.
type lease struct {
	token string
	// limit is how long after a renewal the attempt may still act as the
	// holder: a renewal period short of the takeover delay, so that it has
	// stopped before anyone may take the job over.
	limit time.Duration

	mu     sync.Mutex
	lastOK time.Time // start of the last successful renewal (monotonic)
	lost   bool
}

// held reports whether the attempt may still act on its job's objects.
func (l *lease) held() bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.lost && time.Since(l.lastOK) < l.limit
}

type leaseKey struct{}

// leaseFrom returns the attempt's lease, or nil outside an attempt that holds one.
func leaseFrom(ctx context.Context) *lease {
	l, _ := ctx.Value(leaseKey{}).(*lease)
	return l
}

// leaseToken returns the token the attempt's writes are fenced with ("" for none).
func leaseToken(ctx context.Context) string {
	if l := leaseFrom(ctx); l != nil {
		return l.token
	}
	return ""
}

// checkLease refuses a write to the job's objects by an attempt that may have
// been taken over.
func checkLease(ctx context.Context) error {
	if !leaseFrom(ctx).held() {
		return errLeaseLost
	}
	return nil
}

// holdLease records the attempt's lease and renews it until the returned
// release is called. The returned context ends, with errLeaseLost as its
// cause, when the lease is lost.
func (q *Queue) holdLease(ctx context.Context, row *rivertype.JobRow, jobID string) (context.Context, func(), error) {
	l := &lease{token: randomToken(22), limit: q.config.TakeoverAfter - q.config.LeaseRenew, lastOK: time.Now()}
	err := q.db.AcquireLease(ctx, sqlstore.Lease{RiverJobID: row.ID, Token: l.token, JobID: jobID, Kind: row.Kind,
		Attempt: row.Attempt, Host: q.config.Host, Holder: q.config.Holder}, q.config.TakeoverAfter)
	if err != nil {
		return ctx, func() {}, err
	}
	q.liveLeases.Store(l.token, true)
	ctx, cancel := context.WithCancelCause(context.WithValue(ctx, leaseKey{}, l))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.renew(ctx, l, cancel, stop)
	}()
	release := func() {
		close(stop)
		<-done
		cancel(context.Canceled)
		q.liveLeases.Delete(l.token)
		// The attempt is over: whatever River now does with its job, the
		// lease must not outlive it and invite a takeover.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := q.db.ReleaseLease(rctx, nil, l.token); err != nil && !errors.Is(err, sqlstore.ErrLeaseLost) {
			q.logger.Warn("could not release lease; it expires", "job_id", jobID, "err", err)
		}
	}
	return ctx, release, nil
}

// renew renews l every LeaseRenew until stop; it cancels the attempt when the
// lease is gone, or when no renewal succeeded for l.limit.
func (q *Queue) renew(ctx context.Context, l *lease, cancel context.CancelCauseFunc, stop <-chan struct{}) {
	t := time.NewTicker(q.config.LeaseRenew)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, q.config.LeaseRenew)
		err := q.db.RenewLease(rctx, l.token, q.config.TakeoverAfter)
		rcancel()
		l.mu.Lock()
		switch {
		case err == nil:
			l.lastOK = start
		case errors.Is(err, sqlstore.ErrLeaseLost):
			l.lost = true
		}
		lost, since := l.lost, time.Since(l.lastOK)
		l.mu.Unlock()
		if lost || since >= l.limit {
			q.logger.Warn("lease lost; stopping the attempt", "taken_over", lost, "since_renewal_s", since.Seconds(), "err", err)
			cancel(errLeaseLost)
			return
		}
		if err != nil {
			q.logger.Warn("could not renew lease", "err", err, "since_renewal_s", since.Seconds())
		}
	}
}

// takeoverLoop takes over lost attempts' jobs now and every LeaseRenew until ctx ends.
func (q *Queue) takeoverLoop(ctx context.Context) {
	t := time.NewTicker(q.config.LeaseRenew)
	defer t.Stop()
	for {
		if n, err := q.takeOver(ctx); err != nil && ctx.Err() == nil {
			q.logger.Warn("takeover round failed", "err", err)
		} else if n > 0 {
			q.logger.Info("took over jobs of lost workers", "jobs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// takeOver takes over every lease that is expired or held by a dead worker
// of this machine, and returns how many jobs it handed back to River.
func (q *Queue) takeOver(ctx context.Context) (int, error) {
	dead := func(holder string) bool {
		return holder != q.config.Holder && q.config.DeadHolder != nil && q.config.DeadHolder(holder)
	}
	leases, err := q.db.TakeoverCandidates(ctx, q.config.Host, dead, 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range leases {
		if _, live := q.liveLeases.Load(l.Token); live {
			// This process's own running attempt, late in renewing (a
			// pause, a slow database): its renewer stops it if it must.
			continue
		}
		force := l.Host == q.config.Host && dead(l.Holder)
		ok, err := q.takeOverLease(ctx, l, force)
		if err != nil {
			return n, fmt.Errorf("take over river job %d of job %s: %w", l.RiverJobID, l.JobID, err)
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// takeOverLease removes l and, when its River job is still running the
// attempt l names, cancels that River job and inserts another for the same
// work, all in one transaction. It reports whether a new attempt was queued.
func (q *Queue) takeOverLease(ctx context.Context, l sqlstore.Lease, force bool) (bool, error) {
	tx, err := q.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	took, err := q.db.TakeLease(ctx, tx, l.Token, force)
	if err != nil || !took {
		return false, err // renewed, or taken by another worker, meanwhile
	}
	row, err := q.river.JobGetTx(ctx, tx, l.RiverJobID)
	if errors.Is(err, rivertype.ErrNotFound) {
		return false, tx.Commit()
	}
	if err != nil {
		return false, err
	}
	if row.State != rivertype.JobStateRunning || row.Attempt != l.Attempt {
		// The attempt ended and River already knows what comes next; only
		// its lease was left behind.
		return false, tx.Commit()
	}
	// The attempts River counted on this row, snoozes (an accelerated
	// job waiting for its parts) aside, carry over to the new one.
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	json.Unmarshal(row.Metadata, &md) // no snoozes recorded is 0
	used := max(0, row.Attempt-md.Snoozes)
	if _, err := q.river.JobCancelTx(ctx, tx, row.ID); err != nil {
		return false, fmt.Errorf("cancel stale river job: %w", err)
	}
	var args river.JobArgs
	// No ScheduledAt: River inserts any job that has one as scheduled, to
	// wait for its scheduler's next pass; without, it is available at once.
	opts := &river.InsertOpts{Queue: row.Queue, Priority: row.Priority}
	switch row.Kind {
	case TranscodeArgs{}.Kind():
		var a TranscodeArgs
		if err := json.Unmarshal(row.EncodedArgs, &a); err != nil {
			return false, err
		}
		a.Lost += used
		opts.MaxAttempts = max(1, q.config.MaxAttempts-a.Lost)
		args = a
		if err := q.db.RequeueJob(ctx, tx, l.JobID); err != nil {
			return false, err
		}
	case EncodePartArgs{}.Kind():
		var a EncodePartArgs
		if err := json.Unmarshal(row.EncodedArgs, &a); err != nil {
			return false, err
		}
		a.Lost += used
		opts.MaxAttempts = max(1, q.config.MaxAttempts-a.Lost)
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true}
		args = a
	default:
		return false, fmt.Errorf("lease of unknown kind %q", row.Kind)
	}
	if _, err := q.river.InsertTx(ctx, tx, args, opts); err != nil {
		return false, fmt.Errorf("queue the next attempt: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	q.logger.Warn("took over a lost attempt", "job_id", l.JobID, "kind", row.Kind, "river_job_id", row.ID,
		"holder", l.Holder, "host", l.Host, "expired", l.Expires, "dead_holder", force)
	return true, nil
}
