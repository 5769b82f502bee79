package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadSubmissionsAreRefusedWithSpecificErrors checks every refusal a client
// can meet at POST /job: Blitline's error shape, a specific sentence, the HTTP
// status a client expects, and no job created.
func TestBadSubmissionsAreRefusedWithSpecificErrors(t *testing.T) {
	srv := startServer(t)
	good := localJob(srv.AppID, "https://example.com/squirrel.mp4", "https://example.com/postback")
	swap := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("job has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	cases := []struct {
		name        string
		contentType string
		body        string
		status      int
		message     string
	}{
		{"invalid JSON", "application/json", `{"application_id": `, 400, "The job is not valid JSON: unexpected end of JSON input."},
		{"unknown application", "application/json", swap(srv.AppID, "no-such-app"), 401, "Your application ID is not known; check the application_id field."},
		{"missing application", "application/json", swap(`"application_id": "`+srv.AppID+`",`, ""), 401, "Your application ID is required; put it in the job's application_id field (or the application_id query parameter)."},
		{"missing src", "application/json", swap(`"src": "https://example.com/squirrel.mp4",`, ""), 400, "src is required: the URL of the source video."},
		{"src not http", "application/json", swap("https://example.com/squirrel.mp4", "ftp://example.com/squirrel.mp4"), 400, "src must be an http or https URL, not ftp."},
		{"unknown preset", "application/json", swap("System preset generic 720p", "System preset generic 8K"), 422, `Unknown preset_id "System preset generic 8K"`},
		{"missing bucket", "application/json", swap(`"bucket": "YOUR_BUCKET", `, ""), 400, "s3_destination.bucket is required."},
		{"empty bucket", "application/json", swap(`"bucket": "YOUR_BUCKET"`, `"bucket": ""`), 400, "s3_destination.bucket is required."},
		{"bucket slash", "application/json", swap(`"bucket": "YOUR_BUCKET"`, `"bucket": "/"`), 400, "The destination bucket name cannot contain '/'."},
		{"bucket dotdot", "application/json", swap(`"bucket": "YOUR_BUCKET"`, `"bucket": ".."`), 400, `The destination bucket name cannot be "..".`},
		{"bucket control char", "application/json", swap(`"bucket": "YOUR_BUCKET"`, `"bucket": "a\u0007b"`), 400, "The destination bucket name cannot contain control characters."},
		{"bucket too long", "application/json", swap(`"bucket": "YOUR_BUCKET"`, `"bucket": "`+strings.Repeat("b", 256)+`"`), 400, "The destination bucket name is longer than 255 characters."},
		{"missing key", "application/json", swap(`, "key": "grumpy_squirrel/transcoded_out.mp4"`, ""), 400, "s3_destination.key is required."},
		{"key escapes bucket", "application/json", swap("grumpy_squirrel/transcoded_out.mp4", "../../etc/cron.d/x"), 400, `The destination key cannot contain ".." as a path segment.`},
		{"key leading slash", "application/json", swap("grumpy_squirrel/transcoded_out.mp4", "/etc/x.mp4"), 400, "The destination key cannot start with '/'."},
		{"key NUL", "application/json", swap("grumpy_squirrel/transcoded_out.mp4", `a\u0000b.mp4`), 400, "The destination key cannot contain control characters."},
		{"ftp destination", "application/json", swap(`"s3_destination"`, `"ftp_destination"`), 422, "ftp_destination is not supported; transcode output goes to an s3_destination."},
		{"form without json field", "application/x-www-form-urlencoded", url.Values{"job": {good}}.Encode(), 400, "The form has no field named json; send the job as json=<job JSON>."},
		{"body too large", "application/json", `{"application_id": "` + strings.Repeat("x", 2<<20) + `"}`, 413, "The request body is larger than the 1048576-byte limit."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := srv.post(t, "/job", c.contentType, c.body)
			res, _ := out["results"].(map[string]any)
			msg, _ := res["error"].(string)
			if status != c.status {
				t.Errorf("HTTP %d, want %d (%q)", status, c.status, msg)
			}
			if c.message == "" || !strings.Contains(msg, c.message) {
				t.Errorf("error = %q, want it to contain %q", msg, c.message)
			}
			if _, ok := res["job_id"]; ok {
				t.Errorf("a job was created: %v", res)
			}
		})
	}
	// Nothing half-created: no job was billed or queued by any refusal.
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(0) {
		t.Errorf("usage after refusals = %v", usage)
	}
}

// TestDefaultServerRefusesPrivateAddresses: without --allow-private-networks a
// literal private address is refused at submission, and a hostname that resolves
// to one fails the job, with nothing charged.
func TestDefaultServerRefusesPrivateAddresses(t *testing.T) {
	srv := startServerWith(t, false)
	good := localJob(srv.AppID, "https://example.com/squirrel.mp4", "")
	for _, src := range []string{"http://127.0.0.1:1/a.mp4", "http://169.254.169.254/latest/meta-data/", "http://[::1]/a.mp4", "http://10.0.0.1/a.mp4"} {
		status, out := srv.post(t, "/job", "application/json", strings.Replace(good, "https://example.com/squirrel.mp4", src, 1))
		res, _ := out["results"].(map[string]any)
		if status != 400 || !strings.Contains(res["error"].(string), "private or reserved address") {
			t.Errorf("%s: HTTP %d %v", src, status, res)
		}
	}
	status, out := srv.post(t, "/job", "application/json", strings.Replace(good, "https://example.com/squirrel.mp4", "http://localhost:8080/a.mp4", 1))
	res, _ := out["results"].(map[string]any)
	if status != 400 || !strings.Contains(res["error"].(string), "localhost") {
		t.Errorf("localhost: HTTP %d %v", status, res)
	}
	// Hostnames that resolve to such addresses are refused where they are
	// dialled; package fetch tests that with a real server.
}

// TestFailedJobsPostBackTheReason: a source that cannot be fetched or is not
// media ends the job with a specific error in Blitline's failure shape, posted
// back once, and charges nothing.
func TestFailedJobsPostBackTheReason(t *testing.T) {
	srv := startServer(t, "--max-attempts", "2")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.mp4"), []byte("this is a text file, not a video\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	media := mediaServer(t, dir)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	cases := []struct {
		name, src, want string
	}{
		{"not found", media.URL + "/missing.mp4", "Source could not be fetched: HTTP 404."},
		{"unreachable", closedURL + "/a.mp4", "Source could not be fetched: connection refused."},
		{"not media", media.URL + "/notes.mp4", "Source is not a video file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rcv := newReceiver(t)
			job := strings.Replace(localJob(srv.AppID, c.src, rcv.URL), `"v": 1.22,`, `"v": 1.22, "wait_retry_delay": 0,`, 1)
			id := srv.submit(t, job)
			res := results(t, rcv.wait(t, 2*time.Minute).Body)
			errs, _ := res["errors"].([]any)
			if res["job_id"] != id || len(errs) != 1 || !strings.Contains(errs[0].(string), c.want) {
				t.Fatalf("results = %v, want one error containing %q", res, c.want)
			}
			if _, ok := res["original_meta"]; !ok || res["original_meta"] != nil {
				t.Errorf("original_meta = %v, want null", res["original_meta"])
			}
			if f, _ := res["failed_video_identifiers"].([]any); len(f) != 1 || f[0] != "toms_video" {
				t.Errorf("failed_video_identifiers = %v", res["failed_video_identifiers"])
			}
			_, status := srv.get(t, "/jobs/"+id)
			if status["state"] != "failed" || status["charge"] != nil {
				t.Errorf("/jobs: state %v charge %v", status["state"], status["charge"])
			}
			time.Sleep(500 * time.Millisecond)
			if rcv.count() != 1 {
				t.Errorf("%d postbacks, want 1", rcv.count())
			}
		})
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(0) || usage["amount_usd"] != "0.0000" {
		t.Errorf("failed jobs were charged: %v", usage)
	}
}

// TestPostbackIsRetriedUntilDelivered: a receiver that answers 500 has not been
// delivered to; vidjob retries and logs every attempt on the job.
func TestPostbackIsRetriedUntilDelivered(t *testing.T) {
	srv := startServer(t, "--postback-retry", "100ms,200ms,300ms")
	rcv := newReceiver(t)
	rcv.failNext = 2
	job := strings.Replace(localJob(srv.AppID, "http://127.0.0.1:1/none.mp4", rcv.URL), `"v": 1.22,`, `"v": 1.17, "wait_retry_delay": 0,`, 1)
	id := srv.submit(t, job)
	pb := rcv.wait(t, 2*time.Minute)
	// v ≤ 1.17 gets Blitline's form-encoded postback.
	if pb.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", pb.ContentType)
	}
	form, err := url.ParseQuery(string(pb.Body))
	if err != nil || !strings.Contains(form.Get("results"), id) {
		t.Errorf("form body = %q", pb.Body)
	}
	if pb.Headers.Get("Idempotency-Key") == "" || pb.Headers.Get("X-Vidjob-Job-Id") != id {
		t.Errorf("headers = %v", pb.Headers)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, status := srv.get(t, "/jobs/"+id)
		p, _ := status["postback"].(map[string]any)
		attempts, _ := p["attempts"].([]any)
		if p["state"] == "delivered" && len(attempts) == 3 {
			first := attempts[0].(map[string]any)
			if first["status_code"] != float64(500) || first["error"] == "" {
				t.Errorf("first attempt = %v", first)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postback = %v, want delivered after 3 attempts", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
