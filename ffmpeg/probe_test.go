package ffmpeg

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
)

func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
}

func TestProbeReadsAClip(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	path := testmedia.Make(t, t.TempDir(), testmedia.Spec{Seconds: 1, Width: 320, Height: 240})
	p, err := (&Runner{}).Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.FormatName, "mp4") || p.Size <= 0 || p.BitRate <= 0 || math.Abs(p.Duration-1) > 0.1 {
		t.Errorf("format: %+v", p)
	}
	v := p.Video
	if v == nil || v.Codec != "h264" || v.Width != 320 || v.Height != 240 || v.Rotation != 0 ||
		v.FrameRateNum != 30000 || v.FrameRateDen != 1001 || math.Abs(v.FrameRate-29.97) > 0.01 ||
		v.PixFmt != "yuv420p" || v.FieldOrder != "progressive" || v.NbFrames != 30 || math.Abs(v.Duration-1) > 0.05 ||
		v.Profile == "" || v.Level == 0 {
		t.Errorf("video: %+v", v)
	}
	a := p.Audio
	if a == nil || a.Codec != "aac" || a.Profile != "LC" || a.SampleRate != 48000 || a.Channels != 2 || a.BitRate <= 0 || math.Abs(a.Duration-1) > 0.1 {
		t.Errorf("audio: %+v", a)
	}
}

func TestProbeReadsPhoneRotation(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	path := testmedia.Make(t, t.TempDir(), testmedia.Spec{Seconds: 1, Width: 320, Height: 240, Rotation: 90, NoAudio: true})
	p, err := (&Runner{}).Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Video.Rotation != 90 || p.Audio != nil {
		t.Fatalf("rotation %d, audio %+v; want 90 and none", p.Video.Rotation, p.Audio)
	}
	if w, h := p.Video.DisplaySize(); w != 240 || h != 320 {
		t.Errorf("display size %vx%v, want 240x320", w, h)
	}
}

func TestRotationConventions(t *testing.T) {
	for _, tc := range []struct {
		json string
		want int
	}{
		{`{"streams":[{"codec_type":"video","side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}]}`, 90},
		{`{"streams":[{"codec_type":"video","side_data_list":[{"side_data_type":"Display Matrix","rotation":90}]}]}`, 270},
		{`{"streams":[{"codec_type":"video","side_data_list":[{"side_data_type":"Display Matrix","rotation":180}]}]}`, 180},
		{`{"streams":[{"codec_type":"video","side_data_list":[{"side_data_type":"Display Matrix","rotation":-0.0}]}]}`, 0},
		{`{"streams":[{"codec_type":"video","tags":{"rotate":"90"}}]}`, 90},
		{`{"streams":[{"codec_type":"video","tags":{"rotate":"-90"}}]}`, 270},
		{`{"streams":[{"codec_type":"video","tags":{"rotate":"junk"}}]}`, 0},
	} {
		p, err := parseProbe([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		if p.Video.Rotation != tc.want {
			t.Errorf("%s: rotation %d, want %d", tc.json, p.Video.Rotation, tc.want)
		}
	}
}

func TestParseProbeSkipsCoverArtAndReadsMatroskaDurations(t *testing.T) {
	p, err := parseProbe([]byte(`{"format":{"format_name":"matroska,webm","duration":"N/A"},"streams":[
		{"index":0,"codec_type":"video","codec_name":"mjpeg","disposition":{"attached_pic":1}},
		{"index":1,"codec_type":"audio","codec_name":"opus","sample_rate":"48000","channels":2,"tags":{"DURATION":"00:01:02.500000000"}},
		{"index":2,"codec_type":"video","codec_name":"vp9","width":640,"height":360,"sample_aspect_ratio":"0:1","avg_frame_rate":"0/0","r_frame_rate":"25/1","tags":{"DURATION":"00:01:02.480000000"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Video == nil || p.Video.Index != 2 || p.Video.Duration != 62.48 || p.Video.FrameRate != 25 || p.Video.SARNum != 1 {
		t.Errorf("video: %+v", p.Video)
	}
	if p.Audio == nil || p.Audio.Duration != 62.5 || p.Duration != 0 {
		t.Errorf("audio %+v, container duration %v", p.Audio, p.Duration)
	}
	if got := p.BilledDuration(); got != 62480*time.Millisecond {
		t.Errorf("billed %v, want the video's 62.48s", got)
	}
}

func TestBilledDurationPrefersVideoThenAudioThenContainer(t *testing.T) {
	for _, tc := range []struct {
		p    Probe
		want time.Duration
	}{
		{Probe{Duration: 60.023, Video: &VideoStream{Duration: 60.0}, Audio: &AudioStream{Duration: 60.023}}, 60 * time.Second},
		{Probe{Duration: 60.023, Audio: &AudioStream{Duration: 59.9876}}, 59988 * time.Millisecond},
		{Probe{Duration: 12.3456}, 12346 * time.Millisecond},
		{Probe{Duration: 5, Video: &VideoStream{}}, 5 * time.Second},
		{Probe{}, 0},
	} {
		if got := tc.p.BilledDuration(); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestProbeRefusesNonMedia(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clip := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 160, Height: 120})
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	still := func(ext string) string {
		p := filepath.Join(dir, "still."+ext)
		out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", p).CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v: %s", ext, err, out)
		}
		return p
	}
	for name, path := range map[string]string{
		"text":      write("notes.mp4", []byte("this is not a video, just some text\n")),
		"empty":     write("empty.mp4", nil),
		"truncated": write("truncated.mp4", data[:len(data)/3]),
		"png":       still("png"),
		"jpeg":      still("jpg"),
	} {
		_, err := (&Runner{}).Probe(context.Background(), path)
		msg := vidjob.ErrorMessage(err)
		if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE || !strings.HasPrefix(msg, "Source is not a video file ffmpeg can read: ") {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(msg, dir) || strings.Contains(msg, "0x") {
			t.Errorf("%s: message leaks internals: %q", name, msg)
		}
		t.Logf("%-9s → %s", name, msg)
	}
}

func TestProbeMissingFileIsNotTheClientsFault(t *testing.T) {
	_, err := (&Runner{}).Probe(context.Background(), filepath.Join(t.TempDir(), "gone.mp4"))
	if err == nil || vidjob.ErrorCode(err) != vidjob.EINTERNAL {
		t.Fatalf("missing file: %v", err)
	}
}
