//go:build linux

package ffmpeg

import "syscall"

// dieWithParent asks the kernel to kill ffmpeg when the vidjob process that
// started it dies, even by SIGKILL, so that a crashed worker leaves no encoder
// running on a job that another worker will take over.
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
