package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jobRun is GET /jobs/{id}'s "run".
type jobRun struct {
	Attempt  int          `json:"attempt"`
	Commands []runCommand `json:"commands"`
	Phases   []phaseTime  `json:"phases"`
}

type runCommand struct {
	Program string   `json:"program"`
	Args    []string `json:"args"`
	Millis  int64    `json:"ms"`
	Phase   string   `json:"phase"`
	Failed  bool     `json:"failed"`
	Part    int      `json:"part"`
}

type phaseTime struct {
	Phase  string `json:"phase"`
	Millis int64  `json:"ms"`
}

// TestJobShowsWhatRan is the operator's and the client's check on an encode:
// GET /jobs/{id} lists every program the job ran with its exact arguments and
// wall time, and the time spent in each phase; running the listed ffmpeg
// command by hand on the same source makes the same output.
func TestJobShowsWhatRan(t *testing.T) {
	srv := startServer(t)
	media := t.TempDir()
	clip := makeClip(t, media, 2)
	origin := mediaServer(t, media)
	recv := newReceiver(t)
	id := srv.submit(t, localJob(srv.AppID, origin.URL+"/"+clip, recv.URL))
	pb := recv.wait(t, 2*time.Minute)
	s3url, _ := results(t, pb.Body)["video"].(map[string]any)["s3_url"].(string)

	// The postback phase is written just after the receiver answers.
	var run jobRun
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := srv.get(t, "/jobs/"+id)
		if status != 200 {
			t.Fatalf("GET /jobs/%s: HTTP %d %v", id, status, body)
		}
		raw, _ := json.Marshal(body["run"])
		run = jobRun{}
		if err := json.Unmarshal(raw, &run); err != nil {
			t.Fatalf("run: %v in %s", err, raw)
		}
		if slices.ContainsFunc(run.Phases, func(p phaseTime) bool { return p.Phase == "postback" }) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if run.Attempt != 1 {
		t.Errorf("run.attempt = %d, want 1", run.Attempt)
	}

	var phases []string
	for _, p := range run.Phases {
		phases = append(phases, p.Phase)
		if p.Millis < 0 {
			t.Errorf("phase %s took %d ms", p.Phase, p.Millis)
		}
	}
	want := []string{"queue_wait", "fetch", "probe", "encode", "metadata", "upload", "finish", "postback"}
	if !slices.Equal(phases, want) {
		t.Errorf("phases = %v, want %v", phases, want)
	}

	var encode []string
	seen := map[string]int{}
	for _, c := range run.Commands {
		seen[c.Program+" "+c.Phase]++
		if c.Millis <= 0 {
			t.Errorf("%s (%s) has wall time %d ms, want > 0", c.Program, c.Phase, c.Millis)
		}
		if c.Failed {
			t.Errorf("%s (%s) is marked failed", c.Program, c.Phase)
		}
		for _, a := range c.Args {
			if strings.Contains(a, srv.Data) {
				t.Errorf("%s argument %q shows the server's data directory", c.Program, a)
			}
		}
		if c.Program == "ffmpeg" && c.Phase == "encode" {
			encode = c.Args
		}
	}
	// Source and output are each probed and described once; one encode.
	for k, n := range map[string]int{"ffprobe probe": 2, "exiftool metadata": 2, "ffmpeg encode": 1} {
		if seen[k] != n {
			t.Errorf("%d %q commands, want %d; all: %v", seen[k], k, n, seen)
		}
	}
	if encode == nil {
		t.Fatalf("no ffmpeg encode command in %+v", run.Commands)
	}
	if !slices.Contains(encode, "file:source") {
		t.Errorf("encode args %q do not read file:source", encode)
	}

	// Rerun the encode by hand in a directory laid out as the job's was.
	dir := t.TempDir()
	copyFile(t, filepath.Join(media, clip), filepath.Join(dir, "source"))
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", encode...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rerun ffmpeg %q: %v\n%s", encode, err, out)
	}
	outs, _ := filepath.Glob(filepath.Join(dir, "out", "*"))
	if len(outs) != 1 {
		t.Fatalf("rerun wrote %v, want one output", outs)
	}
	byHand, served := countFrames(t, outs[0]), countFrames(t, s3url)
	if byHand != served {
		t.Errorf("rerun by hand: %+v; the job's output: %+v", byHand, served)
	}
}

// streamFacts is what must match between two encodes of one source with one
// argument list.
type streamFacts struct {
	Format, Codec, Size, Frames string
}

func countFrames(t *testing.T, target string) streamFacts {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "format=format_name:stream=codec_name,width,height,nb_read_frames", "-of", "json", target).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", target, err)
	}
	var p struct {
		Format struct {
			FormatName string `json:"format_name"`
		} `json:"format"`
		Streams []struct {
			Codec  string `json:"codec_name"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
			Frames string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v %s", target, err, out)
	}
	s := p.Streams[0]
	if s.Frames == "" || s.Frames == "0" {
		t.Fatalf("ffprobe %s read no frames", target)
	}
	return streamFacts{Format: p.Format.FormatName, Codec: s.Codec, Size: strconv.Itoa(s.Width) + "x" + strconv.Itoa(s.Height), Frames: s.Frames}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
