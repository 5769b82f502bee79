package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

func TestPublicAddrRefusesEveryNonPublicRange(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
		"0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fc00::1", "fd12::1", "fe80::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1"} {
		if PublicAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s counted as public", s)
		}
	}
	for _, s := range []string{"93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"} {
		if !PublicAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s counted as non-public", s)
		}
	}
}

func TestCheckLiteralRefusesPrivateLiteralsAtSubmission(t *testing.T) {
	p := Policy{}
	for _, u := range []string{"http://127.0.0.1/a.mp4", "http://[::1]:8080/a", "https://169.254.169.254/latest/meta-data",
		"http://localhost:9000/x", "http://10.0.0.5/x", "http://[::ffff:192.168.0.1]/x", "http://user@127.0.0.1/x"} {
		err := p.CheckLiteral("src", u)
		if vidjob.ErrorCode(err) != vidjob.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", u, err)
		}
	}
	if err := p.CheckLiteral("src", "https://example.com/a.mp4"); err != nil {
		t.Errorf("public host refused: %v", err)
	}
	if err := (Policy{AllowPrivateNetworks: true}).CheckLiteral("src", "http://127.0.0.1/a.mp4"); err != nil {
		t.Errorf("allowed private refused: %v", err)
	}
}

func TestClientRefusesLoopbackWhereItDials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) }))
	defer srv.Close()
	// "localhost" passes no literal check, but dials 127.0.0.1: the dialer must refuse.
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := Download(context.Background(), Policy{}.Client(), url, filepath.Join(t.TempDir(), "f"), 0)
	if !errors.Is(err, ErrForbiddenAddress) || !Permanent(err) {
		t.Fatalf("err = %v, want a permanent forbidden-address error", err)
	}
	if !strings.Contains(vidjob.ErrorMessage(err), "private or reserved") {
		t.Errorf("message = %q", vidjob.ErrorMessage(err))
	}
}

func TestClientRefusesRedirectsToPrivateAddresses(t *testing.T) {
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) }))
	defer inner.Close()
	// The outer server is allowed by CIDR; the redirect target port is the same
	// host, so allow exactly one address and point the redirect at another.
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(inner.URL, "127.0.0.1", "127.0.0.2", 1), http.StatusFound)
	}))
	defer outer.Close()
	p := Policy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	_, err := Download(context.Background(), p.Client(), outer.URL, filepath.Join(t.TempDir(), "f"), 0)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want forbidden address on the redirect hop", err)
	}
}

func TestDownloadStopsAtTheSizeLimitWhileStreaming(t *testing.T) {
	sent := make(chan int64, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the limit must hold while streaming.
		chunk := make([]byte, 64<<10)
		var n int64
		defer func() { sent <- n }()
		for i := 0; i < 1000; i++ {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "f")
	n, err := Download(context.Background(), Policy{AllowPrivateNetworks: true}.Client(), srv.URL, path, 1<<20)
	if vidjob.ErrorCode(err) != vidjob.ETOOLARGE || !Permanent(err) {
		t.Fatalf("err = %v, want permanent ETOOLARGE", err)
	}
	if n > 1<<20+1 {
		t.Errorf("read %d bytes past the limit", n)
	}
	srv.CloseClientConnections()
	select {
	case total := <-sent:
		if total >= 1000*64<<10 {
			t.Errorf("server sent the whole body (%d bytes): the download did not stop", total)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server still sending")
	}
}

func TestDownloadRefusesDeclaredOversizeBeforeReading(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5000000")
		w.Write(make([]byte, 100))
	}))
	defer srv.Close()
	_, err := Download(context.Background(), Policy{AllowPrivateNetworks: true}.Client(), srv.URL, filepath.Join(t.TempDir(), "f"), 1000)
	if vidjob.ErrorCode(err) != vidjob.ETOOLARGE {
		t.Fatalf("err = %v", err)
	}
}

func TestDownloadErrorsSayWhatHappened(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.Write([]byte("video bytes"))
		}
	}))
	defer srv.Close()
	client := Policy{AllowPrivateNetworks: true}.Client()
	dir := t.TempDir()

	_, err := Download(context.Background(), client, srv.URL+"/missing", filepath.Join(dir, "a"), 0)
	if vidjob.ErrorMessage(err) != "Source could not be fetched: HTTP 404." || !Permanent(err) {
		t.Errorf("404: %v (permanent %v)", err, Permanent(err))
	}
	_, err = Download(context.Background(), client, srv.URL+"/broken", filepath.Join(dir, "b"), 0)
	if vidjob.ErrorMessage(err) != "Source could not be fetched: HTTP 502." || Permanent(err) {
		t.Errorf("502 should be retryable: %v", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = Download(context.Background(), client, closed.URL, filepath.Join(dir, "c"), 0)
	if vidjob.ErrorMessage(err) != "Source could not be fetched: connection refused." || Permanent(err) {
		t.Errorf("refused: %v", err)
	}
	n, err := Download(context.Background(), client, srv.URL+"/ok", filepath.Join(dir, "d"), 0)
	if err != nil || n != 11 {
		t.Fatalf("ok: n=%d err=%v", n, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d")); string(b) != "video bytes" {
		t.Errorf("content = %q", b)
	}
}

// watch records what a Watcher is told.
type watch struct {
	started []int64
	wrote   []int64
}

func (w *watch) Started(size int64) { w.started = append(w.started, size) }
func (w *watch) Wrote(total int64)  { w.wrote = append(w.wrote, total) }

// A watched download announces its size once, before any byte, then every
// total written, ending at the file's size; an oversize one announces nothing.
func TestDownloadWatchedTellsSizeAndProgress(t *testing.T) {
	body := strings.Repeat("v", 300_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "300000")
		for i := 0; i < len(body); i += 50_000 {
			w.Write([]byte(body[i : i+50_000]))
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	}))
	defer srv.Close()
	client := Policy{AllowPrivateNetworks: true}.Client()
	var got watch
	path := filepath.Join(t.TempDir(), "f")
	n, err := DownloadWatched(context.Background(), client, srv.URL, path, 1<<20, &got)
	if err != nil || n != 300_000 {
		t.Fatalf("DownloadWatched = %d, %v", n, err)
	}
	if len(got.started) != 1 || got.started[0] != 300_000 {
		t.Errorf("Started calls %v, want one with 300000", got.started)
	}
	if len(got.wrote) < 2 || got.wrote[len(got.wrote)-1] != 300_000 {
		t.Errorf("Wrote calls %v, want several ending at 300000", got.wrote)
	}
	for i := 1; i < len(got.wrote); i++ {
		if got.wrote[i] <= got.wrote[i-1] {
			t.Errorf("Wrote totals not increasing: %v", got.wrote)
		}
	}

	var over watch
	_, err = DownloadWatched(context.Background(), client, srv.URL, path, 1000, &over)
	if vidjob.ErrorCode(err) != vidjob.ETOOLARGE || len(over.started) != 0 || len(over.wrote) != 0 {
		t.Errorf("oversize: err %v, Started %v, Wrote %v; want ETOOLARGE and no calls", err, over.started, over.wrote)
	}
}
