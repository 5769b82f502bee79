package ffmpeg

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidjob/vidjob/internal/loopback"
	"github.com/vidjob/vidjob/internal/runlog"
)

// Early probes. Debian's ffprobe links some 200 shared libraries and takes
// 60-90 ms to start on a small machine, a third of a short job's overhead.
// An early probe is ffprobe started before what it will read is there, so
// that the start-up overlaps something the job waits for anyway (the
// source's first bytes, the encode). It reads over loopback HTTP from a
// server of its own (127.0.0.1, a fresh port, a path of 128 random bits)
// that holds every answer until the probe is released, and then serves what
// the release names. Its only protocols are http and tcp, without the
// environment's proxy settings. The run log shows the local-file command
// (Probe's), which reads the same bytes and can be rerun by hand.

// heldProbe is the common part of OutputProbe and StreamProbe.
type heldProbe struct {
	r *Runner
	// path is the local file the run log shows ffprobe reading; playlist
	// lets it be an HLS playlist or DASH manifest (outputs only).
	path     string
	playlist bool

	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdout bytes.Buffer
	stderr *tailBuffer
	exited chan struct{}
	runErr error

	prefix string
	addr   string // the server's host:port
	hs     *http.Server
	// serve answers for a plain name under prefix once released is closed.
	serve    func(w http.ResponseWriter, req *http.Request, name string)
	released chan struct{}
	closing  chan struct{}

	releaseOnce, closeOnce sync.Once
	onClose                func()
}

// startHeld starts ffprobe with the input options in on the name under a
// new held server; path and playlist are as in heldProbe.
func (r *Runner) startHeld(ctx context.Context, in []string, name, path string, playlist bool) (*heldProbe, error) {
	if !plainName(name) {
		return nil, fmt.Errorf("ffmpeg: early probe of %q: only plain file names are served", name)
	}
	ln, secret, err := loopback.Listen()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: early probe: %w", err)
	}
	h := &heldProbe{
		r: r, path: path, playlist: playlist,
		prefix:   secret + "/",
		addr:     ln.Addr().String(),
		stderr:   &tailBuffer{max: 4096},
		exited:   make(chan struct{}),
		released: make(chan struct{}),
		closing:  make(chan struct{}),
	}
	h.hs = loopback.NewServer(h)
	go h.hs.Serve(ln)

	args := probeArgs(slices.Concat([]string{"-protocol_whitelist", "http,tcp"}, in),
		"http://"+h.addr+h.prefix+name)
	var cctx context.Context
	cctx, h.cancel = context.WithCancel(ctx)
	h.cmd = exec.CommandContext(cctx, r.ffprobe(), args...)
	h.cmd.Env = streamEnv()
	killGroupOnCancel(h.cmd)
	h.cmd.Stdout, h.cmd.Stderr = &h.stdout, h.stderr
	if err := h.cmd.Start(); err != nil {
		h.cancel()
		h.shutDown()
		return nil, fmt.Errorf("run ffprobe: %w", err)
	}
	go func() {
		defer close(h.exited)
		h.runErr = h.cmd.Wait()
	}()
	r.logger().DebugContext(ctx, "ffprobe started early", "args", args)
	return h, nil
}

// plainName reports whether name is a file name an early probe's server
// may serve and ffmpeg resolves to itself: letters, digits, '.', '_', '-',
// and not "." or "..". vidjob's own file names are all of this kind.
func plainName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}

// result releases the probe to read through serve, waits for ffprobe's
// answer and checks it. The run log records Probe's command with the time
// from the release to the answer: the part of the probe that was waited for.
func (h *heldProbe) result(ctx context.Context, serve func(http.ResponseWriter, *http.Request, string)) (*Probe, error) {
	start := time.Now()
	h.releaseOnce.Do(func() {
		h.serve = serve
		close(h.released)
	})
	select {
	case <-h.exited:
	case <-ctx.Done():
		h.close()
		return nil, fmt.Errorf("ffprobe: %w", context.Cause(ctx))
	}
	shown := localProbeArgs(h.path)
	runlog.Record(ctx, h.r.ffprobe(), shown, start, h.runErr)
	h.r.logger().DebugContext(ctx, "ffprobe", "args", h.cmd.Args[1:], "waited", time.Since(start), "err", h.runErr)
	h.shutDown()
	if h.runErr != nil {
		return nil, fmt.Errorf("ffprobe: %w: %s", h.runErr, h.stderr.lastLines(5))
	}
	return checkProbe(h.stdout.Bytes(), h.playlist)
}

// close kills ffprobe if it still runs and closes the server; it may be
// called more than once, and after result.
func (h *heldProbe) close() {
	h.cancel()
	h.shutDown()
	<-h.exited
}

func (h *heldProbe) shutDown() {
	h.closeOnce.Do(func() {
		close(h.closing)
		h.hs.Close()
		if h.onClose != nil {
			h.onClose()
		}
	})
}

// ServeHTTP answers ffprobe: once released, through serve; before, it waits.
func (h *heldProbe) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	name, ok := strings.CutPrefix(req.URL.Path, h.prefix)
	if !ok || !plainName(name) {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	select {
	case <-h.released:
	case <-h.closing:
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	case <-req.Context().Done():
		return
	}
	select {
	case <-h.closing:
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	default:
	}
	h.serve(w, req, name)
}

// An OutputProbe is ProbeOutput's ffprobe started while ffmpeg is still
// writing the output it will read. Once released it is served the files of
// the output's directory, and nothing else: through it ffprobe follows an
// HLS playlist or DASH manifest to the segments beside it, as it does on
// local files.
type OutputProbe struct {
	h    *heldProbe
	root *os.Root
}

// StartOutputProbe starts ffprobe on the output path, which ffmpeg is about
// to write (its directory must exist). Call Result once the output is
// complete, and Close in any case.
func (r *Runner) StartOutputProbe(ctx context.Context, path string) (*OutputProbe, error) {
	dir, name := filepath.Split(path)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: early probe: %w", err)
	}
	h, err := r.startHeld(ctx, nil, name, path, true)
	if err != nil {
		root.Close()
		return nil, err
	}
	h.onClose = func() { root.Close() }
	return &OutputProbe{h: h, root: root}, nil
}

// Result lets ffprobe read the output, which must now be complete, and
// returns what it found, as ProbeOutput would.
func (p *OutputProbe) Result(ctx context.Context) (*Probe, error) {
	return p.h.result(ctx, p.serveFile)
}

// Close stops the probe: ffprobe is killed if it still runs, and the server
// closed. It may be called more than once, and after Result.
func (p *OutputProbe) Close() { p.h.close() }

// serveFile serves a regular file of the output's directory, opened through
// an os.Root so that no symlink leads out of it.
func (p *OutputProbe) serveFile(w http.ResponseWriter, req *http.Request, name string) {
	f, err := p.root.Open(name)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, req)
		return
	}
	// ServeContent answers several ranges from a goroutine of its own;
	// ffprobe asks for one at a time.
	if strings.Contains(req.Header.Get("Range"), ",") {
		http.Error(w, "one range at a time", http.StatusRequestedRangeNotSatisfiable)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, req, "", time.Time{}, f)
}

// A StreamProbe is ProbeStream's ffprobe started before the source's first
// bytes have arrived, guessing its format (an MP4 or MOV, nearly always).
// If the download turns out to stream in that format, Result serves the
// stream to it; otherwise Close it and probe as usual.
type StreamProbe struct {
	h      *heldProbe
	format string
}

// StartStreamProbe starts ffprobe on a source that will download to path
// and stream in format (FormatMOV, FormatMatroska or FormatMPEGTS), with the
// same input options ProbeStream gives it.
func (r *Runner) StartStreamProbe(ctx context.Context, path, format string) (*StreamProbe, error) {
	in, err := Stream{Path: path, URL: "http://127.0.0.1:1/", Format: format}.inputArgs()
	if err != nil {
		return nil, err
	}
	h, err := r.startHeld(ctx, in[:len(in)-1], "source", path, false)
	if err != nil {
		return nil, err
	}
	return &StreamProbe{h: h, format: format}, nil
}

// Format is the demuxer the probe was started with.
func (p *StreamProbe) Format() string { return p.format }

// Result lets ffprobe read the source through serve (a livefile.Server's
// ServeFile) and returns what it found. An error says only that this probe
// failed: the caller probes the whole file then, for the job's own verdict.
func (p *StreamProbe) Result(ctx context.Context, serve http.HandlerFunc) (*Probe, error) {
	return p.h.result(ctx, func(w http.ResponseWriter, req *http.Request, name string) {
		if name != "source" {
			http.NotFound(w, req)
			return
		}
		serve(w, req)
	})
}

// Close stops the probe; it may be called more than once, and after Result.
func (p *StreamProbe) Close() { p.h.close() }
