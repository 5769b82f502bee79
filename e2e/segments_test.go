package e2e

import (
	"context"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// segmentStore is where a test's server stores outputs: the local disk store
// or a real S3 server, with what a test needs to read it back.
type segmentStore struct {
	name  string
	flags func(t *testing.T) ([]string, *s3server)
}

var segmentStores = []segmentStore{
	{"disk", func(*testing.T) ([]string, *s3server) { return nil, nil }},
	{"S3", func(t *testing.T) ([]string, *s3server) {
		s3 := startS3(t, "media")
		return []string{"--s3-endpoint", s3.endpoint, "--s3-access-key", s3.access, "--s3-secret-key", s3.secret, "--s3-path-style"}, s3
	}},
}

// storedKeys lists every object in bucket media.
func storedKeys(t *testing.T, srv *server, s3 *s3server) []string {
	t.Helper()
	var keys []string
	if s3 == nil {
		root := filepath.Join(srv.Data, "objects", "media")
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				keys = append(keys, filepath.ToSlash(rel))
			}
			return nil
		})
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		list, err := s3.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("media")})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

// linesOf returns the server log's lines about job id.
func linesOf(srv *server, id string) []string {
	var lines []string
	for _, l := range strings.Split(srv.log(), "\n") {
		if strings.Contains(l, "job_id="+id) {
			lines = append(lines, l)
		}
	}
	return lines
}

// storedWhileEncoding counts the segments the log says were stored before
// the line saying ffmpeg had exited (the log is written in order).
func storedWhileEncoding(lines []string) (before int, ffmpegDone bool) {
	for _, l := range lines {
		switch {
		case strings.Contains(l, `msg="ffmpeg done"`):
			return before, true
		case strings.Contains(l, `msg="stored while encoding"`):
			before++
		}
	}
	return before, false
}

// framesAndRate decodes target (a playlist or manifest, local or by URL) and
// returns its video frames and frame rate.
func framesAndRate(t *testing.T, target string) (int, float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,avg_frame_rate", "-print_format", "json", target).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", target, err)
	}
	var p struct {
		Streams []struct {
			Frames string `json:"nb_read_frames"`
			Rate   string `json:"avg_frame_rate"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe %s: %s", target, out)
	}
	n, _ := strconv.Atoi(p.Streams[0].Frames)
	num, den, _ := strings.Cut(p.Streams[0].Rate, "/")
	a, _ := strconv.ParseFloat(num, 64)
	b, _ := strconv.ParseFloat(den, 64)
	if b == 0 {
		t.Fatalf("frame rate %q", p.Streams[0].Rate)
	}
	return n, a / b
}

// TestSegmentsAreStoredWhileEncoding: HLS and DASH jobs, on the local disk
// store and on S3, store segments while ffmpeg still runs (the log shows
// them stored before ffmpeg's exit), list the same objects as ever (the
// playlist first, then every file beside it by name), and every stored
// object is whole: the stored playlist or manifest names exactly the stored
// segments and plays every frame the output has.
func TestSegmentsAreStoredWhileEncoding(t *testing.T) {
	dir := t.TempDir()
	// 40 s: HLS 400k makes five 9 s segments, so several finish well before
	// ffmpeg does.
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 40, Width: 640, Height: 360})
	media := mediaServer(t, dir)
	for _, store := range segmentStores {
		t.Run(store.name, func(t *testing.T) {
			flags, s3 := store.flags(t)
			srv := startServer(t, flags...)
			for _, c := range []struct{ preset, key, ext string }{
				{"System preset: HLS 400k", "shows/ep1/index.m3u8", ".ts"},
				{"System preset: MPEG-Dash Video - 600k", "shows/ep2/index.mpd", ".m4s"},
			} {
				id := srv.submit(t, segmentedJob(srv.AppID, media.URL+"/"+filepath.Base(src), "", c.preset, c.key))
				res := listen(t, srv, id, 3*time.Minute)
				if errs, ok := res["errors"]; ok {
					t.Fatalf("%s failed: %v", c.preset, errs)
				}
				video, _ := res["video"].(map[string]any)
				var objects []string
				for _, o := range video["objects"].([]any) {
					objects = append(objects, o.(string))
				}
				prefix := path.Dir(c.key) + "/"
				var want []string
				for _, k := range storedKeys(t, srv, s3) {
					if strings.HasPrefix(k, prefix) && k != c.key {
						want = append(want, k)
					}
				}
				want = append([]string{c.key}, want...)
				if !slices.Equal(objects, want) || len(objects) < 4 {
					t.Errorf("%s: objects %v, stored %v", c.preset, objects, want)
				}

				before, done := storedWhileEncoding(linesOf(srv, id))
				if !done || before < 1 {
					t.Errorf("%s: %d segments stored before ffmpeg exited (exit logged: %v), want at least 1", c.preset, before, done)
				}
				t.Logf("%s: %d of %d objects stored while ffmpeg ran", c.preset, before, len(objects))

				// Read everything back from the store, then play it.
				target, _ := video["s3_url"].(string)
				local := t.TempDir()
				for _, k := range objects {
					var b []byte
					if s3 != nil {
						b = s3.object(t, "media", k)
					} else {
						var err error
						if b, err = os.ReadFile(filepath.Join(srv.Data, "objects", "media", filepath.FromSlash(k))); err != nil {
							t.Fatal(err)
						}
					}
					if len(b) == 0 {
						t.Errorf("%s is empty", k)
					}
					if err := os.WriteFile(filepath.Join(local, path.Base(k)), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				playlist, _ := os.ReadFile(filepath.Join(local, path.Base(c.key)))
				if c.ext == ".ts" {
					var named []string
					for _, l := range strings.Split(string(playlist), "\n") {
						if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
							named = append(named, prefix+l)
						}
					}
					if !slices.Equal(named, objects[1:]) || !strings.Contains(string(playlist), "#EXT-X-ENDLIST") {
						t.Errorf("the stored playlist names %v, stored %v:\n%s", named, objects[1:], playlist)
					}
				}
				if s3 != nil {
					target = filepath.Join(local, path.Base(c.key))
				}
				frames, rate := framesAndRate(t, target)
				dur, _ := video["duration_seconds"].(float64)
				if want := dur * rate; math.Abs(float64(frames)-want) > 2 {
					t.Errorf("%s: the stored output plays %d frames, the output has %.0f (%.3f s at %.3f fps)", c.preset, frames, want, dur, rate)
				}
			}
		})
	}
}

// TestFailedSegmentedJobLeavesNoObjects: a job that fails after segments
// were stored (here it runs past --job-timeout) deletes them: the bucket is
// left as it was, on the local disk store and on S3.
func TestFailedSegmentedJobLeavesNoObjects(t *testing.T) {
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 180, Width: 640, Height: 360})
	media := mediaServer(t, dir)
	for _, store := range segmentStores {
		t.Run(store.name, func(t *testing.T) {
			flags, s3 := store.flags(t)
			srv := startServer(t, append(flags, "--job-timeout", "6s", "--max-attempts", "1")...)
			id := srv.submit(t, segmentedJob(srv.AppID, media.URL+"/"+filepath.Base(src), "", "System preset: HLS 400k", "shows/ep1/index.m3u8"))
			res := listen(t, srv, id, time.Minute)
			errs, _ := res["errors"].([]any)
			if len(errs) != 1 || errs[0] != "The job took longer than the 6s limit." {
				t.Fatalf("results = %v", res)
			}
			lines := linesOf(srv, id)
			before, _ := storedWhileEncoding(lines)
			if before < 1 {
				t.Fatalf("no segment was stored before the job failed, so this shows nothing; log:\n%s", strings.Join(lines, "\n"))
			}
			if left := storedKeys(t, srv, s3); len(left) != 0 {
				t.Errorf("%d segments were stored, and %v are left after the job failed", before, left)
			}
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "deleted the failed attempt's outputs") }) {
				t.Errorf("no log of the deletion")
			}
			t.Logf("%d segments stored, then deleted", before)
		})
	}
}
