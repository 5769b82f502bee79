package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/preset"
)

// x264Suite encodes one source with each preset (Generic 720p is Baseline
// profile, Web is Main) at each x264 speed preset, with the arguments vidjob
// builds, and reports encode time, output size and SSIM against the source:
// what --x264-preset trades.
func (e benchEnv) x264Suite(seconds time.Duration, presetIDs, speeds []string) error {
	dir, err := os.MkdirTemp("", "vidjob-bench-x264-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Light temporal noise over the moving pattern, kept in a near-lossless
	// source: like camera grain, it makes the bitrate budget matter without
	// being incompressible (heavy noise scores every preset equally badly,
	// the bare pattern scores them all near 1).
	src := filepath.Join(dir, "source.mp4")
	gen := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1280x720:rate=30000/1001:duration=%g,noise=alls=4:allf=t", seconds.Seconds()),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%g", seconds.Seconds()),
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p", "-c:a", "aac", src)
	if out, err := gen.CombinedOutput(); err != nil {
		return fmt.Errorf("generate source: %w: %s", err, out)
	}
	catalog, err := preset.Load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	probe, err := (&ffmpeg.Runner{}).Probe(ctx, src)
	if err != nil {
		return err
	}
	e.out.heading("x264 speed presets on a %s 720p source with light grain", seconds)
	e.out.note("Encode wall time with the arguments vidjob builds (`--x264-preset`), the output's size, and SSIM of the output against the source (1 is identical). Same bitrate target throughout: a slower preset spends it better.")
	t := table{header: []string{"preset", "x264 preset", "encode", "× realtime", "output", "SSIM (All)"}}
	ssimRe := regexp.MustCompile(`All:([0-9.]+)`)
	for _, id := range presetIDs {
		p, _, err := catalog.Lookup(id)
		if err != nil {
			return err
		}
		for _, speed := range speeds {
			row, err := x264Row(p, probe, src, dir, speed, seconds, ssimRe)
			if err != nil {
				return err
			}
			t.rows = append(t.rows, append([]string{presetName(id)}, row...))
			fmt.Fprintf(os.Stderr, "bench: x264 %s %s done\n", presetName(id), speed)
		}
	}
	e.out.table(t)
	return nil
}

// x264Row encodes src with preset p at one x264 speed and returns the rest
// of its table row.
func x264Row(p *vidjob.Preset, probe *ffmpeg.Probe, src, dir, speed string, seconds time.Duration, ssimRe *regexp.Regexp) ([]string, error) {
	out := filepath.Join(dir, "out-"+speed+".mp4")
	args, err := ffmpeg.BuildArgs(p, probe, src, out, ffmpeg.ArgOptions{X264Preset: speed})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("x264 %s: %w: %s", speed, err, stderr.String())
	}
	took := time.Since(start)
	fi, err := os.Stat(out)
	if err != nil {
		return nil, err
	}
	// Generic 720p and Web keep this source's 1280x720, so the output
	// compares with the source frame for frame.
	ssim := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", out, "-i", src,
		"-lavfi", "[0:v]setpts=PTS-STARTPTS[a];[1:v]fps=30000/1001,setpts=PTS-STARTPTS[b];[a][b]ssim", "-f", "null", "-")
	msg, err := ssim.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ssim %s: %w: %s", speed, err, msg)
	}
	score := "?"
	if m := ssimRe.FindStringSubmatch(string(msg)); m != nil {
		score = m[1]
	}
	return []string{speed, secs(took), fmt.Sprintf("%.1f×", seconds.Seconds()/took.Seconds()), fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20)), score}, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
