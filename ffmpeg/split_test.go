package ffmpeg

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// cfr returns n packets at rate num/den, a keyframe every gop frames, in
// presentation order (as a stream without B-frames sends them).
func cfr(n, gop, num, den int) []Packet {
	step := float64(den) / float64(num)
	out := make([]Packet, n)
	for i := range out {
		out[i] = Packet{PTS: float64(i) * step, Key: i%gop == 0}
	}
	return out
}

func TestPlanSplitCutsAtKeyframesNearTheSegmentLength(t *testing.T) {
	// 20 s at 30 fps, a keyframe every second, 5 s segments.
	plan, reason := PlanSplit(cfr(600, 30, 30, 1), 30, 1, 5, 0)
	if reason != "" {
		t.Fatal(reason)
	}
	var frames []int
	for _, c := range plan.Cuts {
		frames = append(frames, c.Frame)
	}
	if want := []int{150, 300, 450}; !equalInts(frames, want) {
		t.Errorf("cuts at frames %v, want %v", frames, want)
	}
	sum := 0
	for _, n := range plan.PieceFrames() {
		sum += n
	}
	if sum != 600 || len(plan.PieceFrames()) != 4 {
		t.Errorf("pieces %v do not add up to the 600 frames", plan.PieceFrames())
	}
}

func TestPlanSplitKeepsAFixedGOP(t *testing.T) {
	plan, reason := PlanSplit(cfr(600, 30, 30, 1), 30, 1, 5, 90)
	if reason != "" {
		t.Fatal(reason)
	}
	for _, c := range plan.Cuts {
		if c.Frame%90 != 0 {
			t.Errorf("cut at frame %d is not on the 90-frame GOP", c.Frame)
		}
	}
	if len(plan.Cuts) == 0 {
		t.Error("no cuts")
	}
}

func TestPlanSplitRefusesWhatItCannotCutExactly(t *testing.T) {
	vfr := cfr(600, 30, 30, 1)
	vfr[300].PTS += 0.02 // a frame 20 ms late: not constant frame rate
	if _, reason := PlanSplit(vfr, 30, 1, 5, 0); !strings.Contains(reason, "not constant") {
		t.Errorf("variable frame rate: reason %q", reason)
	}
	// Open GOPs: a frame after every keyframe in decode order is shown
	// before it, so no keyframe is a clean cut.
	open := cfr(600, 30, 30, 1)
	for i := 30; i < 600; i += 30 {
		open[i+1].PTS, open[i-1].PTS = open[i-1].PTS, open[i+1].PTS
	}
	if _, reason := PlanSplit(open, 30, 1, 5, 0); reason == "" {
		t.Error("open GOPs were cut")
	}
	if _, reason := PlanSplit(cfr(600, 600, 30, 1), 30, 1, 5, 0); reason == "" {
		t.Error("a source with one keyframe was cut")
	}
}

func TestAccelerableOnlyWhereTheJoinMatchesTheSinglePass(t *testing.T) {
	src := hd() // 29.97 fps
	if ok, why := Accelerable(lookup(t, "System preset generic 720p"), src); !ok {
		t.Errorf("generic 720p (29.97 fps) on a 29.97 fps source: %s", why)
	}
	for name, want := range map[string]string{
		"1351620000001-100070":          "changes the frame rate", // 30 fps
		"1351620000001-200010":          "segmented",              // HLS
		"System preset: Gif (Animated)": "MP4 with H.264",
	} {
		p := lookup(t, name)
		if ok, why := Accelerable(p, src); ok || !strings.Contains(why, want) {
			t.Errorf("%s: ok=%v reason %q, want %q", name, ok, why, want)
		}
	}
	rotated := hd()
	rotated.Video.Rotation = 90
	if ok, _ := Accelerable(lookup(t, "System preset generic 720p"), rotated); ok {
		t.Error("a rotated source was accelerated")
	}
	late := hd()
	late.Audio.StartTime = 0.1
	if ok, why := Accelerable(lookup(t, "System preset generic 720p"), late); ok || !strings.Contains(why, "audio starts") {
		t.Errorf("audio 0.1 s after the video: ok=%v %q", ok, why)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAcceleratedJoinConformsAndMatchesOnePass runs the accelerated pipeline
// (packets, plan, split, parts, audio, join) on a 12 s source in 3 s segments
// for presets with each H.264 profile, checks the joined file with the same
// conformance checks as every MP4 preset's single pass, and compares it with
// that single pass: the same frame and audio packet counts.
func TestAcceleratedJoinConformsAndMatchesOnePass(t *testing.T) {
	sources := makeSources(t, map[string]testmedia.Spec{
		"29.97": {Seconds: 12, Width: 640, Height: 360},
		"30":    {Seconds: 12, Width: 640, Height: 360, FPS: "30"},
	})
	r := &Runner{X264Preset: conformanceX264Preset, Threads: 1}
	ctx := context.Background()
	// A source with B-frames (as cameras and other encoders write them): its
	// packets come out of presentation order, and its MP4 has an edit list.
	bframes := filepath.Join(t.TempDir(), "bframes.mp4")
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30000/1001:duration=12",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=12", "-c:v", "libx264", "-preset", "veryfast", "-bf", "3",
		"-g", "45", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", bframes).CombinedOutput(); err != nil {
		t.Fatalf("make B-frame source: %v %s", err, out)
	}
	bprobe, err := r.Probe(ctx, bframes)
	if err != nil {
		t.Fatal(err)
	}
	sources = append(sources, source{"bframes", bframes, bprobe})
	for _, c := range []struct{ preset, source string }{
		{"System preset generic 720p", "29.97"},        // baseline
		{"1351620000001-100050", "30"},                 // Apple TV 2G: main, B-frames
		{"1351620000001-100020", "30"},                 // iPhone 4s: high, B-frames
		{"System preset generic 480p 16:9", "bframes"}, // a source with B-frames
	} {
		p := lookup(t, c.preset)
		src := sources[slices.IndexFunc(sources, func(s source) bool { return s.name == c.source })]
		t.Run(p.ID+"-"+c.source, func(t *testing.T) {
			t.Parallel()
			fail := func(format string, args ...any) { t.Helper(); t.Errorf(format, args...) }
			if ok, why := Accelerable(p, src.probe); !ok {
				t.Fatalf("not accelerable: %s", why)
			}
			dir := t.TempDir()
			pkts, err := r.VideoPackets(ctx, src.path, src.probe.Video.Index)
			if err != nil {
				t.Fatal(err)
			}
			v := src.probe.Video
			plan, reason := PlanSplit(pkts, v.FrameRateNum, v.FrameRateDen, 3, FixedGOP(p))
			if reason != "" {
				t.Fatal(reason)
			}
			if err := r.Transcode(ctx, SplitArgs(src.path, v.Index, plan, float64(v.FrameRateDen)/float64(v.FrameRateNum), dir), 0, nil); err != nil {
				t.Fatal(err)
			}
			var parts []string
			for i, n := range plan.PieceFrames() {
				part := filepath.Join(dir, fmt.Sprintf("part%d.mp4", i))
				args, err := PartArgs(p, src.probe, 0, filepath.Join(dir, PieceName(i)), part, r.ArgOptions())
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Transcode(ctx, args, 0, nil); err != nil {
					t.Fatal(err)
				}
				if got, err := r.Probe(ctx, part); err != nil || got.Video.NbFrames != int64(n) {
					t.Fatalf("part %d: %v frames, want %d (%v)", i, got, n, err)
				}
				parts = append(parts, part)
			}
			audio := filepath.Join(dir, "audio.m4a")
			args, err := AudioArgs(p, src.probe, src.path, audio)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Transcode(ctx, args, 0, nil); err != nil {
				t.Fatal(err)
			}
			joined := filepath.Join(dir, "joined.mp4")
			args, err = JoinArgs(p, parts, filepath.Join(dir, "list.txt"), audio, joined)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Transcode(ctx, args, 0, nil); err != nil {
				t.Fatal(err)
			}
			got, err := r.Probe(ctx, joined)
			if err != nil {
				t.Fatal(err)
			}
			if order, err := topLevelBoxes(joined); err != nil || slices.Index(order, "moov") > slices.Index(order, "mdat") {
				t.Errorf("boxes %v (%v): want moov before mdat", order, err)
			}
			checkAudio(fail, p, src.probe, got)
			checkVideo(fail, p, src.probe, got)
			checkKeyframes(fail, p, got, joined)

			single := filepath.Join(dir, "single.mp4")
			args, err = BuildArgs(p, src.probe, src.path, single, r.ArgOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Transcode(ctx, args, 0, nil); err != nil {
				t.Fatal(err)
			}
			one, err := r.Probe(ctx, single)
			if err != nil {
				t.Fatal(err)
			}
			if got.Video.NbFrames != one.Video.NbFrames || got.Video.Profile != one.Video.Profile || got.Video.Level != one.Video.Level ||
				math.Abs(got.Video.Duration-one.Video.Duration) > 1/v.FrameRate || got.Audio.Duration != one.Audio.Duration {
				t.Errorf("joined %d frames %s L%d %.4f s audio %.4f s; single pass %d frames %s L%d %.4f s audio %.4f s",
					got.Video.NbFrames, got.Video.Profile, got.Video.Level, got.Video.Duration, got.Audio.Duration,
					one.Video.NbFrames, one.Video.Profile, one.Video.Level, one.Video.Duration, one.Audio.Duration)
			}
			t.Logf("%d parts, %d frames, %s L%d", len(parts), got.Video.NbFrames, got.Video.Profile, got.Video.Level)
		})
	}
}
