package testmedia

import (
	"os/exec"
	"strings"
	"testing"
)

func TestMakeWritesAPlayableClipOfTheAskedSize(t *testing.T) {
	path := Make(t, t.TempDir(), Spec{Seconds: 1, Width: 320, Height: 240})
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "320,240" {
		t.Fatalf("size = %q, want 320,240", got)
	}
}

// A phone's portrait clip stores landscape pixels and a display matrix that
// ffprobe reports as -90 degrees; Rotation: 90 must produce the same.
func TestRotationTagsTheClipLikeAPhone(t *testing.T) {
	path := Make(t, t.TempDir(), Spec{Seconds: 1, Width: 320, Height: 240, Rotation: 90, NoAudio: true})
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height:stream_side_data=rotation", "-of", "json", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(strings.Fields(string(out)), "")
	if !strings.Contains(s, `"width":320,"height":240`) || !strings.Contains(s, `"rotation":-90`) {
		t.Fatalf("ffprobe says %s; want 320x240 pixels with rotation -90", s)
	}
}
