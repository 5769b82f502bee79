package http

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/internal/pgtest"
	"github.com/vidjob/vidjob/preset"
	"github.com/vidjob/vidjob/sqlstore"
)

// presetServers serves the real handler with applications' presets on a real
// SQLite database and, when VIDJOB_TEST_DATABASE_URL names a server, on a
// PostgreSQL schema of its own; each has applications "app-a", "app-b" and a
// disabled "app-off".
func presetServers(t *testing.T) map[string]*httptest.Server {
	t.Helper()
	ctx := context.Background()
	urls := map[string]string{"sqlite": ""}
	if base := os.Getenv("VIDJOB_TEST_DATABASE_URL"); base != "" {
		urls["postgres"] = pgtest.Schema(t, base)
	} else if os.Getenv("CI") != "" {
		t.Fatal("VIDJOB_TEST_DATABASE_URL is not set; CI must run the PostgreSQL cases (.ci/run sets it)")
	} else {
		t.Log("SKIPPED PostgreSQL cases: VIDJOB_TEST_DATABASE_URL is not set; run scripts/start-postgres.sh and set it")
	}
	catalog, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*httptest.Server{}
	for name, url := range urls {
		db, err := sqlstore.Open(ctx, url, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"app-a", "app-b", "app-off"} {
			if err := db.CreateApplication(ctx, &vidjob.Application{ID: id, Name: id}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.SetApplicationDisabled(ctx, "app-off", true); err != nil {
			t.Fatal(err)
		}
		s := &Server{Store: db, Catalog: catalog, Logger: slog.New(slog.DiscardHandler),
			AppPresets: &preset.AppCatalog{Catalog: catalog, Store: db, Check: ffmpeg.CheckPreset}}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		out[name] = srv
	}
	return out
}

// call sends a request as app ("" for none) and decodes the JSON answer.
func call(t *testing.T, srv *httptest.Server, method, path, app, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if app != "" {
		req.Header.Set(ApplicationHeader, app)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

// errorOf is the message of a Blitline error answer.
func errorOf(out map[string]any) string {
	res, _ := out["results"].(map[string]any)
	msg, _ := res["error"].(string)
	return msg
}

const smallPreset = `{
  "Name": "Small MP4", "Description": "small and quick", "Container": "mp4",
  "Video": {"Codec": "H.264", "CodecOptions": {"Profile": "baseline", "Level": "3", "MaxReferenceFrames": "1"},
    "KeyframesMaxDist": "60", "FixedGOP": "false", "BitRate": "300", "FrameRate": "15",
    "MaxWidth": "320", "MaxHeight": "180", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad", "DisplayAspectRatio": "auto"},
  "Audio": {"Codec": "AAC", "SampleRate": "22050", "BitRate": "64", "Channels": "1", "CodecOptions": {"Profile": "AAC-LC"}},
  "Thumbnails": {"Format": "png", "Interval": "60", "MaxWidth": "192", "MaxHeight": "108", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad"}
}`

// TestApplicationPresets: an application creates presets in ET's
// CreatePreset shape, sees them beside the system catalog, and deletes them;
// another application cannot see, run or delete them; bad presets, a
// disabled application and the per-application limit are refused with
// specific errors.
func TestApplicationPresets(t *testing.T) {
	for dbName, srv := range presetServers(t) {
		t.Run(dbName, func(t *testing.T) {
			status, out := call(t, srv, "POST", "/presets", "app-a", smallPreset)
			if status != http.StatusCreated {
				t.Fatalf("POST /presets: HTTP %d %v", status, out)
			}
			p, _ := out["Preset"].(map[string]any)
			id, _ := p["Id"].(string)
			if !regexp.MustCompile(`^[0-9]{13}-[a-z0-9]{6}$`).MatchString(id) || p["Type"] != "Custom" || p["Name"] != "Small MP4" || out["Warning"] != "" {
				t.Fatalf("answer %v", out)
			}
			if v, _ := p["Video"].(map[string]any); v["BitRate"] != "300" || v["MaxWidth"] != "320" {
				t.Errorf("answered video settings %v", v)
			}

			// The owner reads it by ID and by Name, and lists it after the system presets.
			for _, path := range []string{"/presets/" + id, "/presets/small%20mp4"} {
				if status, out := call(t, srv, "GET", path, "app-a", ""); status != 200 || out["Preset"].(map[string]any)["Id"] != id {
					t.Errorf("GET %s as owner: HTTP %d %v", path, status, out)
				}
			}
			if ids := listed(t, srv, "app-a"); len(ids) != 86 || ids[len(ids)-1] != id {
				t.Errorf("app-a lists %d presets, last %v", len(ids), ids[len(ids)-1:])
			}

			// Another application, or none, sees only the system catalog, and
			// the preset's ID answers as an unknown ID does.
			if ids := listed(t, srv, "app-b"); len(ids) != 85 {
				t.Errorf("app-b lists %d presets, want the 85 system presets", len(ids))
			}
			if ids := listed(t, srv, ""); len(ids) != 85 {
				t.Errorf("no application: %d presets", len(ids))
			}
			_, unknown := call(t, srv, "GET", "/presets/1351620000001-zzzzzz", "app-b", "")
			for _, app := range []string{"app-b", ""} {
				status, out := call(t, srv, "GET", "/presets/"+id, app, "")
				if status != 404 || strings.ReplaceAll(errorOf(out), id, "X") != strings.ReplaceAll(errorOf(unknown), "1351620000001-zzzzzz", "X") {
					t.Errorf("GET another's preset as %q: HTTP %d %v; unknown: %v", app, status, out, unknown)
				}
			}
			status, delOther := call(t, srv, "DELETE", "/presets/"+id, "app-b", "")
			_, delUnknown := call(t, srv, "DELETE", "/presets/1351620000001-zzzzzz", "app-b", "")
			if status != 404 || strings.ReplaceAll(errorOf(delOther), id, "X") != strings.ReplaceAll(errorOf(delUnknown), "1351620000001-zzzzzz", "X") {
				t.Errorf("DELETE another's preset: HTTP %d %v; unknown: %v", status, delOther, delUnknown)
			}

			// A job of another application cannot name it.
			job := `{"application_id": "app-b", "src": "http://93.184.215.14/a.mp4", "v": 1.22,
			  "pre_process": {"transcode": {"preset_id": "` + id + `", "s3_destination": {"bucket": "b", "key": "k.mp4"}}}}`
			status, out = call(t, srv, "POST", "/job", "", job)
			if status != http.StatusUnprocessableEntity || !strings.Contains(errorOf(out), "Unknown preset_id") {
				t.Errorf("app-b's job naming app-a's preset: HTTP %d %v", status, out)
			}

			// Refusals.
			for _, c := range []struct {
				app, body string
				status    int
				want      string
			}{
				{"app-a", strings.Replace(smallPreset, `"BitRate": "300"`, `"BitRate": "3OO"`, 1), 400, `"3OO"`},
				{"app-a", strings.Replace(smallPreset, `"Codec": "H.264"`, `"Codec": "H.266"`, 1), 400, "H.266"},
				{"app-a", strings.Replace(smallPreset, `"Name"`, `"Nmae"`, 1), 400, "Nmae"},
				{"app-a", `{"Id": "mine", ` + smallPreset[1:], 400, "Id and Arn"},
				{"app-a", strings.Replace(smallPreset, `"Small MP4"`, `"System preset: Generic 720p"`, 1), 400, "system preset 1351620000001-000010"},
				{"app-a", strings.Replace(smallPreset, `"small and quick"`, `"other"`, 1), 400, "already names this application's preset"},
				{"app-a", `[` + smallPreset + `]`, 400, "CreatePreset shape"},
				{"app-a", `{"Name": "` + strings.Repeat("x", 70<<10) + `"}`, 413, "at most"},
				{"app-off", strings.Replace(smallPreset, "Small MP4", "Off", 1), 403, "disabled"},
				{"", smallPreset, 401, "application ID is required"},
				{"nobody", smallPreset, 401, "not known"},
			} {
				status, out := call(t, srv, "POST", "/presets", c.app, c.body)
				if status != c.status || !strings.Contains(errorOf(out), c.want) {
					t.Errorf("POST as %q (%.60s…): HTTP %d %q, want %d with %q", c.app, c.body, status, errorOf(out), c.status, c.want)
				}
			}

			// The limit, then deleting makes room.
			for i := 1; i < preset.MaxAppPresets; i++ {
				body := strings.Replace(strings.Replace(smallPreset, "Small MP4", "Small "+string(rune('A'+i%26))+string(rune('a'+i/26)), 1), "small and quick", "", 1)
				if status, out := call(t, srv, "POST", "/presets", "app-b", body); status != 201 {
					t.Fatalf("preset %d of app-b: HTTP %d %v", i, status, out)
				}
			}
			if status, out := call(t, srv, "POST", "/presets", "app-b", smallPreset); status != 201 {
				t.Fatalf("app-b's 50th: HTTP %d %v (names are per application)", status, out)
			}
			if status, out := call(t, srv, "POST", "/presets", "app-b", strings.Replace(strings.Replace(smallPreset, "Small MP4", "One too many", 1), "small and quick", "", 1)); status != 403 || !strings.Contains(errorOf(out), "most allowed") {
				t.Errorf("app-b's 51st: HTTP %d %v", status, out)
			}
			if status, out := call(t, srv, "DELETE", "/presets/1351620000001-000010", "app-a", ""); status != 400 || !strings.Contains(errorOf(out), "system preset") {
				t.Errorf("DELETE a system preset: HTTP %d %v", status, out)
			}
			if status, out := call(t, srv, "DELETE", "/presets/"+id, "app-a", ""); status != 200 {
				t.Errorf("DELETE own preset: HTTP %d %v", status, out)
			}
			if status, _ := call(t, srv, "GET", "/presets/"+id, "app-a", ""); status != 404 {
				t.Errorf("GET a deleted preset: HTTP %d", status)
			}
		})
	}
}

// listed returns the IDs GET /presets lists for app.
func listed(t *testing.T, srv *httptest.Server, app string) []string {
	t.Helper()
	status, out := call(t, srv, "GET", "/presets", app, "")
	if status != 200 {
		t.Fatalf("GET /presets as %q: HTTP %d %v", app, status, out)
	}
	var ids []string
	list, _ := out["presets"].([]any)
	for _, p := range list {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	return ids
}
