package queue

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/vidjob/vidjob"
)

// Submissions are written in groups: while one transaction commits, the
// submissions that arrive meanwhile wait and go into the next one together. A
// commit costs the same for one job as for a hundred (one fsync on PostgreSQL,
// one WAL append on SQLite), so under load this multiplies throughput, and
// with a single client it adds nothing (a group of one is written at once).
const maxGroup = 128

// submission is one job waiting to be written.
type submission struct {
	job   *vidjob.Job
	reply chan error
}

// Submit accepts a job: the job row and its River job are committed in one
// transaction before Submit returns, so a job that was answered with an ID is
// never lost. Once handed to a writer, the write completes even if ctx ends, so
// that the caller's answer never disagrees with the database for long.
func (q *Queue) Submit(ctx context.Context, appID string, req vidjob.Request) (*vidjob.Job, error) {
	s := submission{
		job:   &vidjob.Job{ID: NewJobID(), ApplicationID: appID, Request: req},
		reply: make(chan error, 1),
	}
	select {
	case q.submissions <- s:
	case <-ctx.Done():
		return nil, vidjob.WrapError(vidjob.EUNAVAILABLE, ctx.Err(), "The server is too busy to accept the job; try again shortly.")
	}
	if err := <-s.reply; err != nil {
		return nil, err
	}
	return s.job, nil
}

// writeSubmissions is a writer goroutine: it writes groups of submissions until
// the queue is closed.
func (q *Queue) writeSubmissions() {
	defer q.writers.Done()
	group := make([]submission, 0, maxGroup)
	for {
		first, ok := <-q.submissions
		if !ok {
			return
		}
		group = append(group[:0], first)
	drain:
		for len(group) < maxGroup {
			select {
			case s, ok := <-q.submissions:
				if !ok {
					break drain
				}
				group = append(group, s)
			default:
				break drain
			}
		}
		q.writeGroup(group)
	}
}

// writeGroup commits a group in one transaction. If that fails, each
// submission is tried on its own, so that one bad job cannot sink the others.
func (q *Queue) writeGroup(group []submission) {
	ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
	defer cancel()
	err := q.insert(ctx, group)
	if err == nil || len(group) == 1 {
		for _, s := range group {
			s.reply <- err
		}
		return
	}
	for _, s := range group {
		s.reply <- q.insert(ctx, []submission{s})
	}
}

func (q *Queue) insert(ctx context.Context, group []submission) error {
	tx, err := q.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return vidjob.WrapError(vidjob.EUNAVAILABLE, err, "The database is unavailable; try again shortly.")
	}
	defer tx.Rollback()
	jobs := make([]*vidjob.Job, len(group))
	params := make([]river.InsertManyParams, len(group))
	for i, s := range group {
		jobs[i] = s.job
		params[i] = river.InsertManyParams{
			Args:       TranscodeArgs{JobID: s.job.ID, WaitRetryDelay: s.job.Request.WaitRetryDelay},
			InsertOpts: &river.InsertOpts{Queue: QueueTranscode, MaxAttempts: q.config.MaxAttempts},
		}
	}
	if err := q.db.InsertJobs(ctx, tx, jobs); err != nil {
		return err
	}
	if _, err := q.river.InsertManyFastTx(ctx, tx, params); err != nil {
		return vidjob.WrapError(vidjob.EUNAVAILABLE, err, "The job queue is unavailable; try again shortly.")
	}
	if err := tx.Commit(); err != nil {
		return vidjob.WrapError(vidjob.EUNAVAILABLE, err, "The database is unavailable; try again shortly.")
	}
	return nil
}
