package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/pgtest"
)

// TestDatabaseOutage: while PostgreSQL is down the API answers 503 in the error
// shape; when it is back vidjob recovers by itself, and every job accepted before
// or after the outage completes once.
func TestDatabaseOutage(t *testing.T) {
	pg := pgtest.Start(t)
	srv := startServer(t, "--database", pg.URL(), "--job-timeout", "30s", "--rescue-after", "30s")
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	job := strings.Replace(localJob(srv.AppID, media.URL+"/squirrel.mp4", ""), "System preset generic 720p", "1351620000001-000061", 1)

	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, srv.submit(t, job))
	}
	// Stop the database in the middle of the work, not after it.
	waitForState(t, srv, ids[0], "transcoding", 0.01, time.Minute)
	pg.Stop()
	status, out := srv.post(t, "/job", "application/json", job)
	res, _ := out["results"].(map[string]any)
	if status != http.StatusServiceUnavailable || !strings.Contains(res["error"].(string), "unavailable") {
		t.Errorf("POST /job during the outage: HTTP %d %v, want 503", status, out)
	}
	if status, _ := srv.get(t, "/healthz"); status != http.StatusServiceUnavailable {
		t.Errorf("/healthz during the outage: HTTP %d, want 503", status)
	}
	time.Sleep(3 * time.Second)
	pg.Start()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if status, _ := srv.get(t, "/healthz"); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("vidjob did not recover after the database came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := 0; i < 2; i++ {
		ids = append(ids, srv.submit(t, job))
	}
	for _, id := range ids {
		if res := listen(t, srv, id, 3*time.Minute); res["errors"] != nil || res["video"] == nil {
			t.Errorf("job %s: %v", id, res)
		}
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(len(ids)) {
		t.Errorf("usage = %v, want %d jobs billed once each", usage, len(ids))
	}
}

// TestStorageOutage: with the S3 endpoint down for 30 s while a job uploads, the
// upload is retried and the job succeeds once.
func TestStorageOutage(t *testing.T) {
	s3 := startS3(t, "media")
	srv := startServer(t, "--s3-endpoint", s3.endpoint, "--s3-access-key", s3.access, "--s3-secret-key", s3.secret, "--s3-path-style")
	dir := t.TempDir()
	clip := makeClip(t, dir, 2)
	media := mediaServer(t, dir)
	job := strings.NewReplacer("System preset generic 720p", "1351620000001-000061", "YOUR_BUCKET", "media").
		Replace(localJob(srv.AppID, media.URL+"/"+clip, ""))
	s3.Stop()
	id := srv.submit(t, job)
	waitForState(t, srv, id, "uploading", 0, time.Minute)
	time.Sleep(30 * time.Second)
	s3.Restart()
	res := listen(t, srv, id, 3*time.Minute)
	if res["errors"] != nil || res["video"] == nil {
		t.Fatalf("job did not survive the outage: %v", res)
	}
	if got := s3.object(t, "media", "grumpy_squirrel/transcoded_out.mp4"); len(got) < 1000 {
		t.Errorf("object has %d bytes", len(got))
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(1) {
		t.Errorf("usage = %v, want one job billed once", usage)
	}
}
