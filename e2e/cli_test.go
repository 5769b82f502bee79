package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// adminToken is the operator's token the tests start servers with.
const adminToken = "e2e-admin-token-0123456789abcdef"

// cli runs the vidjob binary against srv and returns stdout, stderr and the
// exit code.
func cli(t *testing.T, srv *server, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(vidjobBin, args...)
	cmd.Env = append(os.Environ(), "VIDJOB_SERVER="+srv.URL, "VIDJOB_APPLICATION_ID="+srv.AppID)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("run vidjob %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// TestCLISubmitWaitFollowsTheJobAndMetricsMove is the operator's story from the
// command line: submit with --wait, watch plain progress lines (stderr is not a
// terminal here), get the results JSON, then see the job in every listing and
// in /metrics; a failing job and a refused job exit non-zero.
func TestCLISubmitWaitFollowsTheJobAndMetricsMove(t *testing.T) {
	srv := startServer(t, "--admin-token", adminToken)
	dir := t.TempDir()
	testmedia.Make(t, dir, testmedia.Spec{Seconds: 3, Width: 320, Height: 240})
	entries, _ := os.ReadDir(dir)
	media := mediaServer(t, dir)
	src := media.URL + "/" + entries[0].Name()
	recv := newReceiver(t)

	// Before any job: the metrics exist and read zero.
	before := scrape(t, srv)
	if before[`vidjob_jobs{state="completed"}`] != 0 || before["vidjob_billed_minutes_total"] != 0 {
		t.Fatalf("fresh server's metrics are not zero: completed=%v minutes=%v", before[`vidjob_jobs{state="completed"}`], before["vidjob_billed_minutes_total"])
	}

	start := time.Now()
	stdout, stderr, code := cli(t, srv, "submit", "--src", src, "--preset", "System preset: Generic 320x240",
		"--bucket", "cli", "--key", "out/clip.mp4", "--identifier", "cli-1", "--postback", recv.URL, "--wait")
	t.Logf("submit --wait took %.1fs; stderr:\n%s", time.Since(start).Seconds(), stderr)
	if code != 0 {
		t.Fatalf("submit --wait exited %d; stderr:\n%s", code, stderr)
	}
	line := regexp.MustCompile(`^job (\S+) (queued|fetching|transcoding|uploading|completed|failed) (\d+)% \d+\.\ds$`)
	var jobID string
	var states []string
	lastPct := -1
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("progress line %q is not 'job ID STATE N%% T s'", l)
			continue
		}
		jobID = m[1]
		states = append(states, m[2])
		pct, _ := strconv.Atoi(m[3])
		if pct < lastPct && m[2] == "transcoding" {
			t.Errorf("progress went back: %d%% after %d%%", pct, lastPct)
		}
		lastPct = pct
	}
	if len(states) < 2 || states[len(states)-1] != "completed" || lastPct != 100 {
		t.Errorf("progress lines end in %v at %d%%, want several lines ending completed 100%%", states, lastPct)
	}
	var res struct {
		Results struct {
			JobID string `json:"job_id"`
			Video struct {
				S3URL           string `json:"s3_url"`
				VideoIdentifier string `json:"video_identifier"`
			} `json:"video"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not the results JSON: %v\n%s", err, stdout)
	}
	if res.Results.JobID != jobID || res.Results.Video.VideoIdentifier != "cli-1" || !strings.Contains(res.Results.Video.S3URL, "/objects/cli/out/clip.mp4") {
		t.Errorf("results = %+v, want job %s, identifier cli-1 and the local store's URL", res.Results, jobID)
	}
	recv.wait(t, 30*time.Second)

	// On a terminal the same command draws a progress bar (script(1), from
	// Debian's essential bsdutils, gives it one) and still prints the results.
	tty := exec.Command("script", "-qec", vidjobBin+" submit --src "+src+" --preset 1351620000001-000061 --bucket cli --key tty.mp4 --wait", "/dev/null")
	tty.Env = append(os.Environ(), "VIDJOB_SERVER="+srv.URL, "VIDJOB_APPLICATION_ID="+srv.AppID)
	ttyOut, err := tty.CombinedOutput()
	if err != nil {
		t.Fatalf("submit --wait on a terminal: %v\n%s", err, ttyOut)
	}
	screen := string(ttyOut)
	if !strings.Contains(screen, "completed   100% [==============================]") || !strings.Contains(screen, "\r") ||
		!strings.Contains(screen, `"s3_url"`) || regexp.MustCompile(`(?m)^job \S+ transcoding \d+% `).MatchString(screen) {
		t.Errorf("on a terminal, want a redrawn bar ending 'completed 100%%' and the results, not plain lines:\n%q", screen)
	}

	// A raw Blitline job file without application_id: the CLI fills it in.
	jobFile := filepath.Join(t.TempDir(), "job.json")
	os.WriteFile(jobFile, []byte(`{"src": "`+src+`", "src_type": "pre_process_only", "v": 1.22,
		"pre_process": {"transcode": {"preset_id": "1351620000001-000061", "s3_destination": {"bucket": "cli", "key": "file.mp4"}}}}`), 0o600)
	stdout, stderr, code = cli(t, srv, "submit", jobFile)
	fileJob := strings.TrimSpace(stdout)
	if code != 0 || len(fileJob) < 20 || strings.Contains(fileJob, "\n") {
		t.Fatalf("submit job.json: exit %d, stdout %q, stderr %q; want the job ID alone", code, stdout, stderr)
	}
	// A source that does not exist: the job fails and --wait exits non-zero.
	stdout, stderr, code = cli(t, srv, "submit", "--src", media.URL+"/missing.mp4", "--preset", "1351620000001-000061",
		"--bucket", "cli", "--key", "never.mp4", "--wait")
	if code == 0 || !strings.Contains(stderr, "failed") || !strings.Contains(stdout, `"errors"`) {
		t.Errorf("failing job: exit %d, stderr %q, stdout %q; want non-zero, a failure line and the results with errors", code, stderr, stdout)
	}
	// A preset that does not exist is refused at once.
	_, stderr, code = cli(t, srv, "submit", "--src", src, "--preset", "no such preset", "--bucket", "b", "--key", "k", "--wait")
	if code == 0 || !strings.Contains(stderr, "refused") {
		t.Errorf("refused job: exit %d, stderr %q; want non-zero and the refusal", code, stderr)
	}
	// Missing flags are named.
	_, stderr, code = cli(t, srv, "submit", "--src", src)
	if code == 0 || !strings.Contains(stderr, "--bucket, --key, --preset") {
		t.Errorf("submit without destination: exit %d, stderr %q", code, stderr)
	}
	srv.get(t, "/listen/"+fileJob)

	stdout, _, code = cli(t, srv, "jobs")
	if code != 0 || !strings.Contains(stdout, jobID) || !strings.Contains(stdout, fileJob) || !strings.HasPrefix(stdout, "JOB ID") {
		t.Errorf("jobs: exit %d\n%s", code, stdout)
	}
	stdout, _, _ = cli(t, srv, "jobs", "--status", "failed")
	if strings.Contains(stdout, jobID) || strings.Count(stdout, "\n") != 2 {
		t.Errorf("jobs --status failed shows other jobs or not the one failure:\n%s", stdout)
	}
	stdout, _, code = cli(t, srv, "job", jobID)
	var job struct {
		State  string `json:"state"`
		Charge struct {
			Minutes int `json:"minutes"`
		} `json:"charge"`
		Postback struct {
			State string `json:"state"`
		} `json:"postback"`
	}
	if err := json.Unmarshal([]byte(stdout), &job); err != nil || code != 0 || job.State != "completed" || job.Charge.Minutes != 1 {
		t.Errorf("job %s: exit %d, %+v, %v\n%s", jobID, code, job, err, stdout)
	}
	stdout, _, code = cli(t, srv, "usage", "--from", time.Now().UTC().Format("2006-01-02"))
	if code != 0 || !regexp.MustCompile(`(?m)^minutes\s+3$`).MatchString(stdout) || !strings.Contains(stdout, "$0.1167") {
		t.Errorf("usage: exit %d, want 3 minutes and $0.1167:\n%s", code, stdout)
	}
	_, stderr, code = cli(t, srv, "job", "nosuchjob")
	if code == 0 || !strings.Contains(stderr, "404") {
		t.Errorf("job nosuchjob: exit %d, stderr %q", code, stderr)
	}
	stdout, _, code = cli(t, srv, "apps", "list", "--data", srv.Data)
	if code != 0 || !strings.Contains(stdout, srv.AppID) {
		t.Errorf("apps list: exit %d\n%s", code, stdout)
	}
	stdout, _, code = cli(t, srv, "presets")
	if code != 0 || !strings.Contains(stdout, "1351620000001-000061") || strings.Contains(stdout, "deprecated") {
		t.Errorf("presets: exit %d\n%s", code, stdout)
	}
	stdout, _, _ = cli(t, srv, "presets", "--json")
	var presets []map[string]any
	if err := json.Unmarshal([]byte(stdout), &presets); err != nil || len(presets) != 85 {
		t.Errorf("presets --json: %d presets, %v", len(presets), err)
	}

	// /metrics moved, and says so only to the operator.
	after := scrape(t, srv)
	preset := `{preset="1351620000001-000061"}`
	for name, want := range map[string]float64{
		`vidjob_jobs{state="completed"}`:                  3,
		`vidjob_jobs{state="failed"}`:                     1,
		"vidjob_queue_depth":                              0,
		"vidjob_billed_minutes_total":                     3,
		"vidjob_postback_attempts_total":                  1,
		"vidjob_postback_failures_total":                  0,
		"vidjob_transcode_seconds_count" + preset:         3,
		"vidjob_transcode_realtime_factor_count" + preset: 3,
	} {
		if after[name] != want {
			t.Errorf("%s = %v, want %v", name, after[name], want)
		}
	}
	for _, name := range []string{"vidjob_source_bytes_fetched_total", "vidjob_output_bytes_uploaded_total", "vidjob_transcode_seconds_sum" + preset} {
		if after[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, after[name])
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: HTTP %d, want 401", resp.StatusCode)
	}
	// Every log line about the job names it.
	for _, l := range strings.Split(srv.log(), "\n") {
		if strings.Contains(l, jobID) && !strings.Contains(l, "job_id="+jobID) && !strings.Contains(l, "component=river") && !strings.Contains(l, "path=") {
			t.Errorf("log line mentions the job without job_id=: %s", l)
		}
	}
	if !strings.Contains(srv.log(), `msg=transcoded job_id=`+jobID) {
		t.Errorf("no 'transcoded' log line with job_id=%s", jobID)
	}
}

// scrape reads /metrics with the admin token into name{labels} → value.
func scrape(t *testing.T, srv *server) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: HTTP %d %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		out[l[:i]] = v
	}
	return out
}
