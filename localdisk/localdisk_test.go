package localdisk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testdisk"
)

func TestFaultFindsLocalDiskErrorsThroughWrapping(t *testing.T) {
	enospc := &fs.PathError{Op: "write", Path: "/data/tmp/x", Err: syscall.ENOSPC}
	for _, c := range []struct {
		err  error
		want string
	}{
		{enospc, "ENOSPC"},
		{fmt.Errorf("write download file: %w", enospc), "ENOSPC"},
		{vidjob.WrapError(vidjob.EUNPROCESSABLE, fmt.Errorf("x: %w", enospc), "Transcoding failed."), "ENOSPC"},
		{&fs.PathError{Op: "read", Path: "out.mp4", Err: syscall.EIO}, "EIO"},
		{&fs.PathError{Op: "open", Path: "out", Err: syscall.EROFS}, "EROFS"},
		{&fs.PathError{Op: "write", Path: "out", Err: syscall.EDQUOT}, "EDQUOT"},
		{FaultInText("[out#0/mp4 @ 0x55] Error writing trailer: No space left on device"), "ENOSPC"},
		{errors.Join(errors.New("ffmpeg: exit status 1"), FaultInText("av_interleaved_write_frame(): Disk quota exceeded")), "EDQUOT"},
	} {
		if got, ok := Fault(c.err); !ok || got != c.want {
			t.Errorf("Fault(%v) = %q, %v; want %s", c.err, got, ok, c.want)
		}
	}
	for _, err := range []error{
		nil,
		errors.New("No space left on device"), // text alone is not an errno: only FaultInText reads text
		&fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT},
		syscall.ECONNRESET,
		vidjob.Errorf(vidjob.EUNPROCESSABLE, "Source is not a video file ffmpeg can read."),
	} {
		if got, ok := Fault(err); ok {
			t.Errorf("Fault(%v) = %q, want no fault", err, got)
		}
	}
	// ffmpeg says "Input/output error" for network reads too.
	if err := FaultInText("http://127.0.0.1:1234/x: Input/output error"); err != nil {
		t.Errorf("FaultInText took a network EIO for a disk fault: %v", err)
	}
}

// Space.Check reads the real file system's free space and names the
// directory by its role, never its path.
func TestSpaceCheck(t *testing.T) {
	dir := t.TempDir()
	free, err := Free(dir)
	if err != nil || free == 0 {
		t.Fatalf("Free = %d, %v", free, err)
	}
	if err := (&Space{Dirs: []Dir{{"data directory", dir}}, Min: 1}).Check(); err != nil {
		t.Errorf("Check with room: %v", err)
	}
	err = (&Space{Dirs: []Dir{{"data directory", dir}, {"work directory", dir}}, Min: free * 4}).Check()
	if vidjob.ErrorCode(err) != vidjob.EUNAVAILABLE || !strings.Contains(vidjob.ErrorMessage(err), "short of disk space: its data directory has") ||
		strings.Contains(err.Error(), dir) {
		t.Errorf("Check without room = %v", err)
	}
}

// On a real full file system, Go's own writes fail with an error Fault
// recognises, and Space.Check says so.
func TestFullTmpfs(t *testing.T) {
	dir := testdisk.Tmpfs(t, "1m")
	s := &Space{Dirs: []Dir{{"work directory", dir}}, Min: 512 << 10}
	if err := s.Check(); err != nil {
		t.Fatalf("empty tmpfs: %v", err)
	}
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Write(make([]byte, 2<<20))
	if got, ok := Fault(err); !ok || got != "ENOSPC" {
		t.Fatalf("writing past a full tmpfs: %v (Fault %q %v)", err, got, ok)
	}
	s = &Space{Dirs: []Dir{{"work directory", dir}}, Min: 512 << 10} // a fresh one: results stand for a second
	if err := s.Check(); !strings.Contains(vidjob.ErrorMessage(err), "its work directory has 0 bytes free, below the 512.0 KiB") {
		t.Errorf("full tmpfs: %v", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 bytes", 1023: "1023 bytes", 1536: "1.5 KiB", 256 << 20: "256.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
