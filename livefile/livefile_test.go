package livefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// growing is a download in progress: a file of content whose first bytes
// are on disk, and the File that follows it.
type growing struct {
	t       *testing.T
	content []byte
	file    *File
	out     *os.File
	written int
}

func newGrowing(t *testing.T, size int, announce int64) *growing {
	t.Helper()
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i*7 + i/251)
	}
	path := filepath.Join(t.TempDir(), "source")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	f := New(path)
	f.Started(announce)
	return &growing{t: t, content: content, file: f, out: out}
}

// writeTo writes the content up to end, as the download would.
func (g *growing) writeTo(end int) {
	g.t.Helper()
	if _, err := g.out.Write(g.content[g.written:end]); err != nil {
		g.t.Fatal(err)
	}
	g.written = end
	g.file.Wrote(int64(end))
}

func serve(t *testing.T, f *File) *Server {
	t.Helper()
	srv, err := Serve(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func get(t *testing.T, ctx context.Context, url, rng string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	return http.DefaultClient.Do(req)
}

func TestServesRangesWithTheAnnouncedSize(t *testing.T) {
	g := newGrowing(t, 5000, 5000)
	g.writeTo(5000)
	g.file.Finish(nil)
	srv := serve(t, g.file)

	resp, err := get(t, context.Background(), srv.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 5000 || !bytes.Equal(body, g.content) {
		t.Fatalf("GET: %d, length %d, %d bytes match=%v", resp.StatusCode, resp.ContentLength, len(body), bytes.Equal(body, g.content))
	}
	if resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("Accept-Ranges = %q, want bytes (ffmpeg seeks only then)", resp.Header.Get("Accept-Ranges"))
	}

	for _, c := range []struct {
		rng        string
		from, to   int // inclusive
		contentRng string
	}{
		{"bytes=0-", 0, 4999, "bytes 0-4999/5000"},
		{"bytes=100-199", 100, 199, "bytes 100-199/5000"},
		{"bytes=4990-", 4990, 4999, "bytes 4990-4999/5000"},
		{"bytes=-10", 4990, 4999, "bytes 4990-4999/5000"},
	} {
		resp, err := get(t, context.Background(), srv.URL(), c.rng)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != c.contentRng || !bytes.Equal(body, g.content[c.from:c.to+1]) {
			t.Errorf("Range %s: %d %q, %d bytes", c.rng, resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
		}
	}

	for _, c := range []struct {
		method, path, rng string
		want              int
	}{
		{http.MethodGet, "", "bytes=6000-", http.StatusRequestedRangeNotSatisfiable},
		{http.MethodGet, "", "bytes=0-1,5-6", http.StatusRequestedRangeNotSatisfiable},
		{http.MethodGet, "x", "", http.StatusNotFound},
		{http.MethodPost, "", "", http.StatusMethodNotAllowed},
		{http.MethodHead, "", "", http.StatusOK},
	} {
		req, _ := http.NewRequest(c.method, srv.URL()+c.path, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %q Range %q: HTTP %d, want %d", c.method, c.path, c.rng, resp.StatusCode, c.want)
		}
	}
	// Another path on the same port: the token is the whole path.
	resp, err = get(t, context.Background(), srv.URL()[:len(srv.URL())-32]+"00000000000000000000000000000000", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a guessed token: HTTP %d, want 404", resp.StatusCode)
	}
}

func TestServeNeedsAKnownSize(t *testing.T) {
	f := New(filepath.Join(t.TempDir(), "source"))
	if _, err := Serve(f); err == nil {
		t.Error("served a file whose download has not started")
	}
	f.Started(-1)
	if _, err := Serve(f); err == nil {
		t.Error("served a file of unknown size")
	}
}

// A read past what is on disk waits for those bytes, and gets them.
func TestReadWaitsForBytes(t *testing.T) {
	g := newGrowing(t, 100_000, 100_000)
	g.writeTo(1000)
	srv := serve(t, g.file)

	type answer struct {
		body []byte
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := get(t, context.Background(), srv.URL(), "bytes=50000-59999")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{b, err}
	}()
	select {
	case a := <-got:
		t.Fatalf("a read of bytes not yet written returned at once: %d bytes, %v", len(a.body), a.err)
	case <-time.After(200 * time.Millisecond):
	}
	g.writeTo(30_000)
	select {
	case a := <-got:
		t.Fatalf("returned before its bytes were written: %d bytes, %v", len(a.body), a.err)
	case <-time.After(100 * time.Millisecond):
	}
	g.writeTo(60_000)
	select {
	case a := <-got:
		if a.err != nil || !bytes.Equal(a.body, g.content[50000:60000]) {
			t.Fatalf("got %d bytes, %v; want bytes 50000-59999", len(a.body), a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not end once its bytes were written")
	}
}

// A download that fails cuts readers off with an error, never a clean end.
func TestFailedDownloadAbortsReaders(t *testing.T) {
	for _, c := range []struct {
		name   string
		finish error
	}{
		{"failed", errors.New("connection reset")},
		// Completing short of the announced size is a failure to readers too.
		{"short", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGrowing(t, 100_000, 100_000)
			g.writeTo(40_000)
			srv := serve(t, g.file)
			resp, err := get(t, context.Background(), srv.URL(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 20_000)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatalf("first bytes: %v", err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, resp.Body)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond)
			g.file.Finish(c.finish)
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("the body ended cleanly after the download failed")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the reader was not cut off")
			}
			// A new request for what never arrived fails as well.
			resp2, err := get(t, context.Background(), srv.URL(), "bytes=90000-")
			if err == nil {
				_, err = io.Copy(io.Discard, resp2.Body)
				resp2.Body.Close()
			}
			if err == nil {
				t.Error("a read of bytes that will never come ended cleanly")
			}
		})
	}
}

// Close releases readers waiting for bytes, and nothing is left running.
func TestCloseEndsWaitingReadersAndLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	g := newGrowing(t, 100_000, 100_000)
	g.writeTo(100)
	srv, err := Serve(g.file)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := get(t, context.Background(), srv.URL(), fmt.Sprintf("bytes=%d-", i*10_000))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			errs <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while readers waited")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Error("a waiting reader ended cleanly when the server closed")
		}
	}
	if _, err := http.Get(srv.URL()); err == nil {
		t.Error("the server still answers after Close")
	}
	http.DefaultClient.CloseIdleConnections()
	waitGoroutines(t, before)
}

// A reader that hangs up while waiting frees its handler.
func TestReaderThatHangsUpFreesItsHandler(t *testing.T) {
	before := runtime.NumGoroutine()
	g := newGrowing(t, 100_000, 100_000)
	g.writeTo(100)
	srv, err := Serve(g.file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	if resp, err := get(t, ctx, srv.URL(), "bytes=50000-"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// The handler must be gone without any help from Close, which would
	// end it: only the server's accept loop is left.
	waitGoroutines(t, before+1)
	srv.Close()
	http.DefaultClient.CloseIdleConnections()
	waitGoroutines(t, before)
}

// Readers in several places of the file at once all get their bytes while
// the download goes on.
func TestConcurrentReaders(t *testing.T) {
	const size = 1 << 20
	g := newGrowing(t, size, size)
	srv := serve(t, g.file)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := i * size / 16
			to := min(size-1, from+size/8)
			resp, err := get(t, context.Background(), srv.URL(), fmt.Sprintf("bytes=%d-%d", from, to))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(b, g.content[from:to+1]) {
				errs <- fmt.Errorf("reader %d: %d bytes, %v", i, len(b), err)
			}
		}()
	}
	for end := 0; end < size; {
		end = min(size, end+32*1024)
		g.writeTo(end)
		time.Sleep(time.Millisecond)
	}
	g.file.Finish(nil)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Bytes past the announced size are never served: the size the download
// was checked against is all a reader gets.
func TestNothingPastTheAnnouncedSize(t *testing.T) {
	g := newGrowing(t, 3000, 2000)
	g.writeTo(3000)
	g.file.Finish(nil)
	srv := serve(t, g.file)
	resp, err := get(t, context.Background(), srv.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ContentLength != 2000 || !bytes.Equal(b, g.content[:2000]) {
		t.Errorf("Content-Length %d, %d bytes; want the announced 2000", resp.ContentLength, len(b))
	}
	resp, err = get(t, context.Background(), srv.URL(), "bytes=2500-")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("a range past the size: HTTP %d, want 416", resp.StatusCode)
	}
}

func TestHead(t *testing.T) {
	g := newGrowing(t, 1000, 1000)
	got := make(chan []byte, 1)
	go func() {
		b, err := g.file.Head(context.Background(), 500)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	g.writeTo(100)
	select {
	case <-got:
		t.Fatal("Head returned before its bytes were written")
	case <-time.After(100 * time.Millisecond):
	}
	g.writeTo(600)
	if b := <-got; !bytes.Equal(b, g.content[:500]) {
		t.Errorf("Head = %d bytes, want the first 500", len(b))
	}
	// A file smaller than asked gives what it announced.
	small := newGrowing(t, 10, 10)
	small.writeTo(10)
	if b, err := small.file.Head(context.Background(), 500); err != nil || !bytes.Equal(b, small.content) {
		t.Errorf("Head of a 10-byte file = %d bytes, %v", len(b), err)
	}
	// ctx ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	stalled := newGrowing(t, 1000, 1000)
	if _, err := stalled.file.Head(ctx, 500); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Head of a stalled download = %v, want the context's error", err)
	}
	// A failed download's error comes back.
	failed := newGrowing(t, 1000, 1000)
	boom := errors.New("boom")
	failed.file.Finish(boom)
	if _, err := failed.file.Head(context.Background(), 500); !errors.Is(err, boom) {
		t.Errorf("Head of a failed download = %v, want its error", err)
	}
}

// waitGoroutines fails the test unless the goroutine count comes back to
// at most before.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
