// Package preset is vidjob's catalog of the AWS Elastic Transcoder system
// presets: the embedded catalog.json (built from the workspace's ET reference by
// internal/gencatalog) and the lookup that turns whatever a Blitline client sent
// as preset_id into one preset.
package preset

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vidjob/vidjob"
)

//go:generate go run ./internal/gencatalog -ref ../../shared/reference/elastic-transcoder-system-presets.json -out catalog.json

//go:embed catalog.json
var catalogJSON []byte

// Catalog is a parsed, validated, read-only set of presets with the indexes
// Lookup needs. It is safe for concurrent use; callers get copies of presets,
// so nothing they do changes it.
type Catalog struct {
	presets []*vidjob.Preset
	byID    map[string]*vidjob.Preset
	// exact maps the normalised ID, Name, Description and Blitline description
	// of every preset to it.
	exact map[string]*vidjob.Preset
	// loose maps the same strings with any leading "System preset" (with or
	// without a colon) removed, for clients that send just "Generic 720p". Keys
	// that two presets share are left out rather than guessed.
	loose map[string]*vidjob.Preset
}

// Load returns the catalog embedded in the binary.
func Load() (*Catalog, error) {
	c, err := Parse(catalogJSON)
	if err != nil {
		return nil, fmt.Errorf("embedded preset catalog: %w", err)
	}
	return c, nil
}

// Parse reads a catalog in catalog.json's shape (a JSON array of presets) and
// checks it: IDs unique, statuses known, every deprecated preset leading to a
// current one, and no name that could mean two presets.
func Parse(data []byte) (*Catalog, error) {
	var presets []*vidjob.Preset
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&presets); err != nil {
		return nil, fmt.Errorf("parse preset catalog: %w", err)
	}
	return build(presets)
}

// build indexes and checks a list of presets.
func build(presets []*vidjob.Preset) (*Catalog, error) {
	c := &Catalog{
		presets: presets,
		byID:    make(map[string]*vidjob.Preset, len(presets)),
		exact:   make(map[string]*vidjob.Preset, 4*len(presets)),
		loose:   make(map[string]*vidjob.Preset, 4*len(presets)),
	}
	for i, p := range presets {
		if p == nil || strings.TrimSpace(p.ID) == "" {
			return nil, fmt.Errorf("preset catalog entry %d: no id", i)
		}
		if c.byID[p.ID] != nil {
			return nil, fmt.Errorf("preset catalog: id %s appears twice", p.ID)
		}
		switch p.Status {
		case vidjob.PresetCurrent:
		case vidjob.PresetDeprecated:
			if p.ReplacementID == "" {
				return nil, fmt.Errorf("preset catalog: deprecated %s has no replacement_id", p.ID)
			}
		default:
			return nil, fmt.Errorf("preset catalog: %s has status %q, want current or deprecated", p.ID, p.Status)
		}
		c.byID[p.ID] = p
	}
	for _, p := range presets {
		if _, err := c.resolve(p); err != nil {
			return nil, err
		}
	}
	ambiguous := map[string]bool{}
	for _, p := range presets {
		for _, s := range []string{p.ID, p.Name, p.Description, p.BlitlineDescription} {
			k := normalize(s)
			if k == "" {
				continue
			}
			if q := c.exact[k]; q != nil && q != p {
				return nil, fmt.Errorf("preset catalog: %q names both %s and %s", s, q.ID, p.ID)
			}
			c.exact[k] = p
			if l := stripSystemPreset(k); l != k && l != "" {
				if q := c.loose[l]; q != nil && q != p {
					ambiguous[l] = true
				}
				c.loose[l] = p
			}
		}
	}
	for k := range ambiguous {
		delete(c.loose, k)
	}
	return c, nil
}

// resolve follows replacement IDs from p to a current preset.
func (c *Catalog) resolve(p *vidjob.Preset) (*vidjob.Preset, error) {
	start := p
	for hops := 0; p.Deprecated(); hops++ {
		if hops > len(c.presets) {
			return nil, fmt.Errorf("preset catalog: replacements of %s form a cycle", start.ID)
		}
		next := c.byID[p.ReplacementID]
		if next == nil {
			return nil, fmt.Errorf("preset catalog: %s is replaced by %s, which is not in the catalog", p.ID, p.ReplacementID)
		}
		p = next
	}
	return p, nil
}

// Lookup finds the preset a client named by its ID, Name, Description or
// Blitline description, ignoring case and runs of white space ("System preset
// generic 720p", "system   preset GENERIC 720p", "1351620000001-000010" and
// "System preset: Generic 720p" are the same preset); a name without its
// "System preset" prefix also matches when only one preset has it.
//
// A deprecated preset resolves to its (current) replacement, and the returned
// note says so for the job's result; the note is empty otherwise. Lookup does
// not check that vidjob can run the preset: see vidjob.Preset.Supported. An
// unknown name is an EUNPROCESSABLE error that tells the client what would work.
func (c *Catalog) Lookup(name string) (*vidjob.Preset, string, error) {
	k := normalize(name)
	p := c.exact[k]
	if p == nil {
		p = c.loose[stripSystemPreset(k)]
	}
	if p == nil {
		return nil, "", c.unknown(name, k)
	}
	note := ""
	if p.Deprecated() {
		r, err := c.resolve(p)
		if err != nil { // Parse checked every chain; this is a broken invariant
			return nil, "", fmt.Errorf("lookup %s: %w", p.ID, err)
		}
		note = fmt.Sprintf("%s is deprecated; ran its replacement %s (%s)", p.ID, r.ID, r.Label())
		p = r
	}
	return clonePreset(p), note, nil
}

// All returns every preset, current and deprecated, in catalog order.
func (c *Catalog) All() []*vidjob.Preset {
	out := make([]*vidjob.Preset, len(c.presets))
	for i, p := range c.presets {
		out[i] = clonePreset(p)
	}
	return out
}

// maxEcho bounds how much of a client's string an error repeats, since
// preset_id comes from the request and may be anything.
const maxEcho = 80

// unknown builds the error for a name that matches nothing, with a suggestion
// when one preset's name is a few typos away.
func (c *Catalog) unknown(name, key string) error {
	shown := name
	if utf8.RuneCountInString(shown) > maxEcho {
		shown = string([]rune(shown)[:maxEcho]) + "…"
	}
	if key == "" {
		return vidjob.Errorf(vidjob.EUNPROCESSABLE, "Unknown preset_id %q: give a system preset's ID (e.g. 1351620000001-000010), Name (System preset: Generic 720p) or Description (System preset generic 720p)", shown)
	}
	if s := c.suggest(key); s != nil {
		return vidjob.Errorf(vidjob.EUNPROCESSABLE, "Unknown preset_id %q: did you mean %s (%s)? A preset is named by its ID, Name or Description", shown, s.ID, s.Label())
	}
	return vidjob.Errorf(vidjob.EUNPROCESSABLE, "Unknown preset_id %q: no Elastic Transcoder system preset has this ID, Name or Description (e.g. 1351620000001-000010, \"System preset: Generic 720p\" or \"System preset generic 720p\")", shown)
}

// suggest returns the preset whose name is nearest to key by edit distance,
// when it is near enough to be a typo.
func (c *Catalog) suggest(key string) *vidjob.Preset {
	const maxLen = 120 // names are shorter; longer input is not a typo of one
	if utf8.RuneCountInString(key) > maxLen {
		return nil
	}
	var best *vidjob.Preset
	bestDist := -1
	for _, m := range []map[string]*vidjob.Preset{c.exact, c.loose} {
		for k, p := range m {
			d := editDistance(key, k)
			limit := max(2, utf8.RuneCountInString(k)/10)
			if d > limit {
				continue
			}
			// Ties go to the lower ID so the message does not depend on
			// map order.
			if bestDist < 0 || d < bestDist || (d == bestDist && p.ID < best.ID) {
				best, bestDist = p, d
			}
		}
	}
	if best != nil && best.Deprecated() {
		if r, err := c.resolve(best); err == nil {
			best = r
		}
	}
	return best
}

// normalize folds case and white space so that clients' spellings of a name
// compare equal: trimmed, runs of white space collapsed to one space, lower case.
func normalize(s string) string {
	return strings.ToLower(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "))
}

// stripSystemPreset removes ET's "System preset" prefix (with or without the
// colon) from a normalised name.
func stripSystemPreset(k string) string {
	rest, ok := strings.CutPrefix(k, "system preset")
	if !ok {
		return k
	}
	rest = strings.TrimPrefix(rest, ":")
	return strings.TrimSpace(rest)
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// clonePreset copies p deeply enough that a caller's changes never reach the
// catalog.
func clonePreset(p *vidjob.Preset) *vidjob.Preset {
	q := *p
	if p.Video != nil {
		v := *p.Video
		q.Video = &v
	}
	if p.Audio != nil {
		a := *p.Audio
		q.Audio = &a
	}
	if p.Thumbnails != nil {
		t := *p.Thumbnails
		q.Thumbnails = &t
	}
	if p.HasVideo != nil {
		b := *p.HasVideo
		q.HasVideo = &b
	}
	if p.HasAudio != nil {
		b := *p.HasAudio
		q.HasAudio = &b
	}
	q.Watermarks = append([]vidjob.Watermark(nil), p.Watermarks...)
	q.Notes = append([]string(nil), p.Notes...)
	return &q
}
