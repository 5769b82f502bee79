// Package exiftool describes media files with the exiftool program, normalised
// into the "meta" shape Blitline documented for its results.
//
// exiftool is run as a separate process (never through a shell, never linked),
// so its GPL/Artistic licence does not reach vidjob's code.
package exiftool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/runlog"
)

// DefaultTimeout bounds one exiftool run when the caller's context has no
// earlier deadline: reading a video's headers takes well under a second, so a
// run that lasts a minute is stuck on a broken or hostile file.
const DefaultTimeout = time.Minute

// maxOutput caps what is read from exiftool, so that a file crafted to carry
// huge tags cannot make the worker hold them all in memory.
const maxOutput = 8 << 20

// Exiftool runs the exiftool program. The zero value is ready to use.
type Exiftool struct {
	// Path is the exiftool executable; default "exiftool", found on $PATH.
	Path string
	// Timeout bounds one run; default DefaultTimeout.
	Timeout time.Duration
	// Logger receives exiftool's warnings; default slog.Default().
	Logger *slog.Logger
}

// commandArgs are the arguments of one exiftool run describing the file at
// the absolute path abs.
func commandArgs(abs string) []string {
	// -config "" must come first: it stops exiftool loading a user's
	// ~/.ExifTool_config, which could add or rename tags.
	args := append([]string{"-config", ""}, requestArgs()...)
	return append(args, "--", abs)
}

// requestArgs are the options of one description, the same for a one-shot
// run and for a request to a resident process.
func requestArgs() []string {
	args := append([]string{"-j"}, readOptions...)
	// Reading files over 2 GB is off by default in exiftool 12.x.
	return append(args, "-api", "LargeFileSupport=1")
}

// Meta describes the file at path as exiftool prints it (default, human-readable
// print conversion), with a video's per-track tags taken from its video track
// (see flatten), normalised as Blitline's results were: see Normalize.
//
// A file that exiftool cannot read (for example "Unknown file type") gives an
// EUNPROCESSABLE error; a missing exiftool or a failed run gives a plain error.
func (e *Exiftool) Meta(ctx context.Context, path string) (vidjob.Meta, error) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// An absolute path cannot start with '-', so exiftool can never take a file
	// name for an option; "--" ends option parsing as a second guard.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("exiftool: resolve %q: %w", path, err)
	}
	bin := e.Path
	if bin == "" {
		bin = "exiftool"
	}
	args := commandArgs(abs)
	cmd := exec.CommandContext(ctx, bin, args...)
	// File dates are printed in the process's local zone; UTC makes the meta the
	// same whatever zone the server runs in, as Blitline's (UTC) servers did.
	cmd.Env = append(os.Environ(), "TZ=UTC")
	// WaitDelay stops Wait blocking on pipes that a killed exiftool left open.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr limitedBuffer
	stdout.limit, stderr.limit = maxOutput, 64<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	start := time.Now()
	runErr := cmd.Run()
	runlog.Record(ctx, bin, args, start, runErr)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("exiftool %s: %w (after %s)", abs, ctx.Err(), time.Since(start).Round(time.Millisecond))
	}
	if stdout.truncated {
		return nil, fmt.Errorf("exiftool %s: output is larger than %d bytes", abs, maxOutput)
	}
	var notFound *exec.Error
	if errors.As(runErr, &notFound) {
		return nil, fmt.Errorf("exiftool: cannot run %q: %w", bin, runErr)
	}
	// exiftool exits 1 for files it cannot identify but still prints JSON with
	// an "Error" tag, so the output is parsed before the exit status is judged.
	grouped, parseErr := parse(stdout.Bytes())
	if parseErr != nil {
		if runErr != nil {
			return nil, fmt.Errorf("exiftool %s: %w: %s", abs, runErr, strings.TrimSpace(stderr.String()))
		}
		return nil, fmt.Errorf("exiftool %s: %w", abs, parseErr)
	}
	raw := flatten(grouped)
	if msg, ok := raw["Error"].(string); ok {
		return nil, vidjob.WrapError(vidjob.EUNPROCESSABLE,
			fmt.Errorf("exiftool %s: %s (%v)", abs, msg, runErr),
			"The file's metadata could not be read: %s.", strings.TrimSuffix(msg, "."))
	}
	if runErr != nil {
		return nil, fmt.Errorf("exiftool %s: %w: %s", abs, runErr, strings.TrimSpace(stderr.String()))
	}
	if w := strings.TrimSpace(stderr.String()); w != "" {
		e.logger().WarnContext(ctx, "exiftool warning", "file", abs, "stderr", w)
	}
	return Normalize(raw), nil
}

func (e *Exiftool) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// parse decodes exiftool's -json output for one file. Numbers stay json.Number so
// that 29.97 or 11055135 come back out exactly as exiftool printed them.
func parse(out []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var files []map[string]any
	if err := dec.Decode(&files); err != nil {
		return nil, fmt.Errorf("decode exiftool JSON: %w", err)
	}
	if len(files) != 1 {
		return nil, fmt.Errorf("exiftool described %d files, want 1", len(files))
	}
	return files[0], nil
}

// dropped are the tags that describe the worker's file system or exiftool
// itself rather than the media; Blitline's results left them out.
var dropped = []string{"SourceFile", "ExifToolVersion", "FileName", "Directory", "FilePermissions"}

// formerNames are tags that exiftool has renamed since the version Blitline
// ran, by their current name. Blitline's documented example (dated 2017, so
// from an exiftool older than 11.81) says MovieDataSize and MovieDataOffset; exiftool 11.81 renamed them
// MediaDataSize and MediaDataOffset (its changelog: "Changed names of
// QuickTime MovieData tags to MediaData"). Clients written against Blitline
// read the old names, and newer ones the current names, so meta carries both
// with the same value. Every other key of that example still has its name in
// exiftool 12.57 (TestMetaMatchesBlitlinesExample checks them all).
var formerNames = []struct{ current, former string }{
	{"MediaDataSize", "MovieDataSize"},
	{"MediaDataOffset", "MovieDataOffset"},
}

// Normalize turns one file's flat exiftool -json object into Blitline's meta
// shape: it drops SourceFile, ExifToolVersion, FileName, Directory and
// FilePermissions; rewrites dates as "2006-01-02 15:04:05 -0700" (see
// NormalizeDate); turns zero dates into false; adds the former name of each
// renamed tag beside its current one (see formerNames); and keeps everything
// else as exiftool printed it. raw is modified and returned.
func Normalize(raw map[string]any) vidjob.Meta {
	for _, k := range dropped {
		delete(raw, k)
	}
	for _, n := range formerNames {
		if v, ok := raw[n.current]; ok {
			if _, taken := raw[n.former]; !taken {
				raw[n.former] = v
			}
		}
	}
	for k, v := range raw {
		raw[k] = normalizeValue(v)
	}
	return vidjob.Meta(raw)
}

func normalizeValue(v any) any {
	switch v := v.(type) {
	case string:
		if d, ok := NormalizeDate(v); ok {
			return d
		}
		return v
	case []any:
		for i := range v {
			v[i] = normalizeValue(v[i])
		}
		return v
	case map[string]any:
		// Structured tags (exiftool -struct) hold dates too.
		for k := range v {
			v[k] = normalizeValue(v[k])
		}
		return v
	default:
		return v
	}
}

// dateRE matches exiftool's date-time print format: "YYYY:MM:DD HH:MM:SS" with
// optional fractional seconds and an optional zone ("Z", "+00:00", "-0530").
var dateRE = regexp.MustCompile(`^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$`)

// NormalizeDate rewrites an exiftool date-time into the form Blitline's results
// used (Ruby's Time#to_s): "2017:09:20 19:03:34+00:00" becomes
// "2017-09-20 19:03:34 +0000". It reports false in ok when s is not a date-time,
// and returns the boolean false as the value for exiftool's zero date
// ("0000:00:00 00:00:00"), which Blitline reported as false.
//
// Fractional seconds are dropped and a date without a zone is taken as UTC
// ("+0000"), because Blitline's results always had this one shape and clients
// parse it with a single layout.
func NormalizeDate(s string) (v any, ok bool) {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return nil, false
	}
	if m[1] == "0000" && m[2] == "00" && m[3] == "00" {
		return false, true
	}
	zone := "+0000"
	switch z := m[7]; {
	case z == "" || z == "Z":
	default:
		zone = strings.ReplaceAll(z, ":", "")
	}
	return fmt.Sprintf("%s-%s-%s %s:%s:%s %s", m[1], m[2], m[3], m[4], m[5], m[6], zone), true
}

// limitedBuffer keeps at most limit bytes and notes that more were written,
// while still accepting them so that exiftool is not killed by a broken pipe.
type limitedBuffer struct {
	bytes.Buffer
	limit     int
	truncated bool
}

// Write keeps what fits under the limit and reports all of p as written.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); room < len(p) {
		b.truncated = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
