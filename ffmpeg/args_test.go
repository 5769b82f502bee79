package ffmpeg

import (
	"slices"
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/preset"
)

func lookup(t testing.TB, name string) *vidjob.Preset {
	t.Helper()
	c, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hd is the probe of a 1280x720 29.97 fps clip with stereo audio.
func hd() *Probe {
	return &Probe{
		FormatName: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 2,
		Video: &VideoStream{Index: 0, Codec: "h264", Width: 1280, Height: 720, SARNum: 1, SARDen: 1,
			FrameRate: 29.97, FrameRateNum: 30000, FrameRateDen: 1001, FieldOrder: "progressive", Duration: 2},
		Audio: &AudioStream{Index: 1, Codec: "aac", SampleRate: 48000, Channels: 2, Duration: 2},
	}
}

// flag returns the value after the first occurrence of name in args.
func flag(args []string, name string) string {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func TestBuildArgsGeneric720p(t *testing.T) {
	args, err := BuildArgs(lookup(t, "System preset generic 720p"), hd(), "/in/src.mov", "/out/o.mp4", ArgOptions{X264Preset: "veryfast", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(strings.Join(args, " "))
	i := slices.Index(args, "-i")
	if w := slices.Index(args, "-protocol_whitelist"); w < 0 || w > i || args[w+1] != "file" {
		t.Errorf("-protocol_whitelist file must come before -i: %q", args)
	}
	for name, want := range map[string]string{
		"-i": "file:/in/src.mov", "-c:v": "libx264", "-preset": "veryfast", "-profile:v": "baseline",
		"-level:v": "3.1", "-refs": "3", "-g": "90", "-b:v": "2400k", "-maxrate": "3600k", "-bufsize": "4800k",
		"-c:a": "aac", "-b:a": "160k", "-ar": "44100", "-ac": "2", "-movflags": "+faststart", "-f": "mp4",
		"-threads": "2", "-map_metadata": "-1",
	} {
		if got := flag(args, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if vf := flag(args, "-vf"); vf != "fps=30000/1001,scale=1280:720,setsar=1,format=yuv420p" {
		t.Errorf("-vf = %q", vf)
	}
	if slices.Contains(args, "-sc_threshold") {
		t.Error("Generic 720p has no fixed GOP, yet scene cuts are off")
	}
	if args[len(args)-1] != "file:/out/o.mp4" || !slices.Contains(args, "-y") {
		t.Errorf("output/overwrite flags wrong: %q", args)
	}
	if got := mapped(args); !slices.Equal(got, []string{"0:0", "0:1"}) {
		t.Errorf("maps = %q", got)
	}
}

func mapped(args []string) []string {
	var m []string
	for i, a := range args {
		if a == "-map" && i+1 < len(args) {
			m = append(m, args[i+1])
		}
	}
	return m
}

func TestBuildArgs1080iIsInterlacedPaddedAndFixedGOP(t *testing.T) {
	args, err := BuildArgs(lookup(t, "1351620000001-100180"), hd(), "in", "out", ArgOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if vf := flag(args, "-vf"); vf != "fps=30000/1001,scale=1280:720,setsar=1,pad=1920:1080:320:180:black,format=yuv420p,setfield=tff" {
		t.Errorf("-vf = %q", vf)
	}
	for name, want := range map[string]string{
		"-flags": "+ildct+ilme", "-g": "15", "-keyint_min": "15", "-sc_threshold": "0", "-preset": "medium",
		"-b:v": "10000k", "-maxrate": "10000k",
		// ET's 100000 kbit exceeds level 4.1 (main) MaxCPB; clamped.
		"-bufsize": "62500k", "-ar": "48000",
	} {
		if got := flag(args, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestBuildArgsSourceWithoutAudioGetsNoAudio(t *testing.T) {
	src := hd()
	src.Audio = nil
	args, err := BuildArgs(lookup(t, "1351620000001-000010"), src, "in", "out", ArgOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "-an") || slices.Contains(args, "-c:a") || len(mapped(args)) != 1 {
		t.Errorf("args for a silent source: %q", args)
	}
}

func TestBuildArgsAudioOnlyPreset(t *testing.T) {
	args, err := BuildArgs(lookup(t, "System preset: Audio AAC - 64k"), hd(), "in", "out", ArgOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "-vn") || flag(args, "-ac") != "1" || flag(args, "-b:a") != "64k" || slices.Contains(args, "-c:v") {
		t.Errorf("args: %q", args)
	}
	src := hd()
	src.Audio = nil
	_, err = BuildArgs(lookup(t, "System preset: Audio AAC - 64k"), src, "in", "out", ArgOptions{})
	if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE || !strings.HasPrefix(vidjob.ErrorMessage(err), "Source has no audio stream") {
		t.Errorf("audio-only preset on a silent source: %v", err)
	}
}

func TestBuildArgsRefusesWhatItCannotRun(t *testing.T) {
	src := hd()
	mkv := lookup(t, "System preset: HLS 2M")
	mkv.Container = "mkv"
	_, err := BuildArgs(mkv, src, "in", "out", ArgOptions{})
	if vidjob.ErrorMessage(err) != "Preset 1351620000001-200010 (System preset: HLS 2M) uses container mkv, which this vidjob does not support" {
		t.Errorf("mkv preset: %v", err)
	}
	_, err = BuildArgs(lookup(t, "System preset: HLS 2M"), src, "in", "/out/bad%d.m3u8", ArgOptions{})
	if err == nil || !strings.Contains(err.Error(), "segment names allow only") {
		t.Errorf("HLS output named with a pattern: %v", err)
	}
	src.Video = nil
	_, err = BuildArgs(lookup(t, "1351620000001-000010"), src, "in", "out", ArgOptions{})
	if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE || !strings.HasPrefix(vidjob.ErrorMessage(err), "Source has no video stream") {
		t.Errorf("video preset on an audio-only source: %v", err)
	}
	src = hd()
	src.FormatName = "hls"
	if _, err = BuildArgs(lookup(t, "1351620000001-000010"), src, "in", "out", ArgOptions{}); vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE {
		t.Errorf("playlist source: %v", err)
	}
}

func TestBuildArgsFrameRate(t *testing.T) {
	auto := lookup(t, "1351620000001-000010")
	auto.Video.FrameRate = "auto"
	for _, tc := range []struct {
		rate, max string
		srcN      int
		srcD      int
		want      string
	}{
		{"29.97", "", 25, 1, "fps=30000/1001"},
		{"30", "", 30000, 1001, "fps=30/1"},
		{"15", "", 60, 1, "fps=15/1"},
		{"auto", "", 60, 1, ""},
		{"auto", "30", 60, 1, "fps=30/1"},
		{"auto", "30", 24000, 1001, ""},
	} {
		p := lookup(t, "1351620000001-000010")
		p.Video.FrameRate, p.Video.MaxFrameRate = vidjob.PresetValue(tc.rate), vidjob.PresetValue(tc.max)
		src := hd()
		src.Video.FrameRateNum, src.Video.FrameRateDen = tc.srcN, tc.srcD
		args, err := BuildArgs(p, src, "in", "out", ArgOptions{})
		if err != nil {
			t.Fatal(err)
		}
		vf := flag(args, "-vf")
		got, _, _ := strings.Cut(vf, ",")
		if !strings.HasPrefix(got, "fps=") {
			got = ""
		}
		if got != tc.want {
			t.Errorf("rate %s max %q from %d/%d: fps = %q, want %q", tc.rate, tc.max, tc.srcN, tc.srcD, got, tc.want)
		}
	}
}

func TestBuildArgsDeinterlacesForProgressivePresets(t *testing.T) {
	src := hd()
	src.Video.FieldOrder = "tt"
	args, err := BuildArgs(lookup(t, "1351620000001-000010"), src, "in", "out", ArgOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if vf := flag(args, "-vf"); !strings.HasPrefix(vf, "yadif=") {
		t.Errorf("-vf = %q, want a deinterlacer first", vf)
	}
}

func TestFitGeometry(t *testing.T) {
	for _, tc := range []struct {
		name          string
		w, h          float64
		maxW, maxH    int
		sizing, pad   string
		interlaced    bool
		outW, outH    int
		scaleW, scale int
	}{
		{"same size", 1280, 720, 1280, 720, "ShrinkToFit", "NoPad", false, 1280, 720, 1280, 720},
		{"shrink 1080p into 720p", 1920, 1080, 1280, 720, "ShrinkToFit", "NoPad", false, 1280, 720, 1280, 720},
		{"never upscale", 320, 240, 1920, 1080, "ShrinkToFit", "NoPad", false, 320, 240, 320, 240},
		{"4:3 into 16:9 box", 1440, 1080, 854, 480, "ShrinkToFit", "NoPad", false, 640, 480, 640, 480},
		{"portrait", 720, 1280, 1280, 720, "ShrinkToFit", "NoPad", false, 406, 720, 406, 720},
		{"odd source stays inside", 321, 241, 640, 480, "ShrinkToFit", "NoPad", false, 320, 240, 320, 240},
		{"anamorphic DV", 853.333, 480, 640, 360, "ShrinkToFit", "NoPad", false, 640, 360, 640, 360},
		{"1080i pad small", 1280, 720, 1920, 1080, "ShrinkToFill", "Pad", true, 1920, 1080, 1280, 720},
		{"1080i 4K", 3840, 2160, 1920, 1080, "ShrinkToFill", "Pad", true, 1920, 1080, 1920, 1080},
		{"1080i portrait crops then pads", 720, 1280, 1920, 1080, "ShrinkToFill", "Pad", true, 1920, 1080, 720, 1280},
		{"1080i wide crops", 2560, 1080, 1920, 1080, "ShrinkToFill", "Pad", true, 1920, 1080, 2560, 1080},
	} {
		g, err := fitGeometry(tc.w, tc.h, tc.maxW, tc.maxH, tc.sizing, tc.pad, tc.interlaced)
		if err != nil {
			t.Fatal(err)
		}
		ow, oh := g.outSize()
		if ow != tc.outW || oh != tc.outH || g.scaleW != tc.scaleW || g.scaleH != tc.scale {
			t.Errorf("%s: %+v (out %dx%d), want out %dx%d scaled %dx%d", tc.name, g, ow, oh, tc.outW, tc.outH, tc.scaleW, tc.scale)
		}
		if g.padW > 0 && (g.padX%2 != 0 || (tc.interlaced && g.padY%4 != 0)) {
			t.Errorf("%s: pad offsets %d,%d break chroma/field alignment", tc.name, g.padX, g.padY)
		}
	}
}

func TestRateControlUsesPresetVBVAndLevelLimits(t *testing.T) {
	smooth := &vidjob.VideoSettings{BitRate: "2962", MaxBitRate: "2962", BufferSize: "17772"}
	r, m, b, err := rateControl(smooth, "high", 31)
	// High 3.1 allows 17500 kbit of CPB.
	if err != nil || r != 2962 || m != 2962 || b != 17500 {
		t.Errorf("Smooth 3M: %d %d %d %v", r, m, b, err)
	}
	tiny := &vidjob.VideoSettings{BitRate: "300"}
	r, m, b, err = rateControl(tiny, "baseline", 13)
	if err != nil || r != 300 || m != 450 || b != 600 {
		t.Errorf("Generic 320x240: %d %d %d %v", r, m, b, err)
	}
	if _, _, _, err := rateControl(&vidjob.VideoSettings{BitRate: "x"}, "main", 31); err == nil {
		t.Error("accepted a non-numeric bit rate")
	}
}

func TestBuildArgsNTSCIsAnamorphicInterlacedCBR(t *testing.T) {
	args, err := BuildArgs(lookup(t, "System preset: NTSC - MPG"), hd(), "in", "/out/o.mpg", ArgOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	// 1280x720 16:9 fills the 720x480 frame shown as 16:9: 32:27 pixels.
	for _, want := range []string{
		"-vf fps=30000/1001,scale=720:480,setsar=32/27,format=yuv420p,setfield=tff",
		"-c:v mpeg2video -g 15 -bf 2 -b:v 6500k -maxrate 6500k -bufsize 1835008 -minrate 6500k",
		"-sc_threshold 1000000000", "-flags +ildct+ilme -top 1",
		"-c:a mp2 -b:a 224k -ar 48000 -ac 2", "-f vob file:/out/o.mpg",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
}

func TestBuildArgsHLSWritesSegmentsBesideThePlaylist(t *testing.T) {
	args, err := BuildArgs(lookup(t, "System preset: HLS 400k"), hd(), "in", "/out/show.m3u8", ArgOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	// Three 90-frame GOPs at 29.97 fps fit in ET's 10 s default.
	want := "-f hls -hls_time 9.008 -hls_playlist_type vod -hls_list_size 0 -hls_segment_type mpegts " +
		"-hls_flags independent_segments+temp_file -hls_segment_filename file:/out/show%05d.ts file:/out/show.m3u8"
	if !strings.HasSuffix(got, want) || !strings.Contains(got, "-g 90 -keyint_min 90 -sc_threshold 0") {
		t.Errorf("args:\n%s\nwant suffix:\n%s", got, want)
	}
	args, err = BuildArgs(lookup(t, "System preset: MPEG-Dash Video - 600k"), hd(), "in", "/out/show.mpd", ArgOptions{SegmentSeconds: 4})
	if err != nil {
		t.Fatal(err)
	}
	got = strings.Join(args, " ")
	want = "-f dash -seg_duration 3.999 -use_template 1 -use_timeline 1 -init_seg_name show-init.m4s " +
		"-media_seg_name show-$Number%05d$.m4s file:/out/show.mpd"
	if !strings.HasSuffix(got, want) {
		t.Errorf("args:\n%s\nwant suffix:\n%s", got, want)
	}
}

func TestCheckPresetFindsBadValues(t *testing.T) {
	p := lookup(t, "System preset: HLS 400k")
	if err := CheckPreset(p); err != nil {
		t.Fatalf("system preset: %v", err)
	}
	p.Video.BitRate = "fast"
	if err := CheckPreset(p); err == nil || !strings.Contains(err.Error(), `bitrate_kbps "fast"`) {
		t.Errorf("bad bit rate: %v", err)
	}
}
