package ffmpeg

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
	"github.com/vidjob/vidjob/preset"
)

// conformanceVPXSpeed keeps VP8/VP9 encodes of the test clips to seconds.
const conformanceVPXSpeed = 8

// currentOtherPresets are the current presets in every container but MP4
// (TestConformanceOfEveryCurrentMP4Preset covers those).
func currentOtherPresets(t *testing.T) []*vidjob.Preset {
	t.Helper()
	c, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	var ps, all []*vidjob.Preset
	for _, p := range c.All() {
		if p.Deprecated() {
			continue
		}
		all = append(all, p)
		if p.Container != "mp4" {
			ps = append(ps, p)
		}
	}
	if len(all) != 62 || len(ps) != 41 {
		t.Fatalf("%d current presets of which %d not MP4, want 62 and 41", len(all), len(ps))
	}
	for _, p := range all {
		if err := p.Supported(); err != nil {
			t.Errorf("current preset refused: %v", err)
		}
	}
	return ps
}

// TestConformanceOfEveryCurrentPreset runs every current preset outside MP4
// on two sources and checks each output with ffprobe. Every preset gets the
// 16:9 landscape source (3.5 s, larger than every box but 1080's, so sizing
// shrinks it, and long enough for two segments of a segmented output); the
// second source cycles through 4:3 at 25 fps, portrait with rotation
// metadata, and small and silent (smaller than every box, so nothing may be
// scaled up, and an audio-only preset must refuse it).
func TestConformanceOfEveryCurrentPreset(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("encodes 82 clips")
	}
	sources := makeSources(t, map[string]testmedia.Spec{
		"landscape": {Seconds: 3.5},
		"4x3":       {Seconds: 1.5, Width: 640, Height: 480, FPS: "25"},
		"portrait":  {Seconds: 1.5, Width: 640, Height: 360, Rotation: 90},
		"silent":    {Seconds: 1.5, Width: 192, Height: 108, NoAudio: true},
	})
	byName := map[string]source{}
	for _, s := range sources {
		byName[s.name] = s
	}
	second := []string{"4x3", "portrait", "silent"}
	// One GOP per segment, so that the 3.5 s clip makes two segments and the
	// test sees that the second one starts on a keyframe.
	r := &Runner{X264Preset: conformanceX264Preset}
	opts := r.ArgOptions()
	opts.VPXSpeed = conformanceVPXSpeed
	opts.SegmentSeconds = 1

	type row struct {
		id, container, label string
		secs                 float64
		pass                 bool
	}
	var mu sync.Mutex
	var rows []row
	t.Run("presets", func(t *testing.T) {
		for i, p := range currentOtherPresets(t) {
			srcs := []source{byName["landscape"], byName[second[i%len(second)]]}
			t.Run(p.ID, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				for _, src := range srcs {
					dir := filepath.Join(t.TempDir(), src.name)
					if err := os.Mkdir(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					checkAnyPreset(t, r, opts, p, src, filepath.Join(dir, "out"+p.OutputExtension()))
				}
				mu.Lock()
				rows = append(rows, row{p.ID, p.Container + "/" + p.Packaging, p.Label(), time.Since(start).Seconds(), !t.Failed()})
				mu.Unlock()
			})
		}
	})
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.id, b.id) })
	var total float64
	t.Logf("%-22s %-12s %-44s %7s  %s", "preset", "container", "name", "seconds", "conforms")
	for _, r := range rows {
		total += r.secs
		t.Logf("%-22s %-12s %-44s %7.2f  %v", r.id, r.container, r.label, r.secs, r.pass)
	}
	t.Logf("%d presets × 2 sources, %.1f s of encoding", len(rows), total)
}

// wantFormat is ffprobe's format_name (a part of it) for each output kind.
func wantFormat(p *vidjob.Preset) string {
	switch p.Packaging {
	case vidjob.PackagingHLS:
		return "hls"
	case vidjob.PackagingDASH:
		return "dash"
	case vidjob.PackagingSmooth:
		return "mp4"
	}
	return map[string]string{
		"webm": "webm", "gif": "gif", "flv": "flv", "mpg": "mpeg", "mxf": "mxf",
		"mp3": "mp3", "flac": "flac", "wav": "wav",
	}[p.Container]
}

func checkAnyPreset(t *testing.T, r *Runner, opts ArgOptions, p *vidjob.Preset, src source, out string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s on %s: %s", p.ID, src.name, fmt.Sprintf(format, args...))
	}
	args, err := BuildArgs(p, src.probe, src.path, out, opts)
	if !p.WantsVideo() && src.probe.Audio == nil {
		if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE {
			fail("audio-only preset on a silent source: %v, want EUNPROCESSABLE", err)
		}
		return
	}
	if err != nil {
		fail("BuildArgs: %v", err)
		return
	}
	total := time.Duration(src.probe.Duration * float64(time.Second))
	// The worker's probe starts with ffmpeg and reads the output over HTTP
	// once it is done; it must find what a probe of the local files finds.
	early, err := r.StartOutputProbe(context.Background(), out)
	if err != nil {
		fail("start early probe: %v", err)
		return
	}
	defer early.Close()
	if err := r.Transcode(context.Background(), args, total, nil); err != nil {
		fail("Transcode: %v\nargs: %q", err, args)
		return
	}
	got, err := r.ProbeOutput(context.Background(), out)
	if err != nil {
		fail("probe output: %v", err)
		return
	}
	if viaHTTP, err := early.Result(context.Background()); err != nil {
		fail("early probe: %v", err)
	} else if !reflect.DeepEqual(viaHTTP, got) {
		fail("early probe over HTTP found %+v, the local probe %+v", viaHTTP, got)
	}
	if !strings.Contains(got.FormatName, wantFormat(p)) {
		fail("format %q, want %q", got.FormatName, wantFormat(p))
	}
	// The 3.5 s source makes two segments of one GOP (3 s for HLS, 2 s for
	// DASH) each.
	minSegments := 1
	if src.probe.Duration > 3.2 {
		minSegments = 2
	}
	files := checkSegments(fail, p, out, minSegments)
	checkAnyAudio(fail, p, src.probe, got)
	if !p.WantsVideo() {
		if got.Video != nil {
			fail("audio-only preset made video")
		}
		return
	}
	checkAnyVideo(fail, p, src.probe, got)
	if p.Segmented() {
		for _, f := range files {
			checkFirstFrameIsKey(fail, p, f)
		}
	} else if p.Video.Codec != "gif" {
		checkKeyframes(fail, p, got, out)
	}
	v := got.Video
	t.Logf("%-9s → %s %4dx%-4d SAR %d:%d %s L%d %d/%d fps %-11s audio=%v files=%d", src.name, v.Codec, v.Width, v.Height,
		v.SARNum, v.SARDen, v.Profile, v.Level, v.FrameRateNum, v.FrameRateDen, v.FieldOrder, got.Audio != nil, len(files))
}

// audioCodecs are ffprobe's codec names for ET's audio codecs (PCM by depth).
var audioCodecs = map[string]string{
	"aac": "aac", "mp3": "mp3", "mp2": "mp2", "vorbis": "vorbis", "opus": "opus", "flac": "flac",
	"pcm8": "pcm_u8", "pcm16": "pcm_s16le", "pcm24": "pcm_s24le",
}

func checkAnyAudio(fail func(string, ...any), p *vidjob.Preset, src, got *Probe) {
	if src.Audio == nil || !p.WantsAudio() {
		if got.Audio != nil {
			fail("output has %s audio, want none (source silent: %v)", got.Audio.Codec, src.Audio == nil)
		}
		return
	}
	a, pa := got.Audio, p.Audio
	if a == nil {
		fail("no audio")
		return
	}
	key := strings.ToLower(pa.Codec)
	if key == "pcm" {
		key += strings.TrimSpace(string(pa.BitDepth))
	}
	if a.Codec != audioCodecs[key] {
		fail("audio codec %s, want %s", a.Codec, audioCodecs[key])
	}
	if key == "aac" && a.Profile != "LC" {
		fail("AAC profile %q, want LC", a.Profile)
	}
	if want, err := pa.SampleRate.Int(); err == nil && a.SampleRate != want {
		fail("sample rate %d, want %d", a.SampleRate, want)
	}
	if want, err := pa.Channels.Int(); err == nil && a.Channels != want {
		fail("%d channels, want %d", a.Channels, want)
	}
	if want, err := pa.BitDepth.Int(); err == nil && a.BitsPerSample != want {
		fail("%d bits per sample, want %d", a.BitsPerSample, want)
	}
}

var videoCodecs = map[string]string{"h.264": "h264", "mpeg2": "mpeg2video", "vp8": "vp8", "vp9": "vp9", "gif": "gif"}

func checkAnyVideo(fail func(string, ...any), p *vidjob.Preset, src, got *Probe) {
	v, pv := got.Video, p.Video
	if v == nil {
		fail("no video")
		return
	}
	codec := strings.ToLower(pv.Codec)
	if v.Codec != videoCodecs[codec] {
		fail("video codec %s, want %s", v.Codec, videoCodecs[codec])
	}
	switch codec {
	case "h.264":
		wantProfile := map[string][]string{
			"baseline": {"Constrained Baseline", "Baseline"}, "main": {"Main"}, "high": {"High"},
		}[pv.Profile]
		wantLevel, _ := pv.Level.LevelIDC()
		if !slices.Contains(wantProfile, v.Profile) || v.Level != wantLevel || v.PixFmt != "yuv420p" {
			fail("h264 %q level %d %s, want %v level %d yuv420p", v.Profile, v.Level, v.PixFmt, wantProfile, wantLevel)
		}
	case "mpeg2":
		want, wantProfile := "yuv420p", "Main"
		if pv.ChromaSubsampling == "yuv422p" {
			want, wantProfile = "yuv422p", "4:2:2"
		}
		if v.PixFmt != want || v.Profile != wantProfile {
			fail("mpeg2 %q %s, want %q %s", v.Profile, v.PixFmt, wantProfile, want)
		}
	case "vp8", "vp9":
		if v.PixFmt != "yuv420p" {
			fail("pixel format %s, want yuv420p", v.PixFmt)
		}
	}
	if v.Rotation != 0 {
		fail("rotation %d, want the pixels turned upright", v.Rotation)
	}
	// Sizes are compared as displayed: stored width × the sample aspect ratio.
	sar := float64(v.SARNum) / float64(v.SARDen)
	if n, d, ok := aspectRatio(pv.DisplayAspectRatio); ok {
		maxW, _ := pv.MaxWidth.Int()
		maxH, _ := pv.MaxHeight.Int()
		if want := float64(maxH*n) / float64(maxW*d); math.Abs(sar-want) > 0.001 {
			fail("SAR %d:%d, want the %s display of a %dx%d picture", v.SARNum, v.SARDen, pv.DisplayAspectRatio, maxW, maxH)
		}
	} else if v.SARNum != v.SARDen {
		fail("SAR %d:%d, want square pixels", v.SARNum, v.SARDen)
	}
	maxW, errW := pv.MaxWidth.Int()
	maxH, errH := pv.MaxHeight.Int()
	if errW != nil || errH != nil { // "auto": the source's size
		dw, dh := src.Video.DisplaySize()
		maxW, maxH = int(math.Ceil(dw)), int(math.Ceil(dh))
	}
	dw, dh := src.Video.DisplaySize()
	ow, oh := float64(v.Width)*sar, float64(v.Height)
	bw := float64(maxW) * sar
	switch {
	case v.Width%2 != 0 || v.Height%2 != 0:
		fail("size %dx%d is not even", v.Width, v.Height)
	case pv.PaddingPolicy == "Pad":
		if v.Width != maxW || v.Height != maxH {
			fail("size %dx%d, want padded to %dx%d", v.Width, v.Height, maxW, maxH)
		}
	case v.Width > maxW || v.Height > maxH:
		fail("size %dx%d outside the %dx%d box", v.Width, v.Height, maxW, maxH)
	case ow > math.Ceil(dw)+1 || oh > math.Ceil(dh):
		fail("size %dx%d larger than the %.0fx%.0f source", v.Width, v.Height, dw, dh)
	case math.Abs(ow/oh-dw/dh) > 0.02:
		fail("size %dx%d (displayed %.0fx%.0f) does not keep the source's %.0fx%.0f aspect", v.Width, v.Height, ow, oh, dw, dh)
	case ow < math.Min(bw, dw)-3 && oh < math.Min(float64(maxH), dh)-3:
		fail("size %dx%d is smaller than the %dx%d box allows", v.Width, v.Height, maxW, maxH)
	}
	if pv.PaddingPolicy != "Pad" && (dh > dw) != (oh > ow) {
		fail("orientation lost: %dx%d from a %.0fx%.0f picture", v.Width, v.Height, dw, dh)
	}
	wantRate := src.Video.FrameRate
	if n, d, err := pv.FrameRate.Rate(); err == nil {
		wantRate = float64(n) / float64(d)
	} else if n, d, err := pv.MaxFrameRate.Rate(); err == nil {
		wantRate = math.Min(wantRate, float64(n)/float64(d))
	}
	tolerance := 0.01
	if codec == "gif" {
		// GIF frame delays are whole hundredths of a second: 15 fps is
		// stored as delays of 6 and 7, averaging within a fifth of a frame.
		tolerance = 0.2
	}
	if math.Abs(v.FrameRate-wantRate) > tolerance {
		fail("frame rate %d/%d, want %.3f", v.FrameRateNum, v.FrameRateDen, wantRate)
	}
	wantField := "progressive"
	if pv.InterlacedMode == "TopFirst" && codec != "gif" && codec != "vp8" && codec != "vp9" {
		wantField = "tt"
	}
	if v.FieldOrder != wantField && !(wantField == "progressive" && v.FieldOrder == "") {
		fail("field order %q, want %q", v.FieldOrder, wantField)
	}
}

// checkSegments checks that a playlist or manifest parses and that every
// file it names exists beside it, and returns the media files in order
// (for DASH, each media segment joined to the initialization segment, as a
// player would read it).
func checkSegments(fail func(string, ...any), p *vidjob.Preset, out string, minSegments int) []string {
	if !p.Segmented() {
		return nil
	}
	dir := filepath.Dir(out)
	data, err := os.ReadFile(out)
	if err != nil {
		fail("read playlist: %v", err)
		return nil
	}
	var names []string
	var init string
	switch p.Packaging {
	case vidjob.PackagingHLS:
		names, err = parseMediaPlaylist(data)
	case vidjob.PackagingDASH:
		init, names, err = parseMPD(data)
	}
	if err != nil {
		fail("playlist: %v\n%s", err, data)
		return nil
	}
	if len(names) < minSegments {
		fail("playlist names %d segments, want at least %d:\n%s", len(names), minSegments, data)
	}
	entries, _ := os.ReadDir(dir)
	if want := len(names) + 1 + min(len(init), 1); len(entries) != want {
		fail("%d files beside the playlist, want %d (the playlist, its segments and nothing else)", len(entries), want)
	}
	var files []string
	for i, n := range names {
		path := filepath.Join(dir, n)
		if filepath.Dir(path) != dir {
			fail("segment %q is not beside the playlist", n)
			continue
		}
		if _, err := os.Stat(path); err != nil {
			fail("segment %q: %v", n, err)
			continue
		}
		if init != "" {
			head, err := os.ReadFile(filepath.Join(dir, init))
			if err != nil {
				fail("init segment: %v", err)
				return nil
			}
			body, _ := os.ReadFile(path)
			joined := filepath.Join(dir, fmt.Sprintf("joined%d.mp4", i))
			if err := os.WriteFile(joined, append(head, body...), 0o644); err != nil {
				fail("%v", err)
			}
			path = joined
		}
		files = append(files, path)
	}
	return files
}

// parseMediaPlaylist returns the segment URIs of an HLS VOD media playlist.
func parseMediaPlaylist(data []byte) ([]string, error) {
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) == 0 || lines[0] != "#EXTM3U" {
		return nil, fmt.Errorf("no #EXTM3U header")
	}
	var uris []string
	sawInf, end := false, false
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "#EXTINF:"):
			sawInf = true
		case l == "#EXT-X-ENDLIST":
			end = true
		case l == "" || strings.HasPrefix(l, "#"):
		default:
			if !sawInf {
				return nil, fmt.Errorf("segment %q without #EXTINF", l)
			}
			uris = append(uris, l)
			sawInf = false
		}
	}
	if !end {
		return nil, fmt.Errorf("no #EXT-X-ENDLIST: not a complete VOD playlist")
	}
	return uris, nil
}

// mpd is the part of a DASH manifest the test reads.
type mpd struct {
	Type    string `xml:"type,attr"`
	Periods []struct {
		Sets []struct {
			Reps []struct {
				Template struct {
					Init        string `xml:"initialization,attr"`
					Media       string `xml:"media,attr"`
					StartNumber int    `xml:"startNumber,attr"`
					Timeline    []struct {
						R int `xml:"r,attr"`
					} `xml:"SegmentTimeline>S"`
				} `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

var numberTemplate = regexp.MustCompile(`\$Number%0(\d)d\$`)

// parseMPD returns the initialization segment and the media segments of a
// static single-representation manifest with a numbered SegmentTemplate.
func parseMPD(data []byte) (string, []string, error) {
	var m mpd
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil {
		return "", nil, err
	}
	if m.Type != "static" || len(m.Periods) != 1 || len(m.Periods[0].Sets) != 1 || len(m.Periods[0].Sets[0].Reps) != 1 {
		return "", nil, fmt.Errorf("want one static period with one representation")
	}
	tpl := m.Periods[0].Sets[0].Reps[0].Template
	match := numberTemplate.FindStringSubmatch(tpl.Media)
	if tpl.Init == "" || match == nil {
		return "", nil, fmt.Errorf("segment template %+v", tpl)
	}
	width, _ := strconv.Atoi(match[1])
	var names []string
	n := tpl.StartNumber
	for _, s := range tpl.Timeline {
		for range s.R + 1 {
			names = append(names, numberTemplate.ReplaceAllString(tpl.Media, fmt.Sprintf("%0*d", width, n)))
			n++
		}
	}
	return tpl.Init, names, nil
}

// checkFirstFrameIsKey checks that a segment starts with a keyframe, so that
// a player can start or switch there.
func checkFirstFrameIsKey(fail func(string, ...any), p *vidjob.Preset, path string) {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
		"-show_entries", "packet=flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		fail("probe segment %s: %v", filepath.Base(path), err)
		return
	}
	if first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); !strings.HasPrefix(first, "K") {
		fail("segment %s starts with packet flags %q, want a keyframe", filepath.Base(path), first)
	}
}

// TestSizingAndPaddingPolicies runs every ET sizing policy with and without
// padding (the system presets use only ShrinkToFit and ShrinkToFill+Pad) on
// a real encode into Generic 320x240's 320x240 box, from a portrait phone
// clip (640x360 pixels with 90° rotation metadata, shown as 360x640) and from
// a 160x90 clip smaller than the box, and checks the exact output size.
func TestSizingAndPaddingPolicies(t *testing.T) {
	needFFmpeg(t)
	sources := makeSources(t, map[string]testmedia.Spec{
		"portrait": {Seconds: 1, Width: 640, Height: 360, Rotation: 90, NoAudio: true},
		"small":    {Seconds: 1, Width: 160, Height: 90, NoAudio: true},
	})
	c, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	base, _, err := c.Lookup("System preset: Generic 320x240")
	if err != nil {
		t.Fatal(err)
	}
	// Expected width x height (before padding, which always gives 320x240).
	want := map[string]map[string]string{
		"portrait": {"Fit": "136x240", "ShrinkToFit": "136x240", "Fill": "320x240", "ShrinkToFill": "320x240", "Stretch": "320x240", "Keep": "320x240"},
		"small":    {"Fit": "320x180", "ShrinkToFit": "160x90", "Fill": "320x240", "ShrinkToFill": "160x90", "Stretch": "320x240", "Keep": "160x90"},
	}
	r := &Runner{X264Preset: "ultrafast"}
	for _, src := range sources {
		for _, sizing := range []string{"Fit", "ShrinkToFit", "Fill", "ShrinkToFill", "Stretch", "Keep"} {
			for _, pad := range []string{"NoPad", "Pad"} {
				p := *base
				v := *base.Video
				v.SizingPolicy, v.PaddingPolicy, v.Profile = sizing, pad, "baseline"
				p.Video = &v
				out := filepath.Join(t.TempDir(), "out.mp4")
				args, err := BuildArgs(&p, src.probe, src.path, out, r.ArgOptions())
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Transcode(context.Background(), args, 0, nil); err != nil {
					t.Fatalf("%s %s on %s: %v", sizing, pad, src.name, err)
				}
				got, err := r.Probe(context.Background(), out)
				if err != nil {
					t.Fatal(err)
				}
				w := want[src.name][sizing]
				if pad == "Pad" {
					w = "320x240"
				}
				size := fmt.Sprintf("%dx%d", got.Video.Width, got.Video.Height)
				if size != w || got.Video.SARNum != got.Video.SARDen || got.Video.Rotation != 0 {
					t.Errorf("%s %s on %s: %s SAR %d:%d rotation %d, want %s square and upright", sizing, pad, src.name,
						size, got.Video.SARNum, got.Video.SARDen, got.Video.Rotation, w)
				}
			}
		}
	}
}
