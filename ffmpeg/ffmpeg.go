// Package ffmpeg runs ffprobe and ffmpeg as child processes: probing a source,
// turning an Elastic Transcoder preset plus the probed source into one ffmpeg
// argument list, and running that list with progress reporting and
// cancellation.
//
// Processes are always started with an argument list (never through a shell),
// inputs are restricted to the local file protocol, and a cancelled context
// kills ffmpeg's whole process group.
package ffmpeg

import (
	"bytes"
	"log/slog"
	"strings"
)

// Runner holds how to run the ffmpeg tools. The zero value works: it runs
// "ffmpeg" and "ffprobe" from PATH with x264's "medium" preset. A Runner is
// safe for concurrent use; it keeps no state between calls.
type Runner struct {
	// FFmpeg and FFprobe are the binaries to run; default "ffmpeg"/"ffprobe".
	FFmpeg, FFprobe string
	// Threads caps the encoder's threads; 0 leaves ffmpeg's default (one per
	// core), which is right unless several jobs share a machine.
	Threads int
	// X264Preset is x264's speed/quality preset; default "medium", ET-like
	// quality. Tests and small machines choose a faster one; ultrafast is not
	// recommended because it turns off CABAC and B-frames, so a "main" or
	// "high" preset would come out as Constrained Baseline.
	X264Preset string
	// Logger receives debug lines about the commands run; nil discards them.
	Logger *slog.Logger
}

// DefaultX264Preset is the x264 preset used when Runner.X264Preset is empty.
const DefaultX264Preset = "medium"

func (r *Runner) ffmpeg() string {
	if r.FFmpeg == "" {
		return "ffmpeg"
	}
	return r.FFmpeg
}

func (r *Runner) ffprobe() string {
	if r.FFprobe == "" {
		return "ffprobe"
	}
	return r.FFprobe
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// ArgOptions returns the BuildArgs options this Runner's settings imply, so the
// service builds and runs commands with one configuration.
func (r *Runner) ArgOptions() ArgOptions {
	return ArgOptions{X264Preset: r.X264Preset, Threads: r.Threads}
}

// tailBuffer keeps the last max bytes written to it: enough of ffmpeg's stderr
// to explain a failure without holding a long log in memory.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// lastLines returns up to n non-empty trailing lines, joined by " | ", with a
// cut first line dropped.
func (t *tailBuffer) lastLines(n int) string {
	b := t.buf
	if len(b) >= t.max {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// fileURL makes a local path safe to hand to ffmpeg: the file: prefix keeps a
// name starting with "-" from being read as an option and a name containing
// ":" from being read as another protocol.
func fileURL(path string) string { return "file:" + path }
