package ffmpeg

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// TestBilledDurationOfAMinuteIsOneMinute encodes a 60 s clip and checks that
// the output bills as ≤ 60 s even when the container (which also spans the AAC
// priming and padding) says a little more.
func TestBilledDurationOfAMinuteIsOneMinute(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("encodes a minute of video")
	}
	t.Parallel()
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 60, Width: 320, Height: 240})
	r := &Runner{X264Preset: "ultrafast"} // a baseline preset: ultrafast changes nothing it checks
	sp, err := r.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	args, err := BuildArgs(lookup(t, "System preset: Generic 320x240"), sp, src, out, r.ArgOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Transcode(context.Background(), args, 60*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	p, err := r.Probe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	billed := p.BilledDuration()
	t.Logf("source: container %.3f s, video %.3f s; output: container %.3f s, video %.3f s, audio %.3f s; billed %v",
		sp.Duration, sp.Video.Duration, p.Duration, p.Video.Duration, p.Audio.Duration, billed)
	if billed > 60*time.Second || billed < 59900*time.Millisecond {
		t.Fatalf("billed %v for a 60 s clip", billed)
	}
	if billed%time.Millisecond != 0 {
		t.Fatalf("billed %v is not whole milliseconds", billed)
	}
}

// TestBitrateWithinFifteenPercent encodes a hard-to-compress source and checks
// the average video bit rate against the preset's.
func TestBitrateWithinFifteenPercent(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("encodes noisy video")
	}
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 10, Noise: true, NoAudio: true})
	r := &Runner{X264Preset: conformanceX264Preset}
	sp, err := r.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"System preset: Generic 720p", "System preset: Generic 480p 16:9"} {
		p := lookup(t, name)
		out := filepath.Join(dir, p.ID+".mp4")
		args, err := BuildArgs(p, sp, src, out, r.ArgOptions())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Transcode(context.Background(), args, 10*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		got, err := r.Probe(context.Background(), out)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := p.Video.BitRate.Int()
		kbps := float64(got.Video.BitRate) / 1000
		dev := (kbps - float64(want)) / float64(want)
		t.Logf("%-34s target %5d kb/s, got %7.1f kb/s (%+.1f%%) in %.1f s", name, want, kbps, dev*100, time.Since(start).Seconds())
		if math.Abs(dev) > 0.15 {
			t.Errorf("%s: average %.0f kb/s is more than 15%% from %d kb/s", name, kbps, want)
		}
	}
}

// TestPortraitPhoneClipComesOutUpright checks the pixels, not only the size:
// the output must match the source turned clockwise (what a phone's rotate=90
// means) and not the source turned the other way.
func TestPortraitPhoneClipComesOutUpright(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 640, Height: 360, Rotation: 90, NoAudio: true})
	r := &Runner{X264Preset: conformanceX264Preset}
	sp, err := r.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	args, err := BuildArgs(lookup(t, "System preset: Generic 480p 16:9"), sp, src, out, r.ArgOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Transcode(context.Background(), args, time.Second, nil); err != nil {
		t.Fatal(err)
	}
	got, err := r.Probe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Video.Width != 270 || got.Video.Height != 480 || got.Video.Rotation != 0 {
		t.Fatalf("output %dx%d rotation %d, want 270x480 with no rotation", got.Video.Width, got.Video.Height, got.Video.Rotation)
	}
	clock, cclock := psnrAgainst(t, out, src, "transpose=clock"), psnrAgainst(t, out, src, "transpose=cclock")
	t.Logf("PSNR against the source turned clockwise %.1f dB, counter-clockwise %.1f dB", clock, cclock)
	if clock < 25 || clock < cclock+5 {
		t.Fatalf("output does not look like the source turned clockwise")
	}
}

var psnrAverage = regexp.MustCompile(`PSNR .*average:([0-9.]+|inf)`)

// psnrAgainst compares the first frame of out with the raw (not autorotated)
// first frame of src after turn, scaled to out's size.
func psnrAgainst(t *testing.T, out, src, turn string) float64 {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", out, "-noautorotate", "-i", src,
		"-filter_complex", "[1:v]"+turn+",scale=270:480,setsar=1,format=yuv420p[ref];[0:v]format=yuv420p[o];[o][ref]psnr",
		"-frames:v", "1", "-f", "null", "-")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psnr: %v: %s", err, b)
	}
	m := psnrAverage.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no PSNR in %s", b)
	}
	if string(m[1]) == "inf" {
		return math.Inf(1)
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return f
}

// TestTranscodeKillsFFmpegOnCancel cancels an encode once it has started and
// checks that Transcode returns promptly and no ffmpeg is left running.
func TestTranscodeKillsFFmpegOnCancel(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 4, Width: 640, Height: 360})
	r := &Runner{X264Preset: "veryslow"} // slow enough to be cancelled mid-way
	sp, err := r.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cancelled.mp4")
	args, err := BuildArgs(lookup(t, "System preset generic 720p"), sp, src, out, r.ArgOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt atomic.Int64
	var last float64
	err = r.Transcode(ctx, args, 4*time.Second, func(f float64) {
		last = f
		if cancelledAt.Load() == 0 {
			cancelledAt.Store(time.Now().UnixNano())
			cancel()
		}
	})
	returned := time.Now()
	if cancelledAt.Load() == 0 {
		t.Fatalf("encode ended (%v) before any progress; make it slower", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Transcode after cancel = %v, want context.Canceled", err)
	}
	if wait := returned.Sub(time.Unix(0, cancelledAt.Load())); wait > 2*time.Second {
		t.Errorf("Transcode took %v to return after cancel", wait)
	}
	if last <= 0 || last >= 1 {
		t.Errorf("cancelled at fraction %v, want mid-way", last)
	}
	if pids := processesMentioning(t, dir); len(pids) > 0 {
		t.Fatalf("processes still running with the job's files: %v", pids)
	}
}

// processesMentioning lists the pids whose command line contains s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to inspect:", err)
	}
	var pids []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestTranscodeFailureCarriesFFmpegsReason(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	err := (&Runner{}).Transcode(context.Background(),
		[]string{"-protocol_whitelist", "file", "-i", fileURL(filepath.Join(dir, "missing.mp4")), "-f", "mp4", fileURL(filepath.Join(dir, "o.mp4"))},
		time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), "No such file or directory") {
		t.Fatalf("err = %v, want ffmpeg's reason", err)
	}
}

func TestTranscodeMissingBinary(t *testing.T) {
	err := (&Runner{FFmpeg: filepath.Join(t.TempDir(), "no-ffmpeg")}).Transcode(context.Background(), []string{"-version"}, 0, nil)
	if err == nil || !strings.Contains(err.Error(), "start ffmpeg") {
		t.Fatalf("err = %v", err)
	}
}

func TestProgressReaderThrottlesAndClamps(t *testing.T) {
	var got []float64
	p := &progressReader{total: 10 * time.Second, report: func(f float64) { got = append(got, f) }}
	lines := "frame=1\nout_time_us=N/A\nout_time_us=1000000\nout_time_ms=1500000\nout_time=00:00:01.500000\nprogress=continue\n" +
		"out_time_us=2000000\nout_time_us=99000000\nprogress=end\n"
	p.read(strings.NewReader(lines))
	// The first position is reported; the rest arrive within the throttle
	// interval and are dropped.
	if len(got) != 1 || got[0] != 0.1 {
		t.Fatalf("reported %v, want [0.1]", got)
	}
	p.last = time.Time{}
	p.at(99 * time.Second)
	if got[len(got)-1] != 1 {
		t.Fatalf("fraction past the end = %v, want clamped to 1", got[len(got)-1])
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 16}
	b.Write([]byte("first line\nsecond line\n"))
	b.Write([]byte("third\n"))
	if got := b.lastLines(5); got != "third" {
		t.Fatalf("lastLines = %q", got)
	}
	b.Write([]byte(strings.Repeat("x", 40) + "\nend\n"))
	if got := b.lastLines(1); got != "end" || len(b.buf) != 16 {
		t.Fatalf("lastLines = %q, buffer %d bytes", got, len(b.buf))
	}
}
