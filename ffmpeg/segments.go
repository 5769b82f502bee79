package ffmpeg

import (
	"path/filepath"
	"strings"

	"github.com/vidjob/vidjob"
)

// FinishedSegments returns, of names (the files now in the directory of a
// segmented output out, as BuildArgs was given it), those that ffmpeg has
// finished and will not write again, so they can be stored while ffmpeg is
// still encoding. It relies on how the muxers write files (checked against
// ffmpeg in segments_test.go):
//   - HLS (-hls_flags temp_file): a segment is written as NAME.tmp and
//     renamed when complete, so a segment under its own name is finished.
//   - DASH: the dash muxer does the same for media segments when writing to
//     files; the init segment is written under its own name, but completely
//     before the first media segment is opened, so it is finished once a
//     media segment exists.
//
// The playlist or manifest is never returned (the dash muxer rewrites it
// after every segment, the hls muxer writes it at the end), nor is anything
// else; a non-segmented preset returns nothing.
func FinishedSegments(p *vidjob.Preset, out string, names []string) []string {
	base := filepath.Base(out)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	var done []string
	switch p.Packaging {
	case vidjob.PackagingHLS:
		for _, n := range names {
			if numbered(n, stem, ".ts") {
				done = append(done, n)
			}
		}
	case vidjob.PackagingDASH:
		init := stem + "-init.m4s"
		hasInit := false
		for _, n := range names {
			switch {
			case n == init:
				hasInit = true
			case numbered(n, stem+"-", ".m4s"):
				done = append(done, n)
			}
		}
		if hasInit && len(done) > 0 {
			done = append(done, init)
		}
	}
	return done
}

// numbered reports whether name is prefix, at least one digit, then suffix:
// the names BuildArgs gives segments.
func numbered(name, prefix, suffix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	digits, ok := strings.CutSuffix(rest, suffix)
	if !ok || digits == "" {
		return false
	}
	return strings.Trim(digits, "0123456789") == ""
}
