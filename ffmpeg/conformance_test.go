package ffmpeg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
	"github.com/vidjob/vidjob/preset"
)

// conformanceX264Preset is fast yet keeps CABAC and B-frames, so that "main"
// and "high" presets come out as Main and High (x264 writes the lowest profile
// the stream's tools need, and ultrafast's streams are Constrained Baseline).
const conformanceX264Preset = "superfast"

type source struct {
	name  string
	path  string
	probe *Probe
}

func makeSources(t *testing.T, specs map[string]testmedia.Spec) []source {
	t.Helper()
	dir := t.TempDir()
	r := &Runner{}
	var out []source
	for name, spec := range specs {
		path := testmedia.Make(t, dir, spec)
		p, err := r.Probe(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, source{name, path, p})
	}
	slices.SortFunc(out, func(a, b source) int { return strings.Compare(a.name, b.name) })
	return out
}

func currentMP4Presets(t *testing.T) []*vidjob.Preset {
	t.Helper()
	c, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	var ps []*vidjob.Preset
	for _, p := range c.All() {
		if !p.Deprecated() && p.Container == "mp4" {
			ps = append(ps, p)
		}
	}
	if len(ps) != 21 {
		t.Fatalf("%d current MP4 presets, want 21", len(ps))
	}
	return ps
}

// TestConformanceOfEveryCurrentMP4Preset runs every current MP4 preset on
// four sources and checks the outputs against the preset with ffprobe.
func TestConformanceOfEveryCurrentMP4Preset(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("encodes 84 clips")
	}
	sources := makeSources(t, map[string]testmedia.Spec{
		"hd":       {Seconds: 2},                          // 1280x720 29.97 fps, stereo 48 kHz
		"portrait": {Seconds: 2, Rotation: 90},            // 1280x720 pixels shown as 720x1280
		"small4x3": {Seconds: 2, Width: 320, Height: 240}, // smaller than most boxes: never upscale
		"silent":   {Seconds: 2, Width: 640, Height: 360, NoAudio: true, FPS: "25"},
	})
	r := &Runner{X264Preset: conformanceX264Preset}
	outDir := t.TempDir()

	type row struct {
		id, label string
		secs      float64
		pass      bool
	}
	var mu sync.Mutex
	var rows []row
	t.Run("presets", func(t *testing.T) {
		for _, p := range currentMP4Presets(t) {
			t.Run(p.ID, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				for _, src := range sources {
					checkPresetOnSource(t, r, p, src, filepath.Join(outDir, p.ID+"-"+src.name+".mp4"))
				}
				mu.Lock()
				rows = append(rows, row{p.ID, p.Label(), time.Since(start).Seconds(), !t.Failed()})
				mu.Unlock()
			})
		}
	})
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.id, b.id) })
	var total float64
	t.Logf("%-22s %-42s %7s  %s", "preset", "name", "seconds", "pass")
	for _, r := range rows {
		total += r.secs
		t.Logf("%-22s %-42s %7.2f  %v", r.id, r.label, r.secs, r.pass)
	}
	t.Logf("%d presets × %d sources, %.1f s of encoding (wall time is less: two run at once)", len(rows), len(sources), total)
}

func checkPresetOnSource(t *testing.T, r *Runner, p *vidjob.Preset, src source, out string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s on %s: %s", p.ID, src.name, fmt.Sprintf(format, args...))
	}
	args, err := BuildArgs(p, src.probe, src.path, out, r.ArgOptions())
	if !p.WantsVideo() && src.probe.Audio == nil {
		// An audio-only preset has nothing to make from a silent source.
		if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE {
			fail("audio-only preset on a silent source: %v, want EUNPROCESSABLE", err)
		}
		return
	}
	if err != nil {
		fail("BuildArgs: %v", err)
		return
	}
	var fractions []float64
	total := time.Duration(src.probe.Duration * float64(time.Second))
	if err := r.Transcode(context.Background(), args, total, func(f float64) { fractions = append(fractions, f) }); err != nil {
		fail("Transcode: %v\nargs: %q", err, args)
		return
	}
	if len(fractions) == 0 || fractions[len(fractions)-1] != 1 || !slices.IsSorted(fractions) {
		fail("progress %v: want increasing fractions ending at 1", fractions)
	}
	got, err := r.Probe(context.Background(), out)
	if err != nil {
		fail("probe output: %v", err)
		return
	}
	if !strings.Contains(got.FormatName, "mp4") {
		fail("format %q", got.FormatName)
	}
	if order, err := topLevelBoxes(out); err != nil {
		fail("read boxes: %v", err)
	} else if m, d := slices.Index(order, "moov"), slices.Index(order, "mdat"); m < 0 || d < 0 || m > d {
		fail("boxes %v: want moov before mdat (faststart)", order)
	}
	checkAudio(fail, p, src.probe, got)
	if !p.WantsVideo() {
		if got.Video != nil {
			fail("audio-only preset made video")
		}
		return
	}
	checkVideo(fail, p, src.probe, got)
	checkKeyframes(fail, p, got, out)
	v := got.Video
	t.Logf("%-8s → %4dx%-4d %-20s L%d %d/%d fps %-11s audio=%v billed=%v", src.name, v.Width, v.Height,
		v.Profile, v.Level, v.FrameRateNum, v.FrameRateDen, v.FieldOrder, got.Audio != nil, got.BilledDuration())
}

func checkAudio(fail func(string, ...any), p *vidjob.Preset, src, got *Probe) {
	if src.Audio == nil {
		if got.Audio != nil {
			fail("source is silent but output has %s audio", got.Audio.Codec)
		}
		return
	}
	a := got.Audio
	if a == nil {
		fail("no audio")
		return
	}
	wantRate, _ := p.Audio.SampleRate.Int()
	wantCh, _ := p.Audio.Channels.Int()
	if a.Codec != "aac" || a.Profile != "LC" || a.SampleRate != wantRate || a.Channels != wantCh {
		fail("audio %s %s %d Hz %d ch, want aac LC %d Hz %d ch", a.Codec, a.Profile, a.SampleRate, a.Channels, wantRate, wantCh)
	}
	if math.Abs(a.Duration-src.Audio.Duration) > 0.1 {
		fail("audio lasts %.3f s, source %.3f s", a.Duration, src.Audio.Duration)
	}
}

func checkVideo(fail func(string, ...any), p *vidjob.Preset, src, got *Probe) {
	v, pv := got.Video, p.Video
	if v == nil {
		fail("no video")
		return
	}
	wantProfile := map[string][]string{
		"baseline": {"Constrained Baseline", "Baseline"}, "main": {"Main"}, "high": {"High"},
	}[pv.Profile]
	wantLevel, _ := pv.Level.LevelIDC()
	if v.Codec != "h264" || !slices.Contains(wantProfile, v.Profile) || v.Level != wantLevel || v.PixFmt != "yuv420p" {
		fail("video %s %q level %d %s, want h264 %v level %d yuv420p", v.Codec, v.Profile, v.Level, v.PixFmt, wantProfile, wantLevel)
	}
	if v.SARNum != 1 || v.SARDen != 1 || v.Rotation != 0 {
		fail("SAR %d:%d rotation %d, want square pixels and no rotation", v.SARNum, v.SARDen, v.Rotation)
	}
	maxW, _ := pv.MaxWidth.Int()
	maxH, _ := pv.MaxHeight.Int()
	dw, dh := src.Video.DisplaySize()
	ow, oh := float64(v.Width), float64(v.Height)
	switch {
	case v.Width%2 != 0 || v.Height%2 != 0:
		fail("size %dx%d is not even", v.Width, v.Height)
	case pv.PaddingPolicy == "Pad":
		if v.Width != maxW || v.Height != maxH {
			fail("size %dx%d, want padded to %dx%d", v.Width, v.Height, maxW, maxH)
		}
	case v.Width > maxW || v.Height > maxH:
		fail("size %dx%d outside the %dx%d box", v.Width, v.Height, maxW, maxH)
	case ow > math.Ceil(dw) || oh > math.Ceil(dh):
		fail("size %dx%d larger than the %.0fx%.0f source", v.Width, v.Height, dw, dh)
	case math.Abs(ow-oh*dw/dh) > 2:
		fail("size %dx%d does not keep the source's %.0fx%.0f aspect", v.Width, v.Height, dw, dh)
	case ow < math.Min(float64(maxW), dw)-2 && oh < math.Min(float64(maxH), dh)-2:
		fail("size %dx%d is smaller than the %dx%d box allows", v.Width, v.Height, maxW, maxH)
	}
	if (dh > dw) != (oh > ow) && pv.PaddingPolicy != "Pad" {
		fail("orientation lost: %dx%d from a %.0fx%.0f picture", v.Width, v.Height, dw, dh)
	}
	n, d, _ := pv.FrameRate.Rate()
	if v.FrameRateNum*d != n*v.FrameRateDen {
		fail("frame rate %d/%d, want %d/%d", v.FrameRateNum, v.FrameRateDen, n, d)
	}
	wantField := "progressive"
	if pv.InterlacedMode == "TopFirst" {
		wantField = "tt"
	}
	if v.FieldOrder != wantField {
		fail("field order %q, want %q", v.FieldOrder, wantField)
	}
	if math.Abs(v.Duration-src.Video.Duration) > 0.15 {
		fail("video lasts %.3f s, source %.3f s", v.Duration, src.Video.Duration)
	}
}

// checkKeyframes decodes only the keyframes and checks their spacing against
// KeyframesMaxDist, and that a fixed GOP puts them exactly on its multiples.
func checkKeyframes(fail func(string, ...any), p *vidjob.Preset, got *Probe, path string) {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey",
		"-show_entries", "frame=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		fail("keyframes: %v", err)
		return
	}
	keyint, _ := p.Video.KeyframesMaxDist.Int()
	fixed, _ := p.Video.FixedGOP.Bool()
	var frames []int
	first := math.NaN()
	for _, line := range strings.Fields(string(out)) {
		ts, err := strconv.ParseFloat(strings.Trim(line, ","), 64)
		if err != nil {
			continue
		}
		// Count from the first keyframe: some muxers start the timeline
		// late (MPEG-PS's mux delay, fragmented MP4 without an edit list
		// for B-frames).
		if math.IsNaN(first) {
			first = ts
		}
		frames = append(frames, int(math.Round((ts-first)*got.Video.FrameRate)))
	}
	last := int(got.Video.NbFrames)
	if last == 0 { // containers without a frame count (MPEG-PS, MXF)
		d := got.Video.Duration
		if d <= 0 {
			d = got.Duration
		}
		last = int(math.Round(d * got.Video.FrameRate))
	}
	frames = append(frames, last)
	prev := 0
	for i, f := range frames {
		if f-prev > keyint {
			fail("keyframes at %v (of %d frames): gap above %d", frames[:len(frames)-1], last, keyint)
			return
		}
		// ffmpeg's MPEG-2 encoder may end the stream with an I-frame; a
		// keyframe on the last frame moves no GOP boundary.
		if fixed && i < len(frames)-1 && f%keyint != 0 && !(i == len(frames)-2 && f == last-1) {
			fail("keyframes at %v: fixed GOP wants multiples of %d", frames[:len(frames)-1], keyint)
			return
		}
		prev = f
	}
}

// topLevelBoxes lists the types of an MP4 file's top-level boxes in order.
func topLevelBoxes(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var types []string
	var off int64
	for {
		var hdr [16]byte
		if _, err := f.ReadAt(hdr[:8], off); errors.Is(err, io.EOF) {
			return types, nil
		} else if err != nil {
			return nil, err
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		types = append(types, string(hdr[4:8]))
		switch size {
		case 0: // the box runs to the end of the file
			return types, nil
		case 1: // 64-bit size follows the type
			if _, err := f.ReadAt(hdr[8:16], off+8); err != nil {
				return nil, err
			}
			size = int64(binary.BigEndian.Uint64(hdr[8:16]))
		}
		if size < 8 {
			return nil, fmt.Errorf("box %q at %d has size %d", hdr[4:8], off, size)
		}
		off += size
	}
}
