package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPostbackIsSentOnceByTheFinishingWorker: the worker that finishes a job
// posts its results back itself, at once; the River job kept as the safety
// net does not send them again when its lease ends.
func TestPostbackIsSentOnceByTheFinishingWorker(t *testing.T) {
	// The lease is --postback-timeout + the first retry wait + 5 s: 6.1 s here.
	srv := startServer(t, "--postback-timeout", "1s", "--postback-retry", "100ms,200ms")
	dir := t.TempDir()
	clip := makeClip(t, dir, 1)
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	id := srv.submit(t, strings.Replace(localJob(srv.AppID, media.URL+"/"+clip, rcv.URL), "System preset generic 720p", "1351620000001-000061", 1))
	rcv.wait(t, 2*time.Minute)
	time.Sleep(8 * time.Second) // past the lease
	if n := rcv.count(); n != 1 {
		t.Errorf("%d postbacks, want 1", n)
	}
	_, st := srv.get(t, "/jobs/"+id)
	p, _ := st["postback"].(map[string]any)
	attempts, _ := p["attempts"].([]any)
	if p["state"] != "delivered" || len(attempts) != 1 {
		t.Errorf("postback = %v, want delivered in one attempt", p)
	}
}

// TestPostbackSurvivesTheLossOfItsFirstAttempt: the finishing worker dies
// (kill -9) while its receiver holds the first attempt; the postback's River
// job, committed with the job's end, delivers the results once the lease
// ends, from the restarted server.
func TestPostbackSurvivesTheLossOfItsFirstAttempt(t *testing.T) {
	srv := startServer(t, "--postback-timeout", "2s", "--postback-retry", "100ms,200ms")
	dir := t.TempDir()
	clip := makeClip(t, dir, 1)
	media := mediaServer(t, dir)

	var mu sync.Mutex
	var delivered [][]byte
	firstArrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		first := false
		once.Do(func() { first = true })
		if first {
			close(firstArrived)
			select { // hold the answer until the worker is gone
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		mu.Lock()
		delivered = append(delivered, body)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	defer close(release)

	id := srv.submit(t, strings.Replace(localJob(srv.AppID, media.URL+"/"+clip, rcv.URL), "System preset generic 720p", "1351620000001-000061", 1))
	select {
	case <-firstArrived:
	case <-time.After(2 * time.Minute):
		t.Fatal("no postback attempt within 2 minutes")
	}
	srv.cmd.Process.Kill()
	<-srv.done
	srv.cmd = nil
	srv.start(t)

	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(delivered)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("results never delivered after the finishing worker died; log:\n%s", srv.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 1 || !strings.Contains(string(delivered[0]), id) {
		t.Fatalf("deliveries = %q, want one with job %s", delivered, id)
	}
	_, st := srv.get(t, "/jobs/"+id)
	if p, _ := st["postback"].(map[string]any); p["state"] != "delivered" || st["state"] != "completed" {
		t.Errorf("job = %v", st)
	}
}
