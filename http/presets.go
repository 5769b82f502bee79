package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/vidjob/vidjob"
)

// maxPresetBody bounds a POST /presets body; ET's presets are well under
// 4 KiB.
const maxPresetBody = 64 << 10

// AppPresets are applications' own presets beside the system catalog
// (preset.AppCatalog). An application sees only its own.
type AppPresets interface {
	// LookupFor finds the preset an application's job names: its own, then
	// the system catalog's.
	LookupFor(ctx context.Context, app *vidjob.Application, name string) (*vidjob.Preset, string, error)
	// Own lists the application's presets.
	Own(ctx context.Context, appID string) ([]*vidjob.Preset, error)
	// Create checks and stores a CreatePreset body for the application.
	Create(ctx context.Context, app *vidjob.Application, body []byte) (*vidjob.Preset, error)
	// Delete removes one of the application's presets.
	Delete(ctx context.Context, appID, id string) error
}

// lookupPreset finds the preset a job of the application names.
func (s *Server) lookupPreset(ctx context.Context, app *vidjob.Application, name string) (*vidjob.Preset, error) {
	var p *vidjob.Preset
	var err error
	if s.AppPresets != nil {
		p, _, err = s.AppPresets.LookupFor(ctx, app, name)
	} else {
		p, _, err = s.Catalog.Lookup(name)
	}
	return p, err
}

// presetSummary is one line of GET /presets: enough to choose a preset.
type presetSummary struct {
	ID            string `json:"id"`
	Type          string `json:"type"` // "System" or "Custom", as ET's Type
	Name          string `json:"name,omitempty"`
	Description   string `json:"description,omitempty"`
	Status        string `json:"status"`
	ReplacementID string `json:"replacement_id,omitempty"`
	Container     string `json:"container,omitempty"`
	Packaging     string `json:"packaging,omitempty"`
	Video         string `json:"video,omitempty"`
	Audio         string `json:"audio,omitempty"`
}

// namesApplication reports whether a request names an application (header
// or query), which makes the preset endpoints answer for it.
func namesApplication(r *http.Request) bool {
	return strings.TrimSpace(r.Header.Get(ApplicationHeader)) != "" || strings.TrimSpace(r.URL.Query().Get("application_id")) != ""
}

// ownPresets returns the presets of the application the request names, or
// none when it names none; an unknown application is EUNAUTHORIZED.
func (s *Server) ownPresets(r *http.Request) ([]*vidjob.Preset, error) {
	if !namesApplication(r) || s.AppPresets == nil {
		return nil, nil
	}
	app, err := s.caller(r)
	if err != nil {
		return nil, err
	}
	return s.AppPresets.Own(r.Context(), app.ID)
}

// getPresets lists the catalog, current presets first in catalog order, and
// after it the presets of the application the request names.
func (s *Server) getPresets(w http.ResponseWriter, r *http.Request) {
	own, err := s.ownPresets(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all := s.Catalog.All()
	list := make([]presetSummary, 0, len(all)+len(own))
	for i, p := range append(all, own...) {
		typ := "System"
		if i >= len(all) {
			typ = "Custom"
		}
		list = append(list, presetSummary{
			ID: p.ID, Type: typ, Name: p.Name, Description: p.Description, Status: p.Status,
			ReplacementID: p.ReplacementID, Container: p.Container, Packaging: p.Packaging,
			Video: videoSummary(p), Audio: audioSummary(p),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"presets": list})
}

// getPreset answers one preset in Elastic Transcoder's ReadPreset shape, so
// that ET tooling reads it unchanged. The path segment is an ID; a Name or
// Description (URL-escaped) also works, as in a job's preset_id. An exact ID
// of a deprecated preset answers that preset (without settings: AWS
// documents only its replacement), anything else the preset a job would run.
// A request that names an application also finds that application's own
// presets; another application's are unknown.
func (s *Server) getPreset(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	own, err := s.ownPresets(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, p := range own {
		if p.ID == id || normalizeName(p.Name) == normalizeName(id) || (p.Description != "" && normalizeName(p.Description) == normalizeName(id)) {
			writeJSON(w, http.StatusOK, map[string]any{"Preset": customPreset(p)})
			return
		}
	}
	for _, p := range s.Catalog.All() {
		if p.ID == id {
			writeJSON(w, http.StatusOK, map[string]any{"Preset": etPreset(p)})
			return
		}
	}
	p, _, err := s.Catalog.Lookup(id)
	if err != nil {
		s.writeError(w, r, vidjob.WrapError(vidjob.ENOTFOUND, err, "%s", vidjob.ErrorMessage(err)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"Preset": etPreset(p)})
}

// normalizeName compares preset names as lookups do: case and runs of white
// space do not matter.
func normalizeName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// postPreset creates one of the calling application's presets from an
// Elastic Transcoder CreatePreset body and answers as CreatePreset does.
func (s *Server) postPreset(w http.ResponseWriter, r *http.Request) {
	app, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.AppPresets == nil {
		s.writeError(w, r, vidjob.Errorf(vidjob.EFORBIDDEN, "This server does not keep applications' presets."))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPresetBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = vidjob.Errorf(vidjob.ETOOLARGE, "A preset may have at most %d bytes.", maxPresetBody)
		} else {
			err = vidjob.Errorf(vidjob.EINVALID, "The request body could not be read.")
		}
		s.writeError(w, r, err)
		return
	}
	p, err := s.AppPresets.Create(r.Context(), app, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"Preset": customPreset(p), "Warning": ""})
}

// deletePreset removes one of the calling application's presets. Jobs
// already queued with it fail as with an unknown preset.
func (s *Server) deletePreset(w http.ResponseWriter, r *http.Request) {
	app, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.AppPresets == nil {
		s.writeError(w, r, vidjob.Errorf(vidjob.ENOTFOUND, "Preset %q is not known.", chi.URLParam(r, "id")))
		return
	}
	if err := s.AppPresets.Delete(r.Context(), app.ID, chi.URLParam(r, "id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// customPreset is an application's preset in ET's shape.
func customPreset(p *vidjob.Preset) etPresetJSON {
	out := etPreset(p)
	out.Type = "Custom"
	out.Vidjob.Notes = nil
	return out
}

func videoSummary(p *vidjob.Preset) string {
	if !p.WantsVideo() {
		return ""
	}
	v := p.Video
	parts := []string{v.Codec}
	if v.Profile != "" {
		parts = append(parts, v.Profile)
	}
	if v.Level.IsSet() {
		parts = append(parts, "level "+string(v.Level))
	}
	parts = append(parts, fmt.Sprintf("max %sx%s", v.MaxWidth, v.MaxHeight))
	if v.FrameRate.IsSet() {
		parts = append(parts, string(v.FrameRate)+" fps")
	}
	if v.BitRate.IsSet() {
		parts = append(parts, string(v.BitRate)+" kb/s")
	}
	if v.InterlacedMode == "TopFirst" {
		parts = append(parts, "interlaced")
	}
	return strings.Join(parts, ", ")
}

func audioSummary(p *vidjob.Preset) string {
	if !p.WantsAudio() {
		return ""
	}
	a := p.Audio
	parts := []string{a.Codec}
	if a.SampleRate.IsSet() {
		parts = append(parts, string(a.SampleRate)+" Hz")
	}
	if a.Channels.IsSet() {
		parts = append(parts, string(a.Channels)+" ch")
	}
	if a.BitDepth.IsSet() {
		parts = append(parts, string(a.BitDepth)+" bit")
	}
	if a.BitRate.IsSet() {
		parts = append(parts, string(a.BitRate)+" kb/s")
	}
	return strings.Join(parts, ", ")
}

// The Elastic Transcoder Preset object (ReadPreset's "Preset"), with empty
// settings left out as ET leaves out what a preset does not set.
type (
	etPresetJSON struct {
		ID          string          `json:"Id"`
		Name        string          `json:"Name,omitempty"`
		Description string          `json:"Description,omitempty"`
		Container   string          `json:"Container,omitempty"`
		Type        string          `json:"Type"`
		Video       *etVideoJSON    `json:"Video,omitempty"`
		Audio       *etAudioJSON    `json:"Audio,omitempty"`
		Thumbnails  *etThumbsJSON   `json:"Thumbnails,omitempty"`
		Warning     string          `json:"Warning,omitempty"`
		Vidjob      *etVidjobFields `json:"VidjobExtensions,omitempty"`
	}
	etVideoJSON struct {
		Codec              string            `json:"Codec,omitempty"`
		CodecOptions       map[string]string `json:"CodecOptions,omitempty"`
		KeyframesMaxDist   string            `json:"KeyframesMaxDist,omitempty"`
		FixedGOP           string            `json:"FixedGOP,omitempty"`
		BitRate            string            `json:"BitRate,omitempty"`
		FrameRate          string            `json:"FrameRate,omitempty"`
		MaxFrameRate       string            `json:"MaxFrameRate,omitempty"`
		MaxWidth           string            `json:"MaxWidth,omitempty"`
		MaxHeight          string            `json:"MaxHeight,omitempty"`
		DisplayAspectRatio string            `json:"DisplayAspectRatio,omitempty"`
		SizingPolicy       string            `json:"SizingPolicy,omitempty"`
		PaddingPolicy      string            `json:"PaddingPolicy,omitempty"`
	}
	etAudioJSON struct {
		Codec            string            `json:"Codec,omitempty"`
		SampleRate       string            `json:"SampleRate,omitempty"`
		BitRate          string            `json:"BitRate,omitempty"`
		Channels         string            `json:"Channels,omitempty"`
		AudioPackingMode string            `json:"AudioPackingMode,omitempty"`
		CodecOptions     map[string]string `json:"CodecOptions,omitempty"`
	}
	etThumbsJSON struct {
		Format        string `json:"Format,omitempty"`
		Interval      string `json:"Interval,omitempty"`
		MaxWidth      string `json:"MaxWidth,omitempty"`
		MaxHeight     string `json:"MaxHeight,omitempty"`
		SizingPolicy  string `json:"SizingPolicy,omitempty"`
		PaddingPolicy string `json:"PaddingPolicy,omitempty"`
	}
	// etVidjobFields are vidjob's additions, kept apart from ET's fields.
	etVidjobFields struct {
		Status        string   `json:"Status"`
		ReplacementID string   `json:"ReplacementId,omitempty"`
		Packaging     string   `json:"Packaging,omitempty"`
		Notes         []string `json:"Notes,omitempty"`
	}
)

// options drops the empty values of a CodecOptions map; nil when none is set.
func options(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func etPreset(p *vidjob.Preset) etPresetJSON {
	out := etPresetJSON{
		ID: p.ID, Name: p.Name, Description: p.Description, Container: p.Container, Type: "System",
		Vidjob: &etVidjobFields{Status: p.Status, ReplacementID: p.ReplacementID, Packaging: p.Packaging, Notes: p.Notes},
	}
	if p.Deprecated() {
		out.Warning = fmt.Sprintf("This preset is deprecated; jobs that name it run %s.", p.ReplacementID)
	}
	if v := p.Video; v != nil && v.Codec != "" {
		out.Video = &etVideoJSON{
			Codec: v.Codec,
			CodecOptions: options(
				"Profile", v.Profile, "Level", string(v.Level), "MaxReferenceFrames", string(v.MaxReferenceFrames),
				"MaxBitRate", string(v.MaxBitRate), "BufferSize", string(v.BufferSize),
				"InterlacedMode", v.InterlacedMode, "ColorSpaceConversionMode", v.ColorSpaceConversionMode,
				"ChromaSubsampling", v.ChromaSubsampling, "LoopCount", v.LoopCount),
			KeyframesMaxDist: string(v.KeyframesMaxDist), FixedGOP: string(v.FixedGOP),
			BitRate: string(v.BitRate), FrameRate: string(v.FrameRate), MaxFrameRate: string(v.MaxFrameRate),
			MaxWidth: string(v.MaxWidth), MaxHeight: string(v.MaxHeight),
			DisplayAspectRatio: v.DisplayAspectRatio, SizingPolicy: v.SizingPolicy, PaddingPolicy: v.PaddingPolicy,
		}
	}
	if a := p.Audio; a != nil && a.Codec != "" {
		out.Audio = &etAudioJSON{
			Codec: a.Codec, SampleRate: string(a.SampleRate), BitRate: string(a.BitRate), Channels: string(a.Channels),
			AudioPackingMode: a.AudioPackingMode,
			CodecOptions: options("Profile", a.Profile, "BitDepth", string(a.BitDepth),
				"BitOrder", a.BitOrder, "Signed", a.Signed),
		}
	}
	if t := p.Thumbnails; t != nil && t.Format != "" {
		out.Thumbnails = &etThumbsJSON{
			Format: t.Format, Interval: string(t.Interval), MaxWidth: string(t.MaxWidth), MaxHeight: string(t.MaxHeight),
			SizingPolicy: t.SizingPolicy, PaddingPolicy: t.PaddingPolicy,
		}
	}
	return out
}
