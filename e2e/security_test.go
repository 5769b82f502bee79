package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// smallJob is a cheap job: a 320x240 output into bucket.
func smallJob(appID, src, postbackURL, bucket string) string {
	pb := ""
	if postbackURL != "" {
		pb = fmt.Sprintf(`"postback_url": %q,`, postbackURL)
	}
	return fmt.Sprintf(`{"application_id": %q, "src": %q, %s "v": 1.22,
  "pre_process": {"transcode": {"preset_id": "System preset: Generic 320x240", "video_identifier": "v1",
    "s3_destination": {"bucket": %q, "key": "out/small.mp4"}}}}`, appID, src, pb, bucket)
}

// vidjobCLI runs `vidjob apps SUBCOMMAND ARGS...` on srv's data directory and
// returns stdout.
func vidjobCLI(t *testing.T, srv *server, args ...string) string {
	t.Helper()
	// "--" ends the flags: an application ID may begin with "-".
	full := append([]string{args[0], args[1], "--data", srv.Data, "--"}, args[2:]...)
	cmd := exec.Command(vidjobBin, full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vidjob %v: %v: %s", args, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

var smallClip = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp(squirrelDir, "small-")
	if err != nil {
		return "", err
	}
	return testmedia.Generate(context.Background(), dir, testmedia.Spec{Seconds: 1, Width: 320, Height: 240})
})

// small returns a media server holding a 1 s 320x240 clip, and its URL.
func small(t *testing.T) string {
	t.Helper()
	path, err := smallClip()
	if err != nil {
		t.Fatal(err)
	}
	return mediaServer(t, filepath.Dir(path)).URL + "/" + filepath.Base(path)
}

// TestTenantIsolation: an application reads only its own jobs and usage; a
// job ID alone reads its results on /listen, as on Blitline, and nothing
// else, unless the operator requires the application there too
// (--listen-requires-app).
func TestTenantIsolation(t *testing.T) {
	srv := startServer(t)
	other := vidjobCLI(t, srv, "apps", "create", "other")
	id := srv.submit(t, smallJob(srv.AppID, small(t), "", "bucket-a"))
	if res := listen(t, srv, id, 2*time.Minute); res["video"] == nil {
		t.Fatalf("job failed: %v", res)
	}
	for _, path := range []string{"/jobs/" + id, "/listen/" + id} {
		if status, out := srv.getAs(t, other, path); status != 404 || !strings.Contains(fmt.Sprint(out), "not known") {
			t.Errorf("%s as another application: HTTP %d %v, want 404 as for a job that does not exist", path, status, brief(out))
		}
		if status, out := srv.getAs(t, other, path+"?application_id="+srv.AppID); status != 404 {
			t.Errorf("%s with the header of one application and the parameter of another: HTTP %d %v, want the header to win", path, status, brief(out))
		}
		if status, _ := srv.getAs(t, "", path+"?application_id="+srv.AppID); status != 200 {
			t.Errorf("%s?application_id= as the owner: HTTP %d", path, status)
		}
		if status, _ := srv.getAs(t, "not-an-app", path); status != 401 {
			t.Errorf("%s as an unknown application: HTTP %d, want 401", path, status)
		}
	}
	if status, out := srv.getAs(t, "", "/jobs/"+id); status != 401 || !strings.Contains(fmt.Sprint(out), "X-Application-Id") {
		t.Errorf("/jobs without an application: HTTP %d %v, want 401 saying how to identify", status, brief(out))
	}
	if status, out := srv.getAs(t, "", "/listen/"+id); status != 200 || out["results"] == nil {
		t.Errorf("/listen with the job ID alone: HTTP %d %v, want the results", status, brief(out))
	}
	if _, out := srv.getAs(t, other, "/usage"); out["jobs"] != float64(0) || out["application_id"] != other {
		t.Errorf("/usage as the other application: %v, want its own zero", out)
	}
	if _, out := srv.get(t, "/usage"); out["jobs"] != float64(1) {
		t.Errorf("/usage as the owner: %v, want 1 job", out)
	}

	strict := startServer(t, "--listen-requires-app")
	id = strict.submit(t, smallJob(strict.AppID, small(t), "", "bucket-a"))
	listen(t, strict, id, 2*time.Minute)
	if status, out := strict.getAs(t, "", "/listen/"+id); status != 401 || !strings.Contains(fmt.Sprint(out), "X-Application-Id") {
		t.Errorf("/listen without an application under --listen-requires-app: HTTP %d %v, want 401", status, brief(out))
	}
	if status, out := strict.getAs(t, strict.AppID, "/listen/"+id); status != 200 || out["results"] == nil {
		t.Errorf("/listen as the owner under --listen-requires-app: HTTP %d %v", status, brief(out))
	}
}

// TestBucketsAndDisabledApplications: a job for a bucket outside the
// application's list is refused at submission; a disabled application's
// submissions are refused and its queued jobs fail with a postback, uncharged.
func TestBucketsAndDisabledApplications(t *testing.T) {
	srv := startServer(t, "--workers", "1", "--max-attempts", "1", "--postback-retry", "1s")
	vidjobCLI(t, srv, "apps", "allow-bucket", srv.AppID, "bucket-a")
	src := small(t)
	status, out := srv.post(t, "/job", "application/json", smallJob(srv.AppID, src, "", "bucket-b"))
	if msg := fmt.Sprint(out); status != 403 || !strings.Contains(msg, `Bucket "bucket-b" is not among this application's allowed destination buckets.`) {
		t.Errorf("bucket outside the list: HTTP %d %v", status, out)
	}

	// The only worker is held by a job whose source does not answer yet, so the
	// next job stays queued while the application is disabled.
	release := make(chan struct{})
	hold := mediaServerFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	}))
	rcv := newReceiver(t)
	first := srv.submit(t, smallJob(srv.AppID, hold.URL+"/held.mp4", "", "bucket-a"))
	waitState(t, srv, first, "fetching")
	queued := srv.submit(t, smallJob(srv.AppID, src, rcv.URL, "bucket-a"))
	vidjobCLI(t, srv, "apps", "disable", srv.AppID)
	close(release)

	pb := rcv.wait(t, time.Minute)
	res := results(t, pb.Body)
	if errs := fmt.Sprint(res["errors"]); res["job_id"] != queued || !strings.Contains(errs, "This application is disabled") {
		t.Fatalf("postback of the queued job: %s", brief(res))
	}
	status, out = srv.post(t, "/job", "application/json", smallJob(srv.AppID, src, "", "bucket-a"))
	if msg := fmt.Sprint(out); status != 403 || !strings.Contains(msg, "This application is disabled") {
		t.Errorf("submission by a disabled application: HTTP %d %v", status, out)
	}
	if _, out := srv.get(t, "/usage"); out["jobs"] != float64(0) {
		t.Errorf("usage = %v, want nothing charged", out)
	}
	if left := workFilesLeft(srv); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	vidjobCLI(t, srv, "apps", "enable", srv.AppID)
	if status, _ := srv.post(t, "/job", "application/json", smallJob(srv.AppID, src, "", "bucket-a")); status != 200 {
		t.Errorf("after enable: HTTP %d", status)
	}
}

// brief shortens a decoded answer for a failure message.
func brief(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// waitState polls /jobs until the job reaches state.
func waitState(t *testing.T, srv *server, id, state string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, out := srv.get(t, "/jobs/"+id); out["state"] == state {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("job %s never reached %s", id, state)
}

// verifyVidjobSignature is docs/RESULTS.md's Go receiver check, word for word: keep
// the two in step.
func verifyVidjobSignature(secret string, r *http.Request, body []byte) error {
	ts := r.Header.Get("X-Vidjob-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return errors.New("missing or stale timestamp")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(r.Header.Get("X-Vidjob-Signature")), []byte(want)) {
		return errors.New("bad signature")
	}
	return nil
}

// TestSignedPostbacks: a real postback verifies with the README's algorithm
// and the application's secret; the idempotency key is the same on every
// attempt; after rotate-secret the old secret no longer verifies.
func TestSignedPostbacks(t *testing.T) {
	srv := startServer(t, "--postback-retry", "500ms")
	secret := vidjobCLI(t, srv, "apps", "secret", srv.AppID)
	if !strings.HasPrefix(secret, "vjs_") {
		t.Fatalf("apps secret printed %q", secret)
	}
	type delivery struct {
		key      string
		verified error
		oldOK    bool
	}
	var mu sync.Mutex
	var got []delivery
	var currentSecret, oldSecret = secret, ""
	arrived := make(chan struct{}, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		d := delivery{key: r.Header.Get("Idempotency-Key"), verified: verifyVidjobSignature(currentSecret, r, body)}
		if oldSecret != "" {
			d.oldOK = verifyVidjobSignature(oldSecret, r, body) == nil
		}
		got = append(got, d)
		n := len(got)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // make vidjob try again
			return
		}
		w.WriteHeader(http.StatusNoContent)
		arrived <- struct{}{}
	}))
	defer rcv.Close()

	id := srv.submit(t, smallJob(srv.AppID, small(t), rcv.URL, "bucket-a"))
	select {
	case <-arrived:
	case <-time.After(2 * time.Minute):
		t.Fatal("no successful postback")
	}
	mu.Lock()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	for i, d := range got {
		if d.verified != nil {
			t.Errorf("delivery %d does not verify: %v", i+1, d.verified)
		}
		if d.key != id+"-postback" {
			t.Errorf("delivery %d Idempotency-Key %q, want %q on every attempt", i+1, d.key, id+"-postback")
		}
	}
	mu.Unlock()

	rotated := vidjobCLI(t, srv, "apps", "rotate-secret", srv.AppID)
	if rotated == secret || !strings.HasPrefix(rotated, "vjs_") {
		t.Fatalf("rotate-secret printed %q", rotated)
	}
	mu.Lock()
	currentSecret, oldSecret, got = rotated, secret, nil
	mu.Unlock()
	srv.submit(t, smallJob(srv.AppID, small(t), rcv.URL, "bucket-a"))
	select { // the first delivery after the reset fails on purpose; this is the retry
	case <-arrived:
	case <-time.After(2 * time.Minute):
		t.Fatal("no successful postback after rotation")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, d := range got {
		if d.verified != nil || d.oldOK {
			t.Errorf("after rotation, delivery %d: new secret %v, old secret verifies %v", i+1, d.verified, d.oldOK)
		}
	}
}

// TestSourceLimitsFailJobsCleanly: a source longer or larger than the limits
// fails at probe time with a sentence naming the limit; nothing is charged and
// no file is left.
func TestSourceLimitsFailJobsCleanly(t *testing.T) {
	srv := startServer(t, "--max-source-duration", "1500ms", "--max-source-resolution", "320x240", "--max-attempts", "1")
	dir := t.TempDir()
	long := testmedia.Make(t, dir, testmedia.Spec{Seconds: 3, Width: 160, Height: 120, NoAudio: true})
	big := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 640, Height: 480, NoAudio: true})
	media := mediaServer(t, dir)
	for path, want := range map[string]string{
		long: "Source is longer than the 1.5s limit",
		big:  "Source picture 640x480 is larger than the 320x240 limit.",
	} {
		id := srv.submit(t, smallJob(srv.AppID, media.URL+"/"+filepath.Base(path), "", "bucket-a"))
		res := listen(t, srv, id, time.Minute)
		if errs := fmt.Sprint(res["errors"]); !strings.Contains(errs, want) {
			t.Errorf("%s: errors %s, want %q", filepath.Base(path), errs, want)
		}
	}
	if _, out := srv.get(t, "/usage"); out["jobs"] != float64(0) {
		t.Errorf("usage = %v, want nothing charged", out)
	}
	if left := workFilesLeft(srv); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// TestHostileSourcesThroughTheService: a playlist naming a local secret file,
// an empty file and a text file posing as MP4 each fail with a specific error
// in the postback; nothing is charged, no temporary file is left, and the
// secret's bytes appear nowhere the client can look.
func TestHostileSourcesThroughTheService(t *testing.T) {
	srv := startServer(t, "--max-attempts", "1")
	secretDir := t.TempDir()
	marker := fmt.Sprintf("VIDJOB-SECRET-%d", time.Now().UnixNano())
	secret := filepath.Join(secretDir, "secret.mkv")
	gen := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-metadata", "title="+marker, secret)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("make secret: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(secretDir, "secret.txt"), []byte(marker), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"local.m3u8": "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile://" + secret + "\n#EXT-X-ENDLIST\n",
		"list.mp4":   "ffconcat version 1.0\nfile '" + secret + "'\n",
		"empty.mp4":  "",
		"notes.mp4":  "just text\n",
	}
	want := map[string]string{
		"local.m3u8": "it is a playlist (hls), not a media file",
		"list.mp4":   "Unsafe file name",
		"empty.mp4":  "the file is empty",
		"notes.mp4":  "Invalid data found when processing input",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	ids := map[string]string{}
	for name := range files {
		ids[srv.submit(t, smallJob(srv.AppID, media.URL+"/"+name, rcv.URL, "bucket-a"))] = name
	}
	for range files {
		rcv.wait(t, time.Minute)
	}
	deadline := time.Now().Add(30 * time.Second)
	for rcv.count() < len(files) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	rcv.mu.Lock()
	deliveries := append([]postback(nil), rcv.got...)
	rcv.mu.Unlock()
	if len(deliveries) != len(files) {
		t.Fatalf("%d postbacks, want %d", len(deliveries), len(files))
	}
	var seen []string
	for _, pb := range deliveries {
		res := results(t, pb.Body)
		name := ids[fmt.Sprint(res["job_id"])]
		if errs := fmt.Sprint(res["errors"]); !strings.Contains(errs, want[name]) {
			t.Errorf("%s: errors %s, want %q", name, errs, want[name])
		}
		seen = append(seen, string(pb.Body))
		resp, err := srv.rawGet("/jobs/" + fmt.Sprint(res["job_id"]))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen = append(seen, string(b))
	}
	for _, s := range seen {
		if strings.Contains(s, marker) || strings.Contains(s, secretDir) {
			t.Fatalf("the local secret or its path reached the client: %s", brief(s))
		}
	}
	if _, out := srv.get(t, "/usage"); out["jobs"] != float64(0) {
		t.Errorf("usage = %v, want nothing charged", out)
	}
	if left := workFilesLeft(srv); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// TestS3SourcesOnlyFromAllowedBuckets: an s3:// source (or Blitline's S3
// source object) is read from the server's own storage, but only from a
// bucket listed for the application; an application with no list may not
// read any bucket.
func TestS3SourcesOnlyFromAllowedBuckets(t *testing.T) {
	srv := startServer(t, "--max-attempts", "1")
	first := srv.submit(t, smallJob(srv.AppID, small(t), "", "bucket-a"))
	if res := listen(t, srv, first, 2*time.Minute); res["video"] == nil {
		t.Fatalf("first job failed: %v", brief(res))
	}
	objectJob := func(src string) string {
		return strings.Replace(smallJob(srv.AppID, "SRC", "", "bucket-out"), `"SRC"`, src, 1)
	}
	status, out := srv.post(t, "/job", "application/json", objectJob(`"s3://bucket-a/out/small.mp4"`))
	if status != 403 || !strings.Contains(fmt.Sprint(out), `Source bucket "bucket-a" is not among this application's allowed buckets`) {
		t.Fatalf("s3 source with no bucket list: HTTP %d %v, want 403", status, brief(out))
	}
	vidjobCLI(t, srv, "apps", "allow-bucket", srv.AppID, "bucket-a")
	vidjobCLI(t, srv, "apps", "allow-bucket", srv.AppID, "bucket-out")
	for _, src := range []string{`"s3://bucket-a/out/small.mp4"`, `{"name": "s3", "bucket": "bucket-a", "key": "out/small.mp4"}`} {
		id := srv.submit(t, objectJob(src))
		res := listen(t, srv, id, 2*time.Minute)
		if res["video"] == nil {
			t.Errorf("%s: %v", src, brief(res))
		}
	}
	status, out = srv.post(t, "/job", "application/json", objectJob(`{"name": "s3", "bucket": "bucket-b", "key": "out/small.mp4"}`))
	if status != 403 || !strings.Contains(fmt.Sprint(out), `Source bucket "bucket-b"`) {
		t.Errorf("s3 source from a bucket not listed: HTTP %d %v, want 403", status, brief(out))
	}
	id := srv.submit(t, objectJob(`"s3://bucket-a/out/missing.mp4"`))
	if errs := fmt.Sprint(listen(t, srv, id, time.Minute)["errors"]); !strings.Contains(errs, "Source s3://bucket-a/out/missing.mp4 does not exist.") {
		t.Errorf("missing object: errors %s", errs)
	}
}
