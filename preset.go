package vidjob

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Preset is one AWS Elastic Transcoder system preset as vidjob's catalog holds it.
// The fields mirror the ET ReadPreset/ListPresets JSON (snake-cased) and keep ET's
// string values, because the catalog is data built from ET's own answers and the
// strings are what clients and AWS documentation quote; the numeric settings are
// PresetValue strings with parsing methods for the code that needs numbers.
type Preset struct {
	// ID is ET's preset ID, e.g. "1351620000001-000010".
	ID string `json:"id"`
	// Status is "current" or "deprecated"; a deprecated preset names its
	// ReplacementID and carries no settings of its own.
	Status string `json:"status"`
	// AWSDocLabel is the preset's label in AWS's system-preset table.
	AWSDocLabel string `json:"aws_doc_label,omitempty"`
	// ReplacementID is, for a deprecated preset, the ID of the preset AWS
	// recommends instead (it may itself be deprecated).
	ReplacementID string `json:"replacement_id,omitempty"`
	// Name is ET's Name, e.g. "System preset: Generic 720p".
	Name string `json:"name"`
	// Description is ET's Description, e.g. "System preset generic 720p"; Blitline
	// clients send it as preset_id.
	Description string `json:"description"`
	// Container is ET's container: mp4, ts, fmp4, webm, gif, flv, mpg, mxf, mp3...
	// Empty when unknown.
	Container string `json:"container"`
	// Video is nil for audio-only presets.
	Video *VideoSettings `json:"video"`
	// Audio is nil for presets without audio.
	Audio *AudioSettings `json:"audio"`
	// Thumbnails are ET's thumbnail settings; vidjob does not make thumbnails yet.
	Thumbnails *ThumbnailSettings `json:"thumbnails"`
	// Watermarks are ET's Video.Watermarks of a custom preset, checked
	// against ET's ranges and kept; vidjob does not draw watermarks (a
	// Blitline job names no watermark image).
	Watermarks []Watermark `json:"watermarks,omitempty"`
	// HasVideo and HasAudio are nil when the reference does not know.
	HasVideo *bool `json:"has_video"`
	HasAudio *bool `json:"has_audio"`
	// InBlitlineList reports whether Blitline's own preset list named this preset.
	InBlitlineList bool `json:"in_blitline_list"`
	// BlitlineDescription is the string Blitline's list showed for the preset
	// (often the Description without "System preset: "); clients may send it.
	BlitlineDescription string `json:"blitline_description,omitempty"`
	// Notes record where the catalog departs from or adds to ET's data, and why.
	Notes []string `json:"notes"`
	// Packaging is how a segmented container is packaged: "hls" (ts), "dash"
	// or "smooth" (fmp4); empty for single-file outputs. ET's presets only say
	// fmp4 and left Smooth or DASH to the job's playlist; vidjob's catalog
	// records the packaging each preset is named for.
	Packaging string `json:"packaging,omitempty"`
}

// The values of Preset.Packaging.
const (
	PackagingHLS    = "hls"
	PackagingDASH   = "dash"
	PackagingSmooth = "smooth"
)

// Segmented reports whether the output is a playlist or manifest with
// segment files beside it.
func (p *Preset) Segmented() bool {
	return p.Packaging == PackagingHLS || p.Packaging == PackagingDASH
}

// OutputExtension is the extension of the preset's main output file (the
// playlist or manifest of a segmented output).
func (p *Preset) OutputExtension() string {
	if p.Packaging == PackagingSmooth {
		return ".ismv"
	}
	return ContainerExtension(p.Container)
}

// OutputContentType is the media type of the preset's main output file.
func (p *Preset) OutputContentType() string {
	if p.Packaging == PackagingSmooth {
		return "video/mp4"
	}
	return ContainerContentType(p.Container)
}

// The values of Preset.Status.
const (
	PresetCurrent    = "current"
	PresetDeprecated = "deprecated"
)

// VideoSettings are ET's Video settings of a preset.
type VideoSettings struct {
	Codec   string      `json:"codec"`   // "H.264", "mpeg2", "vp8", "vp9", "gif"
	Profile string      `json:"profile"` // H.264: "baseline", "main" or "high"
	Level   PresetValue `json:"level"`   // H.264 level as ET writes it: "1.3", "3", "3.1", "4.1"
	// BitRate is the target video bit rate in kb/s.
	BitRate PresetValue `json:"bitrate_kbps"`
	// MaxWidth and MaxHeight bound the output picture (or "auto").
	MaxWidth  PresetValue `json:"max_width"`
	MaxHeight PresetValue `json:"max_height"`
	// FrameRate is frames per second ("29.97", "30", "auto"); "auto" keeps the
	// source's rate, capped at MaxFrameRate when that is set.
	FrameRate    PresetValue `json:"frame_rate"`
	MaxFrameRate PresetValue `json:"max_frame_rate"`
	// SizingPolicy is ET's: Fit, Fill, Stretch, Keep, ShrinkToFit, ShrinkToFill.
	SizingPolicy string `json:"sizing_policy"`
	// PaddingPolicy is "Pad" (black bars up to MaxWidth×MaxHeight) or "NoPad".
	PaddingPolicy string `json:"padding_policy"`
	// KeyframesMaxDist is the largest number of frames between keyframes.
	KeyframesMaxDist PresetValue `json:"keyframes_max_dist"`
	// FixedGOP ("true"/"false") asks for keyframes at exactly KeyframesMaxDist.
	FixedGOP           PresetValue `json:"fixed_gop"`
	MaxReferenceFrames PresetValue `json:"max_reference_frames"`
	DisplayAspectRatio string      `json:"display_aspect_ratio"`
	AspectRatioLegacy  string      `json:"aspect_ratio_legacy,omitempty"`
	// InterlacedMode is "Progressive", "TopFirst", "BottomFirst" or "Auto".
	InterlacedMode           string `json:"interlaced_mode"`
	ColorSpaceConversionMode string `json:"color_space_conversion_mode"`
	// MaxBitRate (kb/s) and BufferSize (kilobits) are ET's VBV settings.
	MaxBitRate        PresetValue `json:"max_bit_rate_kbps"`
	BufferSize        PresetValue `json:"buffer_size_kb"`
	ChromaSubsampling string      `json:"chroma_subsampling,omitempty"`
	LoopCount         string      `json:"loop_count,omitempty"`
}

// AudioSettings are ET's Audio settings of a preset.
type AudioSettings struct {
	Codec   string `json:"codec"`   // "AAC", "mp3", "flac", "pcm", "vorbis"
	Profile string `json:"profile"` // AAC: "AAC-LC", "HE-AAC", "HE-AACv2" or "auto"
	// SampleRate is in Hz; BitRate in kb/s; Channels a count ("auto" allowed).
	SampleRate       PresetValue `json:"sample_rate"`
	BitRate          PresetValue `json:"bitrate_kbps"`
	Channels         PresetValue `json:"channels"`
	AudioPackingMode string      `json:"audio_packing_mode,omitempty"`
	BitDepth         PresetValue `json:"bit_depth,omitempty"`
	BitOrder         string      `json:"bit_order,omitempty"`
	Signed           string      `json:"signed,omitempty"`
}

// ThumbnailSettings are ET's Thumbnails settings of a preset.
type ThumbnailSettings struct {
	Format        string      `json:"format"`
	Interval      PresetValue `json:"interval"` // seconds between thumbnails
	MaxWidth      PresetValue `json:"max_width"`
	MaxHeight     PresetValue `json:"max_height"`
	SizingPolicy  string      `json:"sizing_policy"`
	PaddingPolicy string      `json:"padding_policy"`
}

// Watermark is one of ET's PresetWatermark settings: where a job's graphic
// would go. Sizes and offsets are ET's "Npx" or "N%" strings.
type Watermark struct {
	ID               string `json:"Id"`
	MaxWidth         string `json:"MaxWidth"`
	MaxHeight        string `json:"MaxHeight"`
	SizingPolicy     string `json:"SizingPolicy"`
	HorizontalAlign  string `json:"HorizontalAlign"`
	HorizontalOffset string `json:"HorizontalOffset"`
	VerticalAlign    string `json:"VerticalAlign"`
	VerticalOffset   string `json:"VerticalOffset"`
	Opacity          string `json:"Opacity"`
	Target           string `json:"Target"`
}

// PresetValue is one of ET's string-valued numeric settings ("29.97", "3.1",
// "auto", or "" when unknown). It stays a string so that the catalog says exactly
// what ET says; the methods give the numbers.
type PresetValue string

// IsSet reports whether the value is known (not null in the catalog).
func (v PresetValue) IsSet() bool { return strings.TrimSpace(string(v)) != "" }

// IsAuto reports whether ET leaves the choice to the encoder or the source.
func (v PresetValue) IsAuto() bool { return strings.EqualFold(strings.TrimSpace(string(v)), "auto") }

// Int parses a whole number, e.g. a bit rate or a width.
func (v PresetValue) Int() (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(string(v)))
	if err != nil {
		return 0, fmt.Errorf("preset value %q is not a whole number", string(v))
	}
	return n, nil
}

// Float parses a decimal number, e.g. an H.264 level.
func (v PresetValue) Float() (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("preset value %q is not a number", string(v))
	}
	return f, nil
}

// Bool parses ET's "true"/"false".
func (v PresetValue) Bool() (bool, error) {
	switch strings.ToLower(strings.TrimSpace(string(v))) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("preset value %q is not true or false", string(v))
}

// Rate parses a frame rate into an exact fraction. ET writes the NTSC rates
// rounded ("23.97", "29.97", "59.94"), but means the broadcast rates
// 24000/1001, 30000/1001 and 60000/1001; asking an encoder for 2997/100 would
// drift against every NTSC source, so those spellings map to the exact ones.
func (v PresetValue) Rate() (num, den int, err error) {
	s := strings.TrimSpace(string(v))
	switch s {
	case "23.97", "23.976":
		return 24000, 1001, nil
	case "29.97":
		return 30000, 1001, nil
	case "59.94":
		return 60000, 1001, nil
	}
	f, err := v.Float()
	if err != nil || f <= 0 || f > 1000 {
		return 0, 0, fmt.Errorf("preset value %q is not a frame rate", s)
	}
	if f == math.Trunc(f) {
		return int(f), 1, nil
	}
	return int(math.Round(f * 1000)), 1000, nil
}

// LevelIDC returns an H.264 level as the bitstream's level_idc (and ffprobe's
// "level"): ten times the level, so "3.1" is 31 and "4" is 40.
func (v PresetValue) LevelIDC() (int, error) {
	f, err := v.Float()
	if err != nil || f <= 0 || f > 10 {
		return 0, fmt.Errorf("preset value %q is not an H.264 level", string(v))
	}
	return int(math.Round(f * 10)), nil
}

// Deprecated reports whether AWS retired this preset in favour of ReplacementID.
func (p *Preset) Deprecated() bool { return p.Status == PresetDeprecated }

// Label is how messages name the preset: its Name, else Description, else ID,
// since deprecated presets often have no name on record.
func (p *Preset) Label() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.Description != "":
		return p.Description
	}
	return p.ID
}

// WantsVideo reports whether the preset produces a video stream.
func (p *Preset) WantsVideo() bool { return p.Video != nil && p.Video.Codec != "" }

// WantsAudio reports whether the preset produces an audio stream (when the
// source has one).
func (p *Preset) WantsAudio() bool { return p.Audio != nil && p.Audio.Codec != "" }

// Supported returns nil when this vidjob can run the preset, and otherwise an
// EUNPROCESSABLE error the client can read. It lives on the domain type so the
// API can refuse a job at submission instead of after fetching the source; the
// ffmpeg package checks the settings in full before building a command.
func (p *Preset) Supported() error {
	if p.Deprecated() {
		return Errorf(EUNPROCESSABLE, "Preset %s is deprecated; use %s instead", p.ID, p.ReplacementID)
	}
	container := p.Container
	if container == "" {
		container = "unknown"
	}
	if _, ok := containerFormats[strings.ToLower(p.Container)]; !ok {
		return Errorf(EUNPROCESSABLE, "Preset %s (%s) uses container %s, which this vidjob does not support", p.ID, p.Label(), container)
	}
	if !p.WantsVideo() && !p.WantsAudio() {
		return Errorf(EUNPROCESSABLE, "Preset %s (%s) has no video or audio settings on record, so this vidjob cannot run it", p.ID, p.Label())
	}
	if p.WantsVideo() && !supportedVideoCodecs[strings.ToLower(p.Video.Codec)] {
		return Errorf(EUNPROCESSABLE, "Preset %s (%s) uses video codec %s, which this vidjob does not support", p.ID, p.Label(), p.Video.Codec)
	}
	if p.WantsAudio() && !supportedAudioCodecs[strings.ToLower(p.Audio.Codec)] {
		return Errorf(EUNPROCESSABLE, "Preset %s (%s) uses audio codec %s, which this vidjob does not support", p.ID, p.Label(), p.Audio.Codec)
	}
	return nil
}

// The codecs vidjob encodes, by ET's (lower-cased) names.
var (
	supportedVideoCodecs = map[string]bool{"h.264": true, "mpeg2": true, "vp8": true, "vp9": true, "gif": true}
	supportedAudioCodecs = map[string]bool{"aac": true, "mp3": true, "mp2": true, "vorbis": true, "opus": true, "flac": true, "pcm": true}
)

// AppPreset is a custom preset an application created (POST /presets): only
// that application sees it and its jobs may name it.
type AppPreset struct {
	ID            string
	ApplicationID string
	Name          string
	// Definition is the preset in Elastic Transcoder's JSON shape, with its Id,
	// as package preset reads it back.
	Definition []byte
	CreatedAt  time.Time
}
