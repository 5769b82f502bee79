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
	// Packaging is vidjob's addition (not in the reference): how a segmented
	// container is packaged, "hls", "dash" or "smooth".
	Packaging string `json:"packaging,omitempty"`
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

// audioFill is vidjob's choice for the audio settings of one current preset
// whose reference audio is unknown. Empty fields are left as the reference has
// them.
type audioFill struct {
	codec, profile, sampleRate, bitrate, channels string
	why                                           string
	// bitDepth and signed are for PCM and FLAC only.
	bitDepth, signed string
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
	"1351620000001-000030": {"AAC", "AAC-LC", "44100", "128", "2", hintWhy, "", ""},
	"1351620000001-000040": {"AAC", "AAC-LC", "44100", "128", "2", hintWhy, "", ""},
	"1351620000001-000050": {"AAC", "AAC-LC", "44100", "128", "2", hintWhy, "", ""},
	"1351620000001-000061": {"", "", "44100", "64", "2",
		"the bit rate is that of the 2015 FFmpeg re-creation in unverified_hints; 44.1 kHz " +
			"stereo like the other Generic presets; the reference's profile \"auto\" is kept and " +
			"runs as AAC-LC, the only AAC profile ffmpeg's native encoder makes (ET's auto " +
			"may have chosen HE-AAC at this rate)", "", ""},
	"1351620000001-100020": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy, "", ""},
	"1351620000001-100040": {"AAC", "AAC-LC", "44100", "128", "2", hintWhy, "", ""},
	"1351620000001-100050": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy, "", ""},
	"1351620000001-100060": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy, "", ""},
	"1351620000001-100080": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy, "", ""},
	"1351620000001-100090": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy, "", ""},
	"1351620000001-100150": {"AAC", "AAC-LC", "44100", "160", "2", hintWhy, "", ""},
	"1351620000001-100180": {"AAC", "AAC-LC", "48000", "160", "2", interlacedWhy, "", ""},
	"1351620000001-100190": {"AAC", "AAC-LC", "48000", "160", "2", interlacedWhy, "", ""},
}

// Reasons for the fills of the presets beyond MP4.
const (
	hlsWhy = "the bit rate is that of the 2015 FFmpeg re-creation in unverified_hints; " +
		"44.1 kHz stereo AAC-LC is what ET's HLS 400k and 600k presets (whose audio the reference has) use"
	smoothWhy = "no ET dump and no hint exists; stereo 44.1 kHz AAC-LC like ET's Smooth 3M and 2M " +
		"presets, at 128 kb/s, the rate ET's lower-rate HLS presets use, since these renditions are for slower links"
	webmVP8Why = "no ET dump and no hint exists; Vorbis is the audio codec WebM was defined with " +
		"(every WebM player decodes it), at 44.1 kHz stereo 160 kb/s like ET's 720p MP4 presets"
	webmVP9Why = "no ET dump and no hint exists; Opus is the audio codec paired with VP9 in WebM " +
		"by every browser that plays VP9, at its native 48 kHz, stereo, 128 kb/s (transparent for Opus)"
	mpgWhy = "no ET dump and no hint exists; MPEG-1 Layer II at 48 kHz stereo 224 kb/s is the audio " +
		"of DVD-style MPEG-2 program streams, which NTSC/PAL MPG outputs are made for, and ET's mpg " +
		"container takes mp2"
	mxfWhy = "no ET dump and no hint exists; XDCAM HD422 carries uncompressed 24-bit PCM at 48 kHz; " +
		"vidjob writes one stereo track (ffmpeg's MXF muxer; broadcast ingest tools take it)"
	flvWhy = "no ET dump and no hint exists; AAC-LC 44.1 kHz stereo 128 kb/s, the audio of Flash " +
		"players' H.264 FLV and of ET's HLS presets at the same picture size"
	audioAutoWhy = "null in the reference; 44.1 kHz stereo, the rate and layout of every ET audio " +
		"preset whose settings are known, and what a source of any layout down- or up-mixes to predictably"
	flacWhy = "the reference has only the name \"Audio FLAC - CD\"; CD audio is 44.1 kHz, 16-bit, stereo"
	wav8Why = "the reference has only the name; 44.1 kHz and 8 bit come from it, stereo like every " +
		"other ET audio preset; 8-bit WAV is unsigned by the WAV format's definition"
	wav16Why = "the reference has only the name; 44.1 kHz 16 bit (CD quality) come from it, stereo " +
		"like CD audio; 16-bit WAV is signed little-endian by the WAV format's definition"
)

// moreAudioFills are the fills of presets in containers other than MP4.
var moreAudioFills = map[string]audioFill{
	"1351620000001-200010": {"AAC", "AAC-LC", "44100", "128", "2", hlsWhy, "", ""},
	"1351620000001-200020": {"AAC", "AAC-LC", "44100", "128", "2", hlsWhy, "", ""},
	"1351620000001-200030": {"AAC", "AAC-LC", "44100", "128", "2", hlsWhy, "", ""},
	"1351620000001-200071": {"", "", "44100", "", "2", audioAutoWhy + "; the reference's profile \"auto\" " +
		"runs as AAC-LC, the only AAC profile ffmpeg's native encoder makes", "", ""},
	"1351620000001-300030": {"", "", "44100", "", "2", audioAutoWhy, "", ""},
	"1351620000001-300040": {"", "", "44100", "", "2", audioAutoWhy, "", ""},
	"1351620000001-300110": {"flac", "", "44100", "", "2", flacWhy, "16", ""},
	"1351620000001-300200": {"pcm", "", "44100", "", "2", wav8Why, "8", "Unsigned"},
	"1351620000001-300300": {"pcm", "", "44100", "", "2", wav16Why, "16", "Signed"},
	"1351620000001-400030": {"AAC", "AAC-LC", "44100", "128", "2", smoothWhy, "", ""},
	"1351620000001-400040": {"AAC", "AAC-LC", "44100", "128", "2", smoothWhy, "", ""},
	"1351620000001-400050": {"AAC", "AAC-LC", "44100", "128", "2", smoothWhy, "", ""},
	"1351620000001-400060": {"AAC", "AAC-LC", "44100", "128", "2", smoothWhy, "", ""},
	"1351620000001-400070": {"AAC", "AAC-LC", "44100", "128", "2", smoothWhy, "", ""},
	"1351620000001-400080": {"AAC", "AAC-LC", "44100", "128", "2", smoothWhy, "", ""},
	"1351620000001-100240": {"vorbis", "", "44100", "160", "2", webmVP8Why, "", ""},
	"1351620000001-100250": {"opus", "", "48000", "128", "2", webmVP9Why, "", ""},
	"1351620000001-100260": {"opus", "", "48000", "128", "2", webmVP9Why, "", ""},
	"1351620000001-100160": {"mp2", "", "48000", "224", "2", mpgWhy, "", ""},
	"1351620000001-100170": {"mp2", "", "48000", "224", "2", mpgWhy, "", ""},
	"1351620000001-100220": {"pcm", "", "48000", "", "2", mxfWhy, "24", "Signed"},
	"1351620000001-100230": {"pcm", "", "48000", "", "2", mxfWhy, "24", "Signed"},
	"1351620000001-100210": {"AAC", "AAC-LC", "44100", "128", "2", flvWhy, "", ""},
}

// containerFills name the container of presets the reference leaves without
// one (the audio-only FLAC and WAV presets), with the reason.
var containerFills = map[string][2]string{
	"1351620000001-300110": {"flac", "the preset's name and the outputs public code names (*.flac) say FLAC; flac is ET's container for it"},
	"1351620000001-300200": {"wav", "the preset's name and the outputs public code names (*.wav) say WAV; wav is ET's container for it"},
	"1351620000001-300300": {"wav", "the preset's name and the outputs public code names (*.wav) say WAV; wav is ET's container for it"},
}

// packagings say how each segmented preset is packaged. ET's fmp4 presets are
// all "fmp4"; whether ET packaged one as Smooth or MPEG-DASH came from the
// job's playlist, so vidjob takes it from the preset's own name (Smooth n /
// MPEG-Dash ...), which is what a user choosing it expects.
var packagings = map[string]string{
	"ts": "hls",
}

// fmp4Packaging is the packaging of each fmp4 preset, by ID prefix.
var fmp4Packaging = map[string]string{
	"1351620000001-4": "smooth",
	"1351620000001-5": "dash",
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
		if c, ok := containerFills[e.ID]; ok {
			if e.Container != nil {
				return nil, fmt.Errorf("container fill for %s would overwrite %q from the reference", e.ID, *e.Container)
			}
			v := c[0]
			e.Container = &v
			e.Notes = append(e.Notes, fmt.Sprintf("container: null in the reference; vidjob filled %s because %s.", c[0], c[1]))
			e.FieldProvenance = append(e.FieldProvenance, pair{"container", "FILLED by vidjob (see notes)"})
		}
		if f, ok := moreAudioFills[e.ID]; ok {
			if err := fillAny(e, f); err != nil {
				return nil, err
			}
		}
		if err := setPackaging(e); err != nil {
			return nil, err
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
	for id := range moreAudioFills {
		if !seen[id] {
			return nil, fmt.Errorf("audio fill for %s, which the reference does not have", id)
		}
	}
	for id := range containerFills {
		if !seen[id] {
			return nil, fmt.Errorf("container fill for %s, which the reference does not have", id)
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
	return fillAny(e, f)
}

// fillAny is fill for a current preset of any container.
func fillAny(e *entry, f audioFill) error {
	if e.Status != "current" {
		return fmt.Errorf("audio fill for %s, which is not a current preset", e.ID)
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
		{"bit_depth", &e.Audio.BitDepth, f.bitDepth},
		{"signed", &e.Audio.Signed, f.signed},
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

// setPackaging records how a segmented preset is packaged, with a note.
func setPackaging(e *entry) error {
	if e.Status != "current" {
		return nil
	}
	c := deref(e.Container)
	pk := packagings[c]
	if c == "fmp4" {
		for prefix, p := range fmp4Packaging {
			if strings.HasPrefix(e.ID, prefix) {
				pk = p
			}
		}
		if pk == "" {
			return fmt.Errorf("fmp4 preset %s has no packaging", e.ID)
		}
	}
	if pk == "" {
		return nil
	}
	e.Packaging = pk
	switch pk {
	case "hls":
		e.Notes = append(e.Notes, "packaging: HLS (vidjob's field): the output key is the media playlist "+
			"(.m3u8); MPEG-TS segments are written next to it as <name>00000.ts, <name>00001.ts ...; "+
			"segments are whole GOPs, as many as fit in 10 s (ET's default segment duration), so each starts on a keyframe.")
	case "dash":
		e.Notes = append(e.Notes, "packaging: MPEG-DASH (vidjob's field; the reference says only fmp4, and ET "+
			"chose Smooth or DASH by the job's playlist): the output key is the manifest (.mpd); the "+
			"initialization segment <name>-init.m4s and media segments <name>-00001.m4s ... are written next to it; "+
			"segments are whole GOPs, as many as fit in 10 s, so each starts on a keyframe.")
	case "smooth":
		e.Notes = append(e.Notes, "packaging: Smooth Streaming (vidjob's field; the reference says only fmp4, and ET "+
			"chose Smooth or DASH by the job's playlist): the output is one fragmented MP4 (.ismv, ffmpeg's ismv "+
			"muxer) with a fragment per GOP, as ET wrote per rendition; the .ism server and .ismc client "+
			"manifests that ET wrote for a Smooth playlist are not made.")
	}
	return nil
}

// nullWhat names the fields as the note's subject.
func nullWhat(set []string) string {
	if len(set) >= 5 {
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
