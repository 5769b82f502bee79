package sqlstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

// TestApplicationTenancy covers what tenancy rests on: a secret per
// application that rotation replaces, disabling, and the allowed buckets.
func TestApplicationTenancy(t *testing.T) {
	ctx := context.Background()
	for name, db := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			app := &vidjob.Application{ID: "app-tenancy", Name: "t"}
			if err := db.CreateApplication(ctx, app); err != nil {
				t.Fatal(err)
			}
			got, err := db.FindApplication(ctx, app.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got.Secret, "vjs_") || len(got.Secret) < 40 || got.Secret != app.Secret {
				t.Fatalf("secret = %q, want the created vjs_ secret %q", got.Secret, app.Secret)
			}
			if got.Disabled || len(got.Buckets) != 0 || got.CheckSubmit("any-bucket") != nil {
				t.Fatalf("new application = %+v, want enabled and free to use any bucket", got)
			}

			rotated, err := db.RotateSecret(ctx, app.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = db.FindApplication(ctx, app.ID)
			if rotated == app.Secret || got.Secret != rotated {
				t.Fatalf("after rotation secret = %q (returned %q, old %q)", got.Secret, rotated, app.Secret)
			}

			for _, b := range []string{"media-out", "thumbs", "media-out"} {
				if err := db.AllowBucket(ctx, app.ID, b); err != nil {
					t.Fatalf("allow %s: %v", b, err)
				}
			}
			if err := db.AllowBucket(ctx, app.ID, "Not A Bucket!"); vidjob.ErrorCode(err) != vidjob.EINVALID {
				t.Errorf("allowing an invalid bucket name: %v, want invalid", err)
			}
			got, _ = db.FindApplication(ctx, app.ID)
			if strings.Join(got.Buckets, ",") != "media-out,thumbs" {
				t.Fatalf("buckets = %v", got.Buckets)
			}
			if err := got.CheckSubmit("media-out"); err != nil {
				t.Errorf("allowed bucket refused: %v", err)
			}
			if err := got.CheckSubmit("someone-elses"); vidjob.ErrorCode(err) != vidjob.EFORBIDDEN || !strings.Contains(vidjob.ErrorMessage(err), "someone-elses") {
				t.Errorf("bucket outside the list: %v, want forbidden naming it", err)
			}
			if err := db.DisallowBucket(ctx, app.ID, "thumbs"); err != nil {
				t.Fatal(err)
			}
			if got, _ = db.FindApplication(ctx, app.ID); got.CheckSubmit("thumbs") == nil {
				t.Errorf("disallowed bucket still accepted: %v", got.Buckets)
			}

			if err := db.SetApplicationDisabled(ctx, app.ID, true); err != nil {
				t.Fatal(err)
			}
			got, _ = db.FindApplication(ctx, app.ID)
			if err := got.CheckSubmit("media-out"); !got.Disabled || vidjob.ErrorCode(err) != vidjob.EFORBIDDEN || !strings.Contains(vidjob.ErrorMessage(err), "disabled") {
				t.Fatalf("disabled application: %+v, %v", got, err)
			}
			if err := db.SetApplicationDisabled(ctx, app.ID, false); err != nil {
				t.Fatal(err)
			}
			if got, _ = db.FindApplication(ctx, app.ID); got.Disabled {
				t.Errorf("enable did not take")
			}
			for _, err := range []error{
				db.SetApplicationDisabled(ctx, "nope", true),
				db.AllowBucket(ctx, "nope", "media-out"),
				func() error { _, err := db.RotateSecret(ctx, "nope"); return err }(),
			} {
				if vidjob.ErrorCode(err) != vidjob.ENOTFOUND {
					t.Errorf("unknown application: %v, want not_found", err)
				}
			}
		})
	}
}

// TestSecretBackfill: applications made before signing existed get a secret
// when the database is migrated.
func TestSecretBackfill(t *testing.T) {
	ctx := context.Background()
	for name, db := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := db.SQL.ExecContext(ctx, db.rebind(`INSERT INTO applications (id, name, created_ms) VALUES (?, ?, ?)`), "old-app", "old", 1); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			app, err := db.FindApplication(ctx, "old-app")
			if err != nil || !strings.HasPrefix(app.Secret, "vjs_") {
				t.Fatalf("old application after migrate: %+v, %v", app, err)
			}
		})
	}
}

// TestApplicationLookupDoesNotWaitForTheWriter: on SQLite the one writing
// connection may be held by a group of submissions being committed; the
// application lookup every submission starts with reads beside it.
func TestApplicationLookupDoesNotWaitForTheWriter(t *testing.T) {
	db := openTestDBs(t)["sqlite"]
	ctx := context.Background()
	app := &vidjob.Application{ID: "app-reader", Name: "acme"}
	if err := db.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := db.InsertJob(ctx, tx, &vidjob.Job{ID: "held", ApplicationID: app.ID}); err != nil {
		t.Fatal(err)
	}
	lookup, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	got, err := db.FindApplication(lookup, app.ID)
	if err != nil || got.Name != "acme" {
		t.Fatalf("lookup while the writer is busy: %v, %v", got, err)
	}
}
