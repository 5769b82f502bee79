package preset

import (
	"strings"
	"testing"
)

// acme is a custom HLS preset in ET's shape, as ReadPreset answers it.
const acme = `{"Presets": [{
  "Id": "acme-hls-360", "Type": "Custom", "Name": "Acme HLS 360p", "Description": "Acme small HLS",
  "Container": "ts",
  "Video": {"Codec": "H.264", "CodecOptions": {"Profile": "main", "Level": "3", "MaxReferenceFrames": "3"},
    "KeyframesMaxDist": "90", "FixedGOP": "true", "BitRate": "800", "FrameRate": "auto", "MaxFrameRate": "30",
    "MaxWidth": "640", "MaxHeight": "360", "DisplayAspectRatio": "auto", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad",
    "Watermarks": []},
  "Audio": {"Codec": "AAC", "SampleRate": "44100", "BitRate": "96", "Channels": "2", "CodecOptions": {"Profile": "AAC-LC"}},
  "Thumbnails": {"Format": "png", "Interval": "60", "MaxWidth": "192", "MaxHeight": "108", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad"}
}]}`

func TestCustomPresetsAreFoundByIDAndName(t *testing.T) {
	custom, err := ParseCustom([]byte(acme))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadWithCustom(custom)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"acme-hls-360", "Acme HLS 360p", "acme small hls"} {
		p, _, err := c.Lookup(name)
		if err != nil || p.ID != "acme-hls-360" || p.Packaging != "hls" || p.Video.Profile != "main" || p.Audio.BitRate != "96" {
			t.Errorf("Lookup(%q) = %+v, %v", name, p, err)
		}
	}
	if len(c.All()) != 86 {
		t.Errorf("%d presets, want the 85 system ones and 1 custom", len(c.All()))
	}
	if _, _, err := c.Lookup("System preset generic 720p"); err != nil {
		t.Errorf("system presets lost: %v", err)
	}
}

func TestCustomPresetErrorsAreSpecific(t *testing.T) {
	for name, tc := range map[string]struct{ file, want string }{
		"not json":       {`{`, "presets file:"},
		"empty":          {`[]`, "no presets"},
		"typo":           {`[{"Id": "a", "Name": "A", "Container": "mp4", "Vidoe": {}}]`, `preset 1: json: unknown field "Vidoe"`},
		"bad id":         {`[{"Id": "../x", "Name": "A", "Container": "mp4"}]`, `preset 1 (Id "../x"): Id must be`},
		"no name":        {`[{"Id": "a", "Container": "mp4"}]`, "Name is required"},
		"container":      {`[{"Id": "a", "Name": "A", "Container": "mkv", "Audio": {"Codec": "AAC"}}]`, "uses container mkv"},
		"codec":          {`[{"Id": "a", "Name": "A", "Container": "mp4", "Video": {"Codec": "ProRes"}}]`, "video codec ProRes"},
		"fmp4 packaging": {`[{"Id": "a", "Name": "A", "Container": "fmp4", "Audio": {"Codec": "AAC"}}]`, `an fmp4 preset needs "dash" or "smooth"`},
		"option":         {`[{"Id": "a", "Name": "A", "Container": "mp4", "Video": {"Codec": "H.264", "CodecOptions": {"Profil": "main"}}}]`, "Video.CodecOptions.Profil is not"},
	} {
		_, err := ParseCustom([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", name, err, tc.want)
		}
	}
	dup := strings.Replace(acme, `"Name": "Acme HLS 360p"`, `"Name": "System preset: Generic 720p"`, 1)
	custom, err := ParseCustom([]byte(dup))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWithCustom(custom); err == nil || !strings.Contains(err.Error(), "names both") {
		t.Errorf("custom preset named like a system preset: %v", err)
	}
}

func TestCustomH264PresetWithoutMaxReferenceFramesUsesThree(t *testing.T) {
	file := strings.Replace(acme, `, "MaxReferenceFrames": "3"`, ``, 1)
	if file == acme {
		t.Fatal("the test preset no longer names MaxReferenceFrames")
	}
	custom, err := ParseCustom([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	p := custom[0]
	if p.Video.MaxReferenceFrames != "3" {
		t.Errorf("MaxReferenceFrames = %q, want 3", p.Video.MaxReferenceFrames)
	}
	if !strings.Contains(strings.Join(p.Notes, " "), "MaxReferenceFrames was not given") {
		t.Errorf("notes %q do not say why MaxReferenceFrames is 3", p.Notes)
	}
}
