package http

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/preset"
	"github.com/vidjob/vidjob/sqlstore"
)

const testToken = "operator-token-for-tests-0123456789"

// operatorServer serves the real handler on a real SQLite database.
func operatorServer(t *testing.T) (*httptest.Server, *sqlstore.DB) {
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
	s := &Server{Store: db, Lists: db, AdminToken: testToken, Logger: slog.New(slog.DiscardHandler),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("vidjob_up 1\n")) })}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, db
}

func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestOperatorPagesNeedTheAdminToken checks every operator route refuses a
// stranger, that a wrong token does not log in, and that the right one does,
// by cookie or bearer header.
func TestOperatorPagesNeedTheAdminToken(t *testing.T) {
	srv, _ := operatorServer(t)
	c := noRedirects()
	for _, path := range []string{"/", "/ui/jobs/x", "/ui/usage", "/ui/presets", "/ui/events", "/metrics"} {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: HTTP %d, want 401", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/ui/usage?x=1", nil)
	req.Header.Set("Accept", "text/html")
	resp, _ := c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fui%2Fusage%3Fx%3D1" {
		t.Errorf("a browser without the token: HTTP %d to %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, _ = c.PostForm(srv.URL+"/login", url.Values{"token": {"wrong-token"}, "next": {"/"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("wrong token: HTTP %d with %d cookies, want 401 and none", resp.StatusCode, len(resp.Cookies()))
	}
	// An off-site next is not followed after login.
	resp, _ = c.PostForm(srv.URL+"/login", url.Values{"token": {testToken}, "next": {"//evil.example/"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("login with an off-site next: HTTP %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || strings.Contains(session.Value, testToken) {
		t.Fatalf("session cookie = %+v; want HttpOnly, SameSite=Strict, without the token in it", session)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/ui/presets", nil)
	req.AddCookie(session)
	resp, _ = c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("with the session cookie: HTTP %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	req, _ = http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, _ = c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/metrics with the bearer token: HTTP %d", resp.StatusCode)
	}
}

// TestEventsStreamJobChanges follows the live feed while a job moves.
func TestEventsStreamJobChanges(t *testing.T) {
	srv, db := operatorServer(t)
	ctx := context.Background()
	db.CreateApplication(ctx, &vidjob.Application{ID: "app", Name: "app"})
	db.CreateApplication(ctx, &vidjob.Application{ID: "other", Name: "other"})
	since := time.Now().UnixMilli()
	req, _ := http.NewRequest("GET", srv.URL+"/ui/events?application_id=app&since="+strconv.FormatInt(since, 10), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		db.InsertJob(context.Background(), nil, &vidjob.Job{ID: "theirs", ApplicationID: "other"})
		db.InsertJob(context.Background(), nil, &vidjob.Job{ID: "j1", ApplicationID: "app"})
		time.Sleep(700 * time.Millisecond)
		db.SetState(context.Background(), "j1", vidjob.StateTranscoding, 0.5)
	}()
	sc := bufio.NewScanner(resp.Body)
	var got []string
	for sc.Scan() && len(got) < 2 {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var js jobSummary
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &js); err != nil {
			t.Fatalf("event data %q: %v", line, err)
		}
		got = append(got, js.JobID+" "+js.State+" "+strconv.FormatFloat(js.Progress, 'g', -1, 64))
	}
	if strings.Join(got, ", ") != "j1 queued 0, j1 transcoding 0.5" {
		t.Errorf("events = %v, want j1 queued then transcoding at 0.5, and nothing of the other application", got)
	}
}

// TestListJobsChecksItsParameters covers GET /jobs's refusals.
func TestListJobsChecksItsParameters(t *testing.T) {
	srv, db := operatorServer(t)
	db.CreateApplication(context.Background(), &vidjob.Application{ID: "app", Name: "app"})
	for query, want := range map[string]int{
		"":                              401,
		"?application_id=nope":          401,
		"?application_id=app&status=x":  400,
		"?application_id=app&limit=0":   400,
		"?application_id=app&limit=501": 400,
		"?application_id=app&limit=5":   200,
	} {
		resp, err := http.Get(srv.URL + "/jobs" + query)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /jobs%s: HTTP %d, want %d (%v)", query, resp.StatusCode, want, body)
		}
		if want != 200 {
			if res, _ := body["results"].(map[string]any); res == nil || res["error"] == "" {
				t.Errorf("GET /jobs%s: %v is not Blitline's error shape", query, body)
			}
		}
	}
}

// TestJobPageEscapesWhatClientsWrote renders a job whose client-chosen fields
// carry markup and a javascript: URL; the page must show them inert, and show a
// player for an MP4 output.
func TestJobPageEscapesWhatClientsWrote(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	catalog, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: db, Lists: db, Catalog: catalog, Presets: catalog, AdminToken: testToken, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	db.CreateApplication(ctx, &vidjob.Application{ID: "app", Name: "<b>acme</b>"})
	job := &vidjob.Job{ID: "j1", ApplicationID: "app", Request: vidjob.Request{
		Src: "javascript:alert(1)",
		Transcode: vidjob.Transcode{PresetID: "1351620000001-000010", VideoIdentifier: `<script>alert("id")</script>`,
			Destination: vidjob.Destination{Bucket: "b", Key: "k.mp4"}},
	}}
	db.InsertJob(ctx, nil, job)
	job.State = vidjob.StateCompleted
	job.Result = &vidjob.Result{JobID: "j1", OriginalMeta: vidjob.Meta{"Title": `<img src=x onerror=alert(1)>`, "Duration": "4 s"},
		Video: &vidjob.VideoResult{S3URL: "http://store.example/b/k.mp4", Meta: vidjob.Meta{"Duration": "4.01 s"}}}
	job.Run = &vidjob.Run{Attempt: 1, Phases: []vidjob.PhaseTime{{Phase: vidjob.PhaseEncode, Millis: 151}},
		Commands: []vidjob.Command{{Program: "ffmpeg", Phase: vidjob.PhaseEncode, Millis: 150,
			Args: []string{"-i", "file:source", "-vf", "scale=320:240", "file:out/<script>it's.mp4"}}}}
	c := vidjob.NewCharge("j1", "app", 4000, vidjob.DefaultPricePerMinute)
	if _, err := db.FinishJob(ctx, nil, job, &c, vidjob.DefaultPricePerMinute); err != nil {
		t.Fatal(err)
	}
	for path, wants := range map[string][]string{
		"/ui/jobs/j1": {`<video id="player"`, `src="http://store.example/b/k.mp4"`, "&lt;script&gt;", "&lt;img src=x onerror=alert(1)&gt;",
			`<td>4 s</td><td>4.01 s</td>`, "$0.0389", "#ZgotmplZ", "encode <strong>151 ms</strong>",
			// The command as a shell line to paste: quoted for the shell, escaped for HTML.
			`ffmpeg -i file:source -vf scale=320:240 &#39;file:out/&lt;script&gt;it&#39;\&#39;&#39;s.mp4&#39;`},
		"/":           {`data-job-id="j1"`, "&lt;b&gt;acme&lt;/b&gt;", "100%"},
		"/ui/presets": {"1351620000001-000010", "System preset: Generic 720p"},
		"/ui/usage":   {"<svg", "<strong>1</strong> minutes", "$0.0389"},
		"/docs":       {"/openapi.json", "<code>/jobs/{jobID}</code>"},
	} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(body)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: HTTP %d\n%s", path, resp.StatusCode, page)
			continue
		}
		for _, want := range wants {
			if !strings.Contains(page, want) {
				t.Errorf("GET %s lacks %q", path, want)
			}
		}
		for _, bad := range []string{"<script>alert", "<b>acme</b>", `href="javascript:`, "<img src=x"} {
			if strings.Contains(page, bad) {
				t.Errorf("GET %s carries client markup %q unescaped", path, bad)
			}
		}
	}
}
