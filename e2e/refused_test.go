package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostileInputIsRefusedAtSubmission: what used to be accepted and then
// fail later is refused by a real server with a specific 400, and nothing is
// created: postback_headers Go's client cannot send (the job was billed and
// every postback failed), destination keys with an empty segment (the
// transcode ran, then storing failed), and custom presets outside Elastic
// Transcoder's ranges (201, then every job using them failed).
func TestHostileInputIsRefusedAtSubmission(t *testing.T) {
	srv := startServer(t)
	good := localJob(srv.AppID, "https://example.com/squirrel.mp4", "https://example.com/postback")
	swap := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("job has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	withHeaders := func(headers string) string {
		return swap(`"postback_url": "https://example.com/postback",`, `"postback_url": "https://example.com/postback", "postback_headers": `+headers+`,`)
	}
	jobs := []struct{ name, body, message string }{
		{"header value CRLF", withHeaders(`{"X-Token": "a\r\nX-Admin: 1"}`), `postback_headers: the value of "X-Token" contains a control character`},
		{"header value NUL", withHeaders(`{"X-Token": "a\u0000b"}`), `postback_headers: the value of "X-Token" contains a control character`},
		{"header value DEL", withHeaders(`{"X-Token": "a\u007fb"}`), `postback_headers: the value of "X-Token" contains a control character`},
		{"header value C1", withHeaders(`{"X-Token": "a\u0085b"}`), `postback_headers: the value of "X-Token" contains a control character`},
		{"header name not a token", withHeaders(`{"X Token": "v"}`), `postback_headers: "X Token" is not a valid HTTP header name`},
		{"too many headers", withHeaders(`{"A1":"v","A2":"v","A3":"v","A4":"v","A5":"v","A6":"v","A7":"v","A8":"v","A9":"v","A10":"v","A11":"v","A12":"v","A13":"v","A14":"v","A15":"v","A16":"v","A17":"v","A18":"v","A19":"v","A20":"v","A21":"v"}`), "postback_headers may hold at most 20 headers (got 21)."},
		{"headers too large", withHeaders(`{"X-Big": "` + strings.Repeat("v", 9000) + `"}`), "postback_headers may hold at most 8192 bytes of names and values (got 9005)."},
		{"key trailing slash", swap("grumpy_squirrel/transcoded_out.mp4", "grumpy_squirrel/"), "The destination key cannot end with '/': it must name a file, not a folder."},
		{"key empty segment", swap("grumpy_squirrel/transcoded_out.mp4", "grumpy_squirrel//out.mp4"), `The destination key cannot contain "//" (an empty path segment).`},
	}
	for _, c := range jobs {
		t.Run(c.name, func(t *testing.T) {
			status, out := srv.post(t, "/job", "application/json", c.body)
			res, _ := out["results"].(map[string]any)
			msg, _ := res["error"].(string)
			if status != http.StatusBadRequest || !strings.Contains(msg, c.message) {
				t.Errorf("HTTP %d %q, want 400 with %q", status, msg, c.message)
			}
			if _, ok := res["job_id"]; ok {
				t.Errorf("a job was created: %v", res)
			}
		})
	}

	const preset = `{"Name": "Hostile", "Container": "mp4",
	  "Video": {"Codec": "H.264", "CodecOptions": {"Profile": "main", "Level": "3", "MaxReferenceFrames": "3"},
	    "KeyframesMaxDist": "90", "FixedGOP": "false", "BitRate": "800", "FrameRate": "30",
	    "MaxWidth": "640", "MaxHeight": "360", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad"},
	  "Audio": {"Codec": "AAC", "SampleRate": "44100", "BitRate": "96", "Channels": "2"}}`
	presets := []struct{ name, from, to, message string }{
		{"sample rate", `"SampleRate": "44100"`, `"SampleRate": "1"`, `Invalid preset: Audio.SampleRate must be one of auto, 22050, 32000, 44100, 48000, 96000 (got "1").`},
		{"channels", `"Channels": "2"`, `"Channels": "64"`, `Invalid preset: Audio.Channels must be one of auto, 0, 1, 2 (got "64").`},
		{"keyframes", `"KeyframesMaxDist": "90"`, `"KeyframesMaxDist": "99999999999"`, `Invalid preset: Video.KeyframesMaxDist must be a whole number from 1 to 100000 (got "99999999999").`},
		{"mp3 at 96 kHz", `"Codec": "AAC", "SampleRate": "44100"`, `"Codec": "mp3", "SampleRate": "96000"`, `Invalid preset: Audio.SampleRate 96000 is allowed by Elastic Transcoder, but ffmpeg's MP3 and MP2 encoders stop at 48000 Hz.`},
	}
	for _, c := range presets {
		t.Run("preset "+c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/presets", strings.NewReader(strings.Replace(preset, c.from, c.to, 1)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Application-Id", srv.AppID)
			status, out := srv.do(t, req)
			res, _ := out["results"].(map[string]any)
			msg, _ := res["error"].(string)
			if status != http.StatusBadRequest || msg != c.message {
				t.Errorf("POST /presets: HTTP %d %v, want 400 with %q", status, out, c.message)
			}
		})
	}
	// The unchanged preset is accepted, so each refusal above was for its
	// one setting.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/presets", strings.NewReader(preset))
	req.Header.Set("X-Application-Id", srv.AppID)
	if status, out := srv.do(t, req); status != http.StatusCreated {
		t.Errorf("the valid preset: HTTP %d %v", status, out)
	}

	// Nothing half-created: no job queued or billed, and only the valid
	// preset stored.
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(0) {
		t.Errorf("usage after refusals = %v", usage)
	}
	listing := vidjobCLIOut(t, "presets", "--data", srv.Data, "--application", srv.AppID)
	if n := strings.Count(listing, "Hostile"); n != 1 {
		t.Errorf("%d presets named Hostile stored, want the valid one only:\n%s", n, listing)
	}
}
