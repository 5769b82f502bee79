package ffmpeg

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vidjob/vidjob/internal/testmedia"
	"github.com/vidjob/vidjob/preset"
)

// TestSmoothManifests encodes a clip with a Smooth preset and checks the
// server and client manifests written beside the .ismv against ffprobe's
// reading of the .ismv: the files they name exist, one chunk per fragment
// (the ismv muxer starts one at every keyframe), chunk durations adding up to
// the stream's duration, codec set-up data, bit rates and picture size.
func TestSmoothManifests(t *testing.T) {
	needFFmpeg(t)
	c, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.Lookup("1351620000001-400070") // Smooth 400k
	if err != nil {
		t.Fatal(err)
	}
	src := makeSources(t, map[string]testmedia.Spec{"clip": {Seconds: 5}})[0]
	r := &Runner{X264Preset: conformanceX264Preset}
	work := t.TempDir()
	outDir := filepath.Join(work, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ismv := filepath.Join(outDir, "movie.ismv")
	args, err := BuildArgs(p, src.probe, src.path, ismv, r.ArgOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Transcode(context.Background(), args, 0, nil); err != nil {
		t.Fatal(err)
	}
	const published = "My Movie.ismv"
	paths, err := r.SmoothManifests(context.Background(), ismv, published, work)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(outDir, "movie.ism"), filepath.Join(outDir, "movie.ismc")}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("wrote %q, want %q", paths, want)
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != 3 {
		t.Errorf("%d files in the output directory, want the .ismv and two manifests", len(entries))
	}
	if left, _ := os.ReadDir(work); len(left) != 1 {
		t.Errorf("scratch files left in the work directory: %v", left)
	}

	// Server manifest: SMIL naming the client manifest and the .ismv's tracks.
	var server struct {
		XMLName xml.Name `xml:"http://www.w3.org/2001/SMIL20/Language smil"`
		Meta    []struct {
			Name    string `xml:"name,attr"`
			Content string `xml:"content,attr"`
		} `xml:"head>meta"`
		Switch struct {
			Tracks []struct {
				XMLName xml.Name
				Src     string `xml:"src,attr"`
				Bitrate int64  `xml:"systemBitrate,attr"`
				Params  []struct {
					Name  string `xml:"name,attr"`
					Value string `xml:"value,attr"`
				} `xml:"param"`
			} `xml:",any"`
		} `xml:"body>switch"`
	}
	readXML(t, want[0], &server)
	if len(server.Meta) != 1 || server.Meta[0].Name != "clientManifestRelativePath" || server.Meta[0].Content != "movie.ismc" {
		t.Errorf("server manifest head: %+v", server.Meta)
	}
	var client SmoothClientManifest
	readXML(t, want[1], &client)

	streams := probeStreams(t, ismv)
	tracks := server.Switch.Tracks
	if len(tracks) != len(streams) || len(client.Streams) != len(streams) || len(streams) != 2 {
		t.Fatalf("server manifest has %d tracks, client manifest %d streams, the .ismv %d (want 2)", len(tracks), len(client.Streams), len(streams))
	}
	keyframes, videoSecs, frameSecs := videoKeyframes(t, ismv)
	for i, st := range streams {
		tr, cs := tracks[i], client.Streams[i]
		if tr.XMLName.Local != st.kind || cs.Type != st.kind {
			t.Errorf("stream %d is %s; server manifest says %s, client manifest %s", i, st.kind, tr.XMLName.Local, cs.Type)
		}
		if tr.Src != published {
			t.Errorf("track %d src %q, want %q", i, tr.Src, published)
		}
		if len(tr.Params) != 1 || tr.Params[0].Name != "trackID" || tr.Params[0].Value != strconv.Itoa(st.trackID) {
			t.Errorf("track %d params %+v, want trackID %d", i, tr.Params, st.trackID)
		}
		if len(cs.Qualities) != 1 {
			t.Fatalf("%s: %d quality levels", st.kind, len(cs.Qualities))
		}
		q := cs.Qualities[0]
		if q.Bitrate != st.bitRate || tr.Bitrate != st.bitRate {
			t.Errorf("%s: bit rate %d (client), %d (server); ffprobe %d", st.kind, q.Bitrate, tr.Bitrate, st.bitRate)
		}
		if q.CodecPrivateData == "" {
			t.Errorf("%s: no CodecPrivateData", st.kind)
		}
		if cs.Chunks != len(cs.Chunk) || cs.Chunks != len(keyframes) {
			t.Fatalf("%s: Chunks=%d, %d <c> elements; the .ismv has %d fragments (keyframes)", st.kind, cs.Chunks, len(cs.Chunk), len(keyframes))
		}
		for n, c := range cs.Chunk {
			if n > 0 && c.Start != cs.Chunk[n-1].Start+cs.Chunk[n-1].Duration {
				t.Errorf("%s chunk %d starts at %d, the one before ends at %d", st.kind, n, c.Start, cs.Chunk[n-1].Start+cs.Chunk[n-1].Duration)
			}
			if d := float64(c.Start)/1e7 - keyframes[n]; st.kind == "video" && math.Abs(d) > 1e-6 {
				t.Errorf("video chunk %d starts at %d, its keyframe at %.6f s", n, c.Start, keyframes[n])
			}
		}
		var sum int64
		for _, c := range cs.Chunk {
			sum += c.Duration
		}
		if st.kind == "video" {
			if !strings.HasPrefix(q.CodecPrivateData, "00000001") {
				t.Errorf("video CodecPrivateData %q does not start with an H.264 start code", q.CodecPrivateData)
			}
			if q.FourCC != "H264" || q.MaxWidth != st.width || q.MaxHeight != st.height {
				t.Errorf("video level %+v; ffprobe %dx%d", q, st.width, st.height)
			}
			if got := float64(sum) / 1e7; math.Abs(got-videoSecs) > frameSecs+1e-6 {
				t.Errorf("video chunks add up to %.4f s; the stream lasts %.4f s", got, videoSecs)
			}
		} else if q.SamplingRate != st.sampleRate || q.Channels != st.channels {
			t.Errorf("audio level %+v; ffprobe %d Hz, %d channels", q, st.sampleRate, st.channels)
		}
	}
	if len(keyframes) < 2 {
		t.Errorf("%d keyframes in a 5 s clip: the test would not see fragment boundaries", len(keyframes))
	}
}

func readXML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(path), err, b)
	}
}

type probedStream struct {
	kind                                string
	trackID                             int
	bitRate                             int64
	width, height, sampleRate, channels int
}

// probeStreams reads the .ismv's streams with ffprobe.
func probeStreams(t *testing.T, path string) []probedStream {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=codec_type,id,bit_rate,width,height,sample_rate,channels", "-of", "json", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Streams []struct {
			Type       string `json:"codec_type"`
			ID         string `json:"id"`
			BitRate    string `json:"bit_rate"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			SampleRate string `json:"sample_rate"`
			Channels   int    `json:"channels"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var ss []probedStream
	for _, s := range doc.Streams {
		id, _ := strconv.ParseInt(strings.TrimPrefix(s.ID, "0x"), 16, 64)
		br, _ := strconv.ParseInt(s.BitRate, 10, 64)
		sr, _ := strconv.Atoi(s.SampleRate)
		ss = append(ss, probedStream{s.Type, int(id), br, s.Width, s.Height, sr, s.Channels})
	}
	return ss
}

// videoKeyframes returns the times of the keyframes of the first video
// stream, its duration and one frame's duration, in seconds.
func videoKeyframes(t *testing.T, path string) ([]float64, float64, float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time,duration_time,flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var keys []float64
	lo, hi, frame := math.Inf(1), math.Inf(-1), 0.0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		pts, err1 := strconv.ParseFloat(f[0], 64)
		dur, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("packet %q", line)
		}
		if strings.HasPrefix(f[2], "K") {
			keys = append(keys, pts)
		}
		lo, hi, frame = math.Min(lo, pts), math.Max(hi, pts+dur), dur
	}
	return keys, hi - lo, frame
}

// TestSmoothManifestsNeedVideo: an audio-only .ismv is one fragment (the
// ismv muxer cuts at video keyframes), so no manifest claims chunks it does
// not have.
func TestSmoothManifestsNeedVideo(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	ismv := filepath.Join(dir, "a.ismv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=3",
		"-c:a", "aac", "-f", "ismv", ismv).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	r := &Runner{}
	paths, err := r.SmoothManifests(context.Background(), ismv, "a.ismv", dir)
	if err != nil || len(paths) != 0 {
		t.Fatalf("audio-only: %q, %v", paths, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
}
