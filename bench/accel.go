package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/internal/testmedia"
	"github.com/vidjob/vidjob/preset"
)

// accelOptions tune the accel suite.
type accelOptions struct {
	source   time.Duration // length of the generated source
	segment  time.Duration // --accelerate-segment
	workers  []int         // worker process counts to compare
	x264     string        // --x264-preset
	presetID string
}

// The accel suite's default preset and source: generic 360p 16:9 keeps the
// 29.97 fps of a 640x360 source, so the job qualifies for acceleration, and
// at that size one thread of x264 "medium" encodes ten minutes in a few
// minutes: long enough that start-up costs are small beside the encode,
// short enough to run the whole table in a quarter of an hour.
const (
	accelPreset = "1351620000001-000040"
	accelWidth  = 640
	accelHeight = 360
)

// accelSuite encodes one generated source with 1, 2, 4... `vidjob worker`
// processes, each pinned to one CPU (taskset) with one ffmpeg thread, and
// compares the wall time with one worker and with plain ffmpeg running the
// same command in one pass on one thread.
func (e benchEnv) accelSuite(o accelOptions) error {
	base := os.Getenv("VIDJOB_TEST_DATABASE_URL")
	if base == "" {
		return fmt.Errorf("the accel suite runs workers in separate processes and needs PostgreSQL: set VIDJOB_TEST_DATABASE_URL")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("the accel suite pins workers with taskset (util-linux): %w", err)
	}
	dbs, err := databases()
	if err != nil {
		return err
	}
	for _, db := range dbs[1:] {
		defer db.drop()
	}
	pg := dbs[1]
	dir, err := os.MkdirTemp("", "vidjob-bench-accel-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e.out.heading("Accelerated encoding: a %s %dx%d source, preset %s, x264 %s, segments of %s",
		o.source, accelWidth, accelHeight, o.presetID, o.x264, o.segment)
	start := time.Now()
	src, err := testmedia.Generate(context.Background(), dir, testmedia.Spec{Seconds: o.source.Seconds(), Width: accelWidth, Height: accelHeight})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: accel source generated in %.0f s\n", time.Since(start).Seconds())

	plain, err := plainFFmpeg(src, dir, o)
	if err != nil {
		return err
	}
	media, err := serveDir(filepath.Dir(src))
	if err != nil {
		return err
	}
	defer media.Close()
	srcURL := media.url + "/" + filepath.Base(src)

	t := table{header: []string{"run", "wall time", "its ffmpeg encode", "speed-up vs 1 worker", "speed-up vs plain ffmpeg"}}
	t.rows = append(t.rows, []string{"plain ffmpeg, one pass", seconds1(plain), seconds1(plain), "", "1.00"})
	off, encode, err := e.accelRun(pg, srcURL, 1, false, o)
	if err != nil {
		return fmt.Errorf("one pass through vidjob: %w", err)
	}
	t.rows = append(t.rows, []string{"vidjob, 1 worker process, acceleration off", seconds1(off), seconds1(encode), "",
		fmt.Sprintf("%.2f", plain.Seconds()/off.Seconds())})
	var one time.Duration
	for _, n := range o.workers {
		took, _, err := e.accelRun(pg, srcURL, n, true, o)
		if err != nil {
			return fmt.Errorf("%d workers: %w", n, err)
		}
		if one == 0 {
			one = took
		}
		t.rows = append(t.rows, []string{fmt.Sprintf("vidjob, %d worker process(es), accelerated", n), seconds1(took), "",
			fmt.Sprintf("%.2f", one.Seconds()/took.Seconds()), fmt.Sprintf("%.2f", plain.Seconds()/took.Seconds())})
	}
	e.out.table(t)
	e.out.note("Each worker process and plain ffmpeg run on one CPU (taskset -c) with -threads 1; speed-up vs 1 worker is against the first accelerated row (%d). *its ffmpeg encode* is the one-pass job's ffmpeg run from its `run` (GET /jobs/{id}): wall time minus it is what vidjob spent around the encode.", o.workers[0])
	return nil
}

// seconds1 is d in seconds to a tenth, as the accel table shows times.
func seconds1(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// plainFFmpeg runs the command vidjob would run in one pass, pinned to CPU 0
// with one thread, and returns its wall time.
func plainFFmpeg(src, dir string, o accelOptions) (time.Duration, error) {
	cat, err := preset.Load()
	if err != nil {
		return 0, err
	}
	p, _, err := cat.Lookup(o.presetID)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	r := &ffmpeg.Runner{Threads: 1, X264Preset: o.x264}
	probe, err := r.Probe(ctx, src)
	if err != nil {
		return 0, err
	}
	if ok, why := ffmpeg.Accelerable(p, probe); !ok {
		return 0, fmt.Errorf("preset %s cannot be accelerated on this source: %s", p.ID, why)
	}
	args, err := ffmpeg.BuildArgs(p, probe, src, filepath.Join(dir, "plain.mp4"), r.ArgOptions())
	if err != nil {
		return 0, err
	}
	cmd := exec.Command("taskset", append([]string{"-c", "0", "ffmpeg", "-hide_banner", "-loglevel", "error"}, args...)...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("plain ffmpeg: %w", err)
	}
	return time.Since(start), nil
}

// accelRun starts an API server and n pinned workers on db (with
// acceleration on or off), submits one job and returns the time from
// submission to completion, and the time of the job's ffmpeg encodes as its
// run lists them (for a one-pass job, its single encode).
func (e benchEnv) accelRun(db database, srcURL string, n int, accelerate bool, o accelOptions) (time.Duration, time.Duration, error) {
	after := "0"
	if accelerate {
		after = "1s"
	}
	api, err := e.startAPI(db, "--workers", "0", "--allow-private-networks")
	if err != nil {
		return 0, 0, err
	}
	defer api.stop()
	cpus := numCPU()
	var workers []*exec.Cmd
	defer func() {
		for _, w := range workers {
			w.Process.Signal(os.Interrupt)
			w.Wait()
		}
	}()
	for i := 0; i < n; i++ {
		args := []string{"-c", strconv.Itoa(i % cpus), e.bin, "worker", "--database", db.url, "--data", api.data,
			"--public-url", api.url, "--allow-private-networks", "--concurrency", "1", "--ffmpeg-threads", "1",
			"--x264-preset", o.x264, "--accelerate-after", after, "--accelerate-segment", o.segment.String(),
			"--log-level", "warn"}
		cmd := exec.Command("taskset", args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return 0, 0, err
		}
		workers = append(workers, cmd)
	}
	time.Sleep(time.Second) // let the workers connect before the clock starts
	body := strings.NewReplacer("https://media.example.com/squirrel.mp4", srcURL, "System preset generic 720p", o.presetID,
		`"postback_url": "https://hooks.example.com/postback",`, "").Replace(api.job())
	start := time.Now()
	resp, err := httpClient.Post(api.url+"/job", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	var sub struct {
		Results struct {
			JobID string `json:"job_id"`
			Error string `json:"error"`
		} `json:"results"`
	}
	err = json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if err != nil || sub.Results.JobID == "" {
		return 0, 0, fmt.Errorf("submit: %v %s", err, sub.Results.Error)
	}
	for {
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequest(http.MethodGet, api.url+"/jobs/"+sub.Results.JobID, nil)
		req.Header.Set("X-Application-Id", api.appID)
		resp, err := httpClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		var st struct {
			State  string          `json:"state"`
			Result json.RawMessage `json:"result"`
			Run    struct {
				Commands []struct {
					Program string `json:"program"`
					Millis  int64  `json:"ms"`
					Phase   string `json:"phase"`
				} `json:"commands"`
			} `json:"run"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return 0, 0, err
		}
		switch st.State {
		case "completed":
			took := time.Since(start)
			var encode time.Duration
			for _, c := range st.Run.Commands {
				if c.Program == "ffmpeg" && c.Phase == "encode" {
					encode += time.Duration(c.Millis) * time.Millisecond
				}
			}
			return took, encode, nil
		case "failed":
			return 0, 0, fmt.Errorf("job failed: %s", st.Result)
		}
	}
}

// parseCounts reads "1,2,4".
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("worker count %q: want a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
