package exiftool

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   string // one file's exiftool -j object
		want string // the normalised meta as JSON
	}{
		{
			name: "file system keys dropped",
			in: `{"SourceFile":"/tmp/x/a.mp4","ExifToolVersion":12.57,"FileName":"a.mp4","Directory":"/tmp/x",
				"FilePermissions":"-rw-r--r--","FileType":"MP4"}`,
			want: `{"FileType":"MP4"}`,
		},
		{
			name: "date with zone",
			in:   `{"FileModifyDate":"2017:09:20 19:03:34+00:00"}`,
			want: `{"FileModifyDate":"2017-09-20 19:03:34 +0000"}`,
		},
		{
			name: "date with negative zone",
			in:   `{"FileModifyDate":"2017:09:20 19:03:34-05:30"}`,
			want: `{"FileModifyDate":"2017-09-20 19:03:34 -0530"}`,
		},
		{
			name: "date with Z",
			in:   `{"DateCreated":"2017:09:20 19:03:34Z"}`,
			want: `{"DateCreated":"2017-09-20 19:03:34 +0000"}`,
		},
		{
			name: "date without zone is taken as UTC",
			in:   `{"CreateDate":"2017:09:20 19:03:34"}`,
			want: `{"CreateDate":"2017-09-20 19:03:34 +0000"}`,
		},
		{
			name: "fractional seconds dropped",
			in:   `{"SubSecDateTimeOriginal":"2017:09:20 19:03:34.123+02:00","X":"2017:09:20 19:03:34.5"}`,
			want: `{"SubSecDateTimeOriginal":"2017-09-20 19:03:34 +0200","X":"2017-09-20 19:03:34 +0000"}`,
		},
		{
			name: "zero date is false",
			in:   `{"CreateDate":"0000:00:00 00:00:00","TrackCreateDate":"0000:00:00 00:00:00+00:00"}`,
			want: `{"CreateDate":false,"TrackCreateDate":false}`,
		},
		{
			name: "non-dates unchanged",
			in: `{"GPSDateStamp":"2017:09:20","MinorVersion":"0.2.0","Duration":"0:00:35","ShortDuration":"3.00 s",
				"Title":"2017:09:20 19:03:34 and more","OpColor":"0 0 0","ImageSize":"1280x720"}`,
			want: `{"GPSDateStamp":"2017:09:20","MinorVersion":"0.2.0","Duration":"0:00:35","ShortDuration":"3.00 s",
				"Title":"2017:09:20 19:03:34 and more","OpColor":"0 0 0","ImageSize":"1280x720"}`,
		},
		{
			name: "numbers stay exact",
			in: `{"VideoFrameRate":29.97,"MediaDataSize":11055135,"Megapixels":0.922,"Big":12345678901234567890,
				"Rotation":0,"PreferredRate":1}`,
			want: `{"VideoFrameRate":29.97,"MediaDataSize":11055135,"MovieDataSize":11055135,"Megapixels":0.922,
				"Big":12345678901234567890,"Rotation":0,"PreferredRate":1}`,
		},
		{
			name: "renamed tags under both names",
			in:   `{"MediaDataSize":11055135,"MediaDataOffset":31086}`,
			want: `{"MediaDataSize":11055135,"MovieDataSize":11055135,"MediaDataOffset":31086,"MovieDataOffset":31086}`,
		},
		{
			name: "a former name exiftool printed itself is kept",
			in:   `{"MediaDataSize":1,"MovieDataSize":2}`,
			want: `{"MediaDataSize":1,"MovieDataSize":2}`,
		},
		{
			name: "lists and structures",
			in:   `{"CompatibleBrands":["isom","iso2"],"Dates":["2017:09:20 19:03:34","0000:00:00 00:00:00"],"S":{"When":"2020:01:02 03:04:05+01:00"}}`,
			want: `{"CompatibleBrands":["isom","iso2"],"Dates":["2017-09-20 19:03:34 +0000",false],"S":{"When":"2020-01-02 03:04:05 +0100"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := parse([]byte("[" + tt.in + "]"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(Normalize(raw))
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(tt.want)) {
				t.Errorf("got  %s\nwant %s", got, compact(t, tt.want))
			}
		})
	}
}

// jsonEqual compares two JSON documents by value, keeping numbers as their text
// so that a mangled 29.97 or 11055135 would show.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	for _, p := range []struct {
		in  []byte
		out *any
	}{{a, &va}, {b, &vb}} {
		dec := json.NewDecoder(bytes.NewReader(p.in))
		dec.UseNumber()
		if err := dec.Decode(p.out); err != nil {
			t.Fatalf("decode %s: %v", p.in, err)
		}
	}
	return reflect.DeepEqual(va, vb)
}

func compact(t *testing.T, s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestParseRejectsBadOutput(t *testing.T) {
	for _, in := range []string{``, `{}`, `[]`, `[{},{}]`, `[{"a":1}`} {
		if _, err := parse([]byte(in)); err == nil {
			t.Errorf("parse(%q): no error", in)
		}
	}
}

func needExiftool(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("exiftool"); err != nil {
		t.Skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")
	}
}

var blitlineDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0000$`)

func TestMetaOfA35SecondMP4(t *testing.T) {
	needExiftool(t)
	dir := t.TempDir()
	path := testmedia.Make(t, dir, testmedia.Spec{Seconds: 35})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	meta, err := (&Exiftool{}).Meta(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"ImageWidth":  json.Number("1280"),
		"ImageHeight": json.Number("720"),
		"Duration":    "0:00:35",
		"FileType":    "MP4",
		"MIMEType":    "video/mp4",
		"ImageSize":   "1280x720",
	}
	for k, v := range want {
		if meta[k] != v {
			t.Errorf("%s = %#v, want %#v", k, meta[k], v)
		}
	}
	if fr, ok := meta["VideoFrameRate"].(json.Number); !ok || fr.String() != "29.97" {
		t.Errorf("VideoFrameRate = %#v, want json.Number 29.97", meta["VideoFrameRate"])
	}
	for _, k := range dropped {
		if _, ok := meta[k]; ok {
			t.Errorf("meta has %s = %v; it should be dropped", k, meta[k])
		}
	}
	dates := 0
	for k, v := range meta {
		if !regexp.MustCompile(`Date$`).MatchString(k) {
			continue
		}
		dates++
		switch v := v.(type) {
		case bool:
			if v {
				t.Errorf("%s = true, want a date or false", k)
			}
		case string:
			if !blitlineDate.MatchString(v) {
				t.Errorf("%s = %q, want YYYY-MM-DD HH:MM:SS +0000", k, v)
			}
		default:
			t.Errorf("%s = %#v (%T), want a date string or false", k, v, v)
		}
	}
	if dates < 4 {
		t.Errorf("found %d date tags, want FileModifyDate, CreateDate and others", dates)
	}
	if meta["CreateDate"] != false {
		t.Errorf("CreateDate = %#v, want false (ffmpeg writes a zero date)", meta["CreateDate"])
	}
	// The meta goes out as JSON; numbers must survive the trip unchanged.
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"ImageWidth":1280`)) || !bytes.Contains(b, []byte(`"VideoFrameRate":29.97`)) {
		t.Errorf("marshalled meta lost its numbers: %s", b)
	}
}

func TestMetaKeepsShortDurationsInSeconds(t *testing.T) {
	needExiftool(t)
	path := testmedia.Make(t, t.TempDir(), testmedia.Spec{Seconds: 3, Width: 320, Height: 240})
	meta, err := (&Exiftool{}).Meta(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := meta["Duration"].(string); !regexp.MustCompile(`^\d+\.\d\d s$`).MatchString(d) {
		t.Errorf("Duration = %#v, want exiftool's \"x.xx s\" form", meta["Duration"])
	}
	if meta["ImageWidth"] != json.Number("320") {
		t.Errorf("ImageWidth = %#v, want 320", meta["ImageWidth"])
	}
}

func TestMetaOfAFileNamedLikeAnOption(t *testing.T) {
	needExiftool(t)
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 160, Height: 120})
	// A name such as "-ver" would make exiftool print its version instead.
	for _, name := range []string{"-ver", "-j", "--", "-@"} {
		dst := filepath.Join(dir, name)
		if err := os.Link(src, dst); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			t.Chdir(dir)
			meta, err := (&Exiftool{}).Meta(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			if meta["FileType"] != "MP4" {
				t.Errorf("FileType = %#v, want MP4", meta["FileType"])
			}
		})
	}
}

func TestMetaOfAnUnreadableFile(t *testing.T) {
	needExiftool(t)
	path := filepath.Join(t.TempDir(), "noise.bin")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0x5a, 0x17, 0xc3}, 400), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := (&Exiftool{}).Meta(context.Background(), path)
	if code := vidjob.ErrorCode(err); code != vidjob.EUNPROCESSABLE {
		t.Fatalf("err = %v (code %q), want %s", err, code, vidjob.EUNPROCESSABLE)
	}
	if msg := vidjob.ErrorMessage(err); msg != "The file's metadata could not be read: Unknown file type." {
		t.Errorf("message = %q", msg)
	}
}

func TestMetaOfAMissingFile(t *testing.T) {
	needExiftool(t)
	_, err := (&Exiftool{}).Meta(context.Background(), filepath.Join(t.TempDir(), "nope.mp4"))
	if err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestMetaWithoutExiftool(t *testing.T) {
	_, err := (&Exiftool{Path: filepath.Join(t.TempDir(), "no-such-exiftool")}).Meta(context.Background(), "x.mp4")
	if err == nil {
		t.Fatal("no error when exiftool is missing")
	}
}

func TestMetaHonoursTimeout(t *testing.T) {
	// A fake exiftool that hangs stands in for one stuck on a hostile file.
	dir := t.TempDir()
	fake := filepath.Join(dir, "exiftool")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := (&Exiftool{Path: fake, Timeout: 200 * time.Millisecond}).Meta(context.Background(), "x.mp4")
	if err == nil {
		t.Fatal("no error from a hung exiftool")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Meta took %s despite a 200ms timeout", d)
	}
}
