package e2e

import (
	"context"
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
	if err == nil || !strings.Contains(string(out), `preset acme-hls-360`) || !strings.Contains(string(out), `"6OO"`) {
		t.Errorf("serve with a bad presets file: %v\n%s", err, out)
	}
}
