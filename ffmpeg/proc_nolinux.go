//go:build unix && !linux

package ffmpeg

import "syscall"

// dieWithParent has no equivalent outside Linux; the process group kill on
// cancellation still applies.
func dieWithParent(*syscall.SysProcAttr) {}
