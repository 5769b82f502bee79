package exiftool

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
)

// blitlineExample is the meta of Blitline's documented example of a finished
// transcode: a 35 s 1280x720 H.264/AAC MP4 written by ffmpeg (Lavf57).
func blitlineExample(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "blitline-video-meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// scaledUnits are the unit families in which exiftool picks the unit by the
// value's size ("11 MB" or "1633 kB", "2.51 Mbps" or "366 kbps"), so a value of
// another size has another unit and, to keep three significant digits, may or
// may not have a fraction.
var scaledUnits = [][]string{
	{"bytes", "kB", "MB", "GB", "TB"},
	{"bps", "kbps", "Mbps", "Gbps"},
}

// valueToken splits a printed value into numbers, spaces and the rest.
var valueToken = regexp.MustCompile(`\d+(?:\.\d+)?|\s+|[A-Za-z]+|.`)

// shapeOf derives, from one value of Blitline's example, a check that a value
// has the same JSON type and printed form:
//   - a date string or false: false, or "YYYY-MM-DD HH:MM:SS +0000";
//   - a number: a number, and a whole number if the example's is whole;
//   - a list: a list of values of the example's members' JSON type;
//   - any other string: the same text with each number replaced by any number
//     with as many decimals (any decimals before a scaled unit), any run of
//     spaces by any run of spaces, and a scaled unit by any unit of its family.
func shapeOf(example any) (describe string, match func(any) bool) {
	switch ex := example.(type) {
	case bool:
		return "false or a date", dateOrFalse
	case json.Number:
		if _, err := ex.Int64(); err == nil {
			return "a whole number", func(v any) bool {
				n, ok := v.(json.Number)
				_, err := n.Int64()
				return ok && err == nil
			}
		}
		return "a number", func(v any) bool { _, ok := v.(json.Number); return ok }
	case []any:
		// A list's length and members vary with the file (brands, for
		// example); only the members' JSON type is the example's.
		return "a list of the example's member type", func(v any) bool {
			l, ok := v.([]any)
			for i, e := range l {
				ok = ok && (len(ex) == 0 || sameJSONType(e, ex[i%len(ex)]))
			}
			return ok
		}
	case string:
		if blitlineDate.MatchString(ex) {
			return "false or a date", dateOrFalse
		}
		re := regexp.MustCompile("^" + stringShape(ex) + "$")
		return "a string matching " + re.String(), func(v any) bool {
			s, ok := v.(string)
			return ok && re.MatchString(s)
		}
	}
	panic("example value of unexpected type")
}

func sameJSONType(a, b any) bool {
	switch a.(type) {
	case string:
		_, ok := b.(string)
		return ok
	case json.Number:
		_, ok := b.(json.Number)
		return ok
	case bool:
		_, ok := b.(bool)
		return ok
	}
	return false
}

func dateOrFalse(v any) bool {
	switch v := v.(type) {
	case bool:
		return !v
	case string:
		return blitlineDate.MatchString(v)
	}
	return false
}

func stringShape(ex string) string {
	toks := valueToken.FindAllString(ex, -1)
	var b strings.Builder
	for i, tok := range toks {
		switch {
		case tok[0] >= '0' && tok[0] <= '9':
			_, frac, hasFrac := strings.Cut(tok, ".")
			switch {
			case i+2 < len(toks) && unitFamily(toks[i+2]) != nil:
				b.WriteString(`\d+(?:\.\d+)?`)
			case hasFrac:
				b.WriteString(`\d+\.\d{` + strconv.Itoa(len(frac)) + `}`)
			default:
				b.WriteString(`\d+`)
			}
		case strings.TrimSpace(tok) == "":
			b.WriteString(`\s+`)
		case unitFamily(tok) != nil:
			b.WriteString("(?:" + strings.Join(unitFamily(tok), "|") + ")")
		default:
			b.WriteString(regexp.QuoteMeta(tok))
		}
	}
	return b.String()
}

func unitFamily(tok string) []string {
	for _, f := range scaledUnits {
		for _, u := range f {
			if u == tok {
				return f
			}
		}
	}
	return nil
}

func TestShapeOf(t *testing.T) {
	tests := []struct {
		example any
		good    []any
		bad     []any
	}{
		{"11 MB", []any{"1633 kB", "11 MB", "2 GB"}, []any{"11MB", "11 Mbps", "MB", json.Number("11")}},
		{"2.51 Mbps", []any{"366 kbps", "2.51 Mbps", "64.7 kbps"}, []any{"2.51 MB", "fast"}},
		{"0:00:35", []any{"0:00:35", "1:02:03"}, []any{"35.00 s", "0:00"}},
		{"100.00%", []any{"0.00%", "100.00%"}, []any{"100%", "0.0%", "100.00"}},
		{"VideoHandler", []any{"VideoHandler"}, []any{"SoundHandler", "DataHandler"}},
		{"MP4  Base Media v1 [IS0 14496-12:2003]", []any{"MP4 Base Media v1 [IS0 14496-12:2003]"}, []any{"MP4 Base Media"}},
		{"2017-09-20 19:03:34 +0000", []any{false, "2026-12-03 17:43:12 +0000"}, []any{true, "2026:12:03 17:43:12"}},
		{false, []any{false, "2026-12-03 17:43:12 +0000"}, []any{true, "0"}},
		{json.Number("30000"), []any{json.Number("44100")}, []any{json.Number("29.97"), "30000"}},
		{json.Number("29.97"), []any{json.Number("25"), json.Number("29.97")}, []any{"29.97"}},
		{[]any{"isom", "iso2"}, []any{[]any{"isom", "iso2", "avc1"}}, []any{"isom", []any{json.Number("1")}}},
	}
	for _, tt := range tests {
		desc, match := shapeOf(tt.example)
		for _, v := range tt.good {
			if !match(v) {
				t.Errorf("example %#v (%s) rejects %#v", tt.example, desc, v)
			}
		}
		for _, v := range tt.bad {
			if match(v) {
				t.Errorf("example %#v (%s) accepts %#v", tt.example, desc, v)
			}
		}
	}
}

// TestMetaMatchesBlitlinesExample describes an ffmpeg MP4 like the one of
// Blitline's documented example and checks that every key of that example is
// there, under the example's name, with a value of the example's type and
// printed form, and that the per-track keys describe the video track.
func TestMetaMatchesBlitlinesExample(t *testing.T) {
	needExiftool(t)
	path := testmedia.Make(t, t.TempDir(), testmedia.Spec{Seconds: 35})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	meta, err := (&Exiftool{}).Meta(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for k, ex := range blitlineExample(t) {
		got, ok := meta[k]
		if !ok {
			t.Errorf("%s missing (example: %#v)", k, ex)
			continue
		}
		if desc, match := shapeOf(ex); !match(got) {
			t.Errorf("%s = %#v, want %s (example: %#v)", k, got, desc, ex)
		}
	}
	// The video track's own values; the audio track (48 kHz, stored second)
	// says SoundHandler, 48000, 100.00% and 2. ffmpeg writes a track header
	// volume of 0 for every track that is not sound, so exiftool prints
	// "0.00%" for the video track, where Blitline's example, from an older
	// exiftool that kept some tags from each track, shows the audio's 100.00%.
	for k, want := range map[string]any{
		"HandlerDescription": "VideoHandler",
		"MediaTimeScale":     json.Number("30000"),
		"TrackVolume":        "0.00%",
		"TrackID":            json.Number("1"),
		"HandlerType":        "Metadata", // the movie's own handler, as in the example
		"Duration":           "0:00:35",
	} {
		if meta[k] != want {
			t.Errorf("%s = %#v, want %#v", k, meta[k], want)
		}
	}
	for _, n := range formerNames {
		if meta[n.current] == nil || meta[n.former] != meta[n.current] {
			t.Errorf("%s = %#v and %s = %#v, want the same number under both names",
				n.current, meta[n.current], n.former, meta[n.former])
		}
	}
}

// TestMetaTakesPerTrackKeysFromTheVideoTrack checks, for each container that
// has tracks, that the keys found once per track describe the video track
// whatever order the tracks are stored in, through both the one-shot and the
// resident exiftool.
func TestMetaTakesPerTrackKeysFromTheVideoTrack(t *testing.T) {
	needExiftool(t)
	dir := t.TempDir()
	spec := testmedia.Spec{Seconds: 1, Width: 320, Height: 240}
	mp4 := testmedia.Make(t, dir, spec)
	spec.Container = "mov"
	mov := testmedia.Make(t, dir, spec)
	spec.Container = "mkv"
	mkv := testmedia.Make(t, dir, spec)
	audioFirst := remux(t, mp4, filepath.Join(dir, "audio-first.mp4"), "-map", "0:a", "-map", "0:v")
	tests := []struct {
		name string
		path string
		want map[string]any
	}{
		{"mp4", mp4, map[string]any{
			"HandlerDescription": "VideoHandler", "MediaTimeScale": json.Number("30000"), "TrackID": json.Number("1"),
			"TrackVolume": "0.00%", "HandlerType": "Metadata", "AudioSampleRate": json.Number("48000"),
		}},
		{"mp4 with the audio track first", audioFirst, map[string]any{
			"HandlerDescription": "VideoHandler", "MediaTimeScale": json.Number("30000"), "TrackID": json.Number("2"),
			"TrackVolume": "0.00%", "HandlerType": "Metadata", "AudioSampleRate": json.Number("48000"),
		}},
		// A MOV track has a media and a data handler, and no movie-level one.
		{"mov", mov, map[string]any{
			"HandlerDescription": "VideoHandler", "HandlerType": "Video Track", "HandlerClass": "Media Handler",
			"MediaTimeScale": json.Number("30000"), "TrackID": json.Number("1"), "TrackVolume": "0.00%",
		}},
		{"mkv", mkv, map[string]any{
			"TrackType": "Video", "TrackNumber": json.Number("1"), "CodecID": "V_MPEG4/ISO/AVC",
			"AudioSampleRate": json.Number("48000"),
		}},
	}
	resident := &Resident{Size: 1}
	defer resident.Close()
	for _, tt := range tests {
		for _, reader := range []struct {
			name string
			meta func(context.Context, string) (vidjob.Meta, error)
		}{{"one-shot", (&Exiftool{}).Meta}, {"resident", resident.Meta}} {
			t.Run(tt.name+"/"+reader.name, func(t *testing.T) {
				meta, err := reader.meta(context.Background(), tt.path)
				if err != nil {
					t.Fatal(err)
				}
				for k, want := range tt.want {
					if meta[k] != want {
						t.Errorf("%s = %#v, want %#v", k, meta[k], want)
					}
				}
			})
		}
	}
}

// TestMetaOfAudioOnlyKeepsTheAudioTrack checks that a file without a video
// track describes its sound track, as exiftool does.
func TestMetaOfAudioOnlyKeepsTheAudioTrack(t *testing.T) {
	needExiftool(t)
	dir := t.TempDir()
	m4a := remux(t, testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 160, Height: 120}),
		filepath.Join(dir, "sound.m4a"), "-vn")
	meta, err := (&Exiftool{}).Meta(context.Background(), m4a)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"FileType": "M4A", "HandlerDescription": "SoundHandler", "MediaTimeScale": json.Number("48000"),
		"TrackVolume": "100.00%", "TrackID": json.Number("1"), "AudioChannels": json.Number("2"),
	} {
		if meta[k] != want {
			t.Errorf("%s = %#v, want %#v", k, meta[k], want)
		}
	}
	if _, ok := meta["ImageWidth"]; ok {
		t.Errorf("an audio file's meta has ImageWidth = %v", meta["ImageWidth"])
	}
}

// TestMetaKeepsExiftoolsChoiceOutsideTracks checks that reading with
// duplicates and groups changes nothing but the per-track keys and the added
// former names: every other key has the value exiftool's plain -j run gives.
func TestMetaKeepsExiftoolsChoiceOutsideTracks(t *testing.T) {
	needExiftool(t)
	path := testmedia.Make(t, t.TempDir(), testmedia.Spec{Seconds: 1, Width: 320, Height: 240, Container: "mov"})
	abs, _ := filepath.Abs(path)
	cmd := exec.Command("exiftool", "-config", "", "-j", "--", abs)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	plainRaw, err := parse(out)
	if err != nil {
		t.Fatal(err)
	}
	plain := Normalize(plainRaw)
	meta, err := (&Exiftool{}).Meta(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	// The keys a MOV's tracks each have, which may differ from the plain run.
	perTrack := map[string]bool{}
	for _, k := range []string{"HandlerClass", "HandlerType", "HandlerDescription", "MediaHeaderVersion",
		"MediaCreateDate", "MediaModifyDate", "MediaTimeScale", "MediaDuration", "MediaLanguageCode",
		"MatrixStructure", "TrackHeaderVersion", "TrackCreateDate", "TrackModifyDate", "TrackID",
		"TrackDuration", "TrackLayer", "TrackVolume", "AudioChannels"} {
		perTrack[k] = true
	}
	changed := 0
	for k, v := range plain {
		if strings.HasPrefix(k, "File") && strings.HasSuffix(k, "Date") {
			continue // reading the file may move its access time
		}
		if b1, _ := json.Marshal(v); string(b1) != string(mustJSON(t, meta[k])) {
			if !perTrack[k] {
				t.Errorf("%s = %s, the plain run says %s", k, mustJSON(t, meta[k]), b1)
			}
			changed++
		}
	}
	if changed == 0 {
		t.Error("no per-track key differs from the plain run, whose MOV handler keys are the audio track's")
	}
	for k := range meta {
		if _, ok := plain[k]; !ok && k != "MovieDataSize" && k != "MovieDataOffset" {
			t.Errorf("meta has %s, which the plain run does not", k)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// remux copies src's streams into dst with ffmpeg, with extra options (stream
// selection and order) before the output.
func remux(t *testing.T, src, dst string, opts ...string) string {
	t.Helper()
	args := append([]string{"-hide_banner", "-loglevel", "error", "-y", "-i", src}, opts...)
	args = append(args, "-c", "copy", dst)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v: %s", args, err, out)
	}
	return dst
}

func TestFlatten(t *testing.T) {
	tests := []struct {
		name string
		in   string // exiftool -j -a -G1:4 output for one file
		want string
	}{
		{
			name: "video track's copy replaces the one taken from the audio track",
			in: `{"SourceFile":"/x.mp4","QuickTime:HandlerType":"Metadata","Track1:TrackID":1,
				"Track1:Copy1:HandlerType":"Video Track","Track1:Copy1:HandlerDescription":"VideoHandler",
				"Track1:Copy1:MediaTimeScale":30000,"Track2:Copy1:TrackID":2,"Track2:Copy2:HandlerType":"Audio Track",
				"Track2:HandlerDescription":"SoundHandler","Track2:MediaTimeScale":48000,"Track2:Balance":0}`,
			want: `{"SourceFile":"/x.mp4","HandlerType":"Metadata","TrackID":1,"HandlerDescription":"VideoHandler",
				"MediaTimeScale":30000,"Balance":0}`,
		},
		{
			name: "the handler that marks the track wins over its data handler",
			in: `{"Track1:Copy2:HandlerType":"URL","Track1:Copy2:HandlerDescription":"DataHandler",
				"Track1:Copy1:HandlerType":"Video Track","Track1:Copy1:HandlerDescription":"VideoHandler",
				"Track2:HandlerType":"URL","Track2:HandlerDescription":"DataHandler",
				"Track2:Copy3:HandlerType":"Audio Track","Track2:Copy3:HandlerDescription":"SoundHandler"}`,
			want: `{"HandlerType":"Video Track","HandlerDescription":"VideoHandler"}`,
		},
		{
			name: "the lowest-numbered video track",
			in: `{"Track3:TrackType":"Video","Track3:CodecID":"V_VP9","Track2:Copy1:TrackType":"Video",
				"Track2:Copy1:CodecID":"V_MPEG4/ISO/AVC","Track1:Copy2:TrackType":"Audio","Track1:Copy2:CodecID":"A_AAC"}`,
			want: `{"TrackType":"Video","CodecID":"V_MPEG4/ISO/AVC"}`,
		},
		{
			name: "no video track: exiftool's choice",
			in:   `{"Track1:Copy1:HandlerType":"Audio Track","Track1:HandlerDescription":"SoundHandler","QuickTime:HandlerType":"Metadata"}`,
			want: `{"HandlerType":"Metadata","HandlerDescription":"SoundHandler"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grouped, err := parse([]byte("[" + tt.in + "]"))
			if err != nil {
				t.Fatal(err)
			}
			got := mustJSON(t, flatten(grouped))
			if !jsonEqual(t, got, []byte(tt.want)) {
				t.Errorf("got  %s\nwant %s", got, compact(t, tt.want))
			}
		})
	}
}
