package http

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/queue"
	"github.com/vidjob/vidjob/sqlstore"
)

// listenFixture is the real handler served by a real http.Server (with its
// timeouts) on a real SQLite database, with the queue's hub.
type listenFixture struct {
	URL string
	db  *sqlstore.DB
	hub *queue.Hub
	api *Server
}

func newListenFixture(t *testing.T, limits ServerLimits, configure func(*Server)) *listenFixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"app", "other"} {
		if err := db.CreateApplication(ctx, &vidjob.Application{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	hub := queue.NewHub()
	api := &Server{Store: db, Lists: db, Waiter: hub, Logger: slog.New(slog.DiscardHandler),
		ListenKeepAlive: 100 * time.Millisecond, RecheckInterval: time.Minute}
	if configure != nil {
		configure(api)
	}
	srv := NewHTTPServer(api.Handler(), limits)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &listenFixture{URL: "http://" + ln.Addr().String(), db: db, hub: hub, api: api}
}

// running stores a job of application "app" that has not ended.
func (f *listenFixture) running(t *testing.T, id string) {
	t.Helper()
	job := &vidjob.Job{ID: id, ApplicationID: "app", Request: vidjob.Request{Src: "https://example.com/a.mp4"}}
	if err := f.db.InsertJob(context.Background(), nil, job); err != nil {
		t.Fatal(err)
	}
	if err := f.db.SetState(context.Background(), id, vidjob.StateTranscoding, 0.25); err != nil {
		t.Fatal(err)
	}
}

// finish ends a job as the worker does: the row, then the hub's wake-up.
func (f *listenFixture) finish(t *testing.T, id string, failed bool) {
	t.Helper()
	job := &vidjob.Job{ID: id, ApplicationID: "app", State: vidjob.StateCompleted,
		Result: &vidjob.Result{JobID: id, OriginalMeta: vidjob.Meta{"FileType": "MP4"},
			Video: &vidjob.VideoResult{S3URL: "https://bucket.example/out.mp4", VideoIdentifier: "toms_video", Meta: vidjob.Meta{"FileType": "MP4"}}}}
	if failed {
		job.State = vidjob.StateFailed
		job.Result = &vidjob.Result{JobID: id, Errors: []string{"Source could not be fetched: HTTP 404."}, FailedVideoIdentifiers: []string{"toms_video"}}
	}
	if ok, err := f.db.FinishJob(context.Background(), nil, job, nil, 0); err != nil || !ok {
		t.Fatalf("finish: %v %v", ok, err)
	}
	f.hub.Announce(id)
}

// get sends GET path with optional headers (name, value pairs).
func (f *listenFixture) get(t *testing.T, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp, string(body)
}

// results decodes a /listen body as Blitline's clients do: whatever the
// status, {"results": {...}}.
func results(t *testing.T, body string) map[string]any {
	t.Helper()
	var env struct {
		Results map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, body)
	}
	return env.Results
}

// TestListenHoldsUntilTheJobEndsPastTheServerTimeouts: with the job ID alone,
// as Blitline's clients send it, /listen holds past the server's read and
// write timeouts (1 s here) and past its own bound on one write (500 ms),
// commits 200 and writes spaces, then the results. Before, the same request
// was answered 401.
func TestListenHoldsUntilTheJobEndsPastTheServerTimeouts(t *testing.T) {
	f := newListenFixture(t, ServerLimits{ReadTimeout: time.Second, WriteTimeout: time.Second},
		func(s *Server) { s.ListenWriteTimeout = 500 * time.Millisecond })
	f.running(t, "1job")
	go func() {
		time.Sleep(3 * time.Second)
		f.finish(t, "1job", false)
	}()
	start := time.Now()
	resp, body := f.get(t, "/listen/1job")
	if waited := time.Since(start); waited < 2900*time.Millisecond {
		t.Errorf("answered after %s, before the job ended", waited)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("HTTP %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	lead := len(body) - len(strings.TrimLeft(body, " "))
	if lead < 10 || !strings.HasPrefix(body[lead:], `{"results":`) {
		t.Errorf("body = %q, want spaces (about one per 100 ms) then the results", body)
	}
	res := results(t, body)
	video, _ := res["video"].(map[string]any)
	if res["job_id"] != "1job" || video["s3_url"] != "https://bucket.example/out.mp4" {
		t.Errorf("results = %v", res)
	}
}

// TestListenAnswersAFailedJobInBlitlinesFailureShape, also after holding.
func TestListenAnswersAFailedJobInBlitlinesFailureShape(t *testing.T) {
	f := newListenFixture(t, ServerLimits{}, nil)
	f.running(t, "1failing")
	go func() {
		time.Sleep(500 * time.Millisecond)
		f.finish(t, "1failing", true)
	}()
	resp, body := f.get(t, "/listen/1failing")
	res := results(t, body)
	if resp.StatusCode != 200 || res["original_meta"] != nil || len(res["images"].([]any)) != 0 ||
		jsonString(res["errors"]) != `["Source could not be fetched: HTTP 404."]` ||
		jsonString(res["failed_video_identifiers"]) != `["toms_video"]` {
		t.Errorf("HTTP %d %q", resp.StatusCode, body)
	}
	if _, ok := res["original_meta"]; !ok {
		t.Errorf("original_meta is absent, want null: %q", body)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestListenUnknownJobIs404AtOnce: no whitespace, no wait.
func TestListenUnknownJobIs404AtOnce(t *testing.T) {
	f := newListenFixture(t, ServerLimits{}, nil)
	start := time.Now()
	resp, body := f.get(t, "/listen/0AAAAAAAAAAAAAAAAAAAAAA")
	if resp.StatusCode != 404 || !strings.HasPrefix(body, `{"results":{"error":"Job \"0AAAAAAAAAAAAAAAAAAAAAA\" is not known."}}`) {
		t.Errorf("HTTP %d %q", resp.StatusCode, body)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("404 after %s", waited)
	}
}

// TestListenTimeoutAsksForTheEarlyAnswer: ?timeout=SECONDS gives 202 with the
// state when the job has not ended by then, the results when it has; a bad
// value is 400.
func TestListenTimeoutAsksForTheEarlyAnswer(t *testing.T) {
	f := newListenFixture(t, ServerLimits{}, nil)
	f.running(t, "1slow")
	start := time.Now()
	resp, body := f.get(t, "/listen/1slow?timeout=0.5")
	if resp.StatusCode != 202 || body != "{\"results\":{\"job_id\":\"1slow\",\"state\":\"transcoding\",\"progress\":0.25}}\n" {
		t.Errorf("HTTP %d %q", resp.StatusCode, body)
	}
	if waited := time.Since(start); waited < 450*time.Millisecond || waited > 3*time.Second {
		t.Errorf("202 after %s, want about 0.5 s", waited)
	}
	if resp, body := f.get(t, "/listen/1slow?timeout=0"); resp.StatusCode != 202 || !strings.Contains(body, `"state":"transcoding"`) {
		t.Errorf("timeout=0: HTTP %d %q", resp.StatusCode, body)
	}
	for _, bad := range []string{"abc", "-1", "601", "NaN", ""} {
		resp, body := f.get(t, "/listen/1slow?timeout="+bad)
		if resp.StatusCode != 400 || !strings.Contains(body, "timeout must be a number of seconds from 0 to 600") {
			t.Errorf("timeout=%s: HTTP %d %q", bad, resp.StatusCode, body)
		}
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.finish(t, "1slow", false)
	}()
	resp, body = f.get(t, "/listen/1slow?timeout=30")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, `{"results":{"job_id":"1slow"`) {
		t.Errorf("ended within the timeout: HTTP %d %q", resp.StatusCode, body)
	}
}

// TestListenApplication: by default the job ID is enough, and a caller who
// names an application is answered as that application; with
// ListenRequiresApp the application is required, as on /jobs.
func TestListenApplication(t *testing.T) {
	open := newListenFixture(t, ServerLimits{}, nil)
	strict := newListenFixture(t, ServerLimits{}, func(s *Server) { s.ListenRequiresApp = true })
	for _, f := range []*listenFixture{open, strict} {
		f.running(t, "1done")
		f.finish(t, "1done", false)
	}
	cases := []struct {
		f      *listenFixture
		path   string
		header []string
		want   int
	}{
		{open, "/listen/1done", nil, 200},
		{open, "/listen/1done", []string{ApplicationHeader, "app"}, 200},
		{open, "/listen/1done?application_id=app", nil, 200},
		{open, "/listen/1done", []string{ApplicationHeader, "other"}, 404},
		{open, "/listen/1done?application_id=nobody", nil, 401},
		{strict, "/listen/1done", nil, 401},
		{strict, "/listen/1done", []string{ApplicationHeader, "app"}, 200},
		{strict, "/listen/1done?application_id=app", nil, 200},
		{strict, "/listen/1done", []string{ApplicationHeader, "other"}, 404},
		{open, "/jobs/1done", nil, 401},
	}
	for _, c := range cases {
		resp, body := c.f.get(t, c.path, c.header...)
		if resp.StatusCode != c.want {
			t.Errorf("strict=%v GET %s %v: HTTP %d %q, want %d", c.f.api.ListenRequiresApp, c.path, c.header, resp.StatusCode, body, c.want)
		}
		if c.want == 404 && !strings.Contains(body, `Job \"1done\" is not known.`) {
			t.Errorf("another application's job: %q, want the answer for an unknown job", body)
		}
	}
}

// TestListenersAreBounded: past MaxListeners a request for a running job is
// refused with 503 and Retry-After at once; a finished job is still answered.
func TestListenersAreBounded(t *testing.T) {
	f := newListenFixture(t, ServerLimits{}, func(s *Server) { s.MaxListeners = 1 })
	f.running(t, "1held")
	f.running(t, "1other")
	f.running(t, "1done")
	f.finish(t, "1done", false)
	held := make(chan string, 1)
	go func() {
		_, body := f.get(t, "/listen/1held")
		held <- body
	}()
	time.Sleep(300 * time.Millisecond) // the first request is held (it has written spaces)
	resp, body := f.get(t, "/listen/1other")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many requests are waiting on /listen") {
		t.Errorf("past the bound: HTTP %d %q", resp.StatusCode, body)
	}
	if strings.Contains(body, "1held") || strings.Contains(body, "1other") {
		t.Errorf("the refusal names a job: %q", body)
	}
	if resp, _ := f.get(t, "/listen/1done"); resp.StatusCode != 200 {
		t.Errorf("a finished job past the bound: HTTP %d", resp.StatusCode)
	}
	f.finish(t, "1held", false)
	if body := <-held; !strings.Contains(body, `"job_id":"1held"`) {
		t.Errorf("held request: %q", body)
	}
	// The slot is free again.
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.finish(t, "1other", false)
	}()
	if resp, body := f.get(t, "/listen/1other"); resp.StatusCode != 200 || !strings.Contains(body, `"job_id":"1other"`) {
		t.Errorf("after the slot was freed: HTTP %d %q", resp.StatusCode, body)
	}
}

// TestListenRecheckFindsJobsEndedElsewhere: without a hub wake-up (a job
// finished by another process on SQLite), the periodic re-read answers.
func TestListenRecheckFindsJobsEndedElsewhere(t *testing.T) {
	f := newListenFixture(t, ServerLimits{}, func(s *Server) { s.RecheckInterval = 200 * time.Millisecond })
	f.running(t, "1elsewhere")
	go func() {
		time.Sleep(500 * time.Millisecond)
		job := &vidjob.Job{ID: "1elsewhere", State: vidjob.StateCompleted, Result: &vidjob.Result{JobID: "1elsewhere"}}
		f.db.FinishJob(context.Background(), nil, job, nil, 0) // no Announce
	}()
	resp, body := f.get(t, "/listen/1elsewhere")
	if resp.StatusCode != 200 || !strings.Contains(body, `"job_id":"1elsewhere"`) {
		t.Errorf("HTTP %d %q", resp.StatusCode, body)
	}
}

// TestListenShutdownCutsACommittedAnswer: a server shutting down cannot send
// results it does not have; once 200 is committed the body is cut short, so
// that the client sees a broken answer rather than one it takes for results.
func TestListenShutdownCutsACommittedAnswer(t *testing.T) {
	f := newListenFixture(t, ServerLimits{}, nil)
	f.running(t, "1cut")
	f.running(t, "1early")
	resp, err := http.Get(f.URL + "/listen/1cut")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	first, err := bufio.NewReader(resp.Body).ReadByte()
	if err != nil || first != ' ' {
		t.Fatalf("first byte %q %v, want a space", first, err)
	}
	f.api.StopStreams()
	rest, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("the body ended cleanly after shutdown: %q", rest)
	}
	if strings.Contains(string(rest), "{") {
		t.Errorf("a body followed: %q", rest)
	}
	// A request not yet committed when the server stops gets 503.
	resp2, body := f.get(t, "/listen/1early")
	if resp2.StatusCode != 503 {
		t.Errorf("after shutdown began: HTTP %d %q", resp2.StatusCode, body)
	}
}

// TestListenBodyParsesInClientParsers: the spaces before the JSON are read
// by the parsers Blitline's clients use: Node's JSON.parse, Python's
// json.loads, Ruby's JSON.parse, PHP's json_decode, Java's Gson and
// json-simple (the blitline-dev Java client's). Node and Python are
// required; the others run where installed (scripts/install-clients.sh
// installs them for make test).
func TestListenBodyParsesInClientParsers(t *testing.T) {
	f := newListenFixture(t, ServerLimits{}, nil)
	f.running(t, "1parsed")
	go func() {
		time.Sleep(400 * time.Millisecond)
		f.finish(t, "1parsed", false)
	}()
	_, body := f.get(t, "/listen/1parsed")
	if !strings.HasPrefix(body, " ") {
		t.Fatalf("body %q does not start with whitespace; the test would prove nothing", body)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "answer.json")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	javaSrc := filepath.Join(dir, "Parse.java")
	os.WriteFile(javaSrc, []byte(javaParser), 0o644)
	parsers := []struct {
		name     string
		required bool
		args     []string
	}{
		{"node JSON.parse", true, []string{"node", "-e", `const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(v.results.video.s3_url)`, file}},
		{"python3 json.loads", true, []string{"python3", "-c", `import json, sys; print(json.loads(open(sys.argv[1]).read())["results"]["video"]["s3_url"], end="")`, file}},
		{"ruby JSON.parse", false, []string{"ruby", "-rjson", "-e", `print JSON.parse(File.read(ARGV[0]))["results"]["video"]["s3_url"]`, file}},
		{"php json_decode", false, []string{"php", "-r", `$v = json_decode(file_get_contents($argv[1]), true); if ($v === null) { exit(3); } echo $v["results"]["video"]["s3_url"];`, file}},
		{"java Gson", false, []string{"java", "-cp", "/usr/share/java/gson.jar", javaSrc, "gson", file}},
		{"java json-simple", false, []string{"java", "-cp", "/usr/share/java/json-simple.jar", javaSrc, "json-simple", file}},
	}
	for _, p := range parsers {
		if _, err := exec.LookPath(p.args[0]); err != nil || (p.args[0] == "java" && !exists(p.args[2])) {
			if p.required {
				t.Errorf("%s: not installed: %v", p.name, err)
			} else {
				t.Logf("%s: not installed here; skipped (scripts/install-clients.sh installs it)", p.name)
			}
			continue
		}
		out, err := exec.Command(p.args[0], p.args[1:]...).CombinedOutput()
		if err != nil || string(out) != "https://bucket.example/out.mp4" {
			t.Errorf("%s: %v: %q", p.name, err, out)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// javaParser parses the file named by args[1] with the library args[0] and
// prints results.video.s3_url; the library is chosen by reflection, so one
// source runs with either jar on the class path.
const javaParser = `
import java.nio.file.*;
import java.lang.reflect.*;
import java.util.Map;

public class Parse {
  public static void main(String[] args) throws Exception {
    String s = new String(Files.readAllBytes(Paths.get(args[1])), "UTF-8");
    if (args[0].equals("gson")) {
      Class<?> p = Class.forName("com.google.gson.JsonParser");
      Object root = p.getMethod("parseString", String.class).invoke(null, s);
      Object obj = root.getClass().getMethod("getAsJsonObject").invoke(root);
      Object results = obj.getClass().getMethod("getAsJsonObject", String.class).invoke(obj, "results");
      Object video = results.getClass().getMethod("getAsJsonObject", String.class).invoke(results, "video");
      Object url = video.getClass().getMethod("get", String.class).invoke(video, "s3_url");
      System.out.print(url.getClass().getMethod("getAsString").invoke(url));
    } else {
      Class<?> p = Class.forName("org.json.simple.parser.JSONParser");
      Object parser = p.getConstructor().newInstance();
      Map<?, ?> root = (Map<?, ?>) p.getMethod("parse", String.class).invoke(parser, s);
      Map<?, ?> results = (Map<?, ?>) root.get("results");
      Map<?, ?> video = (Map<?, ?>) results.get("video");
      System.out.print(video.get("s3_url"));
    }
  }
}
`
