package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/blitline"
	"github.com/vidjob/vidjob/postback"
	"github.com/vidjob/vidjob/sqlstore"
)

// PostbackWorker delivers a finished job's results, one attempt per River
// attempt, logging each on the job.
type PostbackWorker struct {
	river.WorkerDefaults[PostbackArgs]
	queue    *Queue
	sender   *postback.Sender
	schedule []time.Duration
}

// NextRetry follows the configured schedule.
func (w *PostbackWorker) NextRetry(job *river.Job[PostbackArgs]) time.Time {
	i := min(deliveryAttempt(job)-1, len(w.schedule)-1)
	return time.Now().Add(w.schedule[max(i, 0)])
}

// deliveryAttempt numbers a River attempt among all delivery attempts: when
// the finishing worker made the first one itself (postbackNow), River's
// first attempt is the second delivery.
func deliveryAttempt(job *river.Job[PostbackArgs]) int {
	if job.Args.Inline {
		return job.Attempt + 1
	}
	return job.Attempt
}

// Timeout bounds one delivery attempt.
func (w *PostbackWorker) Timeout(*river.Job[PostbackArgs]) time.Duration { return time.Minute }

// Work makes one delivery attempt, unless an earlier one (the finishing
// worker's own, or a run River lost track of) has already been answered.
func (w *PostbackWorker) Work(ctx context.Context, rj *river.Job[PostbackArgs]) error {
	state, err := w.queue.db.PostbackState(ctx, rj.Args.JobID)
	if err != nil {
		return err
	}
	if state == sqlstore.PostbackDelivered || state == sqlstore.PostbackFailed {
		// Answered, or given up on by the finishing worker's own attempt.
		return nil
	}
	attempt := deliveryAttempt(rj)
	sendErr, err := w.attempt(ctx, rj.Args.JobID, attempt)
	if err != nil || sendErr == nil {
		return err
	}
	log := w.queue.logger.With("job_id", rj.Args.JobID, "attempt", attempt)
	if rj.Attempt >= rj.MaxAttempts || postback.Permanent(sendErr) {
		if err := w.giveUp(ctx, rj.Args.JobID, sendErr, log); err != nil {
			return err
		}
		return river.JobCancel(sendErr)
	}
	log.Warn("postback attempt failed; will retry", "err", sendErr, "cause", errors.Unwrap(sendErr))
	return sendErr
}

// giveUp marks a job's postback failed for good: the retries are spent, or
// the receiver's address is one this server refuses, which another attempt
// would meet again. The caller cancels its River job.
func (w *PostbackWorker) giveUp(ctx context.Context, jobID string, sendErr error, log *slog.Logger) error {
	log.Error("postback failed for good", "err", sendErr, "cause", errors.Unwrap(sendErr))
	return w.queue.db.SetPostbackState(ctx, jobID, sqlstore.PostbackFailed)
}

// attempt sends the job's results once and records the attempt: sendErr is
// the delivery's failure (the receiver's, to be retried), err a failure to
// prepare or record it. A job with nothing to post back is a JobCancel err.
func (w *PostbackWorker) attempt(ctx context.Context, jobID string, attempt int) (sendErr, err error) {
	db := w.queue.db
	job, err := db.FindJob(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if job.Result == nil || job.Request.PostbackURL == "" {
		return nil, river.JobCancel(fmt.Errorf("job %s has nothing to post back", job.ID))
	}
	app, err := db.FindApplication(ctx, job.ApplicationID)
	if err != nil {
		return nil, err
	}
	contentType, body, err := blitline.PostbackBody(job.Result, job.Request.FormPostback())
	if err != nil {
		return nil, river.JobCancel(err)
	}
	started := time.Now()
	status, sendErr := w.sender.Send(ctx, postback.Delivery{
		URL:         job.Request.PostbackURL,
		ContentType: contentType,
		Body:        body,
		Headers:     job.Request.PostbackHeaders,
		JobID:       job.ID,
		DeliveryID:  job.ID + "-postback",
		Secret:      app.Secret,
	})
	record := vidjob.PostbackAttempt{
		JobID: job.ID, Attempt: attempt, URL: job.Request.PostbackURL,
		StatusCode: status, Duration: time.Since(started), At: started,
	}
	if sendErr != nil {
		record.Error = sendErr.Error()
	}
	log := w.queue.logger.With("job_id", job.ID, "attempt", attempt)
	if err := db.AddPostbackAttempt(ctx, record); err != nil {
		log.Warn("could not record postback attempt", "err", err)
	}
	if sendErr != nil {
		return sendErr, nil
	}
	log.Info("postback delivered", "status", status)
	return nil, db.SetPostbackState(ctx, job.ID, sqlstore.PostbackDelivered)
}

// postbackNow makes a finished job's first delivery attempt at once, from the
// process that finished it, instead of waiting for a worker to pick up its
// River job. That job (riverID, committed with the job's end and scheduled a
// lease later) stays the guarantee: if this process dies, it delivers when
// the lease ends. After a success it is cancelled (were that to fail, it
// finds the postback delivered and sends nothing); after a failure it is
// made due after the schedule's first wait, as a River retry would be.
func (q *Queue) postbackNow(jobID string, riverID int64) {
	w := q.postbacks
	q.inline.Add(1)
	go func() {
		defer q.inline.Done()
		ctx, cancel := context.WithTimeout(context.Background(), q.postbackLease())
		defer cancel()
		log := q.logger.With("job_id", jobID, "attempt", 1)
		sendErr, err := w.attempt(ctx, jobID, 1)
		switch {
		case err != nil:
			log.Warn("postback could not be attempted now; its queued job will", "err", err)
			return
		case sendErr == nil:
			if _, err := q.river.JobCancel(ctx, riverID); err != nil {
				log.Warn("could not cancel the delivered postback's queued job", "err", err)
			}
			return
		case postback.Permanent(sendErr):
			// Failed for good now; the queued job, should it run before
			// the cancel lands, finds the postback failed and sends nothing.
			if err := w.giveUp(ctx, jobID, sendErr, log); err != nil {
				log.Warn("could not mark the postback failed; its queued job will retry", "err", err)
				return
			}
			if _, err := q.river.JobCancel(ctx, riverID); err != nil {
				log.Warn("could not cancel the failed postback's queued job", "err", err)
			}
			return
		}
		log.Warn("postback attempt failed; will retry", "err", sendErr, "cause", errors.Unwrap(sendErr))
		select {
		case <-time.After(w.schedule[0]):
		case <-q.stopping:
			return // the queued job retries when its lease ends
		}
		if _, err := q.river.JobRetry(ctx, riverID); err != nil {
			log.Warn("could not bring the postback's retry forward", "err", err)
		}
	}()
}

// postbackLease is how long a finished job's postback job waits for the
// finishing process's own attempt before running: longer than that attempt
// and the wait before its retry.
func (q *Queue) postbackLease() time.Duration {
	timeout := q.postbacks.sender.Timeout
	if timeout == 0 {
		timeout = postback.DefaultTimeout
	}
	return timeout + q.config.PostbackSchedule[0] + 5*time.Second
}
