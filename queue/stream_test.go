package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/fetch"
	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/internal/testmedia"
)

// slowServer sends the file at path over about spread, dropping the
// connection once dieAt of it is sent (0: never).
func slowServer(t *testing.T, path string, spread time.Duration, dieAt float64) *httptest.Server {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		const piece = 8 << 10
		pause := spread / time.Duration((len(data)+piece-1)/piece)
		for off := 0; off < len(data); off += piece {
			if dieAt > 0 && off >= int(float64(len(data))*dieAt) {
				panic(http.ErrAbortHandler)
			}
			if _, err := w.Write(data[off:min(len(data), off+piece)]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(pause):
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// wholeFileMeta describes a file only if it is whole, failing otherwise.
type wholeFileMeta struct{ size int64 }

func (m wholeFileMeta) Meta(ctx context.Context, path string) (vidjob.Meta, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() != m.size {
		return nil, fmt.Errorf("described a file of %d bytes, want the whole %d", fi.Size(), m.size)
	}
	return vidjob.Meta{"FileSize": fi.Size()}, nil
}

func streamWorker() *TranscodeWorker {
	return &TranscodeWorker{
		Fetcher:       fetch.Policy{AllowPrivateNetworks: true}.Client(),
		Media:         &ffmpeg.Runner{},
		StreamSources: true,
		Logger:        slog.New(slog.DiscardHandler),
	}
}

func nullEncode(path string) []string {
	return []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-i", "file:" + path, "-f", "null", "-"}
}

func needTools(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	return testmedia.Make(t, dir, testmedia.Spec{Seconds: 3, Width: 320, Height: 240})
}

// settle waits until no more goroutines run than before.
func settle(t *testing.T, before int) {
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

// A source read while it downloads is probed, described once whole, and
// encoded; afterwards nothing of it runs.
func TestStreamedSourceLeavesNothingRunning(t *testing.T) {
	clip := needTools(t)
	fi, _ := os.Stat(clip)
	origin := slowServer(t, clip, time.Second, 0)
	before := runtime.NumGoroutine()
	w := streamWorker()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "source")
	s, err := w.openSource(ctx, nil, origin.URL+"/clip.mp4", path, w.Logger)
	if err != nil {
		t.Fatal(err)
	}
	if s.srv == nil || !s.streaming() {
		t.Fatal("the source did not stream")
	}
	if s.early == nil {
		t.Error("the source's ffprobe was not started with the download")
	}
	p, err := s.probe(ctx, w.Media)
	if err != nil || p.Video == nil {
		t.Fatalf("probe: %v %+v", err, p)
	}
	s.describe(ctx, wholeFileMeta{fi.Size()})
	if err := s.transcode(ctx, w.Media, nullEncode(path), 0, nil); err != nil {
		t.Fatal(err)
	}
	if m := s.description(ctx); m["FileSize"] != fi.Size() {
		t.Errorf("description %v", m)
	}
	url := s.stream.URL
	s.close()
	if _, err := http.Get(url); err == nil {
		t.Error("the loopback server still answers after close")
	}
	origin.CloseClientConnections()
	settle(t, before)
}

// A download that dies while ffmpeg reads fails with the fetch's error, not
// ffmpeg's, and leaves nothing running.
func TestStreamedSourceThatDiesFailsWithTheFetchError(t *testing.T) {
	clip := needTools(t)
	origin := slowServer(t, clip, time.Second, 0.5)
	before := runtime.NumGoroutine()
	w := streamWorker()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "source")
	s, err := w.openSource(ctx, nil, origin.URL+"/clip.mp4", path, w.Logger)
	if err != nil {
		t.Fatal(err)
	}
	if !s.streaming() {
		t.Fatal("the source did not stream")
	}
	s.describe(ctx, wholeFileMeta{})
	err = s.transcode(ctx, w.Media, nullEncode(path), 0, nil)
	var r retryable
	if !strings.HasPrefix(vidjob.ErrorMessage(err), "Source could not be fetched: ") || !errors.As(err, &r) {
		t.Errorf("transcode = %v (%q), want the fetch's retryable error", err, vidjob.ErrorMessage(err))
	}
	if !s.broken() || s.failure(errors.New("ffmpeg")) != s.err {
		t.Error("the job's failure is not the download's")
	}
	if m := s.description(ctx); m != nil {
		t.Errorf("a source that never arrived whole was described: %v", m)
	}
	s.close()
	origin.CloseClientConnections()
	settle(t, before)
}

// Cancelling the attempt stops the download and the encode at once.
func TestStreamedSourceStopsWithTheAttempt(t *testing.T) {
	clip := needTools(t)
	origin := slowServer(t, clip, 20*time.Second, 0)
	before := runtime.NumGoroutine()
	w := streamWorker()
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "source")
	s, err := w.openSource(ctx, nil, origin.URL+"/clip.mp4", path, w.Logger)
	if err != nil {
		t.Fatal(err)
	}
	if !s.streaming() {
		t.Fatal("the source did not stream")
	}
	s.describe(ctx, wholeFileMeta{})
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	if err := s.transcode(ctx, w.Media, nullEncode(path), 0, nil); err == nil {
		t.Error("a cancelled encode succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the cancelled encode took %s", took)
	}
	s.close()
	origin.CloseClientConnections()
	settle(t, before)
}
