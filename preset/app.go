package preset

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vidjob/vidjob"
)

// MaxAppPresets is how many custom presets one application may have: each is
// read on every lookup of its jobs' presets, so the number is bounded.
const MaxAppPresets = 50

// MaxPresetBytes bounds a CreatePreset body; ET's presets are well under 4 KiB.
const MaxPresetBytes = 64 << 10

// AppPresetStore keeps applications' custom presets (package sqlstore).
type AppPresetStore interface {
	// CreateAppPreset stores p unless its application already has max presets
	// (EFORBIDDEN) or one with the same Name (EINVALID).
	CreateAppPreset(ctx context.Context, p vidjob.AppPreset, max int) error
	// AppPresets lists an application's presets, oldest first.
	AppPresets(ctx context.Context, appID string) ([]vidjob.AppPreset, error)
	// DeleteAppPreset removes one of the application's presets; ENOTFOUND when
	// it has none with that ID.
	DeleteAppPreset(ctx context.Context, appID, id string) error
}

// AppCatalog is the system catalog plus each application's own presets: an
// application sees and runs the system presets and its own, never another
// application's.
type AppCatalog struct {
	*Catalog
	Store AppPresetStore
	// Check refuses a preset ffmpeg could not run (ffmpeg.CheckPreset); nil
	// checks only what ParseCreate does.
	Check func(*vidjob.Preset) error
	// Now is the clock for new IDs; nil means time.Now.
	Now func() time.Time
}

// NewAppPresetID returns an ID in Elastic Transcoder's custom preset form: the
// creation time in milliseconds, a dash and six random lower-case letters or
// digits ("1351620000001-abc123").
func NewAppPresetID(now time.Time) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	for i := range b {
		b[i] = alphabet[randIntn(len(alphabet))]
	}
	return fmt.Sprintf("%d-%s", now.UnixMilli(), b)
}

// randIntn is a uniform random number in [0, n) from crypto/rand, so that IDs
// are not guessable from one another.
func randIntn(n int) int {
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		if int(b[0]) < 256-256%n {
			return int(b[0]) % n
		}
	}
}

// ParseCreate reads a CreatePreset request body (Elastic Transcoder's shape:
// Name, Description, Container, Video, Audio, Thumbnails, and vidjob's
// Packaging for fmp4) and returns the preset with the given ID, checked as a
// presets file's are. The Id is vidjob's to give, so a body that sets one is
// refused.
func ParseCreate(data []byte, id string) (*vidjob.Preset, error) {
	var e etCustom
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, vidjob.Errorf(vidjob.EINVALID, "The preset is not valid JSON in Elastic Transcoder's CreatePreset shape: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, vidjob.Errorf(vidjob.EINVALID, "The body must hold one preset object.")
	}
	if e.ID != "" || e.Arn != "" {
		return nil, vidjob.Errorf(vidjob.EINVALID, "Id and Arn are given by vidjob; leave them out.")
	}
	if e.Type != "" && e.Type != "Custom" {
		return nil, vidjob.Errorf(vidjob.EINVALID, "Type %q: a created preset is Custom.", e.Type)
	}
	if utf8.RuneCountInString(e.Name) > 40 || utf8.RuneCountInString(e.Description) > 255 {
		return nil, vidjob.Errorf(vidjob.EINVALID, "Name may have at most 40 characters and Description 255, as in Elastic Transcoder.")
	}
	e.ID = id
	p, err := e.preset("custom preset of this application")
	if err == nil {
		err = validate(p)
	}
	if err != nil {
		return nil, vidjob.Errorf(vidjob.EINVALID, "Invalid preset: %s", err)
	}
	return p, nil
}

// jsonProblem is a decoding error without Go type names.
func jsonProblem(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	if i := strings.Index(msg, " of type "); i >= 0 && strings.HasPrefix(msg, "cannot unmarshal") {
		msg = msg[:i]
	}
	return msg
}

// definition is the stored form of a created preset: the request's fields
// with the Id set, so that reading it back is ParseCreate's check again.
func definition(data []byte, id string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	idJSON, _ := json.Marshal(id)
	m["Id"] = idJSON
	delete(m, "Type")
	return json.Marshal(m)
}

// readDefinition turns a stored definition back into a preset.
func readDefinition(ap vidjob.AppPreset) (*vidjob.Preset, error) {
	var e etCustom
	if err := decodeStrict(ap.Definition, &e); err != nil {
		// Thumbnails and Watermarks were stored unread before they were
		// checked; a definition whose ones do not decode still runs.
		if err = decodeStrict(withoutUnused(ap.Definition), &e); err != nil {
			return nil, fmt.Errorf("stored preset %s: %w", ap.ID, err)
		}
	}
	p, err := e.preset("custom preset of this application")
	if err != nil {
		return nil, fmt.Errorf("stored preset %s: %w", ap.ID, err)
	}
	return p, nil
}

// decodeStrict decodes one preset, refusing unknown fields.
func decodeStrict(data []byte, e *etCustom) error {
	*e = etCustom{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(e)
}

// withoutUnused returns a stored definition without Thumbnails and
// Video.Watermarks, the settings vidjob does not use.
func withoutUnused(data []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	delete(m, "Thumbnails")
	var video map[string]json.RawMessage
	if json.Unmarshal(m["Video"], &video) == nil && video != nil {
		delete(video, "Watermarks")
		m["Video"], _ = json.Marshal(video)
	}
	out, _ := json.Marshal(m)
	return out
}

// Create checks a CreatePreset body and stores it as one of the
// application's presets. Its Name and Description may not name a system
// preset or another of the application's, so that a job's preset_id means
// one preset.
func (c *AppCatalog) Create(ctx context.Context, app *vidjob.Application, body []byte) (*vidjob.Preset, error) {
	if app.Disabled {
		return nil, vidjob.Errorf(vidjob.EFORBIDDEN, "This application is disabled; it cannot create presets. Ask the operator to enable it.")
	}
	if len(body) > MaxPresetBytes {
		return nil, vidjob.Errorf(vidjob.ETOOLARGE, "A preset may have at most %d bytes.", MaxPresetBytes)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	id := NewAppPresetID(now())
	p, err := ParseCreate(body, id)
	if err != nil {
		return nil, err
	}
	if c.Check != nil {
		if err := c.Check(p); err != nil {
			msg := vidjob.ErrorMessage(err)
			if vidjob.ErrorCode(err) == vidjob.EINTERNAL {
				msg = err.Error() // the setting and its value, from the client's own body
			}
			return nil, vidjob.Errorf(vidjob.EINVALID, "Invalid preset: %s", msg)
		}
	}
	own, err := c.Own(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	for _, label := range []string{p.Name, p.Description} {
		if label == "" {
			continue
		}
		if q, _, err := c.Catalog.Lookup(label); err == nil {
			return nil, vidjob.Errorf(vidjob.EINVALID, "%q already names system preset %s; choose another Name or Description.", label, q.ID)
		}
		for _, q := range own {
			if normalize(label) == normalize(q.Name) || (q.Description != "" && normalize(label) == normalize(q.Description)) {
				return nil, vidjob.Errorf(vidjob.EINVALID, "%q already names this application's preset %s; choose another Name or Description.", label, q.ID)
			}
		}
	}
	def, err := definition(body, id)
	if err != nil {
		return nil, vidjob.Errorf(vidjob.EINVALID, "Invalid preset: %s", jsonProblem(err))
	}
	err = c.Store.CreateAppPreset(ctx, vidjob.AppPreset{ID: id, ApplicationID: app.ID, Name: p.Name, Definition: def, CreatedAt: now()}, MaxAppPresets)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Own lists the application's presets, oldest first.
func (c *AppCatalog) Own(ctx context.Context, appID string) ([]*vidjob.Preset, error) {
	stored, err := c.Store.AppPresets(ctx, appID)
	if err != nil {
		return nil, err
	}
	out := make([]*vidjob.Preset, 0, len(stored))
	for _, ap := range stored {
		p, err := readDefinition(ap)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// LookupFor finds the preset a job of app names: one of the application's own
// presets by ID, Name or Description, else a system preset as Catalog.Lookup
// finds it. Another application's preset is unknown here, with the same error
// as a name nothing has. app is as the store read it (FindApplication).
func (c *AppCatalog) LookupFor(ctx context.Context, app *vidjob.Application, name string) (*vidjob.Preset, string, error) {
	// The store is read only when the application has presets of its own
	// and the name is not a system preset's exact ID (an application's IDs
	// are made by NewAppPresetID from the time of creation, so they cannot
	// be one): most submissions need no trip to the database.
	if _, system := c.Catalog.byID[strings.TrimSpace(name)]; app != nil && app.OwnPresets > 0 && !system {
		own, err := c.Own(ctx, app.ID)
		if err != nil {
			return nil, "", err
		}
		k := normalize(name)
		for _, p := range own {
			if p.ID == strings.TrimSpace(name) || k == normalize(p.Name) || (p.Description != "" && k == normalize(p.Description)) {
				return p, "", nil
			}
		}
	}
	return c.Catalog.Lookup(name)
}

// Delete removes one of the application's presets. A system preset's ID is
// refused; another application's answers as an unknown one.
func (c *AppCatalog) Delete(ctx context.Context, appID, id string) error {
	for _, p := range c.Catalog.All() {
		if p.ID == id {
			return vidjob.Errorf(vidjob.EINVALID, "%s is a system preset; only an application's own presets can be deleted.", id)
		}
	}
	return c.Store.DeleteAppPreset(ctx, appID, id)
}
