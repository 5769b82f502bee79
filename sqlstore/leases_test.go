package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

// TestATakenOverAttemptCanNeitherUpdateNorEndItsJob: once a lease is taken
// over, the database refuses the stale holder's progress, its end of the job
// and its charge, while the new holder's go through; an unexpired lease is
// not taken unless its holder is known dead.
func TestATakenOverAttemptCanNeitherUpdateNorEndItsJob(t *testing.T) {
	for name, db := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			app := &vidjob.Application{ID: "app-lease", Name: "acme"}
			if err := db.CreateApplication(ctx, app); err != nil {
				t.Fatal(err)
			}
			job := &vidjob.Job{ID: "lease-job", ApplicationID: app.ID, Request: vidjob.Request{Src: "https://example.com/a.mp4"}}
			if err := db.InsertJob(ctx, nil, job); err != nil {
				t.Fatal(err)
			}
			stale := Lease{RiverJobID: 41, Token: "stale-token", JobID: job.ID, Kind: "k", Attempt: 1, Host: "h", Holder: "w-1"}
			if err := db.AcquireLease(ctx, stale, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := db.SetStateHeld(ctx, job.ID, stale.Token, vidjob.StateTranscoding, 0.3); err != nil {
				t.Fatal(err)
			}
			if err := db.RenewLease(ctx, stale.Token, time.Minute); err != nil {
				t.Fatal(err)
			}
			// Not expired: only a known-dead holder's lease is taken.
			if ok, err := db.TakeLease(ctx, nil, stale.Token, false); err != nil || ok {
				t.Fatalf("took a live lease: %v %v", ok, err)
			}
			if ok, err := db.TakeLease(ctx, nil, stale.Token, true); err != nil || !ok {
				t.Fatalf("forced takeover: %v %v", ok, err)
			}
			if err := db.RenewLease(ctx, stale.Token, time.Minute); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("renewal of a taken lease: %v, want ErrLeaseLost", err)
			}
			if err := db.SetStateHeld(ctx, job.ID, stale.Token, vidjob.StateUploading, 1); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("stale progress: %v, want ErrLeaseLost", err)
			}
			fresh := Lease{RiverJobID: 42, Token: "fresh-token", JobID: job.ID, Kind: "k", Attempt: 1, Host: "h", Holder: "w-2"}
			if err := db.AcquireLease(ctx, fresh, time.Minute); err != nil {
				t.Fatal(err)
			}
			failed := *job
			failed.State, failed.Result = vidjob.StateFailed, &vidjob.Result{JobID: job.ID, Errors: []string{"The job took longer than the 2m0s limit."}}
			tx, err := db.SQL.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.FinishJobHeld(ctx, tx, &failed, stale.Token, nil, 0); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("stale finish: %v, want ErrLeaseLost", err)
			}
			tx.Rollback()
			got, err := db.FindJob(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != vidjob.StateTranscoding || got.Result != nil {
				t.Fatalf("after the stale attempt's writes the job is %s %v", got.State, got.Result)
			}

			done := *job
			done.State, done.Result = vidjob.StateCompleted, &vidjob.Result{JobID: job.ID}
			charge := vidjob.NewCharge(job.ID, app.ID, 30_000, vidjob.DefaultPricePerMinute)
			tx, err = db.SQL.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if first, err := db.FinishJobHeld(ctx, tx, &done, fresh.Token, &charge, vidjob.DefaultPricePerMinute); err != nil || !first {
				t.Fatalf("new holder's finish: %v %v", first, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if held, err := db.HoldsLease(ctx, fresh.Token); err != nil || held {
				t.Fatalf("the finishing attempt's lease is still there: %v %v", held, err)
			}
			if c, err := db.FindCharge(ctx, job.ID); err != nil || c == nil {
				t.Fatalf("charge = %v, %v", c, err)
			}

			// A lease that lapses is taken without force; one acquired
			// again for the same River job replaces the earlier holder's.
			short := Lease{RiverJobID: 43, Token: "short-token", JobID: "other", Kind: "k", Attempt: 1, Host: "h", Holder: "w-3"}
			if err := db.AcquireLease(ctx, short, time.Millisecond); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			cands, err := db.TakeoverCandidates(ctx, "another-host", func(string) bool { return false }, 10)
			if err != nil || len(cands) != 1 || cands[0].Token != short.Token {
				t.Fatalf("takeover candidates = %+v, %v", cands, err)
			}
			again := short
			again.Token, again.Attempt = "again-token", 2
			if err := db.AcquireLease(ctx, again, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := db.RenewLease(ctx, short.Token, time.Minute); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("renewal of a replaced lease: %v, want ErrLeaseLost", err)
			}
			if ok, err := db.TakeLease(ctx, nil, again.Token, false); err != nil || ok {
				t.Fatalf("took a fresh lease: %v %v", ok, err)
			}
		})
	}
}
