package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// failoverSuite measures how long a job waits when its worker is lost: the
// time from the loss (kill -9 of the worker, or SIGSTOP of it and its ffmpeg
// as a hung VM or a lost machine) to the start of the new attempt's ffmpeg on
// another worker, over kills and freezes rounds, with default flags. Two
// `vidjob worker` processes on PostgreSQL run one job at a time each.
func (e benchEnv) failoverSuite(kills, freezes int) error {
	if os.Getenv("VIDJOB_TEST_DATABASE_URL") == "" {
		return fmt.Errorf("the failover suite runs workers in separate processes and needs PostgreSQL: set VIDJOB_TEST_DATABASE_URL")
	}
	dbs, err := databases()
	if err != nil {
		return err
	}
	for _, db := range dbs[1:] {
		defer db.drop()
	}
	pg := dbs[1]
	dir, err := os.MkdirTemp("", "vidjob-bench-failover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src, err := testmedia.Generate(context.Background(), dir, testmedia.Spec{Seconds: 30, Width: 640, Height: 360})
	if err != nil {
		return err
	}
	media, err := serveDir(filepath.Dir(src))
	if err != nil {
		return err
	}
	defer media.Close()
	api, err := e.startAPI(pg, "--workers", "0", "--allow-private-networks")
	if err != nil {
		return err
	}
	defer api.stop()
	c := &failoverCluster{bin: e.bin, db: pg.url, api: api}
	defer c.stopAll()
	for range 2 {
		if err := c.start(); err != nil {
			return err
		}
	}
	body := strings.NewReplacer("https://media.example.com/squirrel.mp4", media.url+"/"+filepath.Base(src),
		"System preset generic 720p", accelPreset, `"postback_url": "https://hooks.example.com/postback",`, "").Replace(api.job())

	e.out.heading("Failover: kill -9 or SIGSTOP of the encoding worker to the new attempt's ffmpeg, 2 workers on PostgreSQL, default flags")
	t := table{header: []string{"loss", "rounds", "median", "max"}}
	for _, loss := range []struct {
		name   string
		rounds int
		freeze bool
	}{{"kill -9 (a worker on the same machine notices the dead process)", kills, false},
		{"SIGSTOP of worker and ffmpeg (a hung VM; as a lost machine: the lease expires)", freezes, true}} {
		var took []time.Duration
		for i := range loss.rounds {
			d, err := c.round(body, loss.freeze)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", loss.name, i+1, err)
			}
			fmt.Fprintf(os.Stderr, "bench: failover %s round %d: %.1f s\n", map[bool]string{false: "kill", true: "freeze"}[loss.freeze], i+1, d.Seconds())
			took = append(took, d)
		}
		if len(took) == 0 {
			continue
		}
		slices.Sort(took)
		t.rows = append(t.rows, []string{loss.name, strconv.Itoa(len(took)), seconds1(took[len(took)/2]), seconds1(took[len(took)-1])})
	}
	e.out.table(t)
	e.out.note("Takeover time runs from the signal to the first sight (polled every 20 ms) of an ffmpeg started by another worker for the job. Defaults: --lease-renew 3s, --takeover-after 15s.")
	return nil
}

// failoverCluster is the failover suite's worker processes.
type failoverCluster struct {
	bin, db string
	api     *apiServer
	workers []*exec.Cmd
}

func (c *failoverCluster) start() error {
	cmd := exec.Command(c.bin, "worker", "--database", c.db, "--data", c.api.data, "--public-url", c.api.url,
		"--allow-private-networks", "--concurrency", "1", "--x264-preset", "veryfast", "--log-level", "warn")
	if err := cmd.Start(); err != nil {
		return err
	}
	c.workers = append(c.workers, cmd)
	return nil
}

func (c *failoverCluster) stopAll() {
	for _, w := range c.workers {
		w.Process.Kill()
		w.Wait()
	}
}

// round submits a job, waits for its ffmpeg, loses that worker, and returns
// the time until another worker's ffmpeg starts. It waits for the job to end
// and leaves two working workers behind.
func (c *failoverCluster) round(body string, freeze bool) (time.Duration, error) {
	id, err := c.submit(body)
	if err != nil {
		return 0, err
	}
	var victim *exec.Cmd
	var encoder int
	for deadline := time.Now().Add(2 * time.Minute); victim == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no worker started the job's ffmpeg")
		}
		for _, w := range c.workers {
			if f := ffmpegChildren(w.Process.Pid); len(f) > 0 {
				victim, encoder = w, f[0]
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // into the encode
	var lost time.Time
	if freeze {
		victim.Process.Signal(syscall.SIGSTOP)
		syscall.Kill(encoder, syscall.SIGSTOP)
		lost = time.Now()
	} else {
		victim.Process.Kill()
		lost = time.Now()
		victim.Wait()
	}
	var took time.Duration
	for deadline := lost.Add(2 * time.Minute); took == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no other worker took the job over within 2 minutes")
		}
		for _, w := range c.workers {
			if w != victim && len(ffmpegChildren(w.Process.Pid)) > 0 {
				took = time.Since(lost)
			}
		}
	}
	if freeze {
		syscall.Kill(encoder, syscall.SIGCONT)
		victim.Process.Signal(syscall.SIGCONT)
	} else {
		c.workers = slices.DeleteFunc(c.workers, func(w *exec.Cmd) bool { return w == victim })
		if err := c.start(); err != nil {
			return 0, err
		}
	}
	return took, c.waitDone(id)
}

func (c *failoverCluster) submit(body string) (string, error) {
	resp, err := httpClient.Post(c.api.url+"/job", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var sub struct {
		Results struct {
			JobID string `json:"job_id"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sub); err != nil || sub.Results.JobID == "" {
		return "", fmt.Errorf("submit: %v %s", err, sub.Results.Error)
	}
	return sub.Results.JobID, nil
}

func (c *failoverCluster) waitDone(id string) error {
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, c.api.url+"/jobs/"+id, nil)
		req.Header.Set("X-Application-Id", c.api.appID)
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		var st struct {
			State  string          `json:"state"`
			Result json.RawMessage `json:"result"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return err
		}
		switch st.State {
		case "completed":
			return nil
		case "failed":
			return fmt.Errorf("job failed: %s", st.Result)
		}
	}
	return fmt.Errorf("job %s did not end", id)
}

// ffmpegChildren lists the ffmpeg processes pid started.
func ffmpegChildren(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			if comm, _ := os.ReadFile("/proc/" + f + "/comm"); strings.TrimSpace(string(comm)) == "ffmpeg" {
				out = append(out, n)
			}
		}
	}
	return out
}
