package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// accelFlags make a 20 s source long enough to be encoded in 4-5 s parts.
var accelFlags = []string{"--accelerate-after", "10s", "--accelerate-segment", "5s"}

// facts is what an output must share with its single-pass twin.
type facts struct {
	format      string // codec, profile, level, size, rates of both streams
	videoFrames int
	videoDur    float64
	audioPkts   int
	audioDur    float64
	keyframes   []int // frame numbers, presentation order
	frameSteps  map[int64]bool
}

// mediaFacts reads a file's streams, decoded frame count and packet timing.
func mediaFacts(t *testing.T, path string) facts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-print_format", "json",
		"-show_entries", "stream=codec_type,codec_name,profile,level,width,height,avg_frame_rate,sample_rate,channels,nb_read_frames,duration,time_base,has_b_frames",
		path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []map[string]any `json:"streams"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	var f facts
	var parts []string
	for _, s := range p.Streams {
		dur, _ := strconv.ParseFloat(s["duration"].(string), 64)
		n, _ := strconv.Atoi(s["nb_read_frames"].(string))
		switch s["codec_type"] {
		case "video":
			f.videoFrames, f.videoDur = n, dur
			parts = append(parts, "video", s["codec_name"].(string), s["profile"].(string), strconv.Itoa(int(s["level"].(float64))),
				strconv.Itoa(int(s["width"].(float64)))+"x"+strconv.Itoa(int(s["height"].(float64))), s["avg_frame_rate"].(string),
				"b-frames:"+strconv.Itoa(int(s["has_b_frames"].(float64))))
		case "audio":
			f.audioDur = dur
			parts = append(parts, "audio", s["codec_name"].(string), s["profile"].(string), s["sample_rate"].(string), strconv.Itoa(int(s["channels"].(float64))))
		}
	}
	f.format = strings.Join(parts, " ")
	pk, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts,flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", path, err)
	}
	type vp struct {
		pts int64
		key bool
	}
	var video []vp
	for _, line := range strings.Split(strings.TrimSpace(string(pk)), "\n") {
		fields := strings.Split(line, ",")
		if len(fields) < 3 {
			continue
		}
		switch fields[0] {
		case "audio":
			f.audioPkts++
		case "video":
			pts, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("video packet without pts in %s: %q", path, line)
			}
			video = append(video, vp{pts, strings.HasPrefix(fields[2], "K")})
		}
	}
	sort.Slice(video, func(i, j int) bool { return video[i].pts < video[j].pts })
	f.frameSteps = map[int64]bool{}
	for i, v := range video {
		if v.key {
			f.keyframes = append(f.keyframes, i)
		}
		if i > 0 {
			f.frameSteps[v.pts-video[i-1].pts] = true
		}
	}
	return f
}

// compareToSinglePass checks that an accelerated output cannot be told apart
// from the single pass: same format, frame count ±0, durations within one
// frame, the same audio, no gap or overlap at joins, and the preset's
// keyframe distance (90 frames) kept.
func compareToSinglePass(t *testing.T, accel, single facts) {
	t.Helper()
	if accel.format != single.format {
		t.Errorf("format differs:\n accelerated %s\n single pass %s", accel.format, single.format)
	}
	if accel.videoFrames != single.videoFrames || accel.videoFrames == 0 {
		t.Errorf("video frames: accelerated %d, single pass %d", accel.videoFrames, single.videoFrames)
	}
	frame := single.videoDur / float64(single.videoFrames)
	if math.Abs(accel.videoDur-single.videoDur) > frame {
		t.Errorf("video duration: accelerated %.4f s, single pass %.4f s", accel.videoDur, single.videoDur)
	}
	if accel.audioPkts != single.audioPkts || accel.audioPkts == 0 || math.Abs(accel.audioDur-single.audioDur) > 0.001 {
		t.Errorf("audio: accelerated %d packets %.4f s, single pass %d packets %.4f s", accel.audioPkts, accel.audioDur, single.audioPkts, single.audioDur)
	}
	// Audio and video end together as in the single pass: no drift.
	if d := (accel.audioDur - accel.videoDur) - (single.audioDur - single.videoDur); math.Abs(d) > frame {
		t.Errorf("audio/video end differ by %.4f s more than in the single pass", d)
	}
	// Every frame one frame after the last: no gap or overlap at a join.
	if len(accel.frameSteps) != 1 {
		t.Errorf("accelerated output's frame steps are %v, want one constant step", accel.frameSteps)
	}
	prev := 0
	for _, k := range append(accel.keyframes, accel.videoFrames) {
		if k-prev > 90 {
			t.Errorf("keyframes %d and %d are more than 90 frames apart: %v", prev, k, accel.keyframes)
		}
		prev = k
	}
}

// accelJob is the README's job for src with preset, written to key.
func accelJob(appID, src, postback, preset, bucket, key string) string {
	return strings.NewReplacer("System preset generic 720p", preset, "grumpy_squirrel/transcoded_out.mp4", key,
		"YOUR_BUCKET", bucket).Replace(localJob(appID, src, postback))
}

// TestAcceleratedEncodeMatchesSinglePass: with acceleration on, a 20 s source
// is cut into parts that are encoded separately and joined; the output is
// the single pass's in every respect a player or a checker sees, the job is
// billed and posted back once, and no scratch object is left. A preset that
// changes the frame rate is encoded in one pass.
func TestAcceleratedEncodeMatchesSinglePass(t *testing.T) {
	dir := t.TempDir()
	// 30 fps with B-frames in the output (a main-profile preset at 30 fps).
	src := filepath.Base(testmedia.Make(t, dir, testmedia.Spec{Seconds: 20, Width: 320, Height: 240, FPS: "30"}))
	media := mediaServer(t, dir)
	const preset = "1351620000001-100070" // Facebook, SmugMug, Vimeo: H.264 main, 30 fps, keyframes ≤ 90
	rcv := newReceiver(t)

	accel := startServer(t, accelFlags...)
	single := startServer(t)
	id := accel.submit(t, accelJob(accel.AppID, media.URL+"/"+src, rcv.URL, preset, "out", "a.mp4"))
	sid := single.submit(t, accelJob(single.AppID, media.URL+"/"+src, "", preset, "out", "s.mp4"))
	res := listen(t, accel, id, 4*time.Minute)
	if res["errors"] != nil || res["video"] == nil {
		t.Fatalf("accelerated job: %v", res)
	}
	if sres := listen(t, single, sid, 4*time.Minute); sres["errors"] != nil {
		t.Fatalf("single-pass job: %v", sres)
	}
	if log := accel.log(); !strings.Contains(log, "encoding in parts") || strings.Count(log, "part encoded") != 4 {
		t.Fatalf("the job was not encoded in 4 parts; log:\n%s", log)
	}
	if strings.Contains(single.log(), "encoding in parts") {
		t.Fatal("the server without --accelerate-after split a job")
	}
	a := mediaFacts(t, filepath.Join(accel.Data, "objects", "out", "a.mp4"))
	s := mediaFacts(t, filepath.Join(single.Data, "objects", "out", "s.mp4"))
	t.Logf("accelerated: %+v", a)
	t.Logf("single pass: %+v", s)
	compareToSinglePass(t, a, s)
	if !strings.Contains(a.format, "b-frames:2") && !strings.Contains(a.format, "b-frames:1") {
		t.Errorf("the output has no B-frames (%s); the test means to cover their reordering at joins", a.format)
	}
	if len(a.keyframes) <= len(s.keyframes) {
		t.Errorf("accelerated keyframes %v: want the parts' own keyframes besides the 90-frame ones %v", a.keyframes, s.keyframes)
	}

	checkAcceleratedRun(t, accel, id, 4)

	time.Sleep(2 * time.Second)
	if n := rcv.count(); n != 1 {
		t.Errorf("%d postbacks, want 1", n)
	}
	_, usage := accel.get(t, "/usage?application_id="+accel.AppID)
	if usage["jobs"] != float64(1) || usage["minutes"] != float64(1) {
		t.Errorf("usage = %v, want one job billed once for one minute", usage)
	}
	var left []string
	filepath.WalkDir(filepath.Join(accel.Data, "objects", "vidjob-scratch"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("scratch objects left after the job: %v", left)
	}

	t.Run("no job may write into the scratch bucket", func(t *testing.T) {
		id := accel.submit(t, accelJob(accel.AppID, media.URL+"/"+src, "", preset, "vidjob-scratch", "accel/x.mp4"))
		res := listen(t, accel, id, time.Minute)
		errs, _ := res["errors"].([]any)
		if len(errs) != 1 || !strings.Contains(errs[0].(string), "reserved") {
			t.Errorf("job writing into the scratch bucket: %v", res)
		}
	})
	t.Run("a preset that changes the frame rate runs in one pass", func(t *testing.T) {
		// Generic 480p makes 29.97 fps from the 30 fps source.
		id := accel.submit(t, accelJob(accel.AppID, media.URL+"/"+src, "", "1351620000001-000020", "out", "fps.mp4"))
		if res := listen(t, accel, id, 4*time.Minute); res["errors"] != nil {
			t.Fatalf("job: %v", res)
		}
		if !strings.Contains(accel.log(), "the preset changes the frame rate") {
			t.Error("the log does not say why the job ran in one pass")
		}
		if n := strings.Count(accel.log(), "encoding in parts"); n != 1 {
			t.Errorf("%d jobs were split, want only the first", n)
		}
	})
}

// TestAcceleratedPartsRunOnTwoWorkers: on PostgreSQL with S3 storage, the
// parts of one job are taken by two worker processes, and the job completes
// once with the same frame count as its source.
func TestAcceleratedPartsRunOnTwoWorkers(t *testing.T) {
	database := postgresDatabase(t)
	s3 := startS3(t, "media", "vidjob-scratch")
	storage := []string{"--s3-endpoint", s3.endpoint, "--s3-access-key", s3.access, "--s3-secret-key", s3.secret, "--s3-path-style"}
	srv := startServer(t, append([]string{"--database", database, "--workers", "0"}, storage...)...)
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 20, Width: 320, Height: 240})
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	flags := append(append([]string{}, storage...), "--accelerate-after", "10s", "--accelerate-segment", "4s")
	w1 := startWorker(t, srv, database, flags...)
	w2 := startWorker(t, srv, database, flags...)

	// Generic 360p keeps the source's 29.97 fps.
	id := srv.submit(t, accelJob(srv.AppID, media.URL+"/"+filepath.Base(src), rcv.URL, "1351620000001-000040", "media", "joined.mp4"))
	res := results(t, rcv.wait(t, 4*time.Minute).Body)
	if res["job_id"] != id || res["errors"] != nil {
		t.Fatalf("results = %v", res)
	}
	var counts []int
	for _, w := range []*worker{w1, w2} {
		b, _ := os.ReadFile(w.log)
		counts = append(counts, strings.Count(string(b), "part encoded"))
	}
	if counts[0]+counts[1] != 5 || counts[0] == 0 || counts[1] == 0 {
		t.Errorf("parts encoded by the two workers: %v, want 5 shared by both", counts)
	}
	out := filepath.Join(t.TempDir(), "joined.mp4")
	if err := os.WriteFile(out, s3.object(t, "media", "joined.mp4"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, want := mediaFacts(t, out), mediaFacts(t, src)
	if got.videoFrames != want.videoFrames || len(got.frameSteps) != 1 {
		t.Errorf("joined output: %d frames, steps %v; source %d frames", got.videoFrames, got.frameSteps, want.videoFrames)
	}
	time.Sleep(2 * time.Second)
	if n := rcv.count(); n != 1 {
		t.Errorf("%d postbacks, want 1", n)
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(1) {
		t.Errorf("usage = %v, want one job billed once", usage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := s3.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("vidjob-scratch")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 0 {
		t.Errorf("%d scratch objects left in S3, first %s", len(list.Contents), aws.ToString(list.Contents[0].Key))
	}
}

// TestKilledWorkerPartIsRescued: `kill -9` of the worker that is encoding a
// part leaves that part running in River until the rescue; another worker
// then encodes it, and the job completes, whole, billed and posted back once.
func TestKilledWorkerPartIsRescued(t *testing.T) {
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 20, Width: 1280, Height: 720})
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	flags := append([]string{"--job-timeout", "30s", "--rescue-after", "30s"}, accelFlags...)
	first := startWorker(t, srv, database, flags...)
	// Generic 480p 16:9 keeps the 29.97 fps and takes seconds per part.
	id := srv.submit(t, accelJob(srv.AppID, media.URL+"/"+filepath.Base(src), rcv.URL, "1351620000001-000020", "out", "k.mp4"))

	db, err := sql.Open("pgx", database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(first.log)
		encoding := false
		// Kill once River has recorded the job's snooze (so the job waits
		// for its parts rather than for a rescue of its own) and a part's
		// ffmpeg runs.
		var parent string
		db.QueryRow(`SELECT state FROM river_job WHERE kind = 'vidjob_transcode'`).Scan(&parent)
		if strings.Contains(string(b), "encoding in parts") && (parent == "scheduled" || parent == "available") {
			for _, c := range children(first.cmd.Process.Pid) {
				if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/comm"); strings.TrimSpace(string(comm)) == "ffmpeg" {
					encoding = true
				}
			}
		}
		if encoding {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never encoded a part")
		}
		time.Sleep(50 * time.Millisecond)
	}
	first.cmd.Process.Kill()
	<-first.done
	if b, _ := os.ReadFile(first.log); strings.Count(string(b), "part encoded") >= 4 {
		t.Fatal("every part was done before the kill; the test did not interrupt one")
	}

	second := startWorker(t, srv, database, flags...)
	// While the parts run, the job's progress is the parts done: nine
	// tenths of it in quarters (4 parts), then 0.95 for the join.
	seen := map[float64]bool{}
	for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, st := srv.get(t, "/jobs/"+id)
		if st["state"] == "completed" || st["state"] == "failed" {
			break
		}
		if p, ok := st["progress"].(float64); ok && st["state"] == "transcoding" {
			seen[p] = true
		}
	}
	parts := 0
	for p := range seen {
		switch k := p / 0.225; {
		case p == 0.95 || p == 0:
		case p <= 0.9 && math.Abs(k-math.Round(k)) < 0.01:
			parts++
		default:
			t.Errorf("progress %v while parts run, want 0, a multiple of 0.9/4 or 0.95", p)
		}
	}
	if parts == 0 {
		t.Errorf("progress never showed parts done: %v", seen)
	}
	res := results(t, rcv.wait(t, 4*time.Minute).Body)
	if res["job_id"] != id || res["errors"] != nil {
		t.Fatalf("results = %v", res)
	}
	time.Sleep(2 * time.Second)
	if n := rcv.count(); n != 1 {
		t.Errorf("%d postbacks, want 1", n)
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(1) || usage["minutes"] != float64(1) {
		t.Errorf("usage = %v, want one job billed once", usage)
	}
	got, want := mediaFacts(t, filepath.Join(srv.Data, "objects", "out", "k.mp4")), mediaFacts(t, src)
	if got.videoFrames != want.videoFrames || len(got.frameSteps) != 1 {
		t.Errorf("output: %d frames, steps %v; source %d frames", got.videoFrames, got.frameSteps, want.videoFrames)
	}
	if b, _ := os.ReadFile(second.log); !strings.Contains(string(b), "part encoded") {
		t.Error("the second worker encoded no part")
	}
}

// TestMissingScratchBucketFallsBackToOnePass: an operator who turned
// acceleration on without creating the scratch bucket still gets every job
// done, in one pass, with a warning that names the bucket.
func TestMissingScratchBucketFallsBackToOnePass(t *testing.T) {
	s3 := startS3(t, "media")
	srv := startServer(t, append([]string{"--s3-endpoint", s3.endpoint, "--s3-access-key", s3.access, "--s3-secret-key", s3.secret,
		"--s3-path-style", "--scratch-bucket", "not-created"}, accelFlags...)...)
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 20, Width: 320, Height: 240})
	media := mediaServer(t, dir)
	id := srv.submit(t, accelJob(srv.AppID, media.URL+"/"+filepath.Base(src), "", "1351620000001-000040", "media", "one.mp4"))
	if res := listen(t, srv, id, 4*time.Minute); res["errors"] != nil || res["video"] == nil {
		t.Fatalf("job: %v", res)
	}
	log := srv.log()
	if !strings.Contains(log, "the scratch bucket cannot hold the pieces") || !strings.Contains(log, "not-created") || strings.Contains(log, "part encoded") {
		t.Errorf("the log does not show the fallback to one pass:\n%s", log)
	}
	out := filepath.Join(t.TempDir(), "one.mp4")
	if err := os.WriteFile(out, s3.object(t, "media", "one.mp4"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := mediaFacts(t, out), mediaFacts(t, src); got.videoFrames != want.videoFrames {
		t.Errorf("output has %d frames, source %d", got.videoFrames, want.videoFrames)
	}
}

// checkAcceleratedRun checks that an accelerated job's run lists every
// attempt's and every part's commands: the source's probe, the split, an
// encode for each part (marked with its part), the join, and the output's
// probe, and that its encode phase covers the parts' encodes.
func checkAcceleratedRun(t *testing.T, srv *server, id string, parts int) {
	t.Helper()
	status, body := srv.get(t, "/jobs/"+id)
	if status != 200 {
		t.Fatalf("GET /jobs/%s: HTTP %d %v", id, status, body)
	}
	raw, _ := json.Marshal(body["run"])
	var run jobRun
	if err := json.Unmarshal(raw, &run); err != nil || len(run.Commands) == 0 {
		t.Fatalf("run: %v in %s", err, raw)
	}
	has := func(part int, program, arg string) bool {
		for _, c := range run.Commands {
			if c.Part == part && c.Program == program && slices.Contains(c.Args, arg) {
				return true
			}
		}
		return false
	}
	if first := run.Commands[0]; first.Program != "ffprobe" || first.Part != 0 || !slices.Contains(first.Args, "file:source") {
		t.Errorf("the run starts with %s %v (part %d), want the source's ffprobe", first.Program, first.Args, first.Part)
	}
	if !has(0, "ffmpeg", "segment") {
		t.Errorf("the run lists no split (ffmpeg -f segment): %s", raw)
	}
	if !has(0, "ffmpeg", "concat") {
		t.Errorf("the run lists no join (ffmpeg -f concat): %s", raw)
	}
	var partMillis int64
	for p := 1; p <= parts; p++ {
		found := false
		for _, c := range run.Commands {
			if c.Part == p && c.Program == "ffmpeg" && c.Phase == "encode" && c.Millis > 0 {
				found = true
				partMillis = max(partMillis, c.Millis)
			}
		}
		if !found {
			t.Errorf("the run lists no ffmpeg encode of part %d: %s", p, raw)
		}
	}
	if slices.ContainsFunc(run.Commands, func(c runCommand) bool { return c.Part > parts || c.Part < 0 }) {
		t.Errorf("a command names a part beyond %d: %s", parts, raw)
	}
	var encode, queueWait int64 = -1, -1
	for _, p := range run.Phases {
		switch p.Phase {
		case "encode":
			encode = p.Millis
		case "queue_wait":
			queueWait = p.Millis
		}
	}
	if encode < partMillis {
		t.Errorf("encode phase %d ms is shorter than the longest part's encode (%d ms)", encode, partMillis)
	}
	// queue_wait is the wait before the first attempt, not the time until
	// the joining attempt began.
	if queueWait < 0 || queueWait >= encode {
		t.Errorf("queue_wait %d ms, encode %d ms: the wait counts the parts' time", queueWait, encode)
	}
}
