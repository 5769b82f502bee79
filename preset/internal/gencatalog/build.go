package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// entry mirrors one reference preset field for field and in the reference's
// order, with pointers for nullable strings, so that writing it back changes
// nothing the fills do not touch.
type entry struct {
	ID                  string          `json:"id"`
	Status              string          `json:"status"`
	AWSDocLabel         *string         `json:"aws_doc_label"`
	ReplacementID       *string         `json:"replacement_id,omitempty"`
	Name                *string         `json:"name"`
	Description         *string         `json:"description"`
	Container           *string         `json:"container"`
	Video               *video          `json:"video"`
	Audio               *audio          `json:"audio"`
	Thumbnails          *thumbnails     `json:"thumbnails"`
	HasVideo            *bool           `json:"has_video"`
	HasAudio            *bool           `json:"has_audio"`
	Source              []string        `json:"source"`
	FieldProvenance     provenance      `json:"field_provenance"`
	Notes               []string        `json:"notes"`
	UnverifiedHints     json.RawMessage `json:"unverified_hints"`
	InBlitlineList      bool            `json:"in_blitline_list"`
	BlitlineDescription *string         `json:"blitline_description"`
}

type video struct {
	Codec                    *string `json:"codec"`
	Profile                  *string `json:"profile"`
	Level                    *string `json:"level"`
	BitRate                  *string `json:"bitrate_kbps"`
	MaxWidth                 *string `json:"max_width"`
	MaxHeight                *string `json:"max_height"`
	FrameRate                *string `json:"frame_rate"`
	MaxFrameRate             *string `json:"max_frame_rate"`
	SizingPolicy             *string `json:"sizing_policy"`
	PaddingPolicy            *string `json:"padding_policy"`
	KeyframesMaxDist         *string `json:"keyframes_max_dist"`
	FixedGOP                 *string `json:"fixed_gop"`
	MaxReferenceFrames       *string `json:"max_reference_frames"`
	DisplayAspectRatio       *string `json:"display_aspect_ratio"`
	AspectRatioLegacy        *string `json:"aspect_ratio_legacy"`
	InterlacedMode           *string `json:"interlaced_mode"`
	ColorSpaceConversionMode *string `json:"color_space_conversion_mode"`
	MaxBitRate               *string `json:"max_bit_rate_kbps"`
	BufferSize               *string `json:"buffer_size_kb"`
	ChromaSubsampling        *string `json:"chroma_subsampling"`
	LoopCount                *string `json:"loop_count"`
}

type audio struct {
	Codec            *string `json:"codec"`
	Profile          *string `json:"profile"`
	SampleRate       *string `json:"sample_rate"`
	BitRate          *string `json:"bitrate_kbps"`
	Channels         *string `json:"channels"`
	AudioPackingMode *string `json:"audio_packing_mode"`
	BitDepth         *string `json:"bit_depth"`
	BitOrder         *string `json:"bit_order"`
	Signed           *string `json:"signed"`
}

type thumbnails struct {
	Format        *string `json:"format"`
	Interval      *string `json:"interval"`
	MaxWidth      *string `json:"max_width"`
	MaxHeight     *string `json:"max_height"`
	SizingPolicy  *string `json:"sizing_policy"`
	PaddingPolicy *string `json:"padding_policy"`
}

// audioFill is vidjob's choice for the audio settings of one current MP4/H.264
// preset whose reference audio is unknown. Empty fields are left as the
// reference has them.
type audioFill struct {
	codec, profile, sampleRate, bitrate, channels string
	why                                           string
}

// Reasons shared by several fills.
const (
	hintWhy = "the bit rate is that of the 2015 FFmpeg re-creation in unverified_hints, " +
		"whose audio bit rates match ET on all six presets where an ET dump exists; " +
		"44.1 kHz stereo AAC-LC is what every ET MP4 preset with a known dump uses"
	interlacedWhy = "no ET dump and no hint exists; 48 kHz is the sample rate of broadcast " +
		"video, which is what an interlaced 1080i MP4 is made for, and 160 kb/s stereo " +
		"AAC-LC matches ET's other HD MP4 presets"
)

// audioFills are the filled audio settings by preset ID. Keeping them as data
// beside the reference (rather than editing the JSON by hand) makes every
// departure from ET's record reviewable in one place.
var audioFills = map[string]audioFill{
	"1351620000001-000030": {"AAC", "AAC-LC", "44100", "128", "2", hintWhy},
	"1351620000001-000040": {"AAC", "AAC-LC", "44100", "128", "2", hintWhy},
	"1351620000001-000050": {"AAC", "AAC-LC", "44100", "128", "2", hintWhy},
	"1351620000001-000061": {"", "", "44100", "64", "2",
		"the bit rate is that of the 2015 FFmpeg re-creation in unverified_hints; 44.1 kHz " +
			"stereo like the other Generic presets; the reference's profile \"auto\" is kept and " +
			"runs as AAC-LC, the only AAC profile ffmpeg's native encoder makes (ET's auto " +
			"may have chosen HE-AAC at this rate)"},
	"1351620000001-100020": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy},
	"1351620000001-100040": {"AAC", "AAC-LC", "44100", "128", "2", hintWhy},
	"1351620000001-100050": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy},
	"1351620000001-100060": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy},
	"1351620000001-100080": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy},
	"1351620000001-100090": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy},
	"1351620000001-100150": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy},
	"1351620000001-100180": {"AAC", "AAC-LC", "48000", "160", "2", interlacedWhy},
	"1351620000001-100190": {"AAC", "AAC-LC", "48000", "160", "2", interlacedWhy},
}

// extraNotes explain, without changing any value, how vidjob reads a reference
// setting that ffmpeg cannot take literally.
var extraNotes = map[string]string{
	"1351620000001-100141": "audio: profile \"auto\" in the reference runs as AAC-LC, the only AAC " +
		"profile ffmpeg's native encoder makes; the other settings are ET's.",
	"1351620000001-100180": "video: ShrinkToFill + Pad means the picture is scaled down (never up) " +
		"to cover 1920x1080, cropped to it when larger, and padded with black to exactly 1920x1080; " +
		"x264 codes it interlaced, top field first.",
	"1351620000001-100190": "video: ShrinkToFill + Pad means the picture is scaled down (never up) " +
		"to cover 1920x1080, cropped to it when larger, and padded with black to exactly 1920x1080; " +
		"x264 codes it interlaced, top field first.",
}

// build turns the reference JSON into the catalog JSON.
func build(ref []byte) ([]byte, error) {
	var entries []*entry
	dec := json.NewDecoder(bytes.NewReader(ref))
	dec.DisallowUnknownFields() // a new reference field must be added here, not dropped
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("parse reference: %w", err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.ID] = true
		if e.Notes == nil {
			e.Notes = []string{}
		}
		if f, ok := audioFills[e.ID]; ok {
			if err := fill(e, f); err != nil {
				return nil, err
			}
		}
		if n, ok := extraNotes[e.ID]; ok {
			e.Notes = append(e.Notes, n)
		}
	}
	for id := range audioFills {
		if !seen[id] {
			return nil, fmt.Errorf("audio fill for %s, which the reference does not have", id)
		}
	}
	for id := range extraNotes {
		if !seen[id] {
			return nil, fmt.Errorf("note for %s, which the reference does not have", id)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(entries); err != nil {
		return nil, fmt.Errorf("encode catalog: %w", err)
	}
	return buf.Bytes(), nil
}

// fill sets the null audio fields of e from f and records the choice. It
// refuses to overwrite a value the reference has, so a newer reference with
// real data wins loudly instead of being silently masked.
func fill(e *entry, f audioFill) error {
	if e.Status != "current" || deref(e.Container) != "mp4" || e.Video == nil || deref(e.Video.Codec) != "H.264" {
		return fmt.Errorf("audio fill for %s, which is not a current MP4/H.264 preset", e.ID)
	}
	if e.Audio == nil {
		e.Audio = &audio{}
	}
	var set []string
	for _, s := range []struct {
		name  string
		field **string
		value string
	}{
		{"codec", &e.Audio.Codec, f.codec},
		{"profile", &e.Audio.Profile, f.profile},
		{"sample_rate", &e.Audio.SampleRate, f.sampleRate},
		{"bitrate_kbps", &e.Audio.BitRate, f.bitrate},
		{"channels", &e.Audio.Channels, f.channels},
	} {
		if s.value == "" {
			continue
		}
		if *s.field != nil {
			return fmt.Errorf("audio fill for %s would overwrite %s=%q from the reference", e.ID, s.name, **s.field)
		}
		v := s.value
		*s.field = &v
		set = append(set, s.name+"="+v)
	}
	t := true
	e.HasAudio = &t
	e.Notes = append(e.Notes, fmt.Sprintf("audio: %s null in the reference; vidjob filled %s because %s.",
		nullWhat(set), strings.Join(set, ", "), f.why))
	const filled = "FILLED by vidjob (see notes)"
	if i := e.FieldProvenance.index("audio"); i >= 0 {
		e.FieldProvenance[i].value += "; " + filled
	} else {
		e.FieldProvenance = append(e.FieldProvenance, pair{"audio", filled})
	}
	return nil
}

// nullWhat names the fields as the note's subject.
func nullWhat(set []string) string {
	if len(set) == 5 {
		return "all settings"
	}
	names := make([]string, len(set))
	for i, s := range set {
		names[i], _, _ = strings.Cut(s, "=")
	}
	return strings.Join(names, ", ")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// provenance is the reference's field_provenance object (field → where its value
// came from) with its keys in their original order, which a map would lose.
type provenance []pair

type pair struct{ key, value string }

func (p provenance) index(key string) int {
	for i, kv := range p {
		if kv.key == key {
			return i
		}
	}
	return -1
}

// UnmarshalJSON reads a flat JSON object of strings, keeping key order.
func (p *provenance) UnmarshalJSON(data []byte) error {
	*p = nil
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("field_provenance is not an object")
	}
	*p = provenance{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return fmt.Errorf("field_provenance: %w", err)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("field_provenance[%v]: %w", k, err)
		}
		*p = append(*p, pair{k.(string), v})
	}
	return nil
}

// MarshalJSON writes the object back in the same key order.
func (p provenance) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.key)
		v, _ := json.Marshal(kv.value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
