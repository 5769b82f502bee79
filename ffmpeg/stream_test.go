package ffmpeg

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/runlog"
	"github.com/vidjob/vidjob/internal/testmedia"
	"github.com/vidjob/vidjob/livefile"
)

func TestStreamFormat(t *testing.T) {
	ts := make([]byte, 3*188+1)
	ts[0], ts[188], ts[376] = 0x47, 0x47, 0x47
	tsBroken := slices.Clone(ts)
	tsBroken[376] = 0
	for _, c := range []struct {
		name string
		head []byte
		want string
	}{
		{"mp4", []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"), FormatMOV},
		{"mkv", []byte{0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81}, FormatMatroska},
		{"ts", ts, FormatMPEGTS},
		{"ts with a lost packet", tsBroken, ""},
		{"hls", []byte("#EXTM3U\n#EXT-X-VERSION:3\n"), ""},
		{"concat", []byte("ffconcat version 1.0\nfile http://x/y\n"), ""},
		{"mov without ftyp", []byte("\x00\x00\x00\x08wide\x00\x00\x00\x00mdat"), ""},
		{"short", []byte("\x00\x00"), ""},
	} {
		if got := StreamFormat(c.head); got != c.want {
			t.Errorf("%s: StreamFormat = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestStreamReplacesOnlyTheSourceInput(t *testing.T) {
	s := Stream{Path: "/w/source", URL: "http://127.0.0.1:4000/abc", Format: FormatMOV}
	args := []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-i", "file:/w/source", "-c:v", "libx264", "file:/w/out/x.mp4"}
	got, err := s.replaceInput(args)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-nostdin", "-y", "-protocol_whitelist", "http,tcp", "-format_whitelist", "mov", "-enable_drefs", "0",
		"-i", "http://127.0.0.1:4000/abc", "-c:v", "libx264", "file:/w/out/x.mp4"}
	if !slices.Equal(got, want) {
		t.Errorf("replaceInput = %q\nwant %q", got, want)
	}
	if !slices.Equal(args[:6], []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-i", "file:/w/source"}) {
		t.Errorf("replaceInput changed its argument: %q", args)
	}
	for name, bad := range map[string][]string{
		"other input": {"-protocol_whitelist", "file", "-i", "file:/w/other"},
		"read twice":  slices.Concat(args, args),
	} {
		if _, err := s.replaceInput(bad); err == nil {
			t.Errorf("%s: replaceInput accepted %q", name, bad)
		}
	}
	for _, bad := range []Stream{
		{Path: "/w/source", URL: "http://example.com/x", Format: FormatMOV},
		{Path: "/w/source", URL: "http://127.0.0.1:4000/abc", Format: "hls"},
		{Path: "/w/source", URL: "http://127.0.0.1:4000/abc", Format: ""},
	} {
		if _, err := bad.replaceInput(args); err == nil {
			t.Errorf("replaceInput accepted stream %+v", bad)
		}
	}
}

// slowCopy writes src to dst in chunks, telling f, as a slow download would.
func slowCopy(t *testing.T, src, dst string, f *livefile.File, chunk int, pause time.Duration) {
	data, err := os.ReadFile(src)
	if err != nil {
		t.Error(err)
		f.Finish(err)
		return
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Error(err)
		f.Finish(err)
		return
	}
	defer out.Close()
	f.Started(int64(len(data)))
	for off := 0; off < len(data); off += chunk {
		end := min(len(data), off+chunk)
		if _, err := out.Write(data[off:end]); err != nil {
			f.Finish(err)
			return
		}
		f.Wrote(int64(end))
		time.Sleep(pause)
	}
	f.Finish(nil)
}

// A source read while it downloads probes and encodes as the whole file
// does, for an MP4 with its index at the end (ffmpeg seeks to it), one with
// it first, Matroska and MPEG-TS; the run log shows the local-file command.
func TestStreamReadsAGrowingSource(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	moovLast := testmedia.Make(t, dir, testmedia.Spec{Seconds: 2, Width: 320, Height: 240})
	faststart := filepath.Join(dir, "faststart.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", moovLast, "-c", "copy", "-movflags", "+faststart", faststart).CombinedOutput(); err != nil {
		t.Fatalf("faststart: %v %s", err, out)
	}
	mkv := testmedia.Make(t, dir, testmedia.Spec{Seconds: 2, Width: 320, Height: 240, Container: "mkv"})
	ts := testmedia.Make(t, dir, testmedia.Spec{Seconds: 2, Width: 320, Height: 240, Container: "ts"})
	r := &Runner{X264Preset: "veryfast"}
	for clip, format := range map[string]string{moovLast: FormatMOV, faststart: FormatMOV, mkv: FormatMatroska, ts: FormatMPEGTS} {
		t.Run(filepath.Base(clip), func(t *testing.T) {
			ctx := context.Background()
			want, err := r.Probe(ctx, clip)
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			path := filepath.Join(work, "source")
			// The worker's ffprobe starts before the first byte is in.
			early, err := r.StartStreamProbe(ctx, path, format)
			if err != nil {
				t.Fatal(err)
			}
			defer early.Close()
			f := livefile.New(path)
			go slowCopy(t, clip, path, f, 16*1024, 20*time.Millisecond)
			head, err := f.Head(ctx, StreamHead)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := livefile.Serve(f)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			s := Stream{Path: path, URL: srv.URL(), Format: StreamFormat(head)}
			if s.Format != format {
				t.Fatalf("format %q, want %q", s.Format, format)
			}
			rl := runlog.New(work)
			ctx = runlog.With(ctx, rl)
			got, err := r.ProbeStream(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Duration != want.Duration || got.Size != want.Size || got.FormatName != want.FormatName ||
				*got.Video != *want.Video || *got.Audio != *want.Audio {
				t.Errorf("streamed probe %+v %+v %+v\nwhole file %+v %+v %+v", got, got.Video, got.Audio, want, want.Video, want.Audio)
			}
			gotEarly, err := early.Result(ctx, srv.ServeFile)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotEarly, got) {
				t.Errorf("early probe %+v, streamed probe %+v", gotEarly, got)
			}
			os.Mkdir(filepath.Join(work, "out"), 0o700)
			out := filepath.Join(work, "out", "x.mp4")
			args := []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-i", fileURL(path), "-map", "0:v", "-c:v", "libx264",
				"-preset", "veryfast", "-f", "mp4", fileURL(out)}
			if err := r.TranscodeStream(ctx, args, s, 0, nil); err != nil {
				t.Fatal(err)
			}
			if st, _ := f.State(); !st.Done {
				t.Error("the encode ended before the download")
			}
			// The same command on the whole file, as a worker that waits runs it.
			local := filepath.Join(work, "out", "local.mp4")
			localArgs := slices.Clone(args)
			localArgs[len(localArgs)-1] = fileURL(local)
			if err := r.Transcode(context.Background(), localArgs, 0, nil); err != nil {
				t.Fatal(err)
			}
			if got, want := readFrames(t, out), readFrames(t, local); got != want || got == "" {
				t.Errorf("streamed output has %s frames, the whole file's %s", got, want)
			}
			run := rl.Run(1)
			if len(run.Commands) != 3 {
				t.Fatalf("commands %+v", run.Commands)
			}
			for _, c := range run.Commands {
				joined := strings.Join(c.Args, " ")
				if strings.Contains(joined, "http") || !strings.Contains(joined, "-protocol_whitelist file") || !slices.Contains(c.Args, "file:source") {
					t.Errorf("recorded %s %q; want the local-file form", c.Program, c.Args)
				}
			}
		})
	}
}

// With the demuxer fixed, a playlist served as a stream is refused and the
// URL it names is never requested.
func TestStreamRefusesAPlaylistAndFetchesNothingElse(t *testing.T) {
	needFFmpeg(t)
	var nested atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { nested.Add(1) }))
	defer other.Close()
	playlist := fmt.Sprintf("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n%s/seg.ts\n#EXT-X-ENDLIST\n", other.URL)
	path := filepath.Join(t.TempDir(), "source")
	if err := os.WriteFile(path, []byte(playlist), 0o600); err != nil {
		t.Fatal(err)
	}
	f := livefile.New(path)
	f.Started(int64(len(playlist)))
	f.Wrote(int64(len(playlist)))
	f.Finish(nil)
	srv, err := livefile.Serve(f)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := &Runner{}
	for _, format := range []string{FormatMOV, FormatMatroska, FormatMPEGTS} {
		_, err := r.ProbeStream(context.Background(), Stream{Path: path, URL: srv.URL(), Format: format})
		if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE {
			t.Errorf("%s: a playlist probed as %v", format, err)
		}
		if msg := vidjob.ErrorMessage(err); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "http") {
			t.Errorf("%s: the message %q names the loopback URL", format, msg)
		}
		early, err := r.StartStreamProbe(context.Background(), path, format)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := early.Result(context.Background(), srv.ServeFile); err == nil {
			t.Errorf("%s: the early probe took a playlist", format)
		}
		early.Close()
		args := []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-i", fileURL(path), "-f", "null", "-"}
		if err := r.TranscodeStream(context.Background(), args, Stream{Path: path, URL: srv.URL(), Format: format}, 0, nil); err == nil {
			t.Errorf("%s: a playlist was transcoded", format)
		}
	}
	if n := nested.Load(); n != 0 {
		t.Errorf("the playlist's URL was requested %d times", n)
	}
}

// The programs reading a stream do not see the worker's proxy settings.
func TestStreamEnvDropsProxies(t *testing.T) {
	t.Setenv("http_proxy", "http://proxy.example:3128")
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	t.Setenv("VIDJOB_KEEP", "1")
	env := streamEnv()
	for _, kv := range env {
		if strings.Contains(strings.ToLower(kv), "proxy") {
			t.Errorf("environment keeps %q", kv)
		}
	}
	if !slices.Contains(env, "VIDJOB_KEEP=1") {
		t.Error("environment lost other variables")
	}
}

// readFrames counts the video frames ffprobe decodes from path.
func readFrames(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("count frames of %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}
