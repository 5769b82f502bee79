package e2e

// Hostile cases from a security review, each run against the real binary:
// what an attacker sends, and what must (not) happen.

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loopbackV6Origin is an origin on [::1] that counts every request: the
// address an SSRF would reach.
func loopbackV6Origin(t *testing.T) (port int, hits *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	hits = new(atomic.Int32)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("internal"))
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().(*net.TCPAddr).Port, hits
}

// zonedLoopbacks spells [::1]:port with zones, as the review did.
func zonedLoopbacks(t *testing.T, port int) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			out = append(out, fmt.Sprintf("http://[::1%%25%s]:%d/ok.mp4", i.Name, port), fmt.Sprintf("http://[::1%%25%d]:%d/ok.mp4", i.Index, port))
		}
	}
	if len(out) == 0 {
		t.Fatal("no loopback interface")
	}
	return out
}

// TestZonedLoopbackIsNeverReached: a server that does not allow private
// networks never fetches from or posts to a loopback origin spelt with a
// zone, an embedded-IPv4 form or a numeric host, whether the URL names it or
// an allowed origin redirects to it; nothing is charged.
func TestZonedLoopbackIsNeverReached(t *testing.T) {
	port, hits := loopbackV6Origin(t)
	zoned := zonedLoopbacks(t, port)
	// 127.0.0.1 is allowed so that the redirecting origin can be reached.
	srv := startServerWith(t, false, "--allow-cidr", "127.0.0.1/32", "--max-attempts", "1")
	good := localJob(srv.AppID, "https://example.com/squirrel.mp4", "")
	literals := append([]string{
		fmt.Sprintf("http://[::ffff:7f00:2]:%d/ok.mp4", port), fmt.Sprintf("http://[64:ff9b::7f00:2]:%d/ok.mp4", port),
		"http://[::a9fe:a9fe]/latest/meta-data/", "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
		"http://[2002:a9fe:a9fe::]/latest/meta-data/", "http://2852039166/latest/meta-data/", "http://0xa9fea9fe/",
	}, zoned...)
	for _, u := range literals {
		for _, field := range []string{"src", "postback_url"} {
			job := good
			if field == "src" {
				job = strings.Replace(good, "https://example.com/squirrel.mp4", u, 1)
			} else {
				job = localJob(srv.AppID, "https://example.com/squirrel.mp4", u)
			}
			status, out := srv.post(t, "/job", "application/json", job)
			res, _ := out["results"].(map[string]any)
			msg, _ := res["error"].(string)
			if status != 400 || !strings.Contains(msg, field+" points at a private or reserved address") {
				t.Errorf("%s %s: HTTP %d %v", field, u, status, res)
			}
		}
	}

	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	t.Cleanup(redirector.Close)
	for _, target := range zoned {
		rcv := newReceiver(t)
		src := redirector.URL + "/?to=" + url.QueryEscape(target)
		job := strings.Replace(localJob(srv.AppID, src, rcv.URL), `"v": 1.22,`, `"v": 1.22, "wait_retry_delay": 0,`, 1)
		id := srv.submit(t, job)
		res := results(t, rcv.wait(t, time.Minute).Body)
		errs, _ := res["errors"].([]any)
		if res["job_id"] != id || len(errs) != 1 || !strings.Contains(errs[0].(string), "private or reserved") {
			t.Errorf("redirect to %s: results %v", target, res)
		}
		if s := fmt.Sprint(errs); strings.Contains(s, "::1") {
			t.Errorf("the error names the address: %s", s)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback origin was reached %d times", n)
	}
	_, usage := srv.get(t, "/usage")
	if usage["jobs"] != float64(0) {
		t.Errorf("refused jobs were charged: %v", usage)
	}
}

// postbackTarget records what reaches it: method and body.
type postbackTarget struct {
	*httptest.Server
	mu  sync.Mutex
	got []string
}

func newPostbackTarget(t *testing.T) *postbackTarget {
	p := &postbackTarget{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.got = append(p.got, r.Method+" "+string(b))
		p.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(p.Server.Close)
	return p
}

func (p *postbackTarget) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// postbackState waits until the job's postback is delivered or failed and
// returns the job's status.
func postbackState(t *testing.T, srv *server, id string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, st := srv.get(t, "/jobs/"+id)
		p, _ := st["postback"].(map[string]any)
		if p["state"] == "delivered" || p["state"] == "failed" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("postback neither delivered nor failed after %s: %v", timeout, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPostbackRedirects: a receiver that answers 301, 302 or 303 has not
// received the results (a client would follow with a body-less GET): every
// attempt fails and the postback ends failed, the target never asked. A 307
// or 308 delivers the same POST and body to the target.
func TestPostbackRedirects(t *testing.T) {
	srv := startServer(t, "--postback-retry", "50ms,50ms")
	dir := t.TempDir()
	clip := makeClip(t, dir, 1)
	media := mediaServer(t, dir)
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			target := newPostbackTarget(t)
			redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/results", code)
			}))
			t.Cleanup(redirect.Close)
			job := strings.Replace(localJob(srv.AppID, media.URL+"/"+clip, redirect.URL+"/hook"), "System preset generic 720p", "1351620000001-000061", 1)
			id := srv.submit(t, job)
			st := postbackState(t, srv, id, 2*time.Minute)
			p, _ := st["postback"].(map[string]any)
			attempts, _ := p["attempts"].([]any)
			got := target.requests()
			if code == 307 || code == 308 {
				if p["state"] != "delivered" || len(got) != 1 || !strings.HasPrefix(got[0], "POST ") || !strings.Contains(got[0], id) {
					t.Fatalf("postback %v; the target got %q, want the POST with the results once", p, got)
				}
				return
			}
			if p["state"] != "failed" || len(attempts) != 3 {
				t.Fatalf("postback %v, want failed after 3 attempts", p)
			}
			if a, _ := attempts[0].(map[string]any); a["status_code"] != float64(code) || !strings.Contains(fmt.Sprint(a["error"]), "redirect that is not followed") {
				t.Errorf("first attempt %v", attempts[0])
			}
			if len(got) != 0 {
				t.Errorf("the redirect target was asked %q", got)
			}
		})
	}
}

// TestRefusedPostbackFailsAtOnceNamingNoAddress: a postback whose receiver
// leads to a refused address fails after one attempt instead of retrying for an hour, and
// the job shows why without naming the address.
func TestRefusedPostbackFailsAtOnceNamingNoAddress(t *testing.T) {
	srv := startServerWith(t, false, "--allow-cidr", "127.0.0.1/32")
	dir := t.TempDir()
	clip := makeClip(t, dir, 1)
	media := mediaServer(t, dir)
	inner := newPostbackTarget(t)
	innerPort := inner.URL[strings.LastIndex(inner.URL, ":")+1:]
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:"+innerPort+"/results", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	// A name that resolves to a refused address fails the same way where it
	// is dialled (package postback's tests use localhost); here the
	// media origin's 127.0.0.1 must stay allowed, so the refused address is
	// reached by redirect.
	urls := []string{redirect.URL + "/hook"}
	for _, pb := range urls {
		job := strings.Replace(localJob(srv.AppID, media.URL+"/"+clip, pb), "System preset generic 720p", "1351620000001-000061", 1)
		id := srv.submit(t, job)
		st := postbackState(t, srv, id, 2*time.Minute)
		p, _ := st["postback"].(map[string]any)
		attempts, _ := p["attempts"].([]any)
		if p["state"] != "failed" || len(attempts) != 1 {
			t.Fatalf("%s: postback %v, want failed after one attempt (the default schedule retries for an hour)", pb, p)
		}
		msg := fmt.Sprint(attempts[0].(map[string]any)["error"])
		if !strings.Contains(msg, "private or reserved") || strings.Contains(strings.ReplaceAll(msg, pb, ""), "127.0.0.") || strings.Contains(msg, "dial") {
			t.Errorf("%s: error %q should say why without naming the address", pb, msg)
		}
		if st["state"] != "completed" {
			t.Errorf("%s: job %v", pb, st["state"])
		}
	}
	if got := inner.requests(); len(got) != 0 {
		t.Fatalf("the refused receiver got %q", got)
	}
}

// TestJobListTakesTheApplicationHeader: GET /jobs reads the caller from
// X-Application-Id, as every other read does, and lists only its jobs.
func TestJobListTakesTheApplicationHeader(t *testing.T) {
	srv := startServer(t)
	other := vidjobCLI(t, srv, "apps", "create", "other")
	id := srv.submit(t, smallJob(srv.AppID, "https://example.com/a.mp4", "", "bucket-a"))
	status, out := srv.get(t, "/jobs")
	jobs, _ := out["jobs"].([]any)
	if status != 200 || len(jobs) != 1 || jobs[0].(map[string]any)["job_id"] != id {
		t.Fatalf("GET /jobs with the header: HTTP %d %v", status, out)
	}
	if status, out := srv.getAs(t, other, "/jobs"); status != 200 || len(out["jobs"].([]any)) != 0 {
		t.Errorf("another application's list: HTTP %d %v", status, out)
	}
	if status, _ := srv.getAs(t, "", "/jobs"); status != 401 {
		t.Errorf("no application: HTTP %d, want 401", status)
	}
}

// TestDamagedSourceFailsInsteadOfCompletingShort: an MP3 whose second half
// is garbage decodes to half its length and ffmpeg exits 0; the job fails
// with both durations instead of completing (and being billed) as half a
// file.
func TestDamagedSourceFailsInsteadOfCompletingShort(t *testing.T) {
	srv := startServer(t, "--max-attempts", "1")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mp3")
	cmd := exec.CommandContext(context.Background(), "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=4",
		"-c:a", "libmp3lame", "-b:a", "128k", good)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	for i := len(b) * 45 / 100; i < len(b)*95/100; i++ {
		b[i] = byte(rng.Intn(256))
	}
	if err := os.WriteFile(filepath.Join(dir, "damaged.mp3"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	job := strings.Replace(localJob(srv.AppID, media.URL+"/damaged.mp3", rcv.URL), "System preset generic 720p", "System preset: Audio MP3 - 128k", 1)
	job = strings.Replace(job, "grumpy_squirrel/transcoded_out.mp4", "out/audio.mp3", 1)
	id := srv.submit(t, job)
	res := results(t, rcv.wait(t, 2*time.Minute).Body)
	errs, _ := res["errors"].([]any)
	if res["job_id"] != id || len(errs) != 1 || !strings.Contains(errs[0].(string), "the source is 4.05 s") {
		t.Fatalf("results = %v, want the damaged source's error with both durations", res)
	}
	_, st := srv.get(t, "/jobs/"+id)
	if st["state"] != "failed" || st["charge"] != nil {
		t.Errorf("job %v charge %v", st["state"], st["charge"])
	}
	// The undamaged file, the control, completes.
	job = strings.Replace(job, media.URL+"/damaged.mp3", media.URL+"/good.mp3", 1)
	res = listen(t, srv, srv.submit(t, job), 2*time.Minute)
	if res["video"] == nil {
		t.Fatalf("the undamaged source failed: %v", res)
	}
}
