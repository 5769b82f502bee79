package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/vidjob/vidjob"
)

// A local disk fault is retried while attempts remain, and the last one's
// message still blames the server, never the source.
func TestLocalDiskFailureBlamesTheServer(t *testing.T) {
	cause := vidjob.WrapError(vidjob.EUNPROCESSABLE,
		fmt.Errorf("ffmpeg: %w", &fs.PathError{Op: "write", Path: "out.mp4", Err: syscall.ENOSPC}),
		"Transcoding failed: ffmpeg could not convert this source with preset x.")
	err := localDiskFailure(cause, "ENOSPC", true, 5)
	var r retryable
	if !errors.As(err, &r) || vidjob.ErrorCode(err) != vidjob.EUNAVAILABLE ||
		vidjob.ErrorMessage(err) != "The server ran out of disk space while transcoding; the job will be retried." {
		t.Errorf("with attempts left: %v (%q)", err, vidjob.ErrorMessage(err))
	}
	err = localDiskFailure(cause, "ENOSPC", false, 5)
	if errors.As(err, &r) || !strings.Contains(vidjob.ErrorMessage(err), "in each of its 5 attempts; the fault is the server's, not the source's") {
		t.Errorf("last attempt: %v (%q)", err, vidjob.ErrorMessage(err))
	}
	if err := localDiskFailure(cause, "EIO", true, 5); !strings.Contains(vidjob.ErrorMessage(err), "could not write its working files") {
		t.Errorf("EIO: %q", vidjob.ErrorMessage(err))
	}
}
