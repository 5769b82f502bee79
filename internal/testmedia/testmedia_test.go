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
