package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

const customPresets = `[{
  "Id": "acme-hls-360", "Name": "Acme HLS 360p", "Description": "Acme small HLS", "Container": "ts",
  "Video": {"Codec": "H.264", "CodecOptions": {"Profile": "main", "Level": "3", "MaxReferenceFrames": "3"},
    "KeyframesMaxDist": "60", "FixedGOP": "true", "BitRate": "600", "FrameRate": "30",
    "MaxWidth": "640", "MaxHeight": "360", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad"},
  "Audio": {"Codec": "AAC", "SampleRate": "44100", "BitRate": "96", "Channels": "2", "CodecOptions": {"Profile": "AAC-LC"}}
}]`

// TestCustomPresetsFromTheOperatorsFile: presets in ET's shape loaded with
// --presets-file run by name; a file with a bad preset stops the server at
// start with a message naming the preset and the setting.
func TestCustomPresetsFromTheOperatorsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "presets.json")
	if err := os.WriteFile(file, []byte(customPresets), 0o644); err != nil {
		t.Fatal(err)
	}
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 3, Width: 640, Height: 360})
	media := mediaServer(t, dir)
	srv := startServer(t, "--presets-file", file)
	rcv := newReceiver(t)
	srv.submit(t, segmentedJob(srv.AppID, media.URL+"/"+filepath.Base(src), rcv.URL, "Acme HLS 360p", "acme/out.m3u8"))
	res := results(t, rcv.wait(t, 2*time.Minute).Body)
	if errs, ok := res["errors"]; ok {
		t.Fatalf("job failed: %v", errs)
	}
	video, _ := res["video"].(map[string]any)
	objects, _ := video["objects"].([]any)
	if video["preset_id"] != "acme-hls-360" || len(objects) < 2 || objects[0] != "acme/out.m3u8" {
		t.Errorf("preset_id %v objects %v", video["preset_id"], objects)
	}
	if status, out := srv.get(t, "/presets/acme-hls-360"); status != 200 {
		t.Errorf("GET /presets/acme-hls-360: HTTP %d %v", status, out)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(customPresets, `"BitRate": "600"`, `"BitRate": "6OO"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, vidjobBin, "serve", "--data", t.TempDir(), "--listen", freeAddr(t), "--presets-file", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `(Id "acme-hls-360"): Video.BitRate must be`) || !strings.Contains(string(out), `"6OO"`) {
		t.Errorf("serve with a bad presets file: %v\n%s", err, out)
	}
}

// TestApplicationPresetRunsAJob: a preset an application created with POST
// /presets runs its jobs (named by Name) to that preset's settings; a Smooth
// preset's job stores the .ismv with its .ism and .ismc manifests.
func TestApplicationPresetRunsAJob(t *testing.T) {
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 2, Width: 640, Height: 360})
	media := mediaServer(t, dir)
	srv := startServer(t)
	rcv := newReceiver(t)

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/presets", strings.NewReader(`{
	  "Name": "Tiny MP4", "Container": "mp4",
	  "Video": {"Codec": "H.264", "CodecOptions": {"Profile": "baseline", "Level": "3", "MaxReferenceFrames": "1"},
	    "KeyframesMaxDist": "30", "FixedGOP": "true", "BitRate": "300", "FrameRate": "15",
	    "MaxWidth": "320", "MaxHeight": "180", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad"},
	  "Audio": {"Codec": "AAC", "SampleRate": "22050", "BitRate": "64", "Channels": "1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Application-Id", srv.AppID)
	status, out := srv.do(t, req)
	p, _ := out["Preset"].(map[string]any)
	id, _ := p["Id"].(string)
	if status != http.StatusCreated || id == "" {
		t.Fatalf("POST /presets: HTTP %d %v", status, out)
	}
	// The CLI lists it too, after the system presets, for that application only.
	listing := vidjobCLIOut(t, "presets", "--data", srv.Data, "--application", srv.AppID)
	if lines := strings.Split(listing, "\n"); !strings.HasPrefix(lines[len(lines)-1], id+"  ") || !strings.Contains(lines[len(lines)-1], "Tiny MP4") {
		t.Errorf("vidjob presets --application: last line %q, want %s Tiny MP4", lines[len(lines)-1], id)
	}
	if strings.Contains(vidjobCLIOut(t, "presets", "--data", srv.Data), id) {
		t.Errorf("vidjob presets without --application lists %s", id)
	}

	srv.submit(t, segmentedJob(srv.AppID, media.URL+"/"+filepath.Base(src), rcv.URL, "tiny mp4", "app/tiny.mp4"))
	res := results(t, rcv.wait(t, 2*time.Minute).Body)
	if errs, ok := res["errors"]; ok {
		t.Fatalf("job failed: %v\n%s", errs, srv.log())
	}
	if video, _ := res["video"].(map[string]any); video["preset_id"] != id {
		t.Errorf("preset_id %v, want %s", video["preset_id"], id)
	}
	pr := ffprobe(t, filepath.Join(srv.Data, "objects", "media", "app", "tiny.mp4"))
	var v, a bool
	for _, s := range pr.Streams {
		switch s.CodecType {
		case "video":
			v = s.CodecName == "h264" && s.Profile == "Constrained Baseline" && s.Level == 30 &&
				s.Width == 320 && s.Height == 180 && s.AvgFrameRate == "15/1"
			if !v {
				t.Errorf("video %+v, want H.264 Constrained Baseline level 3, 320x180, 15 fps", s)
			}
		case "audio":
			a = s.CodecName == "aac" && s.SampleRate == "22050" && s.Channels == 1
			if !a {
				t.Errorf("audio %+v, want AAC 22050 Hz mono", s)
			}
		}
	}
	if !v || !a || len(pr.Streams) != 2 {
		t.Errorf("streams %+v", pr.Streams)
	}

	rcv = newReceiver(t)
	srv.submit(t, segmentedJob(srv.AppID, media.URL+"/"+filepath.Base(src), rcv.URL, "System preset: Smooth 400k", "app/smooth.ismv"))
	res = results(t, rcv.wait(t, 2*time.Minute).Body)
	if errs, ok := res["errors"]; ok {
		t.Fatalf("Smooth job failed: %v\n%s", errs, srv.log())
	}
	video, _ := res["video"].(map[string]any)
	objects := fmt.Sprint(video["objects"])
	if objects != "[app/smooth.ismv app/smooth.ism app/smooth.ismc]" {
		t.Errorf("Smooth objects %s", objects)
	}
	for _, name := range []string{"smooth.ismv", "smooth.ism", "smooth.ismc"} {
		if _, err := os.Stat(filepath.Join(srv.Data, "objects", "media", "app", name)); err != nil {
			t.Error(err)
		}
	}
}

// vidjobCLIOut runs the vidjob command with args as given and returns its
// stdout, failing the test if it fails.
func vidjobCLIOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(vidjobBin, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("vidjob %v: %v: %s", args, err, stderr)
	}
	return strings.TrimSpace(string(out))
}
