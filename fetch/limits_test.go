package fetch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

// TestDownloadStopsAStalledBody: a server that sends headers and a few bytes
// and then goes quiet is cut off after the read timeout, not after the job's
// wall-clock limit, and the error says why.
func TestDownloadStopsAStalledBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write([]byte("first bytes"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	p := Policy{AllowPrivateNetworks: true, ReadTimeout: 300 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Download(ctx, p.Client(), srv.URL, filepath.Join(t.TempDir(), "f"), 0)
	took := time.Since(start)
	if err == nil || took > 3*time.Second {
		t.Fatalf("download of a stalled body: err=%v after %s, want an error within about 300 ms", err, took)
	}
	if msg := vidjob.ErrorMessage(err); !strings.Contains(msg, "sent nothing for 300ms") {
		t.Errorf("message = %q", msg)
	}
	if Permanent(err) {
		t.Errorf("a stall may pass; it should be retryable")
	}
}

// TestDownloadSlowButSteadyBodyIsFine: the read timeout is per quiet spell,
// not for the whole body.
func TestDownloadSlowButSteadyBodyIsFine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 5; i++ {
			w.Write([]byte("chunk"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}))
	defer srv.Close()
	p := Policy{AllowPrivateNetworks: true, ReadTimeout: 300 * time.Millisecond}
	path := filepath.Join(t.TempDir(), "f")
	n, err := Download(context.Background(), p.Client(), srv.URL, path, 0)
	if err != nil || n != 25 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if b, _ := os.ReadFile(path); string(b) != strings.Repeat("chunk", 5) {
		t.Errorf("content %q", b)
	}
}

// TestDownloadFollowsAtMostMaxRedirects: a redirect chain longer than the limit
// fails with a clear, permanent error; -1 follows none.
func TestDownloadFollowsAtMostMaxRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/hop/%d", &n)
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
			return
		}
		w.Write([]byte("video"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	for _, c := range []struct {
		max, hops int
		ok        bool
	}{{2, 2, true}, {2, 3, false}, {-1, 1, false}, {-1, 0, true}, {0, 5, true}, {0, 6, false}} {
		p := Policy{AllowPrivateNetworks: true, MaxRedirects: c.max}
		_, err := Download(context.Background(), p.Client(), fmt.Sprintf("%s/hop/%d", srv.URL, c.hops), filepath.Join(dir, "f"), 0)
		if (err == nil) != c.ok {
			t.Errorf("max %d, %d hops: err = %v, want ok=%v", c.max, c.hops, err, c.ok)
		}
		if err != nil && (!Permanent(err) || !strings.Contains(vidjob.ErrorMessage(err), "redirect")) {
			t.Errorf("max %d, %d hops: %v, want a permanent error about redirects", c.max, c.hops, err)
		}
	}
}
