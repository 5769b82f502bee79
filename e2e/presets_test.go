package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// segmentedJob is a job for preset into bucket "media" at key.
func segmentedJob(appID, src, postbackURL, preset, key string) string {
	return `{
  "application_id": "` + appID + `",
  "src": "` + src + `",
  "src_type": "pre_process_only",
  "v": 1.22,
  "postback_url": "` + postbackURL + `",
  "pre_process": {"transcode": {
    "preset_id": "` + preset + `",
    "s3_destination": {"bucket": "media", "key": "` + key + `"}
  }}
}`
}

// TestHLSJobStoresPlaylistAndSegments: an HLS preset's job stores the media
// playlist under the job's key and every segment beside it, the result lists
// them all, and a player (ffprobe) plays the playlist from the server's URL.
// A deprecated HLS ID runs its replacement and says so.
func TestHLSJobStoresPlaylistAndSegments(t *testing.T) {
	dir := t.TempDir()
	// 12 s: two segments of three 90-frame GOPs (9 s at 29.97 fps) each.
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 12, Width: 640, Height: 360})
	media := mediaServer(t, dir)
	srv := startServer(t)
	rcv := newReceiver(t)

	jobID := srv.submit(t, segmentedJob(srv.AppID, media.URL+"/"+filepath.Base(src), rcv.URL,
		"System preset: HLS 400k", "shows/ep1/index.m3u8"))
	pb := rcv.wait(t, 3*time.Minute)
	res := results(t, pb.Body)
	if res["job_id"] != jobID {
		t.Fatalf("postback for %v, want %s", res["job_id"], jobID)
	}
	if errs, ok := res["errors"]; ok {
		t.Fatalf("job failed: %v\n%s", errs, srv.log())
	}
	video, _ := res["video"].(map[string]any)
	var objects []string
	for _, o := range video["objects"].([]any) {
		objects = append(objects, o.(string))
	}
	want := []string{"shows/ep1/index.m3u8", "shows/ep1/index00000.ts", "shows/ep1/index00001.ts"}
	if !slices.Equal(objects, want) {
		t.Errorf("objects = %v, want %v", objects, want)
	}
	for _, key := range want {
		if fi, err := os.Stat(filepath.Join(srv.Data, "objects", "media", filepath.FromSlash(key))); err != nil || fi.Size() == 0 {
			t.Errorf("%s not in the store: %v", key, err)
		}
	}
	s3url, _ := video["s3_url"].(string)
	if !strings.HasPrefix(s3url, srv.URL+"/objects/media/shows/ep1/index.m3u8") {
		t.Errorf("s3_url = %q, want the playlist's URL", s3url)
	}
	if d, _ := video["duration_seconds"].(float64); d < 11.9 || d > 12.1 {
		t.Errorf("duration_seconds = %v, want 12", video["duration_seconds"])
	}
	resp, err := http.Get(s3url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		t.Errorf("playlist served as %q", ct)
	}

	// A player reads the playlist and its segments over HTTP.
	p := ffprobe(t, s3url)
	if p.Format.FormatName != "hls" {
		t.Errorf("format %s, want hls", p.Format.FormatName)
	}
	if d, _ := strconv.ParseFloat(p.Format.Duration, 64); d < 11.9 || d > 12.1 {
		t.Errorf("playlist plays %s s, want 12", p.Format.Duration)
	}
	var kinds []string
	for _, st := range p.Streams {
		kinds = append(kinds, st.CodecType+":"+st.CodecName)
		if st.CodecType == "video" && (st.Width != 400 || st.Height != 226 || st.Profile != "Constrained Baseline" && st.Profile != "Baseline") {
			t.Errorf("video %dx%d %s, want 400x226 (640x360 scaled to the 400x288 box, even) Baseline", st.Width, st.Height, st.Profile)
		}
	}
	if !slices.Contains(kinds, "video:h264") || !slices.Contains(kinds, "audio:aac") {
		t.Errorf("streams %v, want h264 and aac", kinds)
	}

	// The deprecated HLS Audio 64k (AAC-LC) runs as its replacement.
	rcv = newReceiver(t)
	jobID = srv.submit(t, segmentedJob(srv.AppID, media.URL+"/"+filepath.Base(src), rcv.URL,
		"1351620000001-200070", "radio/ep1.m3u8"))
	pb = rcv.wait(t, 3*time.Minute)
	res = results(t, pb.Body)
	if errs, ok := res["errors"]; ok || res["job_id"] != jobID {
		t.Fatalf("job %v failed: %v", res["job_id"], errs)
	}
	video, _ = res["video"].(map[string]any)
	note, _ := video["preset_note"].(string)
	if video["preset_id"] != "1351620000001-200071" || !strings.Contains(note, "1351620000001-200070 is deprecated") {
		t.Errorf("preset_id %v, note %q: want the replacement and a note saying so", video["preset_id"], note)
	}
	s3url, _ = video["s3_url"].(string)
	p = ffprobe(t, s3url)
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "aac" || p.Format.FormatName != "hls" {
		t.Errorf("audio HLS: %s with %+v", p.Format.FormatName, p.Streams)
	}
}

// TestPresetsAreListedAndReadInETShape: GET /presets lists the catalog and
// GET /presets/{id} answers Elastic Transcoder's ReadPreset shape.
func TestPresetsAreListedAndReadInETShape(t *testing.T) {
	srv := startServer(t)
	status, out := srv.get(t, "/presets")
	list, _ := out["presets"].([]any)
	if status != 200 || len(list) != 85 {
		t.Fatalf("GET /presets: HTTP %d, %d presets, want 85", status, len(list))
	}
	var found bool
	for _, e := range list {
		m := e.(map[string]any)
		if m["id"] == "1351620000001-200050" {
			found = true
			if m["container"] != "ts" || !strings.HasPrefix(m["video"].(string), "H.264, baseline, level 3") || !strings.HasPrefix(m["audio"].(string), "AAC, 44100 Hz, 2 ch") {
				t.Errorf("HLS 400k listed as %v", m)
			}
		}
	}
	if !found {
		t.Error("HLS 400k not listed")
	}
	status, out = srv.get(t, "/presets/1351620000001-200050")
	p, _ := out["Preset"].(map[string]any)
	v, _ := p["Video"].(map[string]any)
	opts, _ := v["CodecOptions"].(map[string]any)
	if status != 200 || p["Id"] != "1351620000001-200050" || p["Container"] != "ts" || p["Type"] != "System" ||
		v["Codec"] != "H.264" || v["KeyframesMaxDist"] != "90" || opts["Profile"] != "baseline" {
		t.Errorf("GET /presets/{id}: HTTP %d %v", status, out)
	}
	status, out = srv.get(t, "/presets/nope")
	if status != 404 {
		t.Errorf("unknown preset: HTTP %d %v, want 404", status, out)
	}
}
