package http

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testdisk"
	"github.com/vidjob/vidjob/localdisk"
	"github.com/vidjob/vidjob/sqlstore"
)

// While the disk is short of the room the server keeps free, POST /job
// answers 503 and /healthz answers 503 naming disk_space, from the same
// check; with room again both recover. The disk is a real tmpfs filled up.
func TestHealthAndSubmissionsFollowFreeSpace(t *testing.T) {
	disk := testdisk.Tmpfs(t, "2m")
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: db, Logger: slog.New(slog.DiscardHandler),
		Space: &localdisk.Space{Dirs: []localdisk.Dir{{Role: "work directory", Path: disk}}, Min: 1 << 20}}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	health := func() (int, map[string]string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	submit := func() int {
		job := `{"application_id": "app", "src": "https://example.com/a.mp4", "v": 1.22,
			"pre_process": {"transcode": {"preset_id": "System preset: Generic 320x240", "s3_destination": {"bucket": "b", "key": "k.mp4"}}}}`
		resp, err := http.Post(srv.URL+"/job", "application/json", strings.NewReader(job))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status, body := health(); status != 200 || body["status"] != "ok" {
		t.Fatalf("empty disk: /healthz %d %v", status, body)
	}

	fill := filepath.Join(disk, "fill")
	if err := os.WriteFile(fill, make([]byte, 1536<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a result stands for a second
	status, body := health()
	if status != 503 || body["reason"] != "disk_space" || !strings.Contains(body["error"], "short of disk space: its work directory has") ||
		strings.Contains(body["error"], disk) {
		t.Errorf("full disk: /healthz %d %v, want 503 naming disk_space without the path", status, body)
	}
	if status := submit(); status != 503 {
		t.Errorf("full disk: POST /job %d, want 503", status)
	}

	os.Remove(fill)
	time.Sleep(1100 * time.Millisecond)
	if status, body := health(); status != 200 {
		t.Errorf("room again: /healthz %d %v", status, body)
	}
	if status := submit(); status == 503 {
		t.Errorf("room again: POST /job still 503")
	}
}
