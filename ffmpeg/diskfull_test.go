package ffmpeg

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vidjob/vidjob/internal/testdisk"
	"github.com/vidjob/vidjob/internal/testmedia"
	"github.com/vidjob/vidjob/localdisk"
)

// ffmpeg that runs out of room says so only on stderr; Transcode's error must
// carry ENOSPC so that the worker blames its disk, not the source.
func TestTranscodeOnAFullDiskIsALocalFault(t *testing.T) {
	full := testdisk.Tmpfs(t, "1m")
	src := testmedia.Make(t, t.TempDir(), testmedia.Spec{Seconds: 2, Width: 320, Height: 240})
	// Raw video: 2 s of 320x240 is about 5 MB, five times the disk.
	args := []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-i", "file:" + src,
		"-f", "rawvideo", "file:" + filepath.Join(full, "out.yuv")}
	err := (&Runner{}).Transcode(context.Background(), args, 0, nil)
	if err == nil {
		t.Fatal("ffmpeg wrote 5 MB to a 1 MB disk")
	}
	if errno, ok := localdisk.Fault(err); !ok || errno != "ENOSPC" {
		t.Errorf("Transcode = %v; localdisk.Fault = %q, %v; want ENOSPC", err, errno, ok)
	}

	// A source that is not media fails without a local fault.
	bad := filepath.Join(t.TempDir(), "bad.mp4")
	args = []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-i", "file:" + bad, "-f", "null", "-"}
	if err := (&Runner{}).Transcode(context.Background(), args, 0, nil); err == nil {
		t.Fatal("a missing source transcoded")
	} else if errno, ok := localdisk.Fault(err); ok {
		t.Errorf("a missing source counts as local fault %s: %v", errno, err)
	}
}
