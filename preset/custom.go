package preset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/vidjob/vidjob"
)

// etCustom is one preset in Elastic Transcoder's JSON shape (what ReadPreset
// answers and CreatePreset takes), as an operator writes it in a presets file.
// ET's read-only fields (Arn, Type) are accepted and ignored, and the
// settings vidjob does not use (Thumbnails, Watermarks) are checked against
// ET's ranges and kept, so a preset copied from ET's answer loads as it is;
// any other field is an error, so that a typo is not silently a default.
type etCustom struct {
	ID          string         `json:"Id"`
	Arn         string         `json:"Arn"`
	Type        string         `json:"Type"`
	Name        string         `json:"Name"`
	Description string         `json:"Description"`
	Container   string         `json:"Container"`
	Video       *etCustomVideo `json:"Video"`
	Audio       *etCustomAudio `json:"Audio"`
	Thumbnails  *etThumbnails  `json:"Thumbnails"`
	// Packaging is vidjob's: "dash" or "smooth" for fmp4 (ET decided by
	// the job's playlist); "hls" is implied by ts.
	Packaging string `json:"Packaging"`
}

type etCustomVideo struct {
	Codec              string             `json:"Codec"`
	CodecOptions       map[string]string  `json:"CodecOptions"`
	KeyframesMaxDist   string             `json:"KeyframesMaxDist"`
	FixedGOP           string             `json:"FixedGOP"`
	BitRate            string             `json:"BitRate"`
	FrameRate          string             `json:"FrameRate"`
	MaxFrameRate       string             `json:"MaxFrameRate"`
	Resolution         string             `json:"Resolution"`
	AspectRatio        string             `json:"AspectRatio"`
	MaxWidth           string             `json:"MaxWidth"`
	MaxHeight          string             `json:"MaxHeight"`
	DisplayAspectRatio string             `json:"DisplayAspectRatio"`
	SizingPolicy       string             `json:"SizingPolicy"`
	PaddingPolicy      string             `json:"PaddingPolicy"`
	Watermarks         []vidjob.Watermark `json:"Watermarks"`
}

type etThumbnails struct {
	Format        string `json:"Format"`
	Interval      string `json:"Interval"`
	Resolution    string `json:"Resolution"`
	AspectRatio   string `json:"AspectRatio"`
	MaxWidth      string `json:"MaxWidth"`
	MaxHeight     string `json:"MaxHeight"`
	SizingPolicy  string `json:"SizingPolicy"`
	PaddingPolicy string `json:"PaddingPolicy"`
}

type etCustomAudio struct {
	Codec            string            `json:"Codec"`
	SampleRate       string            `json:"SampleRate"`
	BitRate          string            `json:"BitRate"`
	Channels         string            `json:"Channels"`
	AudioPackingMode string            `json:"AudioPackingMode"`
	CodecOptions     map[string]string `json:"CodecOptions"`
}

// customID is what a custom preset's Id may be: short, and safe in logs and
// URLs.
var customID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// videoOptions and audioOptions are the CodecOptions keys ET defines.
var (
	videoOptions = map[string]bool{"Profile": true, "Level": true, "MaxReferenceFrames": true, "MaxBitRate": true,
		"BufferSize": true, "InterlacedMode": true, "ColorSpaceConversionMode": true, "ChromaSubsampling": true, "LoopCount": true}
	audioOptions = map[string]bool{"Profile": true, "BitDepth": true, "BitOrder": true, "Signed": true}
)

// ParseCustom reads an operator's presets file: a JSON array of presets in
// Elastic Transcoder's shape, or ET's ListPresets answer ({"Presets": [...]}).
// It checks what it can without ffmpeg (shape, Id, Name, container, codecs,
// CodecOptions keys); the ffmpeg package checks the settings' values. Errors
// name the preset by position and Id.
func ParseCustom(data []byte) ([]*vidjob.Preset, error) {
	data = bytes.TrimSpace(data)
	var list []json.RawMessage
	if bytes.HasPrefix(data, []byte("{")) {
		var wrapped struct {
			Presets []json.RawMessage `json:"Presets"`
		}
		if err := json.Unmarshal(data, &wrapped); err != nil {
			return nil, fmt.Errorf("presets file: %w", err)
		}
		list = wrapped.Presets
	} else if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("presets file: want a JSON array of presets: %w", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("presets file: no presets")
	}
	var out []*vidjob.Preset
	for i, raw := range list {
		var e etCustom
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("presets file: preset %d: %w", i+1, err)
		}
		p, err := e.preset("custom preset from the operator's presets file")
		if err == nil {
			err = validate(p)
		}
		if err != nil {
			return nil, fmt.Errorf("presets file: preset %d (Id %q): %w", i+1, e.ID, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (e *etCustom) preset(note string) (*vidjob.Preset, error) {
	if !customID.MatchString(e.ID) {
		return nil, fmt.Errorf("Id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if strings.TrimSpace(e.Name) == "" {
		return nil, fmt.Errorf("Name is required")
	}
	p := &vidjob.Preset{
		ID: e.ID, Status: vidjob.PresetCurrent, Name: e.Name, Description: e.Description,
		Container: strings.ToLower(e.Container), Notes: []string{note},
	}
	switch p.Container {
	case "ts":
		if e.Packaging != "" && e.Packaging != vidjob.PackagingHLS {
			return nil, fmt.Errorf("Packaging %q: a ts preset is HLS", e.Packaging)
		}
		p.Packaging = vidjob.PackagingHLS
	case "fmp4":
		if e.Packaging != vidjob.PackagingDASH && e.Packaging != vidjob.PackagingSmooth {
			return nil, fmt.Errorf("Packaging %q: an fmp4 preset needs \"dash\" or \"smooth\"", e.Packaging)
		}
		p.Packaging = e.Packaging
	default:
		if e.Packaging != "" {
			return nil, fmt.Errorf("Packaging %q: only ts and fmp4 presets are packaged", e.Packaging)
		}
	}
	if v := e.Video; v != nil {
		if v.Resolution != "" || v.AspectRatio != "" {
			return nil, fmt.Errorf("Video.Resolution and Video.AspectRatio are ET's legacy settings; use MaxWidth, MaxHeight and DisplayAspectRatio")
		}
		for k := range v.CodecOptions {
			if !videoOptions[k] {
				return nil, fmt.Errorf("Video.CodecOptions.%s is not an ET video codec option", k)
			}
		}
		o := v.CodecOptions
		p.Video = &vidjob.VideoSettings{
			Codec: v.Codec, Profile: o["Profile"], Level: vidjob.PresetValue(o["Level"]),
			BitRate: vidjob.PresetValue(v.BitRate), MaxWidth: vidjob.PresetValue(v.MaxWidth), MaxHeight: vidjob.PresetValue(v.MaxHeight),
			FrameRate: vidjob.PresetValue(v.FrameRate), MaxFrameRate: vidjob.PresetValue(v.MaxFrameRate),
			SizingPolicy: v.SizingPolicy, PaddingPolicy: v.PaddingPolicy,
			KeyframesMaxDist: vidjob.PresetValue(v.KeyframesMaxDist), FixedGOP: vidjob.PresetValue(v.FixedGOP),
			MaxReferenceFrames: vidjob.PresetValue(o["MaxReferenceFrames"]), DisplayAspectRatio: v.DisplayAspectRatio,
			InterlacedMode: o["InterlacedMode"], ColorSpaceConversionMode: o["ColorSpaceConversionMode"],
			MaxBitRate: vidjob.PresetValue(o["MaxBitRate"]), BufferSize: vidjob.PresetValue(o["BufferSize"]),
			ChromaSubsampling: o["ChromaSubsampling"], LoopCount: o["LoopCount"],
		}
		p.Watermarks = v.Watermarks
	}
	if t := e.Thumbnails; t != nil {
		if t.Resolution != "" || t.AspectRatio != "" {
			return nil, fmt.Errorf("Thumbnails.Resolution and Thumbnails.AspectRatio are ET's legacy settings; use MaxWidth and MaxHeight")
		}
		p.Thumbnails = &vidjob.ThumbnailSettings{
			Format: t.Format, Interval: vidjob.PresetValue(t.Interval),
			MaxWidth: vidjob.PresetValue(t.MaxWidth), MaxHeight: vidjob.PresetValue(t.MaxHeight),
			SizingPolicy: t.SizingPolicy, PaddingPolicy: t.PaddingPolicy,
		}
	}
	if v := p.Video; v != nil && v.Codec == "H.264" && strings.TrimSpace(string(v.MaxReferenceFrames)) == "" {
		// ET's console offered 3 when a preset left this out; it is also
		// x264's own default at its medium preset.
		v.MaxReferenceFrames = "3"
		p.Notes = append(p.Notes, "Video.CodecOptions.MaxReferenceFrames was not given: 3, the value Elastic Transcoder's console proposed and x264's default.")
	}
	if a := e.Audio; a != nil {
		for k := range a.CodecOptions {
			if !audioOptions[k] {
				return nil, fmt.Errorf("Audio.CodecOptions.%s is not an ET audio codec option", k)
			}
		}
		o := a.CodecOptions
		p.Audio = &vidjob.AudioSettings{
			Codec: a.Codec, Profile: o["Profile"], SampleRate: vidjob.PresetValue(a.SampleRate),
			BitRate: vidjob.PresetValue(a.BitRate), Channels: vidjob.PresetValue(a.Channels),
			AudioPackingMode: a.AudioPackingMode, BitDepth: vidjob.PresetValue(o["BitDepth"]),
			BitOrder: o["BitOrder"], Signed: o["Signed"],
		}
	}
	if err := p.Supported(); err != nil {
		return nil, fmt.Errorf("%s", vidjob.ErrorMessage(err))
	}
	return p, nil
}

// validate holds a new custom preset to Elastic Transcoder's ranges
// (vidjob.Preset.Validate). It is not applied to presets read back from the
// database, so that a preset stored before a range was added still loads
// and the application can see and delete it.
func validate(p *vidjob.Preset) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s", vidjob.ErrorMessage(err))
	}
	return nil
}

// LoadWithCustom returns the embedded catalog with the custom presets added.
// A custom preset may not reuse a system preset's Id, Name or Description
// (nor another custom preset's): a job's preset_id must mean one preset.
func LoadWithCustom(custom []*vidjob.Preset) (*Catalog, error) {
	var presets []*vidjob.Preset
	if err := json.Unmarshal(catalogJSON, &presets); err != nil {
		return nil, fmt.Errorf("embedded preset catalog: %w", err)
	}
	for _, p := range custom {
		presets = append(presets, clonePreset(p))
	}
	c, err := build(presets)
	if err != nil {
		return nil, fmt.Errorf("presets file: %w", err)
	}
	return c, nil
}
