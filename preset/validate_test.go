package preset

import (
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
)

// TestEverySystemPresetMeetsETRanges: the ranges custom presets are held to
// are Elastic Transcoder's own, so every current system preset meets them.
func TestEverySystemPresetMeetsETRanges(t *testing.T) {
	n := 0
	for _, p := range load(t).All() {
		if p.Deprecated() {
			continue
		}
		n++
		if err := p.Validate(); err != nil {
			t.Errorf("%s (%s): %v", p.ID, p.Label(), err)
		}
	}
	if n != 62 {
		t.Errorf("checked %d presets, want the 62 current ones", n)
	}
}

// hostilePresets are settings ET's CreatePreset refused, each with the
// sentence vidjob answers. Before the check each was accepted (201, or a
// presets file that loaded) and every job using the preset then failed.
var hostilePresets = []struct {
	name, from, to, want string
}{
	{"sample rate", `"SampleRate": "44100"`, `"SampleRate": "1"`, `Audio.SampleRate must be one of auto, 22050, 32000, 44100, 48000, 96000 (got "1").`},
	{"channels", `"Channels": "2"`, `"Channels": "64"`, `Audio.Channels must be one of auto, 0, 1, 2 (got "64").`},
	{"keyframes", `"KeyframesMaxDist": "90"`, `"KeyframesMaxDist": "99999999999"`, `Video.KeyframesMaxDist must be a whole number from 1 to 100000 (got "99999999999").`},
	{"audio bit rate", `"BitRate": "96"`, `"BitRate": "4000"`, `Audio.BitRate must be a whole number from 64 to 320 (got "4000").`},
	{"width", `"MaxWidth": "640"`, `"MaxWidth": "641"`, `Video.MaxWidth must be auto or an even whole number from 128 to 4096 (got "641").`},
	{"frame rate", `"FrameRate": "auto"`, `"FrameRate": "1000"`, `Video.FrameRate must be one of auto, 10, 15, 23.97, 24, 25, 29.97, 30, 50, 60 (got "1000").`},
	{"reference frames", `"MaxReferenceFrames": "3"`, `"MaxReferenceFrames": "99"`, `Video.CodecOptions.MaxReferenceFrames must be a whole number from 0 to 16 (got "99").`},
	{"thumbnails", `"Interval": "60"`, `"Interval": "0"`, `Thumbnails.Interval must be a whole number from 1 to 99999 (got "0").`},
	{"watermark", `"Watermarks": []`, `"Watermarks": [{"Id": "logo", "Opacity": "150"}]`, `Video.Watermarks[0].Opacity must be a number from 0 to 100 (got "150").`},
	{"mp3 at 96 kHz", `"Codec": "AAC", "SampleRate": "44100"`, `"Codec": "mp3", "SampleRate": "96000"`, `Audio.SampleRate 96000 is allowed by Elastic Transcoder, but ffmpeg's MP3 and MP2 encoders stop at 48000 Hz.`},
}

// TestPresetsFileIsHeldToETRanges: the operator's presets file meets the
// same check at start-up, and the error names the preset and the setting.
func TestPresetsFileIsHeldToETRanges(t *testing.T) {
	for _, h := range hostilePresets {
		file := strings.Replace(acme, h.from, h.to, 1)
		if file == acme {
			t.Fatalf("%s: the test preset has no %s", h.name, h.from)
		}
		if h.name == "mp3 at 96 kHz" {
			file = strings.Replace(file, `, "CodecOptions": {"Profile": "AAC-LC"}`, ``, 1)
		}
		_, err := ParseCustom([]byte(file))
		want := `presets file: preset 1 (Id "acme-hls-360"): ` + h.want
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", h.name, err, want)
		}
	}
}

// TestCreatedPresetsAreHeldToETRanges: POST /presets' body meets the same
// check, answered as EINVALID.
func TestCreatedPresetsAreHeldToETRanges(t *testing.T) {
	body := acme[strings.Index(acme, "[")+1 : strings.LastIndex(acme, "]")]
	body = strings.Replace(body, `"Id": "acme-hls-360", "Type": "Custom", `, ``, 1)
	if _, err := ParseCreate([]byte(body), "1-abcdef"); err != nil {
		t.Fatalf("the valid preset: %v", err)
	}
	for _, h := range hostilePresets {
		b := strings.Replace(body, h.from, h.to, 1)
		if h.name == "mp3 at 96 kHz" {
			b = strings.Replace(b, `, "CodecOptions": {"Profile": "AAC-LC"}`, ``, 1)
		}
		_, err := ParseCreate([]byte(b), "1-abcdef")
		if vidjob.ErrorCode(err) != vidjob.EINVALID || vidjob.ErrorMessage(err) != "Invalid preset: "+h.want {
			t.Errorf("%s: %v, want EINVALID %q", h.name, err, "Invalid preset: "+h.want)
		}
	}
}

// TestStoredPresetWithUnreadableThumbnailsStillLoads: definitions stored
// before Thumbnails and Watermarks were read may hold anything there; they
// load without them, so the application's other lookups keep working.
func TestStoredPresetWithUnreadableThumbnailsStillLoads(t *testing.T) {
	def := `{"Id": "1-abcdef", "Name": "Old", "Container": "mp4", "Thumbnails": {"Interval": 60, "Extra": true},
	  "Video": {"Codec": "H.264", "CodecOptions": {"Profile": "main", "Level": "3"}, "KeyframesMaxDist": "90", "BitRate": "800",
	    "MaxWidth": "640", "MaxHeight": "360", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad", "Watermarks": [{"Bogus": 1}]}}`
	p, err := readDefinition(vidjob.AppPreset{ID: "1-abcdef", Definition: []byte(def)})
	if err != nil || p.Name != "Old" || p.Thumbnails != nil || p.Watermarks != nil {
		t.Errorf("readDefinition = %+v, %v", p, err)
	}
}
