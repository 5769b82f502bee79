package e2e

// Blitline's public client libraries, request for request: the URL, headers
// and timeouts each one uses, and the way each reads the answer (none of them
// looks at the status code of /listen). They are written from what the
// clients do (docs/CLIENTS.md lists them); none can be installed here except
// the Node one, which node_client_test.go runs itself.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// idleReadConn fails a read that waits longer than d for a byte: the read
// timeout of Ruby's Net::HTTP (read_timeout) and of Python's requests
// (timeout=), neither of which bounds the whole answer.
type idleReadConn struct {
	net.Conn
	d time.Duration
}

func (c *idleReadConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.d))
	return c.Conn.Read(p)
}

// clientWith returns an HTTP client with a connect timeout, a per-read
// timeout (0: none) and a whole-request timeout (0: none), sending headers as
// given (no compression is asked for unless a header asks).
func clientWith(connect, read, total time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: connect}
	return &http.Client{Timeout: total, Transport: &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil || read == 0 {
				return c, err
			}
			return &idleReadConn{Conn: c, d: read}, nil
		},
	}}
}

// clientGet sends GET url with the headers (name, value pairs) and returns the
// body whatever the status, as the clients read it.
func clientGet(t *testing.T, c *http.Client, rawURL string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the answer: %v", rawURL, err)
	}
	return resp.StatusCode, body
}

// clientResults reads a /listen answer as every client does: parse the body,
// take "results"; Blitline once sent results as a JSON string, which the
// clients parse again.
func clientResults(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("the answer is not JSON: %v: %q", err, body)
	}
	switch r := env["results"].(type) {
	case map[string]any:
		return r
	case string:
		var inner map[string]any
		if err := json.Unmarshal([]byte(r), &inner); err != nil {
			t.Fatalf("results string is not JSON: %q", r)
		}
		return inner
	}
	t.Fatalf("the answer has no results: %s", body)
	return nil
}

// tricklingOrigin serves a real clip, sending it in pieces over about d, so that
// the job lasts at least that long; its Content-Length is announced.
func tricklingOrigin(t *testing.T, d time.Duration) string {
	t.Helper()
	clip, err := smallClip()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	const step = 250 * time.Millisecond
	pieces := max(1, int(d/step))
	srv := mediaServerFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		flusher := w.(http.Flusher)
		size := (len(data) + pieces - 1) / pieces
		for off := 0; off < len(data); off += size {
			w.Write(data[off:min(off+size, len(data))])
			flusher.Flush()
			select {
			case <-time.After(step):
			case <-r.Context().Done():
				return
			}
		}
	}))
	return srv.URL + "/" + filepath.Base(clip)
}

// missingOrigin answers 404 after d: a job that fails after a while.
func missingOrigin(t *testing.T, d time.Duration) string {
	t.Helper()
	srv := mediaServerFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	}))
	return srv.URL + "/gone.mp4"
}

// rubySubmit posts jobs as the Ruby gem's post_job_and_wait_for_poll does: a
// form field json holding the array of jobs; anything but 2xx raises. It
// returns results[0].job_id.
func rubySubmit(t *testing.T, srv *server, job string) string {
	t.Helper()
	status, out := srv.post(t, "/job", "application/x-www-form-urlencoded", url.Values{"json": {"[" + job + "]"}}.Encode())
	list, _ := out["results"].([]any)
	if status/100 != 2 || len(list) != 1 {
		t.Fatalf("Post to Blitline.com failed. %d: %v", status, out)
	}
	id, _ := list[0].(map[string]any)["job_id"].(string)
	if id == "" {
		t.Fatalf("no job_id: %v", out)
	}
	return id
}

// rubyPoll is the gem's poll_job(job_id, timeout_secs = 60): GET
// /listen/JOB_ID with Net::HTTP's default headers, read_timeout 60 s, and
// the body parsed whatever the status.
func rubyPoll(t *testing.T, srv *server, id string) map[string]any {
	t.Helper()
	_, body := clientGet(t, clientWith(60*time.Second, 60*time.Second, 0), srv.URL+"/listen/"+id,
		"Accept-Encoding", "gzip;q=1.0,deflate;q=0.6,identity;q=0.3", "Accept", "*/*", "User-Agent", "Ruby")
	return clientResults(t, body)
}

// pythonPoll is python-blitline's JobResult.poll_job(job_id, timeout=5):
// requests.get with a 5 s connect and read timeout, requests' headers, and
// r.json() whatever the status.
func pythonPoll(t *testing.T, srv *server, id string) map[string]any {
	t.Helper()
	_, body := clientGet(t, clientWith(5*time.Second, 5*time.Second, 0), srv.URL+"/listen/"+id,
		"User-Agent", "python-requests/2.31.0", "Accept-Encoding", "gzip, deflate", "Accept", "*/*", "Connection", "keep-alive")
	return clientResults(t, body)
}

// javaLongPoll is the blitline-dev Java client's BlitlineClient.longPoll:
// Apache HttpClient 4.2 with no socket timeout, the entity read as UTF-8, the
// status read and ignored.
func javaLongPoll(t *testing.T, srv *server, id string) map[string]any {
	t.Helper()
	_, body := clientGet(t, clientWith(0, 0, 0), srv.URL+"/listen/"+id,
		"User-Agent", "Apache-HttpClient/4.2.5 (java 1.5)", "Connection", "Keep-Alive")
	return clientResults(t, body)
}

// detailnetPoll is detailnet/blitline's pollJob: Guzzle with the client's
// application_id in the query of every request, Accept: application/json, a
// 10 s connect timeout and a 10-minute limit on the whole request; a status
// of 400 or more throws, anything else is read as the results.
func detailnetPoll(t *testing.T, srv *server, id string) map[string]any {
	t.Helper()
	status, body := clientGet(t, clientWith(10*time.Second, 0, 10*time.Minute), srv.URL+"/listen/"+id+"?application_id="+url.QueryEscape(srv.AppID),
		"Accept", "application/json", "User-Agent", "detailnet-blitline/1.0.0")
	if status >= 400 {
		t.Fatalf("pollJob throws: HTTP %d %s", status, body)
	}
	return clientResults(t, body)
}

// checkVideo asserts a successful transcode's results.
func checkVideo(t *testing.T, who, id string, res map[string]any) {
	t.Helper()
	video, _ := res["video"].(map[string]any)
	if res["job_id"] != id || video == nil || video["s3_url"] == "" || res["original_meta"] == nil {
		t.Errorf("%s: results = %s, want the finished job's", who, brief(res))
	}
}

// checkFailure asserts Blitline's failure shape.
func checkFailure(t *testing.T, who, id string, res map[string]any) {
	t.Helper()
	errs, _ := res["errors"].([]any)
	images, isList := res["images"].([]any)
	meta, hasMeta := res["original_meta"]
	if res["job_id"] != id || len(errs) != 1 || errs[0] != "Source could not be fetched: HTTP 404." ||
		!isList || len(images) != 0 || !hasMeta || meta != nil || fmt.Sprint(res["failed_video_identifiers"]) != "[toms_video]" {
		t.Errorf("%s: results = %s, want Blitline's failure shape", who, brief(res))
	}
}

// TestClientWaitHelpersOutliveAMinute: each client's wait helper (the Ruby
// gem's post_job_and_wait_for_poll, python-blitline's poll_job, the Java
// client's longPoll, detailnet's pollJob), with vidjob's defaults, waits on a
// job that takes over 70 s and on one that fails after 65 s, side by side,
// and gets the final results or Blitline's failure shape. Before, /listen
// answered a 202 "still running" at 60 s, which each of them took for the
// result; the Ruby gem's read timeout is 60 s and the Python client's 5 s,
// so the spaces vidjob writes while it holds are what keep them reading.
func TestClientWaitHelpersOutliveAMinute(t *testing.T) {
	// The failing origin holds its 404 for 65 s: give it the time.
	srv := startServer(t, "--max-attempts", "1", "--fetch-header-timeout", "2m")
	ok := rubySubmit(t, srv, quickJob(srv.AppID, tricklingOrigin(t, 72*time.Second)))
	failing := rubySubmit(t, srv, quickJob(srv.AppID, missingOrigin(t, 65*time.Second)))
	submitted := time.Now()
	type answer struct {
		who, id string
		waited  time.Duration
		res     map[string]any
	}
	answers := make(chan answer, 8)
	var wg sync.WaitGroup
	// All eight wait at once, each from the job's submission: goroutines, not
	// parallel subtests, which -parallel (GOMAXPROCS) would run two at a time.
	for _, c := range []struct {
		who  string
		poll func(*testing.T, *server, string) map[string]any
	}{{"ruby poll_job", rubyPoll}, {"python poll_job", pythonPoll}, {"java longPoll", javaLongPoll}, {"detailnet pollJob", detailnetPoll}} {
		for _, id := range []string{ok, failing} {
			wg.Add(1)
			go func() {
				defer wg.Done() // also when a poll fails the test (Goexit)
				res := c.poll(t, srv, id)
				answers <- answer{c.who, id, time.Since(submitted), res}
			}()
		}
	}
	wg.Wait()
	close(answers)
	n := 0
	for a := range answers {
		n++
		if a.waited < 62*time.Second {
			t.Errorf("%s: answered after %s; the job should have outlived the old 60 s", a.who, a.waited)
		}
		if a.id == ok {
			checkVideo(t, a.who, a.id, a.res)
		} else {
			checkFailure(t, a.who, a.id, a.res)
		}
	}
	if n != 8 {
		t.Fatalf("%d of 8 waits answered", n)
	}
}

// quickJob is the README's job for src with the smallest preset and no
// postback.
func quickJob(appID, src string) string {
	return strings.NewReplacer("System preset generic 720p", "System preset generic 320x240",
		`"postback_url": "https://example.com/postback",`, "").Replace(localJob(appID, src, "https://example.com/postback"))
}

// TestClientWaitHelpersGetTheFinalResults: the Java client's longPoll and
// detailnet's pollJob wait on a job of several seconds and on one that
// fails, with the keep-alive interval shortened to 500 ms so that many
// spaces come before the results.
func TestClientWaitHelpersGetTheFinalResults(t *testing.T) {
	srv := startServer(t, "--max-attempts", "1", "--listen-keepalive", "500ms")
	job := func(src string) string { return quickJob(srv.AppID, src) }
	for _, c := range []struct {
		who  string
		poll func(*testing.T, *server, string) map[string]any
	}{{"java longPoll", javaLongPoll}, {"detailnet pollJob", detailnetPoll}} {
		id := srv.submit(t, job(tricklingOrigin(t, 5*time.Second)))
		checkVideo(t, c.who, id, c.poll(t, srv, id))
		failing := srv.submit(t, job(missingOrigin(t, 3*time.Second)))
		checkFailure(t, c.who, failing, c.poll(t, srv, failing))
	}
}

// TestSubmitWithApplicationIDInTheQuery: detailnet/blitline posts the job as
// a JSON body without application_id and names the application in the query
// string; a job that names one keeps it (the body wins).
func TestSubmitWithApplicationIDInTheQuery(t *testing.T) {
	srv := startServer(t)
	other := vidjobCLI(t, srv, "apps", "create", "other")
	src := small(t)
	bare := strings.Replace(smallJob(srv.AppID, src, "", "bucket-a"), fmt.Sprintf(`"application_id": %q,`, srv.AppID), "", 1)
	if strings.Contains(bare, "application_id") {
		t.Fatal("the job still names its application")
	}
	submit := func(query, body string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/job"+query, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "detailnet-blitline/1.0.0")
		status, out := srv.do(t, req)
		res, _ := out["results"].(map[string]any)
		id, _ := res["job_id"].(string)
		if status != 200 || id == "" {
			t.Fatalf("POST /job%s: HTTP %d %v", query, status, out)
		}
		return id
	}
	id := submit("?application_id="+url.QueryEscape(srv.AppID), bare)
	if status, _ := srv.getAs(t, srv.AppID, "/jobs/"+id); status != 200 {
		t.Errorf("the job is not the query's application's: HTTP %d", status)
	}
	both := submit("?application_id="+url.QueryEscape(other), smallJob(srv.AppID, src, "", "bucket-a"))
	if status, _ := srv.getAs(t, srv.AppID, "/jobs/"+both); status != 200 {
		t.Errorf("with both, the job is not the body's application's: HTTP %d", status)
	}
	if status, _ := srv.getAs(t, other, "/jobs/"+both); status != 404 {
		t.Errorf("with both, the query's application owns the job: HTTP %d", status)
	}
	status, out := srv.post(t, "/job", "application/json", bare)
	if res, _ := out["results"].(map[string]any); status != 401 || !strings.Contains(fmt.Sprint(res["error"]), "application_id query parameter") {
		t.Errorf("no application anywhere: HTTP %d %v", status, out)
	}
	for _, id := range []string{id, both} {
		if res := detailnetPoll(t, srv, id); res["video"] == nil {
			t.Errorf("job %s: %s", id, brief(res))
		}
	}
}

// TestContentTypeJSONAsksForAJSONPostback: a v 1.17 job gets Blitline's
// form-encoded postback unless it sets content_type_json, which the clients'
// job models carry to ask for JSON.
func TestContentTypeJSONAsksForAJSONPostback(t *testing.T) {
	srv := startServer(t, "--max-attempts", "1")
	for _, c := range []struct {
		extra       string
		contentType string
	}{
		{`"v": 1.17, "content_type_json": true,`, "application/json"},
		{`"v": 1.17,`, "application/x-www-form-urlencoded"},
		{`"v": 1.17, "content_type_json": false,`, "application/x-www-form-urlencoded"},
	} {
		rcv := newReceiver(t)
		job := strings.Replace(localJob(srv.AppID, "http://127.0.0.1:1/none.mp4", rcv.URL), `"v": 1.22,`, c.extra, 1)
		id := srv.submit(t, job)
		pb := rcv.wait(t, time.Minute)
		if pb.ContentType != c.contentType {
			t.Errorf("%s: postback Content-Type %q, want %q", c.extra, pb.ContentType, c.contentType)
			continue
		}
		body := pb.Body
		if c.contentType != "application/json" {
			form, err := url.ParseQuery(string(pb.Body))
			if err != nil {
				t.Fatalf("%s: form body %q: %v", c.extra, pb.Body, err)
			}
			body = []byte(form.Get("results"))
			var env map[string]any
			json.Unmarshal(body, &env)
			if env["results"] == nil {
				t.Errorf("%s: the results field is not the results JSON: %q", c.extra, body)
			}
			continue
		}
		if res := results(t, body); res["job_id"] != id || res["errors"] == nil {
			t.Errorf("%s: JSON postback %s", c.extra, body)
		}
	}
}
