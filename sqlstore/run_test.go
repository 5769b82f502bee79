package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

// TestJobRunIsKeptWithItsPostbackLatency: the run a worker finishes a job with
// comes back from FindJob, and once the postback is delivered, with the time
// from the job's end to the delivery as its last phase.
func TestJobRunIsKeptWithItsPostbackLatency(t *testing.T) {
	for name, db := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := time.UnixMilli(1_800_000_000_000)
			db.Now = func() time.Time { return clock }
			app := &vidjob.Application{ID: "app1", Name: "acme"}
			if err := db.CreateApplication(ctx, app); err != nil {
				t.Fatal(err)
			}
			job := &vidjob.Job{ID: "1run", ApplicationID: app.ID, Request: vidjob.Request{Src: "https://example.com/a.mp4", PostbackURL: "https://example.com/pb"}}
			if err := db.InsertJob(ctx, nil, job); err != nil {
				t.Fatal(err)
			}
			if got, err := db.FindJob(ctx, job.ID); err != nil || got.Run != nil {
				t.Fatalf("queued job: run %+v, err %v", got.Run, err)
			}
			job.State, job.Result = vidjob.StateCompleted, &vidjob.Result{JobID: job.ID}
			job.Run = &vidjob.Run{Attempt: 1,
				Commands: []vidjob.Command{{Program: "ffmpeg", Args: []string{"-i", "file:source"}, Millis: 150, Phase: vidjob.PhaseEncode}},
				Phases:   []vidjob.PhaseTime{{Phase: vidjob.PhaseEncode, Millis: 151}}}
			if _, err := db.FinishJob(ctx, nil, job, nil, 0); err != nil {
				t.Fatal(err)
			}
			got, err := db.FindJob(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Run == nil || len(got.Run.Commands) != 1 || got.Run.Commands[0].Args[1] != "file:source" || len(got.Run.Phases) != 1 {
				t.Fatalf("run after finish = %+v", got.Run)
			}
			clock = clock.Add(42 * time.Millisecond)
			if err := db.SetPostbackState(ctx, job.ID, PostbackDelivered); err != nil {
				t.Fatal(err)
			}
			got, err = db.FindJob(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ms, ok := got.Run.Phase(vidjob.PhasePostback); !ok || ms != 42 {
				t.Errorf("postback phase = %d ms (present %v), want 42", ms, ok)
			}
		})
	}
}
