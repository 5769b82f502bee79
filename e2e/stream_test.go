package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// slowOrigin serves the files of dir as a distant origin does: the size
// first, then the body in small pieces spread over about spread. With
// dieAt > 0 it drops the connection once that fraction of a file is sent.
// hits counts requests.
func slowOrigin(t *testing.T, dir string, spread time.Duration, dieAt float64, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	return mediaServerFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		data, err := os.ReadFile(filepath.Join(dir, filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Content-Type", "video/mp4")
		const piece = 8 << 10
		pieces := (len(data) + piece - 1) / piece
		pause := spread / time.Duration(pieces)
		for off := 0; off < len(data); off += piece {
			if dieAt > 0 && off >= int(float64(len(data))*dieAt) {
				panic(http.ErrAbortHandler) // the origin dies mid-body
			}
			if _, err := w.Write(data[off:min(len(data), off+piece)]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(pause)
		}
	}))
}

// faststartCopy writes a copy of the clip in dir with its index first.
func faststartCopy(t *testing.T, dir, clip string) string {
	t.Helper()
	name := "faststart-" + clip
	out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-i", filepath.Join(dir, clip), "-map", "0", "-c", "copy",
		"-movflags", "+faststart", filepath.Join(dir, name)).CombinedOutput()
	if err != nil {
		t.Fatalf("faststart: %v %s", err, out)
	}
	return name
}

// streamedJob is what a finished job left: its output's facts and its run.
// (Not its bytes: x264's threaded rate control makes two encodes of one
// source with one command differ in a few bits, streamed or not.)
type streamedJob struct {
	frames streamFacts
	probe  probe
	run    jobRun
}

func runSlowJob(t *testing.T, srv *server, src string) streamedJob {
	t.Helper()
	recv := newReceiver(t)
	id := srv.submit(t, localJob(srv.AppID, src, recv.URL))
	res := results(t, recv.wait(t, 3*time.Minute).Body)
	video, _ := res["video"].(map[string]any)
	s3url, _ := video["s3_url"].(string)
	if s3url == "" {
		t.Fatalf("job %s: no output: %v", id, res)
	}
	if om, _ := res["original_meta"].(map[string]any); len(om) == 0 {
		t.Errorf("job %s: no original_meta", id)
	}
	_, body := srv.get(t, "/jobs/"+id)
	raw, _ := json.Marshal(body["run"])
	var run jobRun
	if err := json.Unmarshal(raw, &run); err != nil {
		t.Fatalf("run: %v in %s", err, raw)
	}
	return streamedJob{frames: countFrames(t, s3url), probe: ffprobe(t, s3url), run: run}
}

func phaseMillis(r jobRun, phase string) int64 {
	for _, p := range r.Phases {
		if p.Phase == phase {
			return p.Millis
		}
	}
	return -1
}

// TestSourceIsEncodedWhileItDownloads: from an origin that takes about three
// seconds to send the source, the job starts probing and encoding as the
// first bytes arrive, for an MP4 with its index at the end (ffmpeg seeks for
// it) and one with it first, and makes the same output as a worker that
// waits for the whole download (--stream-source=false). The job's run still
// shows the local-file commands a user can rerun.
func TestSourceIsEncodedWhileItDownloads(t *testing.T) {
	media := t.TempDir()
	clip := filepath.Base(testmedia.Make(t, media, testmedia.Spec{Seconds: 4, Width: 320, Height: 240}))
	fast := faststartCopy(t, media, clip)
	const spread = 3 * time.Second
	var hits atomic.Int32
	origin := slowOrigin(t, media, spread, 0, &hits)
	streaming := startServer(t)
	waiting := startServer(t, "--stream-source=false")

	for _, name := range []string{clip, fast} {
		t.Run(name, func(t *testing.T) {
			streamed := runSlowJob(t, streaming, origin.URL+"/"+name)
			whole := runSlowJob(t, waiting, origin.URL+"/"+name)
			if streamed.frames != whole.frames {
				t.Errorf("frames: streamed %+v, whole download %+v", streamed.frames, whole.frames)
			}
			if fmt.Sprint(streamed.probe) != fmt.Sprint(whole.probe) {
				t.Errorf("streams and duration: streamed %+v\nwhole download %+v", streamed.probe, whole.probe)
			}
			// The streamed job did not wait for the download before probing;
			// the other one did.
			if f := phaseMillis(streamed.run, "fetch"); f < 0 || f > int64(spread/time.Millisecond)/2 {
				t.Errorf("streamed fetch phase %d ms; the download takes %s", f, spread)
			}
			if f := phaseMillis(whole.run, "fetch"); f < int64(spread/time.Millisecond)*2/3 {
				t.Errorf("--stream-source=false fetch phase %d ms; the download takes %s", f, spread)
			}
			var encode []string
			for _, c := range streamed.run.Commands {
				for _, a := range c.Args {
					if strings.Contains(a, "http") || strings.Contains(a, "127.0.0.1") {
						t.Errorf("%s (%s) records %q, not the local-file form", c.Program, c.Phase, a)
					}
				}
				if c.Program == "ffmpeg" && c.Phase == "encode" {
					encode = c.Args
				}
			}
			if !slices.Contains(encode, "file:source") || !strings.Contains(strings.Join(encode, " "), "-protocol_whitelist file -i file:source") {
				t.Errorf("encode %q does not read file:source", encode)
			}
			var programs []string
			for _, c := range streamed.run.Commands {
				programs = append(programs, c.Program+" "+c.Phase)
			}
			slices.Sort(programs)
			if want := []string{"exiftool metadata", "exiftool metadata", "ffmpeg encode", "ffprobe probe", "ffprobe probe"}; !slices.Equal(programs, want) {
				t.Errorf("commands %v, want %v", programs, want)
			}
		})
	}
	if !strings.Contains(streaming.log(), "reading the source while it downloads") {
		t.Error("the streaming server never read a source while it downloaded")
	}
	if strings.Contains(waiting.log(), "reading the source while it downloads") {
		t.Error("--stream-source=false read a source while it downloaded")
	}
}

// TestSourceThatDiesMidDownloadFailsWithTheFetchError: the origin drops the
// connection after 60% of the source, while ffmpeg is already at work. The
// job fails with the fetch's error (retried, as a dropped connection may
// pass, then failed), posts back once and is charged nothing.
func TestSourceThatDiesMidDownloadFailsWithTheFetchError(t *testing.T) {
	srv := startServer(t, "--max-attempts", "2")
	media := t.TempDir()
	clip := faststartCopy(t, media, filepath.Base(testmedia.Make(t, media, testmedia.Spec{Seconds: 4, Width: 320, Height: 240})))
	var hits atomic.Int32
	origin := slowOrigin(t, media, 3*time.Second, 0.6, &hits)
	recv := newReceiver(t)
	job := strings.Replace(localJob(srv.AppID, origin.URL+"/"+clip, recv.URL), `"v": 1.22,`, `"v": 1.22, "wait_retry_delay": 0,`, 1)
	id := srv.submit(t, job)
	res := results(t, recv.wait(t, 2*time.Minute).Body)
	errs, _ := res["errors"].([]any)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].(string), "Source could not be fetched: ") {
		t.Fatalf("errors = %v, want the fetch's error", res["errors"])
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("the origin was asked %d times, want 2 (a dropped connection is retried)", n)
	}
	_, status := srv.get(t, "/jobs/"+id)
	if status["state"] != "failed" || status["charge"] != nil {
		t.Errorf("/jobs: state %v charge %v", status["state"], status["charge"])
	}
	time.Sleep(500 * time.Millisecond)
	if recv.count() != 1 {
		t.Errorf("%d postbacks, want 1", recv.count())
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(0) {
		t.Errorf("the failed job was charged: %v", usage)
	}
	if !strings.Contains(srv.log(), "reading the source while it downloads") {
		t.Error("the source was not read while it downloaded, so this tested nothing")
	}
}

// TestPlaylistSourceIsNeverStreamed: an HLS playlist that names a segment on
// another host is downloaded whole and refused as before; the other host is
// never asked for anything.
func TestPlaylistSourceIsNeverStreamed(t *testing.T) {
	srv := startServer(t, "--max-attempts", "1")
	var nested atomic.Int32
	other := mediaServerFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { nested.Add(1) }))
	media := t.TempDir()
	playlist := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n" + other.URL + "/seg0.ts\n#EXT-X-ENDLIST\n" +
		strings.Repeat("#\n", 2000) // long enough to stream, were it a video
	if err := os.WriteFile(filepath.Join(media, "list.m3u8"), []byte(playlist), 0o644); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	origin := slowOrigin(t, media, time.Second, 0, &hits)
	recv := newReceiver(t)
	srv.submit(t, localJob(srv.AppID, origin.URL+"/list.m3u8", recv.URL))
	res := results(t, recv.wait(t, time.Minute).Body)
	errs, _ := res["errors"].([]any)
	if len(errs) != 1 || !strings.Contains(errs[0].(string), "Source is not a video file") {
		t.Errorf("errors = %v", res["errors"])
	}
	if n := nested.Load(); n != 0 {
		t.Errorf("the playlist's segment host was asked %d times", n)
	}
	if strings.Contains(srv.log(), "reading the source while it downloads") {
		t.Error("a playlist was read while it downloaded")
	}
}
