package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

// TestListsAndStatsSeeWhatWasWritten checks the dashboard's and the metrics'
// reads on both dialects: filters, order, daily sums and the queue's oldest entry.
func TestListsAndStatsSeeWhatWasWritten(t *testing.T) {
	for name, db := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			day := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			now := day
			db.Now = func() time.Time { return now }
			for _, id := range []string{"a", "b"} {
				if err := db.CreateApplication(ctx, &vidjob.Application{ID: id, Name: "app " + id}); err != nil {
					t.Fatal(err)
				}
			}
			// a: three jobs, two finished on consecutive days (61 s → 2 min, 30 s → 1 min), one queued.
			// b: one queued job.
			var jobs []*vidjob.Job
			for i, app := range []string{"a", "a", "a", "b"} {
				now = day.Add(time.Duration(i) * 24 * time.Hour)
				job := &vidjob.Job{ID: string(rune('w' + i)), ApplicationID: app}
				if err := db.InsertJob(ctx, nil, job); err != nil {
					t.Fatal(err)
				}
				jobs = append(jobs, job)
			}
			for i, ms := range []int64{61_000, 30_000} {
				now = day.Add(time.Duration(i)*24*time.Hour + time.Hour)
				j := jobs[i]
				j.State, j.Result = vidjob.StateCompleted, &vidjob.Result{JobID: j.ID}
				c := vidjob.NewCharge(j.ID, "a", ms, vidjob.DefaultPricePerMinute)
				if _, err := db.FinishJob(ctx, nil, j, &c, vidjob.DefaultPricePerMinute); err != nil {
					t.Fatal(err)
				}
			}
			db.AddPostbackAttempt(ctx, vidjob.PostbackAttempt{JobID: "w", Attempt: 1, URL: "http://x", Error: "refused", At: now})
			db.AddPostbackAttempt(ctx, vidjob.PostbackAttempt{JobID: "w", Attempt: 2, URL: "http://x", StatusCode: 204, At: now})

			all, err := db.ListJobs(ctx, JobFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(all); got != "zyxw" {
				t.Errorf("all jobs newest first = %q, want zyxw", got)
			}
			queuedA, _ := db.ListJobs(ctx, JobFilter{ApplicationID: "a", State: vidjob.StateQueued})
			if got := ids(queuedA); got != "y" {
				t.Errorf("a's queued jobs = %q, want y", got)
			}
			changed, _ := db.ListJobs(ctx, JobFilter{UpdatedAfter: day.Add(2 * time.Hour)})
			if got := ids(changed); got != "xyz" {
				t.Errorf("changed after day+2h, by change time = %q, want xyz", got)
			}
			two, _ := db.ListJobs(ctx, JobFilter{Limit: 2})
			if len(two) != 2 {
				t.Errorf("limit 2 gave %d jobs", len(two))
			}

			days, err := db.DailyUsage(ctx, "a", day.Add(-48*time.Hour), day.Add(30*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(days) != 2 || days[0].Minutes != 2 || days[1].Minutes != 1 || !days[0].Day.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("daily usage = %+v, want 2 min on 1 March and 1 min on 2 March", days)
			}
			if days[0].Amount != 2*vidjob.DefaultPricePerMinute {
				t.Errorf("1 March amount = %s", days[0].Amount)
			}

			st, err := db.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.JobsByState[vidjob.StateCompleted] != 2 || st.JobsByState[vidjob.StateQueued] != 2 {
				t.Errorf("jobs by state = %v", st.JobsByState)
			}
			if !st.OldestQueued.Equal(day.Add(48 * time.Hour)) {
				t.Errorf("oldest queued = %v, want %v", st.OldestQueued, day.Add(48*time.Hour))
			}
			if st.BilledMinutes != 3 || st.PostbackAttempts != 2 || st.PostbackFailures != 1 {
				t.Errorf("stats = %+v, want 3 minutes, 2 attempts, 1 failure", st)
			}
			apps, err := db.ListApplications(ctx)
			if err != nil || len(apps) != 2 || apps[0].Name != "app a" {
				t.Errorf("applications = %+v, %v", apps, err)
			}
		})
	}
}

func ids(jobs []*vidjob.Job) string {
	s := ""
	for _, j := range jobs {
		s += j.ID
	}
	return s
}
