//go:build !linux

package s3test

import "os/exec"

// dieWithParent does nothing where the kernel offers no parent-death signal;
// t.Cleanup still stops the server when a test ends normally.
func dieWithParent(cmd *exec.Cmd) {}
