//go:build !unix

package ffmpeg

import (
	"os/exec"
	"time"
)

// killGroupOnCancel relies on exec's default cancellation (killing ffmpeg
// itself) where process groups do not exist.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.WaitDelay = 5 * time.Second
}
