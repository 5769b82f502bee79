//go:build unix

package ffmpeg

import (
	"os/exec"
	"syscall"
	"time"

	"github.com/vidjob/vidjob/internal/proc"
)

// killGroupOnCancel puts the command in its own process group and makes context
// cancellation kill the whole group, so that anything ffmpeg started (it can
// spawn helpers for some protocols and filters) dies with it.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// ffmpeg dies with the worker that started it, even by SIGKILL, so a
	// crashed worker leaves no encoder running on a job another worker takes.
	proc.DieWithParent(cmd)
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		// A negative pid signals the group whose id is the leader's pid.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// If something still holds ffmpeg's pipes after the kill, stop waiting
	// for them rather than hang the worker.
	cmd.WaitDelay = 5 * time.Second
}
