// Package localdisk tells the server's own disk failing a job from the job
// failing: which errors mean that the disk vidjob writes to is full or
// broken, and whether the directories it writes to have room left.
//
// A job that meets such an error is not at fault and is retried; a server
// short of room says so on GET /healthz and refuses new jobs until it has.
package localdisk

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// faults are the errors of a local file operation that say the disk, not
// the data, is the trouble, each with the texts C libraries give them
// (strerror: glibc first, then musl where it differs), which is how ffmpeg
// reports them.
var faults = []struct {
	errno syscall.Errno
	name  string
	texts []string
}{
	{syscall.ENOSPC, "ENOSPC", []string{"No space left on device"}},
	{syscall.EDQUOT, "EDQUOT", []string{"Disk quota exceeded", "Quota exceeded"}},
	{syscall.EROFS, "EROFS", []string{"Read-only file system"}},
	// ffmpeg also reports a network read that failed (an HTTP source, the
	// loopback stream) as "Input/output error", so EIO counts only when Go's
	// own file operations return it, never from a tool's text.
	{syscall.EIO, "EIO", nil},
}

// Fault reports whether err carries a local disk fault (ENOSPC, EDQUOT,
// EROFS, EIO) anywhere in its chain, and returns its name. This is the one
// place that decides it: for the source's download, ffmpeg's writes (see
// FaultInText), the local store's writes and the reads of outputs being
// uploaded.
func Fault(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	for _, f := range faults {
		if errors.Is(err, f.errno) {
			return f.name, true
		}
	}
	return "", false
}

// FaultInText returns an error wrapping the errno of the first local disk
// fault whose C library text appears in a tool's error output (ffmpeg's
// stderr), or nil when none does.
func FaultInText(text string) error {
	for _, f := range faults {
		for _, t := range f.texts {
			if strings.Contains(text, t) {
				return fmt.Errorf("%s: %w", f.name, f.errno)
			}
		}
	}
	return nil
}
