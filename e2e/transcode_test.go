package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// readmeJob is the job from the README and Blitline's documentation; tests change
// only what must point at this machine: the application, src and postback_url.
const readmeJob = `{
  "application_id": "APP_ID",
  "src": "https://example.com/squirrel.mp4",
  "src_type": "pre_process_only",
  "v": 1.22,
  "postback_url": "https://example.com/postback",
  "pre_process": {
    "transcode": {
      "preset_id": "System preset generic 720p",
      "video_identifier": "toms_video",
      "s3_destination": {"bucket": "YOUR_BUCKET", "key": "grumpy_squirrel/transcoded_out.mp4"}
    }
  }
}`

func localJob(appID, src, postbackURL string) string {
	r := strings.NewReplacer("APP_ID", appID, "https://example.com/squirrel.mp4", src, "https://example.com/postback", postbackURL)
	return r.Replace(readmeJob)
}

// squirrel makes the 35 s 1280x720 source the story uses, once per test binary.
var squirrelDir = func() string {
	d, err := os.MkdirTemp("", "vidjob-e2e-media-")
	if err != nil {
		panic(err)
	}
	return d
}()

func squirrel(t *testing.T) string {
	t.Helper()
	path := filepath.Join(squirrelDir, "squirrel.mp4")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	clip := testmedia.Make(t, squirrelDir, testmedia.Spec{Seconds: 35, Width: 1280, Height: 720})
	if err := os.Rename(clip, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadmeJobEndToEnd is the user's story: the README's job, submitted as is,
// comes back as a conforming MP4 with Blitline's results, posted back once and
// billed one minute.
func TestReadmeJobEndToEnd(t *testing.T) {
	t.Run("local object store", func(t *testing.T) {
		srv := startServer(t)
		runReadmeJob(t, srv, func(t *testing.T, s3url string) string {
			if !strings.HasPrefix(s3url, srv.URL+"/objects/YOUR_BUCKET/grumpy_squirrel/transcoded_out.mp4") {
				t.Errorf("s3_url = %q, want the server's /objects/ URL", s3url)
			}
			onDisk := filepath.Join(srv.Data, "objects", "YOUR_BUCKET", "grumpy_squirrel", "transcoded_out.mp4")
			if _, err := os.Stat(onDisk); err != nil {
				t.Errorf("output not in the local store: %v", err)
			}
			// The object URL serves byte ranges, as players need.
			req, _ := http.NewRequest("GET", s3url, nil)
			req.Header.Set("Range", "bytes=4-7")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || string(b) != "ftyp" {
				t.Errorf("range GET: HTTP %d %q, want 206 \"ftyp\"", resp.StatusCode, b)
			}
			return s3url // read back through the server, as a player would
		})
		// Nothing is left behind in the working directory.
		if left := workFilesLeft(srv); len(left) != 0 {
			t.Errorf("temp files left: %v", left)
		}
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		srv := startServer(t, "--database", postgresDatabase(t))
		runReadmeJob(t, srv, func(t *testing.T, s3url string) string { return s3url })
	})
	t.Run("S3", func(t *testing.T) {
		s3 := startS3(t, "YOUR_BUCKET")
		srv := startServer(t, "--s3-endpoint", s3.endpoint, "--s3-access-key", s3.access, "--s3-secret-key", s3.secret, "--s3-path-style")
		runReadmeJob(t, srv, func(t *testing.T, s3url string) string {
			want := s3.endpoint + "/YOUR_BUCKET/grumpy_squirrel/transcoded_out.mp4"
			if s3url != want {
				t.Errorf("s3_url = %q, want %q", s3url, want)
			}
			if _, err := os.Stat(filepath.Join(srv.Data, "objects", "YOUR_BUCKET")); err == nil {
				t.Error("output went to the local store although S3 is configured")
			}
			got := s3.object(t, "YOUR_BUCKET", "grumpy_squirrel/transcoded_out.mp4")
			if len(got) < 1000 || string(got[4:8]) != "ftyp" {
				t.Fatalf("object in S3 is not an MP4 (%d bytes)", len(got))
			}
			local := filepath.Join(t.TempDir(), "from-s3.mp4")
			if err := os.WriteFile(local, got, 0o644); err != nil {
				t.Fatal(err)
			}
			return local
		})
	})
}

// runReadmeJob runs the README's job on srv; checkURL checks the s3_url and
// returns where ffprobe can read the output (the URL itself or a local copy).
func runReadmeJob(t *testing.T, srv *server, checkURL func(t *testing.T, s3url string) string) {
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	rcv := newReceiver(t)
	jobID := srv.submit(t, localJob(srv.AppID, media.URL+"/squirrel.mp4", rcv.URL))
	if len(jobID) != 23 || jobID[0] < '0' || jobID[0] > '9' {
		t.Errorf("job_id %q is not Blitline's shape (a digit and 22 characters)", jobID)
	}

	pb := rcv.wait(t, 4*time.Minute)
	if pb.ContentType != "application/json" {
		t.Errorf("postback Content-Type = %q", pb.ContentType)
	}
	res := results(t, pb.Body)
	if res["job_id"] != jobID {
		t.Errorf("results.job_id = %v, want %s", res["job_id"], jobID)
	}
	if errs, ok := res["errors"]; ok {
		t.Fatalf("job failed: %v", errs)
	}
	video, _ := res["video"].(map[string]any)
	if video["video_identifier"] != "toms_video" {
		t.Errorf("video_identifier = %v", video["video_identifier"])
	}
	meta, _ := video["meta"].(map[string]any)
	if meta["ImageWidth"] != float64(1280) || meta["Duration"] != "0:00:35" || meta["FileType"] != "MP4" {
		t.Errorf("meta ImageWidth=%v Duration=%v FileType=%v", meta["ImageWidth"], meta["Duration"], meta["FileType"])
	}
	for _, k := range []string{"SourceFile", "Directory", "FileName", "ExifToolVersion", "FilePermissions"} {
		if _, ok := meta[k]; ok {
			t.Errorf("meta has file-system key %s", k)
		}
	}
	// Per-track keys describe the video track (the audio track, stored after
	// it, says SoundHandler), and Blitline's older key names are present.
	if meta["HandlerDescription"] != "VideoHandler" || meta["MovieDataSize"] == nil || meta["MovieDataSize"] != meta["MediaDataSize"] {
		t.Errorf("meta HandlerDescription=%v MovieDataSize=%v MediaDataSize=%v, want VideoHandler and one size under both names",
			meta["HandlerDescription"], meta["MovieDataSize"], meta["MediaDataSize"])
	}
	if om, _ := res["original_meta"].(map[string]any); om["ImageWidth"] != float64(1280) || om["HandlerDescription"] != "VideoHandler" {
		t.Errorf("original_meta ImageWidth=%v HandlerDescription=%v", om["ImageWidth"], om["HandlerDescription"])
	}
	if imgs, ok := res["images"].([]any); !ok || len(imgs) != 0 {
		t.Errorf("images = %v, want []", res["images"])
	}
	s3url, _ := video["s3_url"].(string)
	output := checkURL(t, s3url)

	// The output conforms to Generic 720p.
	p := ffprobe(t, output)
	if !strings.Contains(p.Format.FormatName, "mp4") {
		t.Errorf("format = %s", p.Format.FormatName)
	}
	var sawVideo, sawAudio bool
	for _, st := range p.Streams {
		switch st.CodecType {
		case "video":
			sawVideo = true
			if st.CodecName != "h264" || st.Profile != "Constrained Baseline" && st.Profile != "Baseline" || st.Level != 31 {
				t.Errorf("video %s %s level %d, want h264 Baseline 3.1", st.CodecName, st.Profile, st.Level)
			}
			if st.Width > 1280 || st.Height > 720 || st.Width != 1280 {
				t.Errorf("size %dx%d, want 1280x720 at most (and full width for a 16:9 source)", st.Width, st.Height)
			}
			if st.AvgFrameRate != "30000/1001" {
				t.Errorf("frame rate %s, want 30000/1001", st.AvgFrameRate)
			}
		case "audio":
			sawAudio = true
			if st.CodecName != "aac" || st.SampleRate != "44100" || st.Channels != 2 {
				t.Errorf("audio %s %s Hz %d ch, want aac 44100 stereo", st.CodecName, st.SampleRate, st.Channels)
			}
		}
	}
	if !sawVideo || !sawAudio {
		t.Errorf("streams: video %v audio %v", sawVideo, sawAudio)
	}

	// /listen answers with the same results; /jobs says completed.
	resp, err := srv.rawGet("/listen/" + jobID)
	if err != nil {
		t.Fatal(err)
	}
	listenBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(listenBody) != string(pb.Body) {
		t.Errorf("/listen: HTTP %d, body differs from the postback:\n%s\nvs\n%s", resp.StatusCode, listenBody, pb.Body)
	}
	_, status := srv.get(t, "/jobs/"+jobID)
	if status["state"] != "completed" || status["progress"] != float64(1) {
		t.Errorf("/jobs: state %v progress %v", status["state"], status["progress"])
	}
	charge, _ := status["charge"].(map[string]any)
	if charge["minutes"] != float64(1) || charge["amount_usd"] != "0.0389" {
		t.Errorf("/jobs charge = %v", charge)
	}
	if pbv, _ := status["postback"].(map[string]any); pbv["state"] != "delivered" {
		t.Errorf("/jobs postback = %v", pbv)
	}

	// Billed once: one job, one minute, $0.0389.
	_, usage := srv.get(t, "/usage?application_id="+url.QueryEscape(srv.AppID))
	if usage["jobs"] != float64(1) || usage["minutes"] != float64(1) || usage["amount_usd"] != "0.0389" {
		t.Errorf("usage = %v", usage)
	}

	// Posted back once: nothing more arrives.
	time.Sleep(2 * time.Second)
	if n := rcv.count(); n != 1 {
		t.Errorf("%d postbacks, want 1", n)
	}
}

// TestBillingRoundsStartedMinutesUp bills the output's duration, rounded up to
// whole minutes: 59 s and 60 s are one minute, 61 s is two.
func TestBillingRoundsStartedMinutesUp(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	media := mediaServer(t, dir)
	cases := []struct {
		seconds     float64
		wantMinutes float64
		wantAmount  string
	}{{59, 1, "0.0389"}, {60, 1, "0.0389"}, {61, 2, "0.0778"}}
	ids := make([]string, len(cases))
	for i, c := range cases {
		clip := testmedia.Make(t, dir, testmedia.Spec{Seconds: c.seconds, Width: 320, Height: 240})
		job := strings.NewReplacer("System preset generic 720p", "System preset generic 320x240",
			`"postback_url": "https://example.com/postback",`, "").Replace(localJob(srv.AppID, media.URL+"/"+filepath.Base(clip), ""))
		ids[i] = srv.submit(t, job)
	}
	for i, c := range cases {
		res := listen(t, srv, ids[i], 5*time.Minute)
		if errs, ok := res["errors"]; ok {
			t.Fatalf("%v s: job failed: %v", c.seconds, errs)
		}
		_, status := srv.get(t, "/jobs/"+ids[i])
		charge, _ := status["charge"].(map[string]any)
		if charge["minutes"] != c.wantMinutes || charge["amount_usd"] != c.wantAmount {
			t.Errorf("%v s source: charge %v, want %v minutes, $%s", c.seconds, charge, c.wantMinutes, c.wantAmount)
		}
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(3) || usage["minutes"] != float64(4) || usage["amount_usd"] != "0.1556" {
		t.Errorf("usage = %v, want 3 jobs, 4 minutes, $0.1556", usage)
	}
}

// listen waits on /listen until the job ends, giving up after timeout.
func listen(t *testing.T, srv *server, jobID string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/listen/"+jobID, nil)
		req.Header.Set("X-Application-Id", srv.AppID)
		resp, err := http.DefaultClient.Do(req)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			t.Fatalf("/listen/%s: %v", jobID, err)
		}
		switch resp.StatusCode {
		case 200:
			return results(t, body)
		case 202:
			continue
		default:
			t.Fatalf("/listen/%s: HTTP %d %s", jobID, resp.StatusCode, body)
		}
	}
	t.Fatalf("job %s did not end within %s", jobID, timeout)
	return nil
}
