package sqlstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/vidjob/vidjob"
)

// TestInsertJobsStoresEveryJobOfAGroup: a group of submissions written with
// one statement comes back job by job, each with its own request and
// postback state, and a duplicate ID fails the whole group (the caller then
// writes the jobs one by one).
func TestInsertJobsStoresEveryJobOfAGroup(t *testing.T) {
	for name, db := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			app := &vidjob.Application{ID: "app-group", Name: "acme"}
			if err := db.CreateApplication(ctx, app); err != nil {
				t.Fatal(err)
			}
			var jobs []*vidjob.Job
			for i := range 5 {
				req := vidjob.Request{Src: fmt.Sprintf("https://example.com/%d.mp4", i)}
				if i%2 == 0 {
					req.PostbackURL = "https://example.com/pb"
				}
				jobs = append(jobs, &vidjob.Job{ID: fmt.Sprintf("group-%d", i), ApplicationID: app.ID, Request: req})
			}
			if err := db.InsertJobs(ctx, nil, jobs); err != nil {
				t.Fatal(err)
			}
			for i, want := range jobs {
				got, err := db.FindJob(ctx, want.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State != vidjob.StateQueued || got.Request.Src != want.Request.Src {
					t.Errorf("job %d: state %q src %q", i, got.State, got.Request.Src)
				}
				state, err := db.PostbackState(ctx, want.ID)
				if wantState := map[bool]string{true: PostbackPending, false: PostbackNone}[i%2 == 0]; err != nil || state != wantState {
					t.Errorf("job %d: postback state %q (%v), want %q", i, state, err, wantState)
				}
			}
			dup := []*vidjob.Job{{ID: "group-new", ApplicationID: app.ID}, {ID: "group-1", ApplicationID: app.ID}}
			if err := db.InsertJobs(ctx, nil, dup); err == nil {
				t.Fatal("a group holding an existing ID was stored")
			}
			if _, err := db.FindJob(ctx, "group-new"); vidjob.ErrorCode(err) != vidjob.ENOTFOUND {
				t.Errorf("part of a failed group was stored: %v", err)
			}
		})
	}
}
