package ffmpeg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/exiftool"
	"github.com/vidjob/vidjob/preset"
)

// hostileCase is one malformed or hostile source: make writes it into dir and
// returns its path. want is "" when the source must transcode, else a phrase
// the job's error must contain.
type hostileCase struct {
	name string
	make func(t *testing.T, dir string) string
	want string
}

// lavfi clip arguments: a 1 s, 160x120, 15 fps test pattern and a tone.
const (
	testVideo = "testsrc2=size=160x120:rate=15:duration=1"
	testAudio = "sine=frequency=440:sample_rate=44100:duration=1"
)

// gen runs ffmpeg to write name into dir.
func gen(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	full := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)
	full = append(full, out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, "ffmpeg", full...).CombinedOutput(); err != nil {
		t.Fatalf("generate %s: ffmpeg %v: %v: %s", name, full, err, b)
	}
	return out
}

// clip makes a 1 s clip with the given codec arguments.
func clip(name string, withAudio bool, codec ...string) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		args := []string{"-f", "lavfi", "-i", testVideo}
		if withAudio {
			args = append(args, "-f", "lavfi", "-i", testAudio)
		}
		return gen(t, dir, name, append(args, codec...)...)
	}
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// y4m writes a raw YUV4MPEG2 stream with the given header and frames of
// frameBytes zero bytes: the header declares what it likes, cheaply.
func y4m(name, header string, frames, frameBytes int) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		var b bytes.Buffer
		b.WriteString("YUV4MPEG2 " + header + "\n")
		for i := 0; i < frames; i++ {
			b.WriteString("FRAME\n")
			b.Write(make([]byte, frameBytes))
		}
		return writeFile(t, filepath.Join(dir, name), b.Bytes())
	}
}

// patchBoxDurations sets the duration field of every mvhd, tkhd and mdhd box
// (version 0) in an MP4 to d, as a hostile muxer could.
func patchBoxDurations(b []byte, d uint32) {
	for _, box := range []struct {
		name string
		off  int // from the box type to the duration field
	}{{"mvhd", 4 + 4 + 4 + 4 + 4}, {"mdhd", 4 + 4 + 4 + 4 + 4}, {"tkhd", 4 + 4 + 4 + 4 + 4 + 4}} {
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(box.name))
			if j < 0 {
				break
			}
			at := i + j + box.off
			if at+4 <= len(b) && b[i+j+4] == 0 { // version 0 only
				binary.BigEndian.PutUint32(b[at:], d)
			}
			i += j + 4
		}
	}
}

// TestHostileSources runs each malformed or hostile source the way a job does:
// probe the local file, check the source limits, build the arguments for a
// cheap MP4 preset and transcode. Each must transcode to a playable output or
// fail with a specific client error, in bounded time, without leaving files
// or processes behind, and without the secret next to it reaching any output,
// metadata or message.
func TestHostileSources(t *testing.T) {
	needFFmpeg(t)
	catalog, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := catalog.Lookup("System preset: Generic 320x240")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{X264Preset: "veryfast", Threads: 1}
	limits := SourceLimits{MaxDuration: 10 * time.Minute, MaxWidth: 8192, MaxHeight: 4320}
	meta := &exiftool.Exiftool{}

	// A local file a source must never be able to read, and a local HTTP
	// server it must never be able to reach.
	secretDir := t.TempDir()
	marker := "VIDJOB-SECRET-" + randomHex(8)
	secretText := writeFile(t, filepath.Join(secretDir, "secret.txt"), []byte(marker+"\n"))
	secretMedia := gen(t, secretDir, "secret.mkv", "-f", "lavfi", "-i", testVideo, "-c:v", "libx264", "-preset", "ultrafast",
		"-metadata", "title="+marker, "-metadata", "comment="+marker)
	var hits atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.ServeFile(w, r, secretMedia)
	}))
	defer origin.Close()

	text := func(name, body string) func(t *testing.T, dir string) string {
		return func(t *testing.T, dir string) string { return writeFile(t, filepath.Join(dir, name), []byte(body)) }
	}
	h264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	aac := []string{"-c:a", "aac", "-b:a", "64k"}
	mp4 := append(append([]string{}, h264...), aac...)

	cases := []hostileCase{
		{"zero bytes", text("empty.mp4", ""), "the file is empty"},
		{"random bytes", func(t *testing.T, dir string) string {
			return writeFile(t, filepath.Join(dir, "random.mp4"), []byte(randomHex(4096)))
		}, "not a video file"},
		{"text named .mp4", text("notes.mp4", "This is not a video.\nJust some text.\n"), "not a video file"},
		{"truncated MP4 without moov", func(t *testing.T, dir string) string {
			path := clip("full.mp4", true, mp4...)(t, dir) // moov is written last
			b, _ := os.ReadFile(path)
			return writeFile(t, filepath.Join(dir, "truncated.mp4"), b[:len(b)/2])
		}, "moov atom not found"},
		{"MP4 truncated inside mdat (moov first)", func(t *testing.T, dir string) string {
			path := clip("fast.mp4", true, append(mp4, "-movflags", "+faststart")...)(t, dir)
			b, _ := os.ReadFile(path)
			return writeFile(t, filepath.Join(dir, "cut.mp4"), b[:len(b)*2/3])
		}, ""},
		{"moov at end", clip("moov-end.mp4", true, mp4...), ""},
		{"moov at start", clip("moov-start.mp4", true, append(mp4, "-movflags", "+faststart")...), ""},
		{"PNG image", clip("image.png", false, "-frames:v", "1"), "still image"},
		{"JPEG image", clip("image.jpg", false, "-frames:v", "1"), "still image"},
		{"audio only", func(t *testing.T, dir string) string {
			return gen(t, dir, "audio.m4a", append([]string{"-f", "lavfi", "-i", testAudio}, aac...)...)
		}, "no video stream"},
		{"video only", clip("video-only.mp4", false, h264...), ""},
		{"impossible declared dimensions (y4m 60000x60000)", y4m("huge.y4m", "W60000 H60000 F15:1 Ip A1:1 C420jpeg", 1, 64), "Picture size 60000x60000 is invalid"},
		{"huge declared dimensions (y4m 16000x9000)", y4m("big.y4m", "W16000 H9000 F15:1 Ip A1:1 C420jpeg", 1, 64), "larger than the 8192x4320 limit"},
		{"zero frame rate (y4m F0:1)", y4m("zero-fps.y4m", "W64 H48 F0:1 Ip A1:1 C420jpeg", 5, 64*48*3/2), ""},
		{"timestamps jump back (two TS files joined)", func(t *testing.T, dir string) string {
			a := clip("a.ts", true, mp4...)(t, dir)
			b, _ := os.ReadFile(a)
			return writeFile(t, filepath.Join(dir, "joined.ts"), append(b, b...))
		}, ""},
		{"timestamps jump an hour ahead", func(t *testing.T, dir string) string {
			a := clip("a.ts", true, mp4...)(t, dir)
			c := clip("c.ts", true, append(mp4, "-output_ts_offset", "3600")...)(t, dir)
			ab, _ := os.ReadFile(a)
			cb, _ := os.ReadFile(c)
			return writeFile(t, filepath.Join(dir, "gap.ts"), append(ab, cb...))
		}, "longer than the 10m0s limit"},
		{"extremely long duration header", func(t *testing.T, dir string) string {
			path := clip("long-header.mp4", true, append(mp4, "-movflags", "+faststart")...)(t, dir)
			b, _ := os.ReadFile(path)
			patchBoxDurations(b, 0xfffffff0)
			return writeFile(t, path, b)
		}, "longer than the 10m0s limit"},
		{"corrupted frames mid-stream", func(t *testing.T, dir string) string {
			path := clip("corrupt.mp4", false, append(h264, "-movflags", "+faststart", "-g", "5")...)(t, dir)
			b, _ := os.ReadFile(path)
			mdat := bytes.Index(b, []byte("mdat"))
			for i := mdat + (len(b)-mdat)/3; i < mdat+(len(b)-mdat)/2; i += 7 {
				b[i] ^= 0x5a
			}
			return writeFile(t, path, b)
		}, ""},
		{"HLS playlist of a local file", text("local.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile://"+secretMedia+"\n#EXTINF:1.0,\n"+secretMedia+"\n#EXT-X-ENDLIST\n"), "playlist"},
		{"HLS playlist of a URL", text("remote.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n"+origin.URL+"/seg.mkv\n#EXT-X-ENDLIST\n"), "Protocol 'http' not on whitelist 'file'!"},
		{"HLS playlist of a text file", text("text.m3u8", "#EXTM3U\n#EXTINF:1.0,\nfile://"+secretText+"\n#EXT-X-ENDLIST\n"), "not a video file"},
		{"concat list of local files", text("list.ffconcat", "ffconcat version 1.0\nfile '"+secretMedia+"'\nfile 'file:"+secretText+"'\n"), "Unsafe file name '<path>'"},
		{"SDP pointing at the network", text("stream.sdp", "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n"), "Protocol 'rtp' not on whitelist 'file'!"},
		{"MKV", clip("clip.mkv", true, mp4...), ""},
		{"AVI (MPEG-4 part 2, PCM)", clip("clip.avi", true, "-c:v", "mpeg4", "-q:v", "5", "-c:a", "pcm_s16le"), ""},
		{"MOV", clip("clip.mov", true, mp4...), ""},
		{"WebM (VP8, Opus)", clip("clip-vp8.webm", true, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-c:a", "libopus"), ""},
		{"MPEG-TS", clip("clip.ts", true, mp4...), ""},
		{"FLV (Sorenson Spark)", clip("clip.flv", true, "-c:v", "flv", "-c:a", "aac"), ""},
		{"3GP (H.263, AAC)", func(t *testing.T, dir string) string {
			return gen(t, dir, "clip.3gp", "-f", "lavfi", "-i", "testsrc2=size=176x144:rate=15:duration=1", "-f", "lavfi", "-i", "sine=sample_rate=8000:duration=1",
				"-c:v", "h263", "-c:a", "aac", "-ar", "8000", "-ac", "1")
		}, ""},
		{"MPEG-2 program stream", clip("clip.mpg", true, "-c:v", "mpeg2video", "-c:a", "mp2"), ""},
		{"HEVC", clip("hevc.mp4", false, "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", "-x265-params", "log-level=error"), ""},
		{"VP9 in WebM", clip("vp9.webm", false, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"), ""},
		{"AV1", clip("av1.mkv", false, "-c:v", "libaom-av1", "-cpu-used", "8", "-usage", "realtime", "-b:v", "200k"), ""},
		{"rotation metadata (90)", func(t *testing.T, dir string) string {
			src := clip("unrotated.mp4", true, mp4...)(t, dir)
			return gen(t, dir, "rotated.mp4", "-i", src, "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=270")
		}, ""},
		{"variable frame rate", func(t *testing.T, dir string) string {
			return gen(t, dir, "vfr.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=1",
				"-vf", "select='lt(n\\,5)+not(mod(n\\,4))'", "-vsync", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
		}, ""},
		{"odd dimensions 1279x719", func(t *testing.T, dir string) string {
			return gen(t, dir, "odd.mkv", "-f", "lavfi", "-i", "testsrc2=size=1279x719:rate=15:duration=0.5",
				"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p")
		}, ""},
		{"10-bit H.264", clip("10bit.mkv", false, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"), ""},
		{"4:2:2 H.264", clip("422.mkv", false, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv422p"), ""},
		{"10-bit 4:2:2 ProRes", clip("prores.mov", true, "-c:v", "prores_ks", "-profile:v", "2", "-c:a", "pcm_s16le"), ""},
		{"10-bit HEVC", clip("hevc10.mkv", false, "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"), ""},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d hostile sources", len(cases))
	}

	genDir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(genDir, fmt.Sprint(i))
			os.MkdirAll(dir, 0o700)
			made := c.make(t, dir)
			// As in a job: the fetched bytes are a file named "source" in a
			// directory of the job's own.
			job := t.TempDir()
			src := filepath.Join(job, "source")
			b, err := os.ReadFile(made)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, src, b)
			out := filepath.Join(job, "output.mp4")

			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			start := time.Now()
			probe, err := r.Probe(ctx, src)
			if err == nil {
				err = limits.Check(probe)
			}
			var args []string
			if err == nil {
				args, err = BuildArgs(p, probe, src, out, ArgOptions{X264Preset: "veryfast", Threads: 1})
			}
			if err == nil {
				err = r.Transcode(ctx, args, time.Duration(probe.Duration*float64(time.Second)), nil)
				if err != nil && vidjob.ErrorCode(err) == vidjob.EINTERNAL {
					// As the worker does: ffmpeg's own failure is the source's fault.
					err = vidjob.WrapError(vidjob.EUNPROCESSABLE, err, "Transcoding failed: ffmpeg could not convert this source with preset %s.", p.ID)
				}
			}
			took := time.Since(start)
			if ctx.Err() != nil {
				t.Fatalf("did not finish within 90 s (%v)", err)
			}

			var texts []string // everything a client or a receiver could see
			if err != nil {
				msg := vidjob.ErrorMessage(err)
				texts = append(texts, msg)
				t.Logf("refused in %s: %s", took.Round(time.Millisecond), msg)
				if code := vidjob.ErrorCode(err); code != vidjob.EUNPROCESSABLE && code != vidjob.ETOOLARGE {
					t.Errorf("error code %q (%v), want unprocessable or too_large", code, err)
				}
				if c.want == "" {
					t.Errorf("want a transcode, got: %v", err)
				} else if !strings.Contains(msg, c.want) {
					t.Errorf("message %q does not say %q", msg, c.want)
				}
				if strings.Contains(msg, job) || strings.Contains(msg, secretDir) {
					t.Errorf("message names a local path: %q", msg)
				}
			} else {
				t.Logf("transcoded in %s", took.Round(time.Millisecond))
				if c.want != "" {
					t.Errorf("transcoded, want a refusal saying %q", c.want)
				}
				got, err := r.Probe(context.Background(), out)
				if err != nil {
					t.Fatalf("output unreadable: %v", err)
				}
				if got.Video == nil || got.Video.Width > 320 || got.Video.Height > 240 || got.Video.Width == 0 {
					t.Errorf("output video %+v, want a picture within 320x240", got.Video)
				}
				if d := got.BilledDuration(); d <= 0 || d > 5*time.Second {
					t.Errorf("output lasts %s, want (0, 5 s] for a short source", d)
				}
				ob, _ := os.ReadFile(out)
				texts = append(texts, string(ob))
				m, err := meta.Meta(context.Background(), out)
				if err != nil {
					t.Errorf("exiftool on the output: %v", err)
				}
				texts = append(texts, fmt.Sprint(m))
			}
			if m, err := meta.Meta(context.Background(), src); err == nil {
				texts = append(texts, fmt.Sprint(m)) // the source's original_meta
			}
			for _, s := range texts {
				if strings.Contains(s, marker) {
					t.Fatalf("the local secret leaked into what the client sees")
				}
			}
			entries, _ := os.ReadDir(job)
			for _, e := range entries {
				if e.Name() != "source" && e.Name() != "output.mp4" {
					t.Errorf("stray file left in the job directory: %s", e.Name())
				}
			}
			if pids := processesMentioning(t, job); len(pids) > 0 {
				t.Errorf("processes still running on the job's files: %v", pids)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("sources made %d requests to a local HTTP server", n)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
