package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

func TestOutputFileNameAndSiblingKeys(t *testing.T) {
	hls := &vidjob.Preset{Container: "ts", Packaging: vidjob.PackagingHLS}
	for key, want := range map[string]string{
		"a/b/out.m3u8":        "out.m3u8",
		"out":                 "out.m3u8",
		"a/b/we%ird$name.mp4": "we_ird_name.m3u8",
		"a/b/..":              "output.m3u8",
		"a/b/":                "b.m3u8",
		"a/b/ünï.m3u8":        "_n_.m3u8",
	} {
		if got := outputFileName(key, hls); got != want {
			t.Errorf("outputFileName(%q) = %q, want %q", key, got, want)
		}
	}
	if got := siblingKey("a/b/out.m3u8", "out00001.ts"); got != "a/b/out00001.ts" {
		t.Errorf("siblingKey = %q", got)
	}
	if got := siblingKey("out.m3u8", "out00001.ts"); got != "out00001.ts" {
		t.Errorf("siblingKey at the bucket's root = %q", got)
	}
}

// TestJobIDShapeAndOrder: a job ID is a digit and 22 URL-safe base64
// characters, as Blitline's were; without the digit, IDs made later sort
// after those made earlier, and the rest of each ID is random.
func TestJobIDShapeAndOrder(t *testing.T) {
	const alphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	seen := map[string]bool{}
	var prev string
	for i := 0; i < 200; i++ {
		id := NewJobID()
		if len(id) != 23 || id[0] < '0' || id[0] > '9' || strings.Trim(id[1:], alphabet) != "" {
			t.Fatalf("job ID %q is not a digit and 22 URL-safe base64 characters", id)
		}
		if seen[id[8:]] {
			t.Fatalf("random part %q came twice", id[8:])
		}
		seen[id[8:]] = true
		if prev != "" && id[1:8] < prev[1:8] {
			t.Fatalf("job ID %q sorts before the earlier %q", id, prev)
		}
		prev = id
	}
	t0 := time.UnixMilli(1_790_000_000_000)
	for _, d := range []time.Duration{time.Millisecond, time.Second, 24 * time.Hour, 80 * 365 * 24 * time.Hour} {
		if a, b := sortableTime(t0, 7), sortableTime(t0.Add(d), 7); a >= b {
			t.Errorf("sortableTime: %s later gives %q, not after %q", d, b, a)
		}
	}
	if got := sortableTime(time.UnixMilli(0), 7); got != "-------" {
		t.Errorf("sortableTime(0) = %q", got)
	}
}
