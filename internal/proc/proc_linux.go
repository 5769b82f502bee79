//go:build linux

// Package proc holds what vidjob asks of the operating system for the
// processes it starts.
package proc

import (
	"os/exec"
	"syscall"
)

// DieWithParent asks the kernel to kill cmd's process when the process that
// started it dies, even by SIGKILL, so that a crashed worker leaves nothing
// running behind it (an encoder on a job another worker takes over, a
// resident exiftool that would otherwise wait on its input forever). Call it
// after any other change to cmd.SysProcAttr and before cmd.Start.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
