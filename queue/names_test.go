package queue

import (
	"testing"

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
