// Package e2e runs vidjob as a user does: the real binary, real ffmpeg and
// exiftool, a real HTTP server holding the source, a real postback receiver and,
// for the S3 path, a real S3 server. Tests here read as the user's story.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// vidjobBin is the binary under test, built once by TestMain.
var vidjobBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vidjob-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vidjobBin = filepath.Join(dir, "vidjob")
	build := exec.Command("go", "build", "-o", vidjobBin, "../cmd/vidjob")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build vidjob:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `vidjob serve`.
type server struct {
	URL     string
	Data    string
	AppID   string
	args    []string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// log returns what the server has logged, without River's debug chatter.
func (s *server) log() string {
	b, _ := os.ReadFile(s.logPath)
	return filterRiverDebug(string(b))
}

// startServer creates an application and starts `vidjob serve` on a free port
// with the given extra flags, stopping it when the test ends.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	return startServerWith(t, true, extra...)
}

// startServerWith is startServer with the choice of --allow-private-networks,
// which tests need for their loopback media servers and receivers.
func startServerWith(t *testing.T, allowPrivate bool, extra ...string) *server {
	t.Helper()
	data := t.TempDir()
	createArgs := []string{"apps", "create", "e2e", "--data", data}
	for i, a := range extra {
		if a == "--database" && i+1 < len(extra) {
			createArgs = append(createArgs, "--database", extra[i+1])
		}
	}
	out, err := exec.Command(vidjobBin, createArgs...).Output()
	if err != nil {
		t.Fatalf("apps create: %v", err)
	}
	appID := strings.TrimSpace(string(out))
	if len(appID) < 20 || strings.ContainsAny(appID, " \n") {
		t.Fatalf("apps create printed %q, want one application ID alone", out)
	}
	addr := freeAddr(t)
	args := []string{"serve", "--listen", addr, "--data", data, "--x264-preset", "veryfast", "--workers", "2", "--log-level", "debug"}
	if allowPrivate {
		args = append(args, "--allow-private-networks")
	}
	args = append(args, extra...)
	s := &server{URL: "http://" + addr, Data: data, AppID: appID, args: args, logPath: filepath.Join(t.TempDir(), "server.log")}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.log())
		}
	})
	s.start(t)
	return s
}

// start runs the server process and waits until it is healthy.
func (s *server) start(t *testing.T) {
	t.Helper()
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(vidjobBin, s.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not become healthy; log:\n%s", s.log())
}

// stop sends SIGTERM, as an operator's restart does, and waits for the exit.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// restart stops the server and starts it again with the same flags and port.
func (s *server) restart(t *testing.T) {
	t.Helper()
	s.stop()
	s.start(t)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// post sends a body to path and decodes the JSON answer.
func (s *server) post(t *testing.T, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return s.do(t, req)
}

// get fetches path as the server's application and decodes the JSON answer.
func (s *server) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	return s.getAs(t, s.AppID, path)
}

// getAs fetches path as application appID ("" for none) and decodes the JSON
// answer.
func (s *server) getAs(t *testing.T, appID, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if appID != "" {
		req.Header.Set("X-Application-Id", appID)
	}
	return s.do(t, req)
}

// rawGet fetches path as the server's application and returns the response
// undecoded; the caller closes its body.
func (s *server) rawGet(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Application-Id", s.AppID)
	return http.DefaultClient.Do(req)
}

func (s *server) do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", req.Method, req.URL.Path, raw)
	}
	return resp.StatusCode, out
}

// submit posts a job and returns its job_id, failing the test on refusal.
func (s *server) submit(t *testing.T, job string) string {
	t.Helper()
	status, out := s.post(t, "/job", "application/json", job)
	res, _ := out["results"].(map[string]any)
	id, _ := res["job_id"].(string)
	if status != 200 || id == "" {
		t.Fatalf("submit: HTTP %d %v", status, out)
	}
	return id
}

// mediaServer serves files from a directory, as a customer's origin would.
func mediaServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv
}

// postback is a received postback.
type postback struct {
	ContentType string
	Headers     http.Header
	Body        []byte
}

// receiver is a postback receiver that records every delivery.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []postback
	arrived  chan struct{}
	failNext int // answer 500 to this many deliveries first
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{arrived: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		fail := r.failNext > 0
		if fail {
			r.failNext--
		}
		if !fail {
			r.got = append(r.got, postback{ContentType: req.Header.Get("Content-Type"), Headers: req.Header.Clone(), Body: body})
		}
		r.mu.Unlock()
		if fail {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		// Never block the handler: a receiver that holds its answer looks like a
		// timeout to vidjob, which then retries.
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(r.Server.Close)
	return r
}

// wait returns the first delivery, failing the test after timeout.
func (r *receiver) wait(t *testing.T, timeout time.Duration) postback {
	t.Helper()
	select {
	case <-r.arrived:
	case <-time.After(timeout):
		t.Fatalf("no postback within %s", timeout)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[0]
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// results decodes a postback body's "results" object.
func results(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("postback is not JSON: %q", body)
	}
	res, ok := env["results"].(map[string]any)
	if !ok {
		t.Fatalf("postback has no results object: %s", body)
	}
	return res
}

// ffprobe describes a file or URL.
type probe struct {
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Profile      string `json:"profile"`
		Level        int    `json:"level"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		AvgFrameRate string `json:"avg_frame_rate"`
		SampleRate   string `json:"sample_rate"`
		Channels     int    `json:"channels"`
	} `json:"streams"`
}

func ffprobe(t *testing.T, target string) probe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", target).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", target, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func mediaServerFor(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// output runs a command and returns what it printed.
func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}

// filterRiverDebug drops River's debug chatter from a log.
func filterRiverDebug(log string) string {
	var keep []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "component=river") || !strings.Contains(line, "level=DEBUG") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// workFilesLeft lists what is under the server's tmp directory (DATA/tmp or
// --tmp-dir) besides each
// worker's own directory and its lock file: the files of attempts, which
// should be gone once they end.
func workFilesLeft(srv *server) []string {
	tmp := filepath.Join(srv.Data, "tmp")
	for i, a := range srv.args {
		if a == "--tmp-dir" && i+1 < len(srv.args) {
			tmp = srv.args[i+1]
		}
	}
	var left []string
	filepath.WalkDir(tmp, func(path string, e os.DirEntry, err error) error {
		rel, _ := filepath.Rel(tmp, path)
		if err != nil || rel == "." {
			return nil
		}
		dir, name := filepath.Split(rel)
		worker := strings.HasPrefix(strings.TrimSuffix(dir, "/"), "w-") && !strings.Contains(strings.TrimSuffix(dir, "/"), "/")
		if (dir == "" && strings.HasPrefix(name, "w-") && e.IsDir()) || (worker && name == "lock") {
			return nil
		}
		left = append(left, rel)
		return nil
	})
	return left
}

// makeClip writes a small 320x240 clip of the given seconds into dir and returns
// its file name.
func makeClip(t *testing.T, dir string, seconds float64) string {
	t.Helper()
	return filepath.Base(testmedia.Make(t, dir, testmedia.Spec{Seconds: seconds, Width: 320, Height: 240}))
}

// completedOnce waits for job id's postback and checks that the job completed
// exactly once: its results posted back once (a second postback would arrive
// within the pause) and minutes billed once. It returns the results.
func completedOnce(t *testing.T, srv *server, rcv *receiver, id string, minutes float64) map[string]any {
	t.Helper()
	pb := rcv.wait(t, 5*time.Minute)
	res := results(t, pb.Body)
	if res["job_id"] != id || res["errors"] != nil || res["video"] == nil {
		t.Fatalf("results = %s", pb.Body)
	}
	time.Sleep(3 * time.Second)
	if n := rcv.count(); n != 1 {
		t.Errorf("%d postbacks, want 1", n)
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(1) || usage["minutes"] != minutes {
		t.Errorf("usage = %v, want one job billed %v minutes once", usage, minutes)
	}
	return res
}
