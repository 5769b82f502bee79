//go:build !linux

// Package proc holds what vidjob asks of the operating system for the
// processes it starts.
package proc

import "os/exec"

// DieWithParent has no equivalent outside Linux: there a process started by
// vidjob outlives a vidjob that is killed.
func DieWithParent(*exec.Cmd) {}
