package diskstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

// newStore returns a store rooted in a fresh directory, served by a test HTTP
// server whose address is the store's base URL. outside is a directory beside
// the root holding a secret file that no request may ever read.
func newStore(t *testing.T) (s *Store, srv *httptest.Server, outside string) {
	t.Helper()
	tmp := t.TempDir()
	outside = filepath.Join(tmp, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(outside, "secret.txt"), []byte("TOP SECRET"))
	writeFile(t, filepath.Join(tmp, "secret.txt"), []byte("TOP SECRET"))

	// The store's handler is the whole server, with no ServeMux in front that
	// would clean or redirect paths, so it sees every request exactly as sent.
	srv = httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	s, err := New(filepath.Join(tmp, "root"), "http://"+srv.Listener.Addr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv.Config.Handler = s.Handler()
	srv.Start()
	return s, srv, outside
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func put(t *testing.T, s *Store, bucket, key string, data []byte) string {
	t.Helper()
	src := writeFile(t, filepath.Join(t.TempDir(), "src"), data)
	u, err := s.Put(context.Background(), vidjob.Object{Bucket: bucket, Key: key, File: src, ContentType: "video/mp4"})
	if err != nil {
		t.Fatalf("Put(%q, %q): %v", bucket, key, err)
	}
	return u
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestPutThenGet(t *testing.T) {
	s, srv, _ := newStore(t)
	data := pattern(100_000)
	u := put(t, s, "YOUR_BUCKET", "videos/2024/out.mp4", data)
	if want := srv.URL + "/objects/YOUR_BUCKET/videos/2024/out.mp4"; u != want {
		t.Fatalf("url = %q, want %q", u, want)
	}
	if got, err := os.ReadFile(filepath.Join(s.Root(), "YOUR_BUCKET", "videos", "2024", "out.mp4")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file on disk: %v, equal=%v", err, bytes.Equal(got, data))
	}

	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET status = %d", resp.StatusCode)
	}
	if !bytes.Equal(body, data) {
		t.Fatalf("GET body differs: %d bytes, want %d", len(body), len(data))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("Content-Type = %q", ct)
	}
	if resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("Accept-Ranges = %q", resp.Header.Get("Accept-Ranges"))
	}

	resp, err = http.Head(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) {
		t.Errorf("HEAD = %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestPutOverwritesAndEscapesURL(t *testing.T) {
	s, srv, _ := newStore(t)
	put(t, s, "b", "my videos/a b#1?.m3u8", []byte("old"))
	u := put(t, s, "b", "my videos/a b#1?.m3u8", []byte("#EXTM3U\n"))
	if want := srv.URL + "/objects/b/my%20videos/a%20b%231%3F.m3u8"; u != want {
		t.Fatalf("url = %q, want %q", u, want)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "#EXTM3U\n" {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestRangeRequest(t *testing.T) {
	s, _, _ := newStore(t)
	data := pattern(10_000)
	u := put(t, s, "b", "clip.mp4", data)
	for _, tt := range []struct {
		rng        string
		start, end int // inclusive
	}{
		{"bytes=100-199", 100, 199},
		{"bytes=9990-", 9990, 9999},
		{"bytes=-5", 9995, 9999},
	} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Range", tt.rng)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent {
			t.Errorf("%s: status = %d, want 206", tt.rng, resp.StatusCode)
			continue
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end, len(data)); resp.Header.Get("Content-Range") != want {
			t.Errorf("%s: Content-Range = %q, want %q", tt.rng, resp.Header.Get("Content-Range"), want)
		}
		if !bytes.Equal(body, data[tt.start:tt.end+1]) {
			t.Errorf("%s: wrong bytes", tt.rng)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=20000-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: status = %d, want 416", resp.StatusCode)
	}
}

// rawGet sends path byte for byte, as an attacker would, bypassing any
// cleaning a client library might do.
func rawGet(t *testing.T, srv *httptest.Server, method, path string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestTraversalNeverLeavesRoot(t *testing.T) {
	s, srv, outside := newStore(t)
	put(t, s, "b", "dir/ok.mp4", []byte("fine"))
	// A symbolic link inside the root that leads out of it, as a careless
	// operator or a compromised process might leave.
	if err := os.Symlink(outside, filepath.Join(s.Root(), "b", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Root(), "linkbucket")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside/secret.txt", filepath.Join(s.Root(), "b", "rel.txt")); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{
		"/objects/b/../../secret.txt",
		"/objects/b/../../outside/secret.txt",
		"/objects/b/../../../../../../etc/passwd",
		"/objects/b/%2e%2e/%2e%2e/secret.txt",
		"/objects/b/%2E%2E%2F%2E%2E%2Fsecret.txt",
		"/objects/%2e%2e/secret.txt",
		"/objects/../secret.txt",
		"/objects/..%2fsecret.txt",
		"/objects/b/..%5c..%5csecret.txt",
		"/objects/b/dir%5c..%5c..%5c..%5csecret.txt",
		"/objects/b//etc/passwd",
		"/objects/b/%2fetc%2fpasswd",
		"/objects/b/./dir/ok.mp4",
		"/objects/b/dir/ok.mp4%00.txt",
		"/objects/b/link/secret.txt",
		"/objects/linkbucket/secret.txt",
		"/objects/b/rel.txt",
		"/objects/./b/dir/ok.mp4",
		"/objects/b/dir",
		"/objects/b/dir/",
		"/objects/b/",
		"/objects/b",
		"/objects/",
		"/objects",
		"/secret.txt",
	} {
		code, body := rawGet(t, srv, "GET", p)
		if code != http.StatusNotFound && code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 404 or 400", p, code)
		}
		if strings.Contains(body, "SECRET") || strings.Contains(body, "root:") || strings.Contains(body, "ok.mp4") {
			t.Errorf("GET %s leaked %q", p, body)
		}
	}
	// The legitimate object is still served, so the 404s above are not a
	// broken handler.
	if code, body := rawGet(t, srv, "GET", "/objects/b/dir/ok.mp4"); code != 200 || body != "fine" {
		t.Fatalf("GET ok.mp4 = %d %q", code, body)
	}
}

func TestPutNeverWritesOutsideRoot(t *testing.T) {
	s, _, outside := newStore(t)
	if err := os.Symlink(outside, filepath.Join(s.Root(), "linkbucket")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Root(), "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Root(), "b", "link")); err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, filepath.Join(t.TempDir(), "src"), []byte("EVIL"))
	for _, o := range []struct{ bucket, key string }{
		{"linkbucket", "x.mp4"},
		{"b", "link/x.mp4"},
		{"b", "link/secret.txt"},
		{"..", "x.mp4"},
		{"b", "../../x.mp4"},
		{"b", "/x.mp4"},
		{"b", `..\..\x.mp4`},
	} {
		_, err := s.Put(context.Background(), vidjob.Object{Bucket: o.bucket, Key: o.key, File: src})
		if err == nil {
			t.Errorf("Put(%q, %q) succeeded", o.bucket, o.key)
		}
	}
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "secret.txt" {
		t.Errorf("outside dir now holds %v", entries)
	}
	if got, _ := os.ReadFile(filepath.Join(outside, "secret.txt")); string(got) != "TOP SECRET" {
		t.Errorf("secret.txt was overwritten: %q", got)
	}
}

func TestPutErrors(t *testing.T) {
	s, _, _ := newStore(t)
	put(t, s, "b", "a", []byte("x"))
	put(t, s, "b", "d/e.mp4", []byte("y"))
	src := writeFile(t, filepath.Join(t.TempDir(), "src"), []byte("z"))
	for _, tt := range []struct {
		bucket, key, file string
		code              string
	}{
		{"", "k", src, vidjob.EINVALID},
		{"b", "", src, vidjob.EINVALID},
		{"b", "a//b", src, vidjob.EINVALID},
		{"b", "dir/", src, vidjob.EINVALID},
		{"b", "x/" + tmpPrefix + "abc", src, vidjob.EINVALID},
		{"b", strings.Repeat("n", 300), src, vidjob.EINVALID},
		{"b", "a/b.mp4", src, vidjob.EUNPROCESSABLE}, // "a" is an object
		{"b", "d", src, vidjob.EUNPROCESSABLE},       // "d" is a folder
		{"b", "k", filepath.Join(t.TempDir(), "missing"), vidjob.EINTERNAL},
		{"b", "k", t.TempDir(), vidjob.EINTERNAL},
		{"b", "k", "", vidjob.EINTERNAL},
	} {
		_, err := s.Put(context.Background(), vidjob.Object{Bucket: tt.bucket, Key: tt.key, File: tt.file})
		if code := vidjob.ErrorCode(err); code != tt.code {
			t.Errorf("Put(%q, %q, %q): err = %v (code %q), want %s", tt.bucket, tt.key, tt.file, err, code, tt.code)
		}
	}
	assertNoTempFiles(t, s)
}

func TestPutCancelled(t *testing.T) {
	s, _, _ := newStore(t)
	src := writeFile(t, filepath.Join(t.TempDir(), "src"), pattern(1000))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, vidjob.Object{Bucket: "b", Key: "k.mp4", File: src}); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "b", "k.mp4")); !os.IsNotExist(err) {
		t.Errorf("object exists after a cancelled Put: %v", err)
	}
	assertNoTempFiles(t, s)
}

func assertNoTempFiles(t *testing.T, s *Store) {
	t.Helper()
	err := filepath.WalkDir(s.Root(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadersNeverSeeHalfAnObject overwrites one object again and again while
// readers fetch it: every read must be one whole version.
func TestReadersNeverSeeHalfAnObject(t *testing.T) {
	s, _, _ := newStore(t)
	const size = 1 << 20
	versions := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size)}
	var srcs []string
	for i, v := range versions {
		srcs = append(srcs, writeFile(t, filepath.Join(t.TempDir(), fmt.Sprint(i)), v))
	}
	u := put(t, s, "b", "v.mp4", versions[0])
	path := strings.TrimPrefix(u, strings.SplitN(u, "/objects/", 2)[0])

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 40 && ctx.Err() == nil; i++ {
			if _, err := s.Put(ctx, vidjob.Object{Bucket: "b", Key: "v.mp4", File: srcs[i%2]}); err != nil && ctx.Err() == nil {
				t.Errorf("Put: %v", err)
			}
		}
	}()
	h := s.Handler()
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				b := rec.Body.Bytes()
				if rec.Code != 200 || len(b) != size || (!bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1])) {
					t.Errorf("read %d: status %d, %d bytes, not one whole version", i, rec.Code, len(b))
					return
				}
			}
		}()
	}
	wg.Wait()
	assertNoTempFiles(t, s)
}

func TestHandlerMethods(t *testing.T) {
	s, _, _ := newStore(t)
	put(t, s, "b", "k.mp4", []byte("x"))
	h := s.Handler()
	for _, m := range []string{http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(m, "/objects/b/k.mp4", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s = %d, want 405", m, rec.Code)
		}
		if rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow = %q", m, rec.Header().Get("Allow"))
		}
	}
	if b, _ := os.ReadFile(filepath.Join(s.Root(), "b", "k.mp4")); string(b) != "x" {
		t.Errorf("object changed: %q", b)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/objects/b/missing.mp4", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("missing object = %d, want 404", rec.Code)
	}
}

func TestContentType(t *testing.T) {
	for key, want := range map[string]string{
		"a.mp4":          "video/mp4",
		"A.MP4":          "video/mp4",
		"hls/index.m3u8": "application/vnd.apple.mpegurl",
		"hls/seg0.ts":    "video/mp2t",
		"dash/x.mpd":     "application/dash+xml",
		"x.webm":         "video/webm",
		"thumb.jpg":      "image/jpeg",
		"page.html":      "application/octet-stream",
		"noext":          "application/octet-stream",
	} {
		if got := ContentType(key); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	if _, err := New("", "http://x"); err == nil {
		t.Error("New with no root succeeded")
	}
	if _, err := New(t.TempDir(), "http://x/?q=1"); err == nil {
		t.Error("New with a query in the base URL succeeded")
	}
	file := writeFile(t, filepath.Join(t.TempDir(), "f"), nil)
	if _, err := New(file, "http://x"); err == nil {
		t.Error("New on a file succeeded")
	}
}
