package http

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/vidjob/vidjob"
)

// presetSummary is one line of GET /presets: enough to choose a preset.
type presetSummary struct {
	ID            string `json:"id"`
	Name          string `json:"name,omitempty"`
	Description   string `json:"description,omitempty"`
	Status        string `json:"status"`
	ReplacementID string `json:"replacement_id,omitempty"`
	Container     string `json:"container,omitempty"`
	Packaging     string `json:"packaging,omitempty"`
	Video         string `json:"video,omitempty"`
	Audio         string `json:"audio,omitempty"`
}

// getPresets lists the catalog, current presets first in catalog order.
func (s *Server) getPresets(w http.ResponseWriter, r *http.Request) {
	all := s.Catalog.All()
	list := make([]presetSummary, 0, len(all))
	for _, p := range all {
		list = append(list, presetSummary{
			ID: p.ID, Name: p.Name, Description: p.Description, Status: p.Status,
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
func (s *Server) getPreset(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
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
