package vidjob

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// presetRule is one of Elastic Transcoder's CreatePreset rules for a setting:
// the values ET accepted, and where vidjob's encoders cannot do what ET
// allowed, the values it cannot encode and why. The table below holds every
// rule once, so that the system catalog, the operator's presets file and an
// application's POST /presets are held to the same ranges, and a value out
// of range is refused when the preset is written rather than failing every
// job that uses it.
type presetRule struct {
	// Field is the setting as ET's CreatePreset names it.
	Field string
	// Codecs limits the rule to presets whose Audio.Codec or Video.Codec (as
	// the field's section has it), lower-cased, is one of these; nil: any.
	Codecs []string
	// Values are the exact values ET accepted (or, with Max, the words it
	// accepted beside the numbers, such as "auto").
	Values []string
	// Min and Max, when Max > 0, bound a whole number; Even asks for an even one.
	Min, Max int
	Even     bool
	// Form, when set, accepts values of a shape the fields above cannot
	// say (a percentage, a decimal); Want describes it for messages.
	Form func(v string) bool
	Want string
	// Unsupported maps values ET accepted to why vidjob cannot encode them
	// as asked.
	Unsupported map[string]string
	// Note, on a rule narrower than ET's own for the same field, says what
	// ET allowed and why vidjob's encoder cannot.
	Note string
	// value reads the setting; ok is false when the preset has no such
	// section. An empty value is a setting left out, which ET's defaults or
	// the encoder fill, and is not checked here.
	value func(p *Preset) (v, codec string, ok bool)
}

// Elastic Transcoder's enumerations, from its CreatePreset reference and its
// API model (the patterns every value was matched against).
var (
	etFrameRates     = []string{"10", "15", "23.97", "24", "25", "29.97", "30", "50", "60"}
	etSizingPolicies = []string{"Fit", "Fill", "Stretch", "Keep", "ShrinkToFit", "ShrinkToFill"}
	etPadding        = []string{"Pad", "NoPad"}
	etAspectRatios   = []string{"auto", "1:1", "4:3", "3:2", "16:9"}
	etSampleRates    = []string{"auto", "22050", "32000", "44100", "48000", "96000"}
	// etContainers are ET's preset containers; Preset.Supported says which
	// of them vidjob writes.
	etContainers = []string{"mp4", "ts", "webm", "mp3", "flac", "oga", "ogg", "fmp4", "mpg", "flv", "gif", "mxf", "wav", "mp2"}
)

// presetRules are the ranges every preset is checked against
// (Preset.Validate); docs/PRESETS.md points here.
var presetRules = []presetRule{
	{Field: "Container", Values: etContainers, value: func(p *Preset) (string, string, bool) { return p.Container, "", true }},

	// Audio (ET's AudioParameters and AudioCodecOptions).
	{Field: "Audio.Codec", Values: []string{"AAC", "vorbis", "mp3", "mp2", "pcm", "flac", "opus"}, value: audio(func(a *AudioSettings) string { return a.Codec })},
	{Field: "Audio.SampleRate", Values: etSampleRates, value: audio(func(a *AudioSettings) string { return string(a.SampleRate) })},
	{Field: "Audio.SampleRate", Codecs: []string{"mp3", "mp2"}, Values: etSampleRates,
		Unsupported: map[string]string{"96000": "ffmpeg's MP3 and MP2 encoders stop at 48000 Hz"},
		value:       audio(func(a *AudioSettings) string { return string(a.SampleRate) })},
	{Field: "Audio.SampleRate", Codecs: []string{"opus"}, Values: etSampleRates,
		Unsupported: map[string]string{"22050": "Opus encodes at 48000 Hz", "32000": "Opus encodes at 48000 Hz", "44100": "Opus encodes at 48000 Hz", "96000": "Opus encodes at 48000 Hz"},
		value:       audio(func(a *AudioSettings) string { return string(a.SampleRate) })},
	{Field: "Audio.BitRate", Min: 64, Max: 320, value: audio(func(a *AudioSettings) string { return string(a.BitRate) })},
	{Field: "Audio.BitRate", Codecs: []string{"mp2"}, Values: []string{"64", "80", "96", "112", "128", "160", "192", "224", "256", "320"},
		Note:  "Elastic Transcoder allowed any whole number from 64 to 320, but ffmpeg's MP2 encoder takes only MPEG-1 Layer II rates",
		value: audio(func(a *AudioSettings) string { return string(a.BitRate) })},
	{Field: "Audio.Channels", Values: []string{"auto", "0", "1", "2"},
		Unsupported: map[string]string{"0": "vidjob has no audio-less variant of an audio setting; leave Audio out of the preset for no audio"},
		value:       audio(func(a *AudioSettings) string { return string(a.Channels) })},
	{Field: "Audio.AudioPackingMode", Values: []string{"SingleTrack", "OneChannelPerTrack", "OneChannelPerTrackWithMosTo8Tracks"},
		Unsupported: map[string]string{
			"OneChannelPerTrack":                 "vidjob writes all channels in one track",
			"OneChannelPerTrackWithMosTo8Tracks": "vidjob writes all channels in one track",
		},
		value: audio(func(a *AudioSettings) string { return a.AudioPackingMode })},
	{Field: "Audio.CodecOptions.Profile", Codecs: []string{"aac"}, Values: []string{"auto", "AAC-LC", "HE-AAC", "HE-AACv2"},
		Unsupported: map[string]string{"HE-AAC": "ffmpeg's AAC encoder makes AAC-LC only", "HE-AACv2": "ffmpeg's AAC encoder makes AAC-LC only"},
		value:       audio(func(a *AudioSettings) string { return a.Profile })},
	{Field: "Audio.CodecOptions.BitDepth", Codecs: []string{"flac"}, Values: []string{"16", "24"}, value: audio(func(a *AudioSettings) string { return string(a.BitDepth) })},
	{Field: "Audio.CodecOptions.BitDepth", Codecs: []string{"pcm"}, Values: []string{"8", "16", "24", "32"},
		Unsupported: map[string]string{"32": "vidjob writes PCM as unsigned 8-bit or signed 16- or 24-bit"},
		value:       audio(func(a *AudioSettings) string { return string(a.BitDepth) })},
	{Field: "Audio.CodecOptions.BitOrder", Codecs: []string{"pcm"}, Values: []string{"LittleEndian"}, value: audio(func(a *AudioSettings) string { return a.BitOrder })},
	{Field: "Audio.CodecOptions.Signed", Codecs: []string{"pcm"}, Values: []string{"Signed", "Unsigned"}, value: audio(func(a *AudioSettings) string { return a.Signed })},

	// Video (ET's VideoParameters and its CodecOptions).
	{Field: "Video.Codec", Values: []string{"H.264", "vp8", "vp9", "mpeg2", "gif"}, value: video(func(v *VideoSettings) string { return v.Codec })},
	{Field: "Video.CodecOptions.Profile", Codecs: []string{"h.264"}, Values: []string{"baseline", "main", "high"}, value: video(func(v *VideoSettings) string { return v.Profile })},
	{Field: "Video.CodecOptions.Profile", Codecs: []string{"vp8", "vp9"}, Values: []string{"0", "1", "2", "3"}, value: video(func(v *VideoSettings) string { return v.Profile })},
	{Field: "Video.CodecOptions.Level", Codecs: []string{"h.264"}, Values: []string{"1", "1b", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "3", "3.1", "3.2", "4", "4.1"},
		Unsupported: map[string]string{"1b": "vidjob does not encode H.264 level 1b; use 1.1"},
		value:       video(func(v *VideoSettings) string { return string(v.Level) })},
	{Field: "Video.CodecOptions.MaxReferenceFrames", Codecs: []string{"h.264"}, Min: 0, Max: 16,
		Unsupported: map[string]string{"0": "x264 needs at least one reference frame"},
		value:       video(func(v *VideoSettings) string { return string(v.MaxReferenceFrames) })},
	{Field: "Video.CodecOptions.MaxBitRate", Codecs: []string{"h.264", "mpeg2", "vp8", "vp9"}, Min: 16, Max: 62500, value: video(func(v *VideoSettings) string { return string(v.MaxBitRate) })},
	// ET asked only for a BufferSize above 0 and set it to ten times
	// MaxBitRate when left out; ten times the largest MaxBitRate bounds it.
	{Field: "Video.CodecOptions.BufferSize", Codecs: []string{"h.264", "mpeg2", "vp8", "vp9"}, Min: 1, Max: 625000, value: video(func(v *VideoSettings) string { return string(v.BufferSize) })},
	{Field: "Video.CodecOptions.InterlacedMode", Codecs: []string{"h.264", "mpeg2"}, Values: []string{"Progressive", "TopFirst", "BottomFirst", "Auto"},
		Unsupported: map[string]string{"BottomFirst": "vidjob interlaces top field first only", "Auto": "vidjob interlaces top field first only; say TopFirst"},
		value:       video(func(v *VideoSettings) string { return v.InterlacedMode })},
	{Field: "Video.CodecOptions.ColorSpaceConversionMode", Codecs: []string{"h.264", "mpeg2"}, Values: []string{"None", "Bt709toBt601", "Bt601toBt709", "Auto"}, value: video(func(v *VideoSettings) string { return v.ColorSpaceConversionMode })},
	{Field: "Video.CodecOptions.ChromaSubsampling", Codecs: []string{"h.264", "mpeg2"}, Values: []string{"yuv420p", "yuv422p"}, value: video(func(v *VideoSettings) string { return v.ChromaSubsampling })},
	{Field: "Video.CodecOptions.LoopCount", Codecs: []string{"gif"}, Values: []string{"Infinite"}, Min: 0, Max: 100, value: video(func(v *VideoSettings) string { return v.LoopCount })},
	{Field: "Video.KeyframesMaxDist", Codecs: []string{"h.264", "mpeg2", "vp8", "vp9"}, Min: 1, Max: 100000, value: video(func(v *VideoSettings) string { return string(v.KeyframesMaxDist) })},
	{Field: "Video.FixedGOP", Values: []string{"true", "false"}, value: video(func(v *VideoSettings) string { return string(v.FixedGOP) })},
	{Field: "Video.BitRate", Values: []string{"auto"}, Min: 16, Max: 62500,
		Unsupported: map[string]string{"auto": "vidjob encodes to a target bit rate; give one in kb/s"},
		value:       video(func(v *VideoSettings) string { return string(v.BitRate) })},
	{Field: "Video.FrameRate", Values: append([]string{"auto"}, etFrameRates...), value: video(func(v *VideoSettings) string { return string(v.FrameRate) })},
	{Field: "Video.MaxFrameRate", Values: etFrameRates, value: video(func(v *VideoSettings) string { return string(v.MaxFrameRate) })},
	{Field: "Video.MaxWidth", Values: []string{"auto"}, Min: 128, Max: 4096, Even: true, value: video(func(v *VideoSettings) string { return string(v.MaxWidth) })},
	{Field: "Video.MaxHeight", Values: []string{"auto"}, Min: 96, Max: 3072, Even: true, value: video(func(v *VideoSettings) string { return string(v.MaxHeight) })},
	{Field: "Video.DisplayAspectRatio", Values: etAspectRatios, value: video(func(v *VideoSettings) string { return v.DisplayAspectRatio })},
	{Field: "Video.SizingPolicy", Values: etSizingPolicies, value: video(func(v *VideoSettings) string { return v.SizingPolicy })},
	{Field: "Video.PaddingPolicy", Values: etPadding, value: video(func(v *VideoSettings) string { return v.PaddingPolicy })},

	// Thumbnails (ET's Thumbnails; vidjob does not make thumbnails yet, but
	// a preset holds them to ET's ranges so that it stays a valid ET preset).
	{Field: "Thumbnails.Format", Values: []string{"jpg", "png"}, value: thumbnails(func(t *ThumbnailSettings) string { return t.Format })},
	{Field: "Thumbnails.Interval", Min: 1, Max: 99999, value: thumbnails(func(t *ThumbnailSettings) string { return string(t.Interval) })},
	{Field: "Thumbnails.MaxWidth", Values: []string{"auto"}, Min: 32, Max: 4096, Even: true, value: thumbnails(func(t *ThumbnailSettings) string { return string(t.MaxWidth) })},
	{Field: "Thumbnails.MaxHeight", Values: []string{"auto"}, Min: 32, Max: 3072, Even: true, value: thumbnails(func(t *ThumbnailSettings) string { return string(t.MaxHeight) })},
	{Field: "Thumbnails.SizingPolicy", Values: etSizingPolicies, value: thumbnails(func(t *ThumbnailSettings) string { return t.SizingPolicy })},
	{Field: "Thumbnails.PaddingPolicy", Values: etPadding, value: thumbnails(func(t *ThumbnailSettings) string { return t.PaddingPolicy })},
}

// MaxWatermarks is how many watermark settings ET allowed in one preset.
const MaxWatermarks = 4

// watermarkRules are ET's PresetWatermark ranges, checked for each of a
// preset's watermarks; Field is relative to the watermark.
var watermarkRules = []presetRule{
	{Field: "Id", Form: func(v string) bool { return len(v) <= 40 }, Want: "at most 40 characters", value: mark(func(w *Watermark) string { return w.ID })},
	{Field: "MaxWidth", Form: pixelsOrPercent(16, 4096), Want: "16px to 4096px or 0% to 100%", value: mark(func(w *Watermark) string { return w.MaxWidth })},
	{Field: "MaxHeight", Form: pixelsOrPercent(16, 3072), Want: "16px to 3072px or 0% to 100%", value: mark(func(w *Watermark) string { return w.MaxHeight })},
	{Field: "SizingPolicy", Values: []string{"Fit", "Stretch", "ShrinkToFit"}, value: mark(func(w *Watermark) string { return w.SizingPolicy })},
	{Field: "HorizontalAlign", Values: []string{"Left", "Right", "Center"}, value: mark(func(w *Watermark) string { return w.HorizontalAlign })},
	{Field: "HorizontalOffset", Form: pixelsOrPercent(0, 4096), Want: "0px to 4096px or 0% to 100%", value: mark(func(w *Watermark) string { return w.HorizontalOffset })},
	{Field: "VerticalAlign", Values: []string{"Top", "Bottom", "Center"}, value: mark(func(w *Watermark) string { return w.VerticalAlign })},
	{Field: "VerticalOffset", Form: pixelsOrPercent(0, 3072), Want: "0px to 3072px or 0% to 100%", value: mark(func(w *Watermark) string { return w.VerticalOffset })},
	{Field: "Opacity", Form: func(v string) bool { return decimalIn(v, 0, 100) }, Want: "a number from 0 to 100", value: mark(func(w *Watermark) string { return w.Opacity })},
	{Field: "Target", Values: []string{"Content", "Frame"}, value: mark(func(w *Watermark) string { return w.Target })},
}

// pixelsOrPercent accepts ET's "Npx" (a whole number of pixels from min to
// max) or "N%" (0 to 100, decimals allowed).
func pixelsOrPercent(min, max int) func(string) bool {
	return func(v string) bool {
		if n, ok := strings.CutSuffix(v, "px"); ok {
			return (&presetRule{Min: min, Max: max}).allows(n) && n != ""
		}
		if n, ok := strings.CutSuffix(v, "%"); ok {
			return decimalIn(n, 0, 100)
		}
		return false
	}
}

// decimalIn reports whether v is a plain decimal number ("55", "55.5") from
// min to max.
func decimalIn(v string, min, max float64) bool {
	whole, frac, _ := strings.Cut(v, ".")
	if whole == "" || len(whole) > 3 || strings.TrimLeft(whole, "0123456789") != "" || strings.TrimLeft(frac, "0123456789") != "" {
		return false
	}
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f >= min && f <= max
}

func mark(get func(*Watermark) string) func(*Preset) (string, string, bool) {
	// The watermark being checked is passed as the preset's only one; see
	// Validate.
	return func(p *Preset) (string, string, bool) {
		if len(p.Watermarks) != 1 {
			return "", "", false
		}
		return get(&p.Watermarks[0]), "", true
	}
}

func audio(get func(*AudioSettings) string) func(*Preset) (string, string, bool) {
	return func(p *Preset) (string, string, bool) {
		if p.Audio == nil {
			return "", "", false
		}
		return get(p.Audio), p.Audio.Codec, true
	}
}

func video(get func(*VideoSettings) string) func(*Preset) (string, string, bool) {
	return func(p *Preset) (string, string, bool) {
		if p.Video == nil {
			return "", "", false
		}
		return get(p.Video), p.Video.Codec, true
	}
}

func thumbnails(get func(*ThumbnailSettings) string) func(*Preset) (string, string, bool) {
	return func(p *Preset) (string, string, bool) {
		if p.Thumbnails == nil {
			return "", "", false
		}
		return get(p.Thumbnails), "", true
	}
}

// Validate reports, as an EINVALID *Error, the first setting of the preset
// that is outside the range Elastic Transcoder's CreatePreset allowed, or
// that ET allowed but vidjob cannot encode as asked, e.g.
// `Audio.SampleRate must be one of auto, 22050, 32000, 44100, 48000, 96000 (got "1").`
// It checks values one at a time; what needs several settings together (a
// bit rate within a level, a container's codecs) is Supported's and the
// ffmpeg package's.
func (p *Preset) Validate() error {
	for _, r := range presetRules {
		v, codec, ok := r.value(p)
		if !ok || v == "" || (r.Codecs != nil && !slices.Contains(r.Codecs, strings.ToLower(codec))) {
			continue
		}
		if err := r.check(r.Field, v); err != nil {
			return err
		}
	}
	if p.Video == nil && len(p.Watermarks) > 0 {
		return Errorf(EINVALID, "Video.Watermarks need Video settings.")
	}
	if len(p.Watermarks) > MaxWatermarks {
		return Errorf(EINVALID, "Video.Watermarks may hold at most %d watermarks (got %d).", MaxWatermarks, len(p.Watermarks))
	}
	for i := range p.Watermarks {
		one := &Preset{Watermarks: p.Watermarks[i : i+1]}
		if p.Watermarks[i].ID == "" {
			return Errorf(EINVALID, "Video.Watermarks[%d].Id is required.", i)
		}
		for _, r := range watermarkRules {
			if v, _, _ := r.value(one); v != "" {
				if err := r.check(fmt.Sprintf("Video.Watermarks[%d].%s", i, r.Field), v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// check reports why v, the value of field, does not meet the rule.
func (r *presetRule) check(field, v string) error {
	if !r.allows(v) && r.Note != "" {
		return Errorf(EINVALID, "%s must be %s (got %q): %s.", field, r.describe(), v, r.Note)
	}
	if !r.allows(v) {
		return Errorf(EINVALID, "%s must be %s (got %q).", field, r.describe(), v)
	}
	if why, ok := r.Unsupported[v]; ok {
		return Errorf(EINVALID, "%s %s is allowed by Elastic Transcoder, but %s.", field, v, why)
	}
	return nil
}

// allows reports whether ET accepted v.
func (r *presetRule) allows(v string) bool {
	if slices.Contains(r.Values, v) {
		return true
	}
	if r.Form != nil {
		return r.Form(v)
	}
	if r.Max == 0 {
		return false
	}
	// Digits only, as ET's model has it: no sign, no spaces, no "1e3".
	if len(v) > 6 || strings.TrimLeft(v, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= r.Min && n <= r.Max && (!r.Even || n%2 == 0)
}

// describe says what the rule allows, for its error message.
func (r *presetRule) describe() string {
	if r.Form != nil {
		return r.Want
	}
	if r.Max == 0 {
		return "one of " + strings.Join(r.Values, ", ")
	}
	number := fmt.Sprintf("a whole number from %d to %d", r.Min, r.Max)
	if r.Even {
		number = fmt.Sprintf("an even whole number from %d to %d", r.Min, r.Max)
	}
	if len(r.Values) == 0 {
		return number
	}
	return strings.Join(r.Values, ", ") + " or " + number
}
