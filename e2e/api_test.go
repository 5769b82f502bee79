package e2e

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// TestJobArraysAreAnsweredInOrder: a form field json holding an array of jobs
// gets an array of answers, one per job in order, a bad job refused beside good
// ones that are queued.
func TestJobArraysAreAnsweredInOrder(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	clip := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 320, Height: 240})
	media := mediaServer(t, dir)
	good := strings.Replace(localJob(srv.AppID, media.URL+"/"+filepath.Base(clip), ""), "System preset generic 720p", "1351620000001-000061", 1)
	bad := strings.Replace(good, "1351620000001-000061", "no such preset", 1)
	body := url.Values{"json": {"[" + good + "," + bad + "," + good + "]"}}.Encode()
	status, out := srv.post(t, "/job", "application/x-www-form-urlencoded", body)
	answers, _ := out["results"].([]any)
	if status != 200 || len(answers) != 3 {
		t.Fatalf("HTTP %d %v", status, out)
	}
	for i, want := range []string{"job_id", "error", "job_id"} {
		a, _ := answers[i].(map[string]any)
		if _, ok := a[want]; !ok {
			t.Errorf("answer %d = %v, want %s", i, a, want)
		}
	}
	for _, i := range []int{0, 2} {
		id := answers[i].(map[string]any)["job_id"].(string)
		if res := listen(t, srv, id, 2*time.Minute); res["video"] == nil {
			t.Errorf("job %d: %v", i, res)
		}
	}
}

// TestListenAnswersUnknownAndUnfinishedJobs: an unknown id is a 404 in the error
// shape; a client that asks for an early answer (?timeout=1) about a job still
// running gets a 202 with its state after a second.
func TestListenAnswersUnknownAndUnfinishedJobs(t *testing.T) {
	srv := startServer(t, "--max-attempts", "1")
	status, out := srv.get(t, "/listen/0AAAAAAAAAAAAAAAAAAAAAA")
	if res, _ := out["results"].(map[string]any); status != 404 || !strings.Contains(res["error"].(string), "not known") {
		t.Errorf("unknown job: HTTP %d %v", status, out)
	}
	// A source server that never answers keeps the job fetching.
	hang := make(chan struct{})
	slow := http.NewServeMux()
	slow.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	slowSrv := mediaServerFor(t, slow)
	defer close(hang)
	id := srv.submit(t, localJob(srv.AppID, slowSrv.URL+"/slow.mp4", ""))
	start := time.Now()
	resp, err := srv.rawGet("/listen/" + id + "?timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 || !strings.Contains(string(body), `"state":"fetching"`) || !strings.Contains(string(body), id) {
		t.Errorf("unfinished job: HTTP %d %s", resp.StatusCode, body)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond || waited > 10*time.Second {
		t.Errorf("/listen answered after %s, want about 1 s", waited)
	}
}

// TestJobTimeoutFailsTheJobAndCleansUp: a job that runs past --job-timeout fails
// with a clear error, its ffmpeg is stopped and its files removed.
func TestJobTimeoutFailsTheJobAndCleansUp(t *testing.T) {
	srv := startServer(t, "--job-timeout", "3s", "--max-attempts", "1")
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	id := srv.submit(t, strings.Replace(localJob(srv.AppID, media.URL+"/squirrel.mp4", ""), "System preset generic 720p", "System preset generic 1080p", 1))
	res := listen(t, srv, id, time.Minute)
	errs, _ := res["errors"].([]any)
	if len(errs) != 1 || errs[0] != "The job took longer than the 3s limit." {
		t.Fatalf("results = %v", res)
	}
	if left := workFilesLeft(srv); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	if out, _ := output("pgrep", "-f", filepath.Join(srv.Data, "tmp")); strings.TrimSpace(out) != "" {
		t.Errorf("ffmpeg still running: %s", out)
	}
}
