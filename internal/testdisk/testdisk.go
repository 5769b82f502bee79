// Package testdisk gives tests a real, small file system that fills up: a
// tmpfs of a chosen size, so that ENOSPC comes from the kernel as it does on a
// full disk in production.
package testdisk

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Tmpfs mounts a tmpfs of size (mount's syntax: "2m") on a fresh directory
// and unmounts it when the test ends. Mounting needs root: without it the
// test is skipped, loudly, except in CI (CI=true), where it fails instead so
// that the test cannot quietly stop running.
func Tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test mounts a tmpfs and needs root; CI runs tests as root")
		}
		t.Skip("SKIPPED: this test mounts a small tmpfs to fill a real disk and needs root (CI=true makes this a failure)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("SKIPPED: mount tmpfs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Resize changes the size of a tmpfs that Tmpfs mounted, as an operator
// adds room to a full disk.
func Resize(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s size=%s: %v: %s", dir, size, err, out)
	}
}
