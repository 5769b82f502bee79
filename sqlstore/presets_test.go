package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

func TestAppPresets(t *testing.T) {
	ctx := context.Background()
	for name, db := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			for _, id := range []string{"app-a", "app-b"} {
				if err := db.CreateApplication(ctx, &vidjob.Application{ID: id, Name: id}); err != nil {
					t.Fatal(err)
				}
			}
			mk := func(app, id, name string) vidjob.AppPreset {
				return vidjob.AppPreset{ID: id, ApplicationID: app, Name: name, Definition: []byte(`{"Id":"` + id + `"}`), CreatedAt: time.UnixMilli(1_700_000_000_000)}
			}
			if err := db.CreateAppPreset(ctx, mk("app-a", "1-aaaaaa", "one"), 2); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateAppPreset(ctx, mk("app-a", "1-bbbbbb", "one"), 2); vidjob.ErrorCode(err) != vidjob.EINVALID {
				t.Errorf("same name: %v, want %s", err, vidjob.EINVALID)
			}
			if err := db.CreateAppPreset(ctx, mk("app-a", "1-cccccc", "two"), 2); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateAppPreset(ctx, mk("app-a", "1-dddddd", "three"), 2); vidjob.ErrorCode(err) != vidjob.EFORBIDDEN {
				t.Errorf("past the limit: %v, want %s", err, vidjob.EFORBIDDEN)
			}
			// Another application has its own names and its own limit.
			if err := db.CreateAppPreset(ctx, mk("app-b", "1-eeeeee", "one"), 2); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateAppPreset(ctx, mk("nobody", "1-ffffff", "x"), 2); vidjob.ErrorCode(err) != vidjob.ENOTFOUND {
				t.Errorf("unknown application: %v", err)
			}
			got, err := db.AppPresets(ctx, "app-a")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].ID != "1-aaaaaa" || got[1].ID != "1-cccccc" || string(got[0].Definition) != `{"Id":"1-aaaaaa"}` || !got[0].CreatedAt.Equal(time.UnixMilli(1_700_000_000_000)) {
				t.Errorf("app-a's presets: %+v", got)
			}
			if err := db.DeleteAppPreset(ctx, "app-b", "1-aaaaaa"); vidjob.ErrorCode(err) != vidjob.ENOTFOUND {
				t.Errorf("deleting another application's preset: %v, want %s", err, vidjob.ENOTFOUND)
			}
			if err := db.DeleteAppPreset(ctx, "app-a", "1-aaaaaa"); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.AppPresets(ctx, "app-a"); len(got) != 1 {
				t.Errorf("after delete: %+v", got)
			}
			if got, _ := db.AppPresets(ctx, "app-b"); len(got) != 1 || got[0].ID != "1-eeeeee" {
				t.Errorf("app-b's presets: %+v", got)
			}
			// FindApplication and ListApplications count each application's
			// presets: lookups skip the store for an application with none.
			if err := db.CreateApplication(ctx, &vidjob.Application{ID: "app-c", Name: "app-c"}); err != nil {
				t.Fatal(err)
			}
			for _, b := range []string{"b1", "b2"} { // a row per bucket must not be counted twice
				if err := db.AllowBucket(ctx, "app-a", b); err != nil {
					t.Fatal(err)
				}
			}
			for id, want := range map[string]int{"app-a": 1, "app-b": 1, "app-c": 0} {
				app, err := db.FindApplication(ctx, id)
				if err != nil || app.OwnPresets != want {
					t.Errorf("FindApplication(%s): %+v, %v; want %d own presets", id, app, err, want)
				}
			}
			apps, err := db.ListApplications(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, app := range apps {
				if want := map[string]int{"app-a": 1, "app-b": 1}[app.ID]; app.OwnPresets != want {
					t.Errorf("ListApplications: %s has %d own presets, want %d", app.ID, app.OwnPresets, want)
				}
			}
		})
	}
}
