package queue

import (
	"context"
	"fmt"
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
	i := min(job.Attempt-1, len(w.schedule)-1)
	return time.Now().Add(w.schedule[max(i, 0)])
}

// Timeout bounds one delivery attempt.
func (w *PostbackWorker) Timeout(*river.Job[PostbackArgs]) time.Duration { return time.Minute }

// Work makes one delivery attempt.
func (w *PostbackWorker) Work(ctx context.Context, rj *river.Job[PostbackArgs]) error {
	db := w.queue.db
	job, err := db.FindJob(ctx, rj.Args.JobID)
	if err != nil {
		return err
	}
	if job.Result == nil || job.Request.PostbackURL == "" {
		return river.JobCancel(fmt.Errorf("job %s has nothing to post back", job.ID))
	}
	app, err := db.FindApplication(ctx, job.ApplicationID)
	if err != nil {
		return err
	}
	contentType, body, err := blitline.PostbackBody(job.Result, job.Request.FormPostback())
	if err != nil {
		return river.JobCancel(err)
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
	attempt := vidjob.PostbackAttempt{
		JobID: job.ID, Attempt: rj.Attempt, URL: job.Request.PostbackURL,
		StatusCode: status, Duration: time.Since(started), At: started,
	}
	if sendErr != nil {
		attempt.Error = sendErr.Error()
	}
	log := w.queue.logger.With("job_id", job.ID, "attempt", rj.Attempt)
	if err := db.AddPostbackAttempt(ctx, attempt); err != nil {
		log.Warn("could not record postback attempt", "err", err)
	}
	if sendErr == nil {
		log.Info("postback delivered", "status", status)
		return db.SetPostbackState(ctx, job.ID, sqlstore.PostbackDelivered)
	}
	if rj.Attempt >= rj.MaxAttempts {
		log.Error("postback failed for good", "err", sendErr)
		if err := db.SetPostbackState(ctx, job.ID, sqlstore.PostbackFailed); err != nil {
			return err
		}
		return river.JobCancel(sendErr)
	}
	log.Warn("postback attempt failed; will retry", "err", sendErr)
	return sendErr
}
