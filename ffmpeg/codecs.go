package ffmpeg

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vidjob/vidjob"
)

// mpeg2Limits are ISO/IEC 13818-2's maximum bit rate (kb/s) and VBV buffer
// (bits) for the profile@level ffmpeg's encoder picks for a picture size and
// chroma format: Main or 4:2:2 profile, Main level up to 720x576, High above.
var mpeg2Limits = map[[2]bool][2]int{
	// {is422, isHighLevel}
	{false, false}: {15000, 1835008},   // MP@ML
	{false, true}:  {80000, 9781248},   // MP@HL
	{true, false}:  {50000, 9437184},   // 422P@ML
	{true, true}:   {300000, 47185920}, // 422P@HL
}

// mpeg2Args returns the pixel format and ffmpeg's MPEG-2 encoder arguments.
// When the preset's maximum bit rate equals its bit rate (all of ET's MPEG-2
// presets) the stream is constant bit rate, which XDCAM requires and DVD-style
// program streams expect; the VBV buffer is ET's, clamped to what the MPEG-2
// profile and level allow so that decoders' buffers never overflow.
func mpeg2Args(p *vidjob.Preset, g geometry, interlaced bool) (string, []string, error) {
	v := p.Video
	bad := func(field string, err error) error {
		return fmt.Errorf("preset %s: video %s: %w", p.ID, field, err)
	}
	pixFmt := "yuv420p"
	switch strings.ToLower(v.ChromaSubsampling) {
	case "", "yuv420p":
	case "yuv422p":
		pixFmt = "yuv422p"
	default:
		return "", nil, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Preset %s (%s) uses chroma subsampling %s, which this vidjob does not support", p.ID, p.Label(), v.ChromaSubsampling)
	}
	keyint, fixedGOP, err := gop(v)
	if err != nil {
		return "", nil, bad("keyframes", err)
	}
	rate, err := v.BitRate.Int()
	if err != nil || rate <= 0 {
		return "", nil, bad("bitrate_kbps", fmt.Errorf("%q: want a positive number", v.BitRate))
	}
	maxrate := rate * 3 / 2
	if v.MaxBitRate.IsSet() {
		if maxrate, err = v.MaxBitRate.Int(); err != nil || maxrate < rate {
			return "", nil, bad("max_bit_rate_kbps", fmt.Errorf("%q: want a number ≥ the bit rate", v.MaxBitRate))
		}
	}
	bufBits := rate * 2 * 1000
	if v.BufferSize.IsSet() {
		kb, err := v.BufferSize.Int()
		if err != nil || kb <= 0 {
			return "", nil, bad("buffer_size_kb", fmt.Errorf("%q: want a positive number", v.BufferSize))
		}
		bufBits = kb * 1000
	}
	w, h := g.outSize()
	lim := mpeg2Limits[[2]bool{pixFmt == "yuv422p", w > 720 || h > 576}]
	maxrate, bufBits = min(maxrate, lim[0]), min(bufBits, lim[1])
	rate = min(rate, maxrate)
	args := []string{
		"-c:v", "mpeg2video",
		"-g", strconv.Itoa(keyint), "-bf", "2",
		"-b:v", strconv.Itoa(rate) + "k", "-maxrate", strconv.Itoa(maxrate) + "k",
		"-bufsize", strconv.Itoa(bufBits),
	}
	if rate == maxrate {
		args = append(args, "-minrate", strconv.Itoa(rate)+"k", "-rc_init_occupancy", strconv.Itoa(bufBits))
	}
	if fixedGOP {
		// The encoder's scene-change detection would start extra GOPs.
		args = append(args, "-sc_threshold", "1000000000")
	}
	if interlaced {
		args = append(args, "-flags", "+ildct+ilme", "-top", "1", "-alternate_scan", "1")
	}
	return pixFmt, args, nil
}

// vpxArgs returns libvpx's arguments for a VP8 or VP9 preset, with keyframes
// at most KeyframesMaxDist apart: VP8 at an average bit rate (libvpx's VBR
// mode), VP9 at a constant one (see vp9RateArgs).
func vpxArgs(p *vidjob.Preset, codec string, opts ArgOptions) ([]string, error) {
	v := p.Video
	keyint, fixedGOP, err := gop(v)
	if err != nil {
		return nil, fmt.Errorf("preset %s: video keyframes: %w", p.ID, err)
	}
	rate, err := v.BitRate.Int()
	if err != nil || rate <= 0 {
		return nil, fmt.Errorf("preset %s: video bitrate_kbps %q: want a positive number", p.ID, v.BitRate)
	}
	speed := opts.VPXSpeed
	if speed == 0 {
		speed = DefaultVPXSpeed
	}
	enc := "libvpx"
	if codec == "vp9" {
		enc = "libvpx-vp9"
	}
	args := []string{"-c:v", enc, "-deadline", "good", "-cpu-used", strconv.Itoa(speed),
		"-b:v", strconv.Itoa(rate) + "k", "-g", strconv.Itoa(keyint)}
	if fixedGOP {
		args = append(args, "-keyint_min", strconv.Itoa(keyint))
	}
	if v.MaxBitRate.IsSet() {
		m, err := v.MaxBitRate.Int()
		if err != nil || m < rate {
			return nil, fmt.Errorf("preset %s: video max_bit_rate_kbps %q: want a number ≥ the bit rate", p.ID, v.MaxBitRate)
		}
		if codec != "vp9" {
			args = append(args, "-maxrate", strconv.Itoa(m)+"k")
		}
	}
	if codec == "vp9" {
		vp9, err := vp9RateArgs(p, rate)
		if err != nil {
			return nil, err
		}
		// Row-based multithreading: several times faster on more than one
		// core, with the same bitstream a decoder sees.
		args = append(append(args, vp9...), "-row-mt", "1")
	} else if prof := strings.TrimSpace(v.Profile); prof != "" {
		if n, err := strconv.Atoi(prof); err == nil && n >= 0 && n <= 3 {
			args = append(args, "-profile:v", prof)
		}
	}
	return args, nil
}

// vp9IntraRate caps a VP9 keyframe at this percentage of the mean frame's
// share of the bit rate (libvpx's max-intra-rate).
const vp9IntraRate = 600

// vp9RateArgs returns libvpx-vp9's rate control for a preset: constant bit
// rate at the preset's rate, with ET's buffer (2 s of the rate when the preset
// has none) and keyframes capped at vp9IntraRate.
//
// libvpx-vp9's one-pass VBR does not hold a target on hard pictures: on 720p
// noise it spent most of the budget on keyframes and golden frames and landed
// 65% above 1200 kb/s, and -maxrate, -bufsize, -undershoot-pct and
// -overshoot-pct left that output unchanged (they act in two-pass or CBR
// mode only). Two-pass VBR meets the rate but needs a second ffmpeg run and a
// pass log; CBR does it in one pass, and the keyframe cap keeps keyframes from
// starving the frames after them. The measured figures are in
// docs/PRESETS.md. A preset's MaxBitRate cannot raise a CBR stream's ceiling
// above its rate, so it is not used for VP9.
func vp9RateArgs(p *vidjob.Preset, rate int) ([]string, error) {
	buf := 2 * rate
	if p.Video.BufferSize.IsSet() {
		kb, err := p.Video.BufferSize.Int()
		if err != nil || kb <= 0 {
			return nil, fmt.Errorf("preset %s: video buffer_size_kb %q: want a positive number", p.ID, p.Video.BufferSize)
		}
		buf = kb
	}
	r := strconv.Itoa(rate) + "k"
	return []string{"-minrate", r, "-maxrate", r, "-bufsize", strconv.Itoa(buf) + "k",
		"-max-intra-rate", strconv.Itoa(vp9IntraRate)}, nil
}

// audioArgs returns the audio encoder arguments for a preset. Settings ET
// leaves "auto" (or that the catalog does not know) keep the source's value.
func audioArgs(p *vidjob.Preset) ([]string, error) {
	a := p.Audio
	var args []string
	useBitRate := true
	switch strings.ToLower(a.Codec) {
	case "aac":
		switch strings.ToUpper(a.Profile) {
		case "", "AAC-LC", "AUTO":
			// ffmpeg's native encoder makes AAC-LC only; for "auto" that
			// is the choice that every AAC decoder plays.
		default:
			return nil, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Preset %s (%s) uses audio profile %s, which this vidjob does not support yet", p.ID, p.Label(), a.Profile)
		}
		args = []string{"-c:a", "aac"}
	case "mp3":
		args = []string{"-c:a", "libmp3lame"}
	case "mp2":
		args = []string{"-c:a", "mp2"}
	case "vorbis":
		args = []string{"-c:a", "libvorbis"}
	case "opus":
		args = []string{"-c:a", "libopus"}
	case "flac":
		useBitRate = false // lossless: the bit rate follows from the signal
		fmtName, err := sampleFormat(p, "flac")
		if err != nil {
			return nil, err
		}
		args = []string{"-c:a", "flac", "-sample_fmt", fmtName}
		if a.BitDepth.IsSet() {
			args = append(args, "-bits_per_raw_sample", strings.TrimSpace(string(a.BitDepth)))
		}
	case "pcm":
		useBitRate = false
		enc, err := sampleFormat(p, "pcm")
		if err != nil {
			return nil, err
		}
		args = []string{"-c:a", enc}
	default:
		return nil, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Preset %s (%s) uses audio codec %s, which this vidjob does not support", p.ID, p.Label(), a.Codec)
	}
	for _, s := range []struct {
		flag, field string
		value       vidjob.PresetValue
		unit        string
	}{
		{"-b:a", "bitrate_kbps", a.BitRate, "k"},
		{"-ar", "sample_rate", a.SampleRate, ""},
		{"-ac", "channels", a.Channels, ""},
	} {
		if !s.value.IsSet() || s.value.IsAuto() || (s.flag == "-b:a" && !useBitRate) {
			continue // ffmpeg keeps the source's value
		}
		n, err := s.value.Int()
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("preset %s: audio %s %q: want a positive number", p.ID, s.field, s.value)
		}
		args = append(args, s.flag, strconv.Itoa(n)+s.unit)
	}
	return args, nil
}

// sampleFormat returns, for "pcm", the PCM encoder for the preset's bit depth
// and signedness (little-endian, as WAV and MXF store it) and, for "flac",
// the sample format FLAC encodes the bit depth from.
func sampleFormat(p *vidjob.Preset, codec string) (string, error) {
	depth := 16
	if p.Audio.BitDepth.IsSet() {
		var err error
		if depth, err = p.Audio.BitDepth.Int(); err != nil {
			return "", fmt.Errorf("preset %s: audio bit_depth: %w", p.ID, err)
		}
	}
	signed := !strings.EqualFold(p.Audio.Signed, "Unsigned")
	if codec == "flac" {
		switch depth {
		case 16:
			return "s16", nil
		case 24:
			return "s32", nil
		}
	} else {
		switch {
		case depth == 8 && !signed:
			return "pcm_u8", nil
		case depth == 16 && signed:
			return "pcm_s16le", nil
		case depth == 24 && signed:
			return "pcm_s24le", nil
		}
	}
	return "", vidjob.Errorf(vidjob.EUNPROCESSABLE, "Preset %s (%s) uses %d-bit %s audio (signed: %v), which this vidjob does not support", p.ID, p.Label(), depth, codec, signed)
}

// muxers are ffmpeg's muxer for each single-file ET container.
var muxers = map[string]string{
	"mp4":  "mp4",
	"flv":  "flv",
	"webm": "webm",
	"gif":  "gif",
	"mpg":  "vob", // MPEG-2 program stream (ffmpeg's "mpeg" writes MPEG-1 systems)
	"mxf":  "mxf",
	"mp3":  "mp3",
	"flac": "flac",
	"wav":  "wav",
	"oga":  "ogg",
	"ogg":  "ogg",
}

// muxArgs returns the muxer arguments and the output for a preset. rate is
// the output's frame rate, 0 for audio only or when unknown.
func muxArgs(p *vidjob.Preset, out string, rate float64, opts ArgOptions) ([]string, error) {
	switch p.Packaging {
	case vidjob.PackagingHLS, vidjob.PackagingDASH:
		return segmentArgs(p, out, rate, opts)
	case vidjob.PackagingSmooth:
		// ffmpeg's ismv muxer writes Smooth Streaming's fragmented MP4, one
		// fragment per GOP.
		return []string{"-f", "ismv", fileURL(out)}, nil
	}
	m, ok := muxers[strings.ToLower(p.Container)]
	if !ok {
		return nil, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Preset %s (%s) uses container %s, which this vidjob does not support", p.ID, p.Label(), p.Container)
	}
	var args []string
	switch m {
	case "mp4":
		// The index (moov) goes before the media data so that players can
		// start while downloading.
		args = append(args, "-movflags", "+faststart")
	case "gif":
		loop := "0" // forever, ET's "Infinite" and the only value its presets use
		if lc := strings.TrimSpace(p.Video.LoopCount); lc != "" && !strings.EqualFold(lc, "Infinite") {
			n, err := strconv.Atoi(lc)
			if err != nil || n < 0 || n > 65535 {
				return nil, fmt.Errorf("preset %s: video loop_count %q: want Infinite or 0..65535", p.ID, lc)
			}
			loop = lc
		}
		args = append(args, "-loop", loop)
	case "mp3":
		// An ID3v2 tag carries only the encoder's name once metadata is
		// dropped; leave it out so the file starts with audio frames.
		args = append(args, "-id3v2_version", "0", "-write_xing", "1")
	}
	return append(args, "-f", m, fileURL(out)), nil
}

// segmentArgs returns the hls or dash muxer's arguments: a VOD playlist or
// static manifest at out with every segment beside it.
func segmentArgs(p *vidjob.Preset, out string, rate float64, opts ArgOptions) ([]string, error) {
	dir, base := filepath.Split(out)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	if !safeStem(stem) {
		return nil, fmt.Errorf("output name %q: segment names allow only letters, digits, '.', '_' and '-'", base)
	}
	seg := segmentSeconds(p, rate, opts)
	secs := strconv.FormatFloat(seg, 'f', 3, 64)
	if p.Packaging == vidjob.PackagingHLS {
		return []string{"-f", "hls",
			"-hls_time", secs, "-hls_playlist_type", "vod", "-hls_list_size", "0",
			"-hls_segment_type", "mpegts",
			// Each segment plays on its own (codec parameters in every
			// segment's first keyframe). temp_file writes each segment as
			// NAME.tmp and renames it when complete, so a segment under its
			// own name is finished and can be stored while ffmpeg goes on
			// (the dash muxer does the same for its media segments by
			// itself); the bytes written are the same either way.
			"-hls_flags", "independent_segments+temp_file",
			"-hls_segment_filename", fileURL(filepath.Join(dir, stem+"%05d.ts")),
			fileURL(out)}, nil
	}
	return []string{"-f", "dash",
		"-seg_duration", secs, "-use_template", "1", "-use_timeline", "1",
		"-init_seg_name", stem + "-init.m4s", "-media_seg_name", stem + "-$Number%05d$.m4s",
		fileURL(out)}, nil
}

// segmentSeconds is the segment duration: as many whole GOPs as fit in the
// target (at least one), so that every segment begins on one of the fixed
// GOP's keyframes; for audio only (or an unknown rate), the target itself.
func segmentSeconds(p *vidjob.Preset, rate float64, opts ArgOptions) float64 {
	target := opts.SegmentSeconds
	if target <= 0 {
		target = DefaultSegmentSeconds
	}
	if !p.WantsVideo() || rate <= 0 {
		return target
	}
	keyint, _, err := gop(p.Video)
	if err != nil {
		return target
	}
	g := float64(keyint) / rate
	n := math.Max(1, math.Floor(target/g+1e-9))
	// A hair under the exact multiple so that float rounding of frame
	// times never pushes the cut to the next keyframe.
	return n*g - 0.001
}

// safeStem reports whether s is a non-empty name of letters, digits, '.',
// '_' and '-', so that no muxer reads part of it as a pattern.
func safeStem(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// aspectRatio parses ET's display aspect ratio ("16:9", "4:3"); "auto" or
// unset is not ok.
func aspectRatio(s string) (num, den int, ok bool) {
	n, d, ok := parseRatio(strings.TrimSpace(s), ":")
	if !ok || n <= 0 || d <= 0 {
		return 0, 0, false
	}
	return n, d, true
}

// reduce divides a fraction by its greatest common divisor.
func reduce(n, d int) (int, int) {
	a, b := n, d
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return n, d
	}
	return n / a, d / a
}

// CheckPreset reports whether BuildArgs can make a command from the preset's
// settings, so that an operator's custom preset with a bad value fails when
// it is loaded rather than on a customer's job. It builds the command for a
// typical source: 1280x720 at 29.97 fps with stereo audio.
func CheckPreset(p *vidjob.Preset) error {
	src := &Probe{
		FormatName: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 10,
		Video: &VideoStream{Index: 0, Codec: "h264", Width: 1280, Height: 720, SARNum: 1, SARDen: 1,
			FrameRate: 30000.0 / 1001, FrameRateNum: 30000, FrameRateDen: 1001, FieldOrder: "progressive", PixFmt: "yuv420p", Duration: 10},
		Audio: &AudioStream{Index: 1, Codec: "aac", SampleRate: 48000, Channels: 2, Duration: 10},
	}
	_, err := BuildArgs(p, src, "source", filepath.Join("out", "check"+p.OutputExtension()), ArgOptions{})
	return err
}
