package ffmpeg

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vidjob/vidjob"
)

// ArgOptions are the settings of a command that belong to the operator rather
// than to the preset.
type ArgOptions struct {
	// X264Preset is x264's speed preset; "" means DefaultX264Preset.
	X264Preset string
	// Threads caps encoder threads; 0 leaves ffmpeg's default.
	Threads int
	// VPXSpeed is libvpx's -cpu-used for VP8 and VP9 (0 slowest and best; VP8
	// goes to 16, VP9 to 8); 0 means DefaultVPXSpeed.
	VPXSpeed int
	// SegmentSeconds is the longest segment of HLS and DASH outputs: segments
	// are as many whole GOPs as fit in it (at least one), so that each starts
	// on a keyframe; 0 means DefaultSegmentSeconds.
	SegmentSeconds float64
}

// DefaultVPXSpeed trades some compression for an encode several times faster
// than libvpx's default, which is far slower than x264's medium.
const DefaultVPXSpeed = 4

// DefaultSegmentSeconds is Elastic Transcoder's default segment duration.
const DefaultSegmentSeconds = 10.0

// BuildArgs turns a preset and the probe of its source into ffmpeg's argument
// list (without the program name) that reads the local file in and writes out.
// It is the one place presets become commands: everything comes from the
// preset's settings and the probe, with no per-preset branches, so a preset
// added to the catalog runs without code changes.
//
// For a segmented preset (HLS, DASH) out is the playlist or manifest, and the
// segments are written beside it, named after it: for out.m3u8 they are
// out00000.ts, out00001.ts...; for out.mpd, out-init.m4s and out-00001.m4s...
// The playlist names them relative to itself, so the directory can be stored
// anywhere as a whole. The name of out (without extension) may hold only
// letters, digits, '.', '_' and '-', since muxers read '%' and '$' as patterns.
//
// Progress and logging flags are not included: Transcode adds them, since it
// is what reads them.
//
// Decisions that ET leaves open and vidjob makes here:
//   - A source without audio gives an output without audio (no invented
//     silence): the output then says truthfully what the source had, and a
//     silent track would cost bits and mislead players' audio indicators.
//   - Source metadata (including phone GPS tags) is dropped; display rotation is
//     applied to the pixels (ffmpeg's autorotate), so the output is upright with
//     no rotation flag for players to misread.
//   - Interlaced sources are deinterlaced for progressive presets.
func BuildArgs(p *vidjob.Preset, src *Probe, in, out string, opts ArgOptions) ([]string, error) {
	if p == nil || src == nil {
		return nil, fmt.Errorf("build ffmpeg args: nil preset or probe")
	}
	if err := p.Supported(); err != nil {
		return nil, err
	}
	if reason := notMediaReason(src); reason != "" {
		return nil, notMedia(reason)
	}
	wantVideo, wantAudio := p.WantsVideo(), p.WantsAudio()
	if wantVideo && src.Video == nil {
		return nil, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Source has no video stream, and preset %s (%s) makes video", p.ID, p.Label())
	}
	if !wantVideo && src.Audio == nil {
		return nil, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Source has no audio stream, and preset %s (%s) makes audio only", p.ID, p.Label())
	}

	args := []string{
		"-nostdin", "-y",
		// Only local files may be read: a crafted source (a playlist, a
		// reference movie) must not make ffmpeg fetch URLs or other protocols.
		"-protocol_whitelist", "file",
		"-i", fileURL(in),
		// Metadata may hold a phone's location; the output carries only what
		// the muxer writes.
		"-map_metadata", "-1", "-map_chapters", "-1",
	}
	var outRate float64 // frames per second of the output, 0 without video
	if wantVideo {
		// Map by index from the probe rather than 0:v:0, which could be an
		// MP3's or M4A's cover picture.
		args = append(args, "-map", "0:"+strconv.Itoa(src.Video.Index))
		v, rate, err := videoArgs(p, src.Video, opts)
		if err != nil {
			return nil, err
		}
		outRate = rate
		args = append(args, v...)
	} else {
		args = append(args, "-vn")
	}
	if wantAudio && src.Audio != nil {
		args = append(args, "-map", "0:"+strconv.Itoa(src.Audio.Index))
		a, err := audioArgs(p)
		if err != nil {
			return nil, err
		}
		args = append(args, a...)
	} else {
		args = append(args, "-an")
	}
	if opts.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(opts.Threads))
	}
	// Filters that hold frames back (fps, yadif) can make ffmpeg buffer many
	// audio packets at the start; the default queue is too small for some
	// sources and fails the job.
	args = append(args, "-max_muxing_queue_size", "4096")
	m, err := muxArgs(p, out, outRate, opts)
	if err != nil {
		return nil, err
	}
	return append(args, m...), nil
}

// videoArgs returns the filter and encoder arguments for a preset's video, and
// the output frame rate (0 when it follows a source of unknown rate).
func videoArgs(p *vidjob.Preset, sv *VideoStream, opts ArgOptions) ([]string, float64, error) {
	v := p.Video
	bad := func(field string, err error) error {
		return fmt.Errorf("preset %s: video %s: %w", p.ID, field, err)
	}
	codec := strings.ToLower(v.Codec)
	interlaced := false
	switch v.InterlacedMode {
	case "", "Progressive":
	case "TopFirst":
		interlaced = true
	default:
		return nil, 0, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Preset %s (%s) uses interlaced mode %s, which this vidjob does not support yet", p.ID, p.Label(), v.InterlacedMode)
	}
	if codec == "gif" || codec == "vp8" || codec == "vp9" {
		interlaced = false // these formats have no interlaced coding
	}
	maxW, err := boxDim(v.MaxWidth)
	if err != nil {
		return nil, 0, bad("max_width", err)
	}
	maxH, err := boxDim(v.MaxHeight)
	if err != nil {
		return nil, 0, bad("max_height", err)
	}
	dw, dh := sv.DisplaySize()
	if dw < 1 || dh < 1 {
		return nil, 0, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Source video has no picture size")
	}
	// A preset with a display aspect ratio and a box (the NTSC/PAL MPG
	// presets: 720x480 shown as 16:9) stores non-square pixels: sizing works
	// on the picture as stored, with the source's width scaled by how much
	// narrower a stored pixel is than a displayed one, and the output's
	// sample aspect ratio says how to widen it again.
	sarNum, sarDen := 1, 1
	if n, d, ok := aspectRatio(v.DisplayAspectRatio); ok && maxW > 0 && maxH > 0 {
		sarNum, sarDen = reduce(maxH*n, maxW*d)
		dw = dw * float64(sarDen) / float64(sarNum)
	}
	g, err := fitGeometry(dw, dh, maxW, maxH, v.SizingPolicy, v.PaddingPolicy, interlaced)
	if err != nil {
		return nil, 0, bad("sizing", err)
	}

	var filters []string
	if sv.Interlaced() && !interlaced {
		// Scaling a field-coded picture as frames smears the fields into
		// combs; deinterlace first (only frames flagged interlaced).
		filters = append(filters, "yadif=deint=interlaced")
	}
	fps, rate, err := rateFilter(v, sv)
	if err != nil {
		return nil, 0, bad("frame_rate", err)
	}
	if fps != "" {
		// Before scaling, so that dropped frames are never scaled.
		filters = append(filters, fps)
	}
	scale := fmt.Sprintf("scale=%d:%d", g.scaleW, g.scaleH)
	if interlaced && sv.Interlaced() {
		scale += ":interl=1"
	}
	// setsar: the scale above already made the picture's shape right, so the
	// flag must say so too (square pixels except for the anamorphic presets).
	sar := "setsar=1"
	if sarNum != sarDen {
		sar = fmt.Sprintf("setsar=%d/%d", sarNum, sarDen)
	}
	filters = append(filters, scale, sar)
	if g.cropW > 0 {
		filters = append(filters, fmt.Sprintf("crop=%d:%d", g.cropW, g.cropH))
	}
	if g.padW > 0 {
		filters = append(filters, fmt.Sprintf("pad=%d:%d:%d:%d:black", g.padW, g.padH, g.padX, g.padY))
	}

	var enc []string
	switch codec {
	case "h.264":
		filters = append(filters, "format=yuv420p")
		enc, err = h264Args(p, opts, interlaced)
	case "mpeg2":
		var pixFmt string
		pixFmt, enc, err = mpeg2Args(p, g, interlaced)
		filters = append(filters, "format="+pixFmt)
	case "vp8", "vp9":
		filters = append(filters, "format=yuv420p")
		enc, err = vpxArgs(p, codec, opts)
	case "gif":
		// One palette for the whole clip, made from the frames that change
		// (stats_mode=diff keeps a static background from taking every
		// colour), then dithered onto it: far better than GIF's fixed palette.
		filters = append(filters, "split[a][b]", "[a]palettegen=stats_mode=diff[p]", "[b][p]paletteuse=dither=bayer:bayer_scale=3")
		enc = []string{"-c:v", "gif"}
	default:
		return nil, 0, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Preset %s (%s) uses video codec %s, which this vidjob does not support", p.ID, p.Label(), v.Codec)
	}
	if err != nil {
		return nil, 0, err
	}
	if interlaced {
		filters = append(filters, "setfield=tff")
	}
	graph := strings.Join(filters, ",")
	if codec == "gif" {
		// The palette filters form a graph with labelled branches: chain
		// them with ';' after the linear part.
		graph = strings.Join(filters[:len(filters)-3], ",") + "," + strings.Join(filters[len(filters)-3:], ";")
	}
	return append([]string{"-vf", graph}, enc...), rate, nil
}

// h264Args returns x264's arguments for an H.264 preset.
func h264Args(p *vidjob.Preset, opts ArgOptions, interlaced bool) ([]string, error) {
	v := p.Video
	bad := func(field string, err error) error {
		return fmt.Errorf("preset %s: video %s: %w", p.ID, field, err)
	}
	profile := strings.ToLower(v.Profile)
	switch profile {
	case "baseline", "main", "high":
	default:
		return nil, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Preset %s (%s) uses H.264 profile %q, which this vidjob does not support yet", p.ID, p.Label(), v.Profile)
	}
	levelIDC, err := v.Level.LevelIDC()
	if err != nil {
		return nil, bad("level", err)
	}
	keyint, fixedGOP, err := gop(v)
	if err != nil {
		return nil, bad("keyframes", err)
	}
	refs, err := v.MaxReferenceFrames.Int()
	if err != nil || refs < 1 {
		return nil, bad("max_reference_frames", err)
	}
	rate, maxrate, bufsize, err := rateControl(v, profile, levelIDC)
	if err != nil {
		return nil, bad("bit rate", err)
	}
	x264Preset := opts.X264Preset
	if x264Preset == "" {
		x264Preset = DefaultX264Preset
	}
	args := []string{
		"-c:v", "libx264", "-preset", x264Preset,
		"-profile:v", profile, "-level:v", strings.TrimSpace(string(v.Level)),
		"-refs", strconv.Itoa(refs),
		"-g", strconv.Itoa(keyint),
	}
	if fixedGOP {
		// No scene-cut keyframes, so every GOP is exactly keyint long (x264
		// clamps min-keyint to keyint/2+1 internally; scenecut=0 is what
		// fixes the GOP).
		args = append(args, "-keyint_min", strconv.Itoa(keyint), "-sc_threshold", "0")
	}
	// Single-pass ABR with a VBV cap: the average lands near the preset's
	// bit rate while the cap keeps peaks within what the target devices and
	// the H.264 level allow.
	// ratetol=0.1 makes x264's ABR correct its quantiser ten times more
	// eagerly than its default (1.0): on hard pictures the default lets a
	// clip of a few seconds land a quarter above the target while the VBV
	// buffer (ET's are up to six seconds long) absorbs the excess.
	args = append(args,
		"-b:v", strconv.Itoa(rate)+"k",
		"-maxrate", strconv.Itoa(maxrate)+"k",
		"-bufsize", strconv.Itoa(bufsize)+"k",
		"-x264-params", "ratetol=0.1")
	if interlaced {
		// Interlaced coding; the top-field-first order comes from setfield.
		args = append(args, "-flags", "+ildct+ilme")
	}
	return args, nil
}

// gop returns the keyframe distance in frames and whether it is fixed.
func gop(v *vidjob.VideoSettings) (int, bool, error) {
	keyint, err := v.KeyframesMaxDist.Int()
	if err != nil || keyint < 1 {
		return 0, false, fmt.Errorf("keyframes_max_dist %q: want a positive number", v.KeyframesMaxDist)
	}
	fixed := false
	if v.FixedGOP.IsSet() {
		if fixed, err = v.FixedGOP.Bool(); err != nil {
			return 0, false, fmt.Errorf("fixed_gop: %w", err)
		}
	}
	return keyint, fixed, nil
}

// rateControl returns the target, maximum bit rate (kb/s) and VBV buffer
// (kbit) for a preset. ET's MaxBitRate and BufferSize are used when the preset
// has them. Otherwise the cap is 1.5× the target and the buffer 2× the target:
// a cap near the target would turn ABR into CBR and waste bits on easy scenes,
// while an uncapped encode can burst past what the presets' devices decode;
// 1.5× leaves x264 room to move bits to hard scenes, and a two-second buffer
// smooths those moves without letting one spike starve a player. Both are
// clamped to the H.264 level's limits so that the level the stream claims is
// one it meets (the 1080i presets' 100000 kbit buffer exceeds level 4.1's).
func rateControl(v *vidjob.VideoSettings, profile string, levelIDC int) (rate, maxrate, bufsize int, err error) {
	if rate, err = v.BitRate.Int(); err != nil || rate <= 0 {
		return 0, 0, 0, fmt.Errorf("bitrate_kbps %q: want a positive number", v.BitRate)
	}
	maxrate, bufsize = rate*3/2, rate*2
	if v.MaxBitRate.IsSet() {
		if maxrate, err = v.MaxBitRate.Int(); err != nil || maxrate < rate {
			return 0, 0, 0, fmt.Errorf("max_bit_rate_kbps %q: want a number ≥ the bit rate", v.MaxBitRate)
		}
	}
	if v.BufferSize.IsSet() {
		if bufsize, err = v.BufferSize.Int(); err != nil || bufsize <= 0 {
			return 0, 0, 0, fmt.Errorf("buffer_size_kb %q: want a positive number", v.BufferSize)
		}
	}
	if lim, ok := levelLimits[levelIDC]; ok {
		br, cpb := lim[0], lim[1]
		if profile == "high" { // Table A-1's cpbBrVclFactor: 1250 vs 1000
			br, cpb = br*5/4, cpb*5/4
		}
		maxrate, bufsize = min(maxrate, br), min(bufsize, cpb)
		rate = min(rate, maxrate)
	}
	return rate, maxrate, bufsize, nil
}

// levelLimits are H.264 Table A-1's MaxBR (kb/s) and MaxCPB (kbit) for the
// baseline and main profiles, by level_idc.
var levelLimits = map[int][2]int{
	10: {64, 175}, 11: {192, 500}, 12: {384, 1000}, 13: {768, 2000},
	20: {2000, 2000}, 21: {4000, 4000}, 22: {4000, 4000},
	30: {10000, 10000}, 31: {14000, 14000}, 32: {20000, 20000},
	40: {20000, 25000}, 41: {50000, 62500}, 42: {50000, 62500},
	50: {135000, 135000}, 51: {240000, 240000}, 52: {240000, 240000},
}

// rateFilter returns the fps filter for the preset's frame rate, or "" to keep
// the source's timing, and the output's frame rate (0 when unknown). "auto"
// keeps the source's rate, capped at MaxFrameRate.
func rateFilter(v *vidjob.VideoSettings, sv *VideoStream) (string, float64, error) {
	if !v.FrameRate.IsSet() {
		return "", sv.FrameRate, nil
	}
	if !v.FrameRate.IsAuto() {
		n, d, err := v.FrameRate.Rate()
		if err != nil {
			return "", 0, err
		}
		return fmt.Sprintf("fps=%d/%d", n, d), float64(n) / float64(d), nil
	}
	if !v.MaxFrameRate.IsSet() || v.MaxFrameRate.IsAuto() {
		return "", sv.FrameRate, nil
	}
	n, d, err := v.MaxFrameRate.Rate()
	if err != nil {
		return "", 0, err
	}
	if sv.FrameRateNum > 0 && float64(sv.FrameRateNum)/float64(sv.FrameRateDen) > float64(n)/float64(d) {
		return fmt.Sprintf("fps=%d/%d", n, d), float64(n) / float64(d), nil
	}
	return "", sv.FrameRate, nil
}

// boxDim parses MaxWidth/MaxHeight; "auto" (or unset) is 0, meaning no bound.
func boxDim(v vidjob.PresetValue) (int, error) {
	if !v.IsSet() || v.IsAuto() {
		return 0, nil
	}
	n, err := v.Int()
	if err != nil || n < 2 {
		return 0, fmt.Errorf("%q: want a size of at least 2", v)
	}
	return n, nil
}

// geometry is how the picture is sized: scaled to scaleW×scaleH, then cropped
// (centred) to cropW×cropH when cropW > 0, then padded to padW×padH at padX,padY
// when padW > 0.
type geometry struct {
	scaleW, scaleH int
	cropW, cropH   int
	padW, padH     int
	padX, padY     int
}

// outSize is the size of the encoded picture.
func (g geometry) outSize() (int, int) {
	switch {
	case g.padW > 0:
		return g.padW, g.padH
	case g.cropW > 0:
		return g.cropW, g.cropH
	}
	return g.scaleW, g.scaleH
}

// fitGeometry applies ET's sizing and padding policies to a picture displayed
// at w×h (pixels after aspect and rotation) and a box of maxW×maxH (0 = no
// bound). Dimensions are even because 4:2:0 chroma is subsampled by two; the
// "Shrink" policies never scale up, and even rounding never pushes a side past
// the box or the source.
func fitGeometry(w, h float64, maxW, maxH int, sizing, padding string, interlaced bool) (geometry, error) {
	bw, bh := float64(maxW), float64(maxH)
	if maxW == 0 {
		bw = w
	}
	if maxH == 0 {
		bh = h
	}
	fit, fill := math.Min(bw/w, bh/h), math.Max(bw/w, bh/h)
	var g geometry
	limitW, limitH := int(bw), int(bh)
	crop := false
	switch sizing {
	case "Fit":
		g.scaleW, g.scaleH = even(w*fit, limitW), even(h*fit, limitH)
	case "", "ShrinkToFit":
		f := math.Min(fit, 1)
		g.scaleW, g.scaleH = even(w*f, min(limitW, int(w))), even(h*f, min(limitH, int(h)))
	case "Fill":
		g.scaleW, g.scaleH = even(w*fill, math.MaxInt), even(h*fill, math.MaxInt)
		crop = true
	case "ShrinkToFill":
		f := math.Min(fill, 1)
		g.scaleW, g.scaleH = even(w*f, int(w)), even(h*f, int(h))
		crop = true
	case "Stretch":
		g.scaleW, g.scaleH = even(bw, limitW), even(bh, limitH)
	case "Keep":
		g.scaleW, g.scaleH = even(w, int(w)), even(h, int(h))
		crop = true
	default:
		return g, fmt.Errorf("unknown sizing policy %q", sizing)
	}
	if crop && (g.scaleW > limitW || g.scaleH > limitH) {
		g.cropW, g.cropH = min(g.scaleW, limitW&^1), min(g.scaleH, limitH&^1)
	}
	if padding == "Pad" {
		ow, oh := g.outSize()
		pw, ph := limitW&^1, limitH&^1
		if ow < pw || oh < ph {
			g.padW, g.padH = pw, ph
			g.padX = ((pw - ow) / 2) &^ 1
			// An interlaced picture keeps its field parity and 4:2:0 chroma
			// rows only when moved by a multiple of four lines.
			yAlign := 1
			if interlaced {
				yAlign = 3
			}
			g.padY = ((ph - oh) / 2) &^ yAlign
		}
	}
	return g, nil
}

// even rounds x to the nearest even number, not above limit (rounded down to
// even) and not below 2.
func even(x float64, limit int) int {
	n := 2 * int(math.Round(x/2))
	if n > limit&^1 {
		n = limit &^ 1
	}
	return max(n, 2)
}
