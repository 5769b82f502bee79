package livefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vidjob/vidjob/internal/loopback"
)

// Server serves one File on the loopback interface, at a URL whose path holds
// 128 random bits, so that no other local program can guess it. It answers
// GET and HEAD with the announced size as Content-Length and honours single
// Range requests (net/http's ServeContent does the HTTP); a read past what is
// on disk waits for it. Close it when done: it aborts every reader still
// waiting and returns once every handler has.
type Server struct {
	file *File
	url  string
	path string
	hs   *http.Server
	ln   net.Listener
	// ctx ends when Close starts, releasing handlers that wait for bytes.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup
	served   chan struct{}
}

// Serve starts a Server for f, whose download must have started with a known
// size (the size is the Content-Length every answer announces).
func Serve(f *File) (*Server, error) {
	st, _ := f.State()
	if !st.Started || st.Size < 0 {
		return nil, errors.New("livefile: serve a file whose size is not known")
	}
	ln, path, err := loopback.Listen()
	if err != nil {
		return nil, fmt.Errorf("livefile: %w", err)
	}
	s := &Server{file: f, ln: ln, path: path, served: make(chan struct{})}
	s.url = "http://" + ln.Addr().String() + s.path
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hs = loopback.NewServer(s)
	// A reader that has stopped reading must not hold a handler forever.
	s.hs.IdleTimeout = time.Minute
	go func() {
		defer close(s.served)
		s.hs.Serve(ln)
	}()
	return s, nil
}

// URL is where the file is served.
func (s *Server) URL() string { return s.url }

// ServeHTTP serves the file at the server's one path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.path {
		http.NotFound(w, r)
		return
	}
	s.ServeFile(w, r)
}

// ServeFile answers r with the file, whatever r's path: for another loopback
// server that has already checked the path it was asked for (an ffprobe
// started before the file's download, see package ffmpeg). It behaves as
// the Server's own answers do, and Close cuts it off as them.
func (s *Server) ServeFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// ServeContent answers several ranges from a goroutine of its own that
	// this handler could not wait for; ffmpeg asks for one range at a time.
	if strings.Contains(r.Header.Get("Range"), ",") {
		http.Error(w, "one range at a time", http.StatusRequestedRangeNotSatisfiable)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	st, _ := s.file.State()
	rd := s.file.reader(ctx)
	defer rd.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(rd, 0, st.Size))
	if rd.failed != nil {
		// The download failed (or ended short): drop the connection, so the
		// reader sees an error rather than a short body it might accept.
		panic(http.ErrAbortHandler)
	}
}

// Close stops serving: readers waiting for bytes are cut off, connections
// closed, and Close returns when every handler has returned.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	err := s.hs.Close()
	<-s.served
	s.handlers.Wait()
	return err
}
