package ffmpeg

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vidjob/vidjob/internal/runlog"
	"github.com/vidjob/vidjob/localdisk"
)

// progressInterval is the least time between two progress callbacks: often
// enough for a live progress bar, rare enough not to flood a database with
// updates.
const progressInterval = 250 * time.Millisecond

// Transcode runs ffmpeg with args (as BuildArgs makes them) and reports
// progress as the fraction of total (the source's duration) written so far,
// in 0..1, at most a few times a second and once with 1 at a successful end.
// progress may be nil; it is called on Transcode's goroutine.
//
// When ctx is cancelled ffmpeg and its process group are killed and Transcode
// returns promptly with the context's error. On failure the error carries the
// last lines of ffmpeg's stderr, which may name local paths: it is for logs,
// not for clients.
func (r *Runner) Transcode(ctx context.Context, args []string, total time.Duration, progress func(fraction float64)) error {
	return r.transcode(ctx, args, args, nil, total, progress)
}

// TranscodeStream is Transcode with args (as BuildArgs made them for the
// local file s.Path) reading s over loopback HTTP while it downloads
// instead. The run log shows args, the command that reads s.Path, which reads
// the same bytes and can be rerun by hand.
func (r *Runner) TranscodeStream(ctx context.Context, args []string, s Stream, total time.Duration, progress func(fraction float64)) error {
	streamed, err := s.replaceInput(args)
	if err != nil {
		return err
	}
	return r.transcode(ctx, streamed, args, streamEnv(), total, progress)
}

// transcode runs ffmpeg with args and records it as shown; env, when not
// nil, is the process's environment.
func (r *Runner) transcode(ctx context.Context, args, shown, env []string, total time.Duration, progress func(fraction float64)) error {
	// Transcode owns the flags that control what it reads: machine-readable
	// progress on stdout, and on stderr only errors, so that the tail kept
	// for the error message is the reason rather than banner and warnings.
	own := []string{"-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:1"}
	full := slices.Concat(own, args)
	cmd := exec.CommandContext(ctx, r.ffmpeg(), full...)
	cmd.Env = env
	killGroupOnCancel(cmd)
	stderr := &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("ffmpeg stdout: %w", err)
	}
	log := r.logger()
	log.DebugContext(ctx, "ffmpeg start", "args", full)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	pr := &progressReader{total: total, report: progress}
	pr.read(stdout)
	err = cmd.Wait()
	runlog.Record(ctx, r.ffmpeg(), slices.Concat(own, shown), start, err)
	log.DebugContext(ctx, "ffmpeg done", "elapsed", time.Since(start), "err", err)
	if ctx.Err() != nil {
		return fmt.Errorf("ffmpeg stopped: %w", context.Cause(ctx))
	}
	if err != nil {
		return exitError("ffmpeg", err, stderr.lastLines(8))
	}
	if progress != nil && total > 0 {
		progress(1)
	}
	return nil
}

// exitError is the error of an ffmpeg run (named by what) that exited with
// err: it carries err, ffmpeg's last lines and, when they name one, the
// local disk fault that stopped it, so that localdisk.Fault finds it (a full
// disk is the server's trouble, not the source's).
func exitError(what string, err error, tail string) error {
	if fault := localdisk.FaultInText(tail); fault != nil {
		return fmt.Errorf("%s: %w: %s: %w", what, err, tail, fault)
	}
	return fmt.Errorf("%s: %w: %s", what, err, tail)
}

// progressReader turns ffmpeg's -progress key=value blocks into fraction
// callbacks.
type progressReader struct {
	total  time.Duration
	report func(float64)
	last   time.Time
	sent   float64
}

func (p *progressReader) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if d, ok := outTime(strings.TrimSpace(key), strings.TrimSpace(val)); ok {
			p.at(d)
		}
	}
	// Drain whatever remains (a line too long for the scanner) so ffmpeg
	// never blocks writing progress.
	_, _ = io.Copy(io.Discard, r)
}

// outTime reads the output position from one progress line. ffmpeg writes
// out_time_us, out_time_ms (also microseconds, despite its name) and
// out_time; "N/A" appears before the first frame.
func outTime(key, val string) (time.Duration, bool) {
	switch key {
	case "out_time_us", "out_time_ms":
		us, err := strconv.ParseInt(val, 10, 64)
		if err != nil || us < 0 {
			return 0, false
		}
		return time.Duration(us) * time.Microsecond, true
	}
	return 0, false
}

func (p *progressReader) at(d time.Duration) {
	if p.report == nil || p.total <= 0 {
		return
	}
	f := float64(d) / float64(p.total)
	f = max(0, min(f, 1))
	now := time.Now()
	if f <= p.sent || now.Sub(p.last) < progressInterval {
		return
	}
	p.last, p.sent = now, f
	p.report(f)
}
