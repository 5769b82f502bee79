package preset

import (
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
)

func load(t testing.TB) *Catalog {
	t.Helper()
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogHoldsEveryReferencePreset(t *testing.T) {
	all := load(t).All()
	var current, deprecated, mp4 int
	for _, p := range all {
		switch {
		case p.Deprecated():
			deprecated++
		default:
			current++
			if p.Container == "mp4" {
				mp4++
			}
		}
	}
	if len(all) != 85 || current != 62 || deprecated != 23 || mp4 != 21 {
		t.Fatalf("catalog has %d presets (%d current, %d deprecated, %d current mp4), want 85 (62, 23, 21)",
			len(all), current, deprecated, mp4)
	}
	if all[0].ID != "1351620000001-000001" || all[1].ID != "1351620000001-000010" {
		t.Errorf("All is not in catalog order: starts %s, %s", all[0].ID, all[1].ID)
	}
}

func TestLookupFindsGeneric720pByEveryForm(t *testing.T) {
	c := load(t)
	for _, name := range []string{
		"1351620000001-000010",
		"System preset generic 720p",
		"system   preset GENERIC 720p",
		"System preset: Generic 720p",
		"  \tSystem\npreset:   generic 720P ",
		"Generic 720p",
		"system preset:generic 720p",
	} {
		p, note, err := c.Lookup(name)
		if err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
			continue
		}
		if p.ID != "1351620000001-000010" || note != "" {
			t.Errorf("Lookup(%q) = %s, note %q; want 1351620000001-000010 and no note", name, p.ID, note)
		}
	}
}

func TestLookupMatchesBlitlineDescriptions(t *testing.T) {
	c := load(t)
	n := 0
	for _, p := range c.All() {
		if p.BlitlineDescription == "" {
			continue
		}
		n++
		got, _, err := c.Lookup(strings.ToUpper(p.BlitlineDescription))
		if err != nil || got.ID != p.ID {
			t.Errorf("Lookup(%q) = %v, %v; want %s", p.BlitlineDescription, got, err, p.ID)
		}
	}
	if n != 48 {
		t.Errorf("%d presets have a Blitline description, want 48", n)
	}
	p, _, err := c.Lookup("facebook, smugmug,  vimeo, youtube")
	if err != nil || p.ID != "1351620000001-100070" {
		t.Fatalf("Lookup(Blitline's Web label) = %v, %v", p, err)
	}
}

func TestLookupFindsEveryPresetByEachOfItsNames(t *testing.T) {
	c := load(t)
	for _, p := range c.All() {
		for _, name := range []string{p.ID, p.Name, p.Description, p.BlitlineDescription} {
			if name == "" {
				continue
			}
			got, note, err := c.Lookup(name)
			if err != nil {
				t.Errorf("Lookup(%q): %v", name, err)
				continue
			}
			if !p.Deprecated() && (got.ID != p.ID || note != "") {
				t.Errorf("Lookup(%q) = %s, note %q; want %s", name, got.ID, note, p.ID)
			}
			if p.Deprecated() && (got.Deprecated() || note == "") {
				t.Errorf("Lookup(%q) = %s (%s), note %q; want a current replacement and a note", name, got.ID, got.Status, note)
			}
		}
	}
}

func TestLookupResolvesDeprecatedIDs(t *testing.T) {
	c := load(t)
	for _, tc := range []struct{ id, want, note string }{
		{"1351620000001-000060", "1351620000001-000061",
			"1351620000001-000060 is deprecated; ran its replacement 1351620000001-000061 (System preset: Generic 320x240)"},
		// Two hops: 000000-000060 → 000001-000060 → 000001-000061.
		{"1351620000000-000060", "1351620000001-000061",
			"1351620000000-000060 is deprecated; ran its replacement 1351620000001-000061 (System preset: Generic 320x240)"},
		{"System preset: KindleFire", "1351620000001-100080",
			"1351620000001-100100 is deprecated; ran its replacement 1351620000001-100080 (System preset: KindleFireHD)"},
		{"1351620000001-100140", "1351620000001-100141",
			"1351620000001-100140 is deprecated; ran its replacement 1351620000001-100141 (System preset: Audio AAC - 64k)"},
	} {
		p, note, err := c.Lookup(tc.id)
		if err != nil {
			t.Errorf("Lookup(%s): %v", tc.id, err)
			continue
		}
		if p.ID != tc.want || note != tc.note {
			t.Errorf("Lookup(%s) = %s, %q; want %s, %q", tc.id, p.ID, note, tc.want, tc.note)
		}
	}
}

func TestLookupUnknownPresetIsUnprocessable(t *testing.T) {
	c := load(t)
	for _, tc := range []struct{ name, want string }{
		{"System preset: Generic 4K", `Unknown preset_id "System preset: Generic 4K": no Elastic Transcoder system preset has this ID, Name or Description`},
		{"System preset generic 720", `Unknown preset_id "System preset generic 720": did you mean 1351620000001-000010 (System preset: Generic 720p)?`},
		{"1351620000001-00001O", `Unknown preset_id "1351620000001-00001O": did you mean 1351620000001-000010 (System preset: Generic 720p)?`},
		{"   ", `Unknown preset_id "   ": give a system preset's ID`},
		{strings.Repeat("x", 500), `Unknown preset_id "` + strings.Repeat("x", 80) + `…"`},
	} {
		_, _, err := c.Lookup(tc.name)
		if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE {
			t.Errorf("Lookup(%.20q) code = %q (%v), want %q", tc.name, vidjob.ErrorCode(err), err, vidjob.EUNPROCESSABLE)
			continue
		}
		if msg := vidjob.ErrorMessage(err); !strings.HasPrefix(msg, tc.want) {
			t.Errorf("Lookup(%.20q) message = %q, want prefix %q", tc.name, msg, tc.want)
		}
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	c := load(t)
	p, _, _ := c.Lookup("1351620000001-000010")
	p.Name = "changed"
	p.Video.BitRate = "1"
	q, _, _ := c.Lookup("1351620000001-000010")
	if q.Name == "changed" || q.Video.BitRate == "1" {
		t.Fatal("changing a looked-up preset changed the catalog")
	}
}

// TestCurrentMP4PresetsHaveWhatFFmpegNeeds checks every current MP4 preset is
// runnable and that each setting the ffmpeg planner reads parses.
func TestCurrentMP4PresetsHaveWhatFFmpegNeeds(t *testing.T) {
	n := 0
	for _, p := range load(t).All() {
		if p.Deprecated() || p.Container != "mp4" {
			continue
		}
		n++
		if err := p.Supported(); err != nil {
			t.Errorf("%s: %v", p.ID, err)
		}
		if p.WantsVideo() {
			v := p.Video
			if v.Profile != "baseline" && v.Profile != "main" && v.Profile != "high" {
				t.Errorf("%s: profile %q", p.ID, v.Profile)
			}
			if _, err := v.Level.LevelIDC(); err != nil {
				t.Errorf("%s: level: %v", p.ID, err)
			}
			for name, val := range map[string]vidjob.PresetValue{
				"bitrate": v.BitRate, "max_width": v.MaxWidth, "max_height": v.MaxHeight,
				"keyframes_max_dist": v.KeyframesMaxDist, "max_reference_frames": v.MaxReferenceFrames,
			} {
				if n, err := val.Int(); err != nil || n <= 0 {
					t.Errorf("%s: %s = %q", p.ID, name, val)
				}
			}
			if _, _, err := v.FrameRate.Rate(); err != nil && !v.FrameRate.IsAuto() {
				t.Errorf("%s: frame_rate: %v", p.ID, err)
			}
			if _, err := v.FixedGOP.Bool(); err != nil {
				t.Errorf("%s: fixed_gop: %v", p.ID, err)
			}
			if v.SizingPolicy != "ShrinkToFit" && v.SizingPolicy != "ShrinkToFill" {
				t.Errorf("%s: sizing policy %q", p.ID, v.SizingPolicy)
			}
			if v.InterlacedMode != "Progressive" && v.InterlacedMode != "TopFirst" {
				t.Errorf("%s: interlaced mode %q", p.ID, v.InterlacedMode)
			}
			// Every MP4 video preset has audio once the catalog's fills are in.
			if !p.WantsAudio() {
				t.Errorf("%s: video preset without audio settings", p.ID)
			}
		}
		if p.WantsAudio() {
			a := p.Audio
			for name, val := range map[string]vidjob.PresetValue{
				"sample_rate": a.SampleRate, "bitrate": a.BitRate, "channels": a.Channels,
			} {
				if n, err := val.Int(); err != nil || n <= 0 {
					t.Errorf("%s: audio %s = %q", p.ID, name, val)
				}
			}
			if a.Profile != "AAC-LC" && a.Profile != "auto" {
				t.Errorf("%s: audio profile %q", p.ID, a.Profile)
			}
		}
	}
	if n != 21 {
		t.Fatalf("%d current MP4 presets, want 21", n)
	}
}

func TestFilledSettingsAreExplainedInNotes(t *testing.T) {
	for _, p := range load(t).All() {
		if p.ID == "1351620000001-000030" || p.ID == "1351620000001-100180" || p.ID == "1351620000001-000061" {
			found := false
			for _, n := range p.Notes {
				found = found || strings.HasPrefix(n, "audio: ") && strings.Contains(n, "null in the reference") && strings.Contains(n, "because")
			}
			if !found {
				t.Errorf("%s: no note explains its filled audio: %q", p.ID, p.Notes)
			}
		}
	}
}

func TestEveryCurrentPresetIsSupported(t *testing.T) {
	n := 0
	for _, p := range load(t).All() {
		if p.Deprecated() {
			continue
		}
		n++
		if err := p.Supported(); err != nil {
			t.Errorf("%s: %v", p.ID, err)
		}
		if !p.WantsVideo() && !p.WantsAudio() {
			t.Errorf("%s: no settings", p.ID)
		}
		if p.WantsAudio() && !p.Audio.SampleRate.IsSet() && !strings.EqualFold(p.Audio.Codec, "AAC") {
			t.Errorf("%s: %s audio without a sample rate", p.ID, p.Audio.Codec)
		}
		if (p.Container == "ts" || p.Container == "fmp4") != (p.Packaging != "") {
			t.Errorf("%s: container %s with packaging %q", p.ID, p.Container, p.Packaging)
		}
	}
	if n != 62 {
		t.Errorf("%d current presets, want 62", n)
	}
}

func TestUnknownContainerOrCodecIsRefused(t *testing.T) {
	p, _, err := load(t).Lookup("1351620000001-200010")
	if err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Container = "mkv"
	if err := q.Supported(); vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE ||
		vidjob.ErrorMessage(err) != "Preset 1351620000001-200010 (System preset: HLS 2M) uses container mkv, which this vidjob does not support" {
		t.Errorf("mkv: %v", err)
	}
	q = *p
	v := *p.Video
	v.Codec = "ProRes"
	q.Video = &v
	if err := q.Supported(); vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE || !strings.Contains(vidjob.ErrorMessage(err), "video codec ProRes") {
		t.Errorf("ProRes: %v", err)
	}
}

func TestParseRejectsBrokenCatalogs(t *testing.T) {
	for name, data := range map[string]string{
		"not json":          `{`,
		"no id":             `[{"status":"current"}]`,
		"duplicate id":      `[{"id":"a","status":"current"},{"id":"a","status":"current"}]`,
		"bad status":        `[{"id":"a","status":"retired"}]`,
		"no replacement":    `[{"id":"a","status":"deprecated"}]`,
		"dangling":          `[{"id":"a","status":"deprecated","replacement_id":"b"}]`,
		"cycle":             `[{"id":"a","status":"deprecated","replacement_id":"b"},{"id":"b","status":"deprecated","replacement_id":"a"}]`,
		"ambiguous name":    `[{"id":"a","status":"current","name":"X"},{"id":"b","status":"current","description":" x "}]`,
		"null entry":        `[null]`,
		"not an array":      `{"id":"a"}`,
		"wrong field types": `[{"id":"a","status":"current","video":{"bitrate_kbps":5}}]`,
	} {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: Parse accepted %s", name, data)
		}
	}
}

func TestLooseNamesSharedByTwoPresetsAreNotGuessed(t *testing.T) {
	c, err := Parse([]byte(`[
		{"id":"a","status":"current","name":"System preset: Web"},
		{"id":"b","status":"current","description":"System preset web"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := c.Lookup("web"); err == nil {
		t.Fatalf("Lookup(web) = %s; two presets are named Web, so it should not guess", p.ID)
	}
	c, err = Parse([]byte(`[
		{"id":"a","status":"current","name":"System preset: Web"},
		{"id":"b","status":"current","description":"Web"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := c.Lookup("web"); err != nil || p.ID != "b" {
		t.Fatalf("Lookup(web) = %v, %v; the exact name should win", p, err)
	}
}

func FuzzLookup(f *testing.F) {
	for _, s := range []string{
		"", " ", "1351620000001-000010", "System preset generic 720p", "system   preset GENERIC 720p",
		"System preset: Generic 720p", "1351620000001-000060", "1351620000000-000060", "System preset:",
		"system preset", "System preset: HLS 2M", "Facebook, SmugMug, Vimeo, YouTube", "\xff\xfe", "\u00a0generic 720p\u2003",
		strings.Repeat("a", 200), "System preset: Generic 720p\x00",
	} {
		f.Add(s)
	}
	c := load(f)
	f.Fuzz(func(t *testing.T, name string) {
		p, note, err := c.Lookup(name)
		if err != nil {
			if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE {
				t.Fatalf("Lookup(%q) error code %q: %v", name, vidjob.ErrorCode(err), err)
			}
			if p != nil || note != "" {
				t.Fatalf("Lookup(%q) returned a preset with an error", name)
			}
			return
		}
		if p == nil || p.Deprecated() {
			t.Fatalf("Lookup(%q) = %v, want a current preset", name, p)
		}
		_ = p.Supported()
	})
}
