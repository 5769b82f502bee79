package ffmpeg

import (
	"strings"
	"testing"
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
