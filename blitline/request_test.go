package blitline

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
)

// exampleJob is the job from the README, exactly as Blitline documented it.
const exampleJob = `{
  "application_id": "APP_ID",
  "src": "https://example.com/squirrel.mp4",
  "src_type": "pre_process_only",
  "v": 1.22,
  "postback_url": "https://example.com/postback",
  "pre_process": {
    "transcode": {
      "preset_id": "System preset generic 720p",
      "video_identifier": "toms_video",
      "s3_destination": {"bucket": "YOUR_BUCKET", "key": "grumpy_squirrel/transcoded_out.mp4"}
    }
  }
}`

func decode(t *testing.T, contentType, body string) ([]Submission, bool, error) {
	t.Helper()
	r := httptest.NewRequest("POST", "/job", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return DecodeRequest(r, Limits{})
}

func checkExample(t *testing.T, sub Submission) {
	t.Helper()
	if sub.Err != nil {
		t.Fatalf("unexpected error: %v", sub.Err)
	}
	want := vidjob.Request{
		Src: "https://example.com/squirrel.mp4", PostbackURL: "https://example.com/postback", Version: 1.22, WaitRetryDelay: 5,
		Transcode: vidjob.Transcode{PresetID: "System preset generic 720p", VideoIdentifier: "toms_video",
			Destination: vidjob.Destination{Bucket: "YOUR_BUCKET", Key: "grumpy_squirrel/transcoded_out.mp4"}},
	}
	if sub.ApplicationID != "APP_ID" {
		t.Errorf("application_id = %q", sub.ApplicationID)
	}
	got, _ := json.Marshal(sub.Request)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("request =\n %s\nwant\n %s", got, exp)
	}
}

func TestDecodeAcceptsEveryShapeClientsSend(t *testing.T) {
	arrayPre := strings.Replace(strings.Replace(exampleJob, `"pre_process": {`, `"pre_process": [{`, 1), "}\n  }\n}", "}\n  }]\n}", 1)
	cases := []struct {
		name, contentType, body string
		wantMulti               bool
		wantJobs                int
	}{
		{"form field json with one job", "application/x-www-form-urlencoded", url.Values{"json": {exampleJob}}.Encode(), false, 1},
		{"form field json with an array", "application/x-www-form-urlencoded", url.Values{"json": {"[" + exampleJob + "," + exampleJob + "]"}}.Encode(), true, 2},
		{"JSON body {json: [...]}", "application/json", `{"json": [` + exampleJob + `]}`, true, 1},
		{"JSON body {json: job}", "application/json", `{"json": ` + exampleJob + `}`, false, 1},
		{"JSON body {json: \"<string>\"}", "application/json", `{"json": ` + strconvQuote(exampleJob) + `}`, false, 1},
		{"JSON body that is the job", "application/json", exampleJob, false, 1},
		{"JSON body that is an array", "application/json", "[" + exampleJob + "]", true, 1},
		{"JSON body without a content type", "", exampleJob, false, 1},
		{"pre_process as an array", "application/json", arrayPre, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subs, multi, err := decode(t, c.contentType, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if multi != c.wantMulti || len(subs) != c.wantJobs {
				t.Fatalf("multi=%v jobs=%d, want multi=%v jobs=%d", multi, len(subs), c.wantMulti, c.wantJobs)
			}
			for _, s := range subs {
				checkExample(t, s)
			}
		})
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// mutate returns the example job with one change applied to its decoded form.
func mutate(t *testing.T, change func(job map[string]any)) string {
	t.Helper()
	var job map[string]any
	if err := json.Unmarshal([]byte(exampleJob), &job); err != nil {
		t.Fatal(err)
	}
	change(job)
	b, _ := json.Marshal(job)
	return string(b)
}

func transcode(job map[string]any) map[string]any {
	return job["pre_process"].(map[string]any)["transcode"].(map[string]any)
}

func dest(job map[string]any) map[string]any {
	return transcode(job)["s3_destination"].(map[string]any)
}

func TestDecodeRefusesBadJobsWithSpecificErrors(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		wantCode string
		wantMsg  string
	}{
		{"invalid JSON", `{"application_id": "x", `, vidjob.EINVALID, "The job is not valid JSON"},
		{"empty body", ``, vidjob.EINVALID, "The request body is empty"},
		{"missing application", mutate(t, func(j map[string]any) { delete(j, "application_id") }), vidjob.EUNAUTHORIZED, "Your application ID is required"},
		{"missing src", mutate(t, func(j map[string]any) { delete(j, "src") }), vidjob.EINVALID, "src is required"},
		{"src not http", mutate(t, func(j map[string]any) { j["src"] = "file:///etc/passwd" }), vidjob.EINVALID, "src must be an http or https URL, not file"},
		{"src relative", mutate(t, func(j map[string]any) { j["src"] = "squirrel.mp4" }), vidjob.EINVALID, "src is not a valid absolute URL"},
		{"src with credentials", mutate(t, func(j map[string]any) { j["src"] = "https://u:p@example.com/a.mp4" }), vidjob.EINVALID, "must not carry a user name"},
		{"postback not http", mutate(t, func(j map[string]any) { j["postback_url"] = "gopher://example.com/" }), vidjob.EINVALID, "postback_url must be an http or https URL"},
		{"missing pre_process", mutate(t, func(j map[string]any) { delete(j, "pre_process") }), vidjob.EINVALID, "pre_process is required"},
		{"missing preset", mutate(t, func(j map[string]any) { delete(transcode(j), "preset_id") }), vidjob.EINVALID, "transcode.preset_id is required"},
		{"missing destination", mutate(t, func(j map[string]any) { delete(transcode(j), "s3_destination") }), vidjob.EINVALID, "transcode.s3_destination is required"},
		{"ftp destination", mutate(t, func(j map[string]any) {
			delete(transcode(j), "s3_destination")
			transcode(j)["ftp_destination"] = map[string]any{"server": "ftp.example.com"}
		}), vidjob.EUNPROCESSABLE, "ftp_destination is not supported"},
		{"missing bucket", mutate(t, func(j map[string]any) { delete(dest(j), "bucket") }), vidjob.EINVALID, "s3_destination.bucket is required"},
		{"bucket slash", mutate(t, func(j map[string]any) { dest(j)["bucket"] = "/" }), vidjob.EINVALID, "cannot contain '/'"},
		{"bucket dotdot", mutate(t, func(j map[string]any) { dest(j)["bucket"] = ".." }), vidjob.EINVALID, "cannot be \"..\""},
		{"bucket control", mutate(t, func(j map[string]any) { dest(j)["bucket"] = "a\x01b" }), vidjob.EINVALID, "control characters"},
		{"bucket too long", mutate(t, func(j map[string]any) { dest(j)["bucket"] = strings.Repeat("b", 256) }), vidjob.EINVALID, "longer than 255"},
		{"missing key", mutate(t, func(j map[string]any) { delete(dest(j), "key") }), vidjob.EINVALID, "s3_destination.key is required"},
		{"key dotdot", mutate(t, func(j map[string]any) { dest(j)["key"] = "a/../../b.mp4" }), vidjob.EINVALID, ".."},
		{"key leading slash", mutate(t, func(j map[string]any) { dest(j)["key"] = "/etc/b.mp4" }), vidjob.EINVALID, "/"},
		{"key NUL", mutate(t, func(j map[string]any) { dest(j)["key"] = "a\x00b.mp4" }), vidjob.EINVALID, ""},
		{"two transcodes", mutate(t, func(j map[string]any) {
			one := j["pre_process"]
			j["pre_process"] = []any{one, one}
		}), vidjob.EUNPROCESSABLE, "A job may hold one transcode"},
		{"image functions", mutate(t, func(j map[string]any) { j["functions"] = []any{map[string]any{"name": "resize"}} }), vidjob.EUNPROCESSABLE, "Image functions are not supported"},
		{"s3 source without key", mutate(t, func(j map[string]any) { j["src"] = map[string]any{"name": "s3", "bucket": "bucket"} }), vidjob.EINVALID, "needs both bucket and key"},
		{"other source object", mutate(t, func(j map[string]any) { j["src"] = map[string]any{"name": "gcs", "bucket": "bucket", "key": "k"} }), vidjob.EUNPROCESSABLE, `src object "gcs" is not supported`},
		{"s3 source, bad bucket", mutate(t, func(j map[string]any) { j["src"] = map[string]any{"name": "s3", "bucket": "../x", "key": "k"} }), vidjob.EINVALID, "src names an S3 bucket that is not valid"},
		{"s3 URL, bad key", mutate(t, func(j map[string]any) { j["src"] = "s3://bucket/../../etc/passwd" }), vidjob.EINVALID, "src names an S3 key that is not valid"},
		{"other pre_process", mutate(t, func(j map[string]any) { j["pre_process"] = map[string]any{"move_original": map[string]any{}} }), vidjob.EUNPROCESSABLE, "pre_process.move_original is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subs, _, err := decode(t, "application/json", c.body)
			if err == nil {
				if len(subs) != 1 {
					t.Fatalf("got %d submissions", len(subs))
				}
				err = subs[0].Err
			}
			if err == nil {
				t.Fatal("accepted a bad job")
			}
			if got := vidjob.ErrorCode(err); got != c.wantCode {
				t.Errorf("code = %s, want %s (%v)", got, c.wantCode, err)
			}
			if !strings.Contains(vidjob.ErrorMessage(err), c.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", vidjob.ErrorMessage(err), c.wantMsg)
			}
		})
	}
}

func TestDecodeKeepsGoodJobsBesideBadOnes(t *testing.T) {
	bad := mutate(t, func(j map[string]any) { delete(j, "src") })
	subs, multi, err := decode(t, "application/json", "["+exampleJob+","+bad+"]")
	if err != nil || !multi || len(subs) != 2 {
		t.Fatalf("subs=%d multi=%v err=%v", len(subs), multi, err)
	}
	checkExample(t, subs[0])
	if subs[1].Err == nil {
		t.Fatal("second job should be refused")
	}
}

func TestDecodeLimitsJobsPerRequest(t *testing.T) {
	body := "[" + strings.TrimSuffix(strings.Repeat(exampleJob+",", 3), ",") + "]"
	r := httptest.NewRequest("POST", "/job", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	_, _, err := DecodeRequest(r, Limits{MaxJobs: 2})
	if vidjob.ErrorCode(err) != vidjob.ETOOLARGE || !strings.Contains(vidjob.ErrorMessage(err), "at most 2 jobs") {
		t.Fatalf("err = %v", err)
	}
}

func TestDecodeReadsClientVariations(t *testing.T) {
	body := mutate(t, func(j map[string]any) {
		j["v"] = "1.17"
		j["wait_retry_delay"] = 500
		dest(j)["bucket"] = map[string]any{"name": "my-bucket", "location": "eu-west-1"}
		dest(j)["headers"] = map[string]any{"Cache-Control": "max-age=60", "x-amz-acl": ""}
		transcode(j)["video_identifier"] = 42
	})
	subs, _, err := decode(t, "application/json", body)
	if err != nil || subs[0].Err != nil {
		t.Fatal(err, subs[0].Err)
	}
	req := subs[0].Request
	if req.Version != 1.17 || !req.FormPostback() {
		t.Errorf("v = %v, form postback = %v", req.Version, req.FormPostback())
	}
	if req.WaitRetryDelay != 100 {
		t.Errorf("wait_retry_delay = %d, want clamped to 100", req.WaitRetryDelay)
	}
	d := req.Transcode.Destination
	if d.Bucket != "my-bucket" || d.Region != "eu-west-1" || d.Headers["Cache-Control"] != "max-age=60" {
		t.Errorf("destination = %+v", d)
	}
	if req.Transcode.VideoIdentifier != "42" {
		t.Errorf("video_identifier = %q", req.Transcode.VideoIdentifier)
	}
}

// TestDecodeTakesApplicationIDFromTheQuery: a job without application_id
// takes the request's ?application_id= (detailnet/blitline for PHP sends it
// only there), in every body shape; a job that names its own keeps it.
func TestDecodeTakesApplicationIDFromTheQuery(t *testing.T) {
	bare := strings.Replace(exampleJob, `"application_id": "APP_ID",`, "", 1)
	if strings.Contains(bare, "application_id") {
		t.Fatal("the job still names an application")
	}
	shapes := []struct {
		name, contentType string
		body              func(job string) string
	}{
		{"form field json with one job", "application/x-www-form-urlencoded", func(j string) string { return url.Values{"json": {j}}.Encode() }},
		{"form field json with an array", "application/x-www-form-urlencoded", func(j string) string { return url.Values{"json": {"[" + j + "]"}}.Encode() }},
		{"JSON body {json: [...]}", "application/json", func(j string) string { return `{"json": [` + j + `]}` }},
		{"JSON body {json: \"<string>\"}", "application/json", func(j string) string { return `{"json": ` + strconvQuote(j) + `}` }},
		{"JSON body that is the job", "application/json", func(j string) string { return j }},
		{"JSON body that is an array", "application/json", func(j string) string { return "[" + j + "]" }},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			for _, c := range []struct {
				job, query, want string
			}{
				{bare, "?application_id=FROM_QUERY", "FROM_QUERY"},
				{bare, "?application_id=%20FROM_QUERY%20", "FROM_QUERY"},
				{exampleJob, "?application_id=FROM_QUERY", "APP_ID"}, // the body wins
				{exampleJob, "", "APP_ID"},
				{strings.Replace(exampleJob, `"APP_ID"`, `""`, 1), "?application_id=FROM_QUERY", "FROM_QUERY"},
			} {
				r := httptest.NewRequest("POST", "/job"+c.query, strings.NewReader(sh.body(c.job)))
				r.Header.Set("Content-Type", sh.contentType)
				subs, _, err := DecodeRequest(r, Limits{})
				if err != nil || len(subs) != 1 || subs[0].Err != nil {
					t.Fatalf("query %q: %v %+v", c.query, err, subs)
				}
				if subs[0].ApplicationID != c.want {
					t.Errorf("query %q: application_id = %q, want %q", c.query, subs[0].ApplicationID, c.want)
				}
			}
			// Neither: the error says both places.
			r := httptest.NewRequest("POST", "/job", strings.NewReader(sh.body(bare)))
			r.Header.Set("Content-Type", sh.contentType)
			subs, _, _ := DecodeRequest(r, Limits{})
			if len(subs) != 1 || vidjob.ErrorCode(subs[0].Err) != vidjob.EUNAUTHORIZED ||
				vidjob.ErrorMessage(subs[0].Err) != "Your application ID is required; put it in the job's application_id field (or the application_id query parameter)." {
				t.Errorf("no application anywhere: %+v", subs)
			}
		})
	}
}

// TestDecodeReadsContentTypeJSON: content_type_json turns a v 1.17 job's
// postback into JSON, as Blitline documented; clients send a boolean (some a
// string).
func TestDecodeReadsContentTypeJSON(t *testing.T) {
	for _, c := range []struct {
		v        any
		value    any // nil: absent
		wantForm bool
	}{
		{1.17, true, false},
		{"1.17", "true", false},
		{1.17, false, true},
		{1.17, nil, true},
		{1.0, true, false},
		{1.22, false, false},
		{1.22, nil, false},
	} {
		body := mutate(t, func(j map[string]any) {
			j["v"] = c.v
			if c.value != nil {
				j["content_type_json"] = c.value
			}
		})
		subs, _, err := decode(t, "application/json", body)
		if err != nil || subs[0].Err != nil {
			t.Fatal(err, subs[0].Err)
		}
		if got := subs[0].Request.FormPostback(); got != c.wantForm {
			t.Errorf("v %v, content_type_json %v: form postback %v, want %v", c.v, c.value, got, c.wantForm)
		}
		// It survives storage (the request is stored as JSON).
		raw, _ := json.Marshal(subs[0].Request)
		var back vidjob.Request
		json.Unmarshal(raw, &back)
		if back.FormPostback() != c.wantForm {
			t.Errorf("v %v, content_type_json %v: after a round trip through JSON the postback changes: %s", c.v, c.value, raw)
		}
	}
	for _, bad := range []any{"yes", 1, map[string]any{}} {
		body := mutate(t, func(j map[string]any) { j["content_type_json"] = bad })
		subs, _, _ := decode(t, "application/json", body)
		if vidjob.ErrorMessage(subs[0].Err) != "content_type_json must be true or false." {
			t.Errorf("content_type_json %v: %v", bad, subs[0].Err)
		}
	}
}

func FuzzDecodeJobs(f *testing.F) {
	f.Add(exampleJob)
	f.Add("[" + exampleJob + "]")
	f.Add(`{"json": [` + exampleJob + `]}`)
	f.Add(`{"application_id": 1, "src": {}, "pre_process": [[]]}`)
	f.Add(`{"pre_process": {"transcode": {"s3_destination": {"bucket": {"name": 5}}}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, ct := range []string{"application/json", "application/x-www-form-urlencoded"} {
			r := httptest.NewRequest("POST", "/job", strings.NewReader(body))
			r.Header.Set("Content-Type", ct)
			subs, _, err := DecodeRequest(r, Limits{})
			if err != nil {
				if vidjob.ErrorCode(err) == vidjob.EINTERNAL {
					t.Fatalf("internal error for client input: %v", err)
				}
				continue
			}
			for _, s := range subs {
				if s.Err == nil {
					// What is accepted must be what the worker can rely on.
					if !validSrc(s.Request.Src) || s.Request.Transcode.PresetID == "" ||
						vidjob.ValidateBucket(s.Request.Transcode.Destination.Bucket) != nil ||
						vidjob.ValidateKey(s.Request.Transcode.Destination.Key) != nil || s.ApplicationID == "" {
						t.Fatalf("accepted an invalid job: %+v", s)
					}
				} else if vidjob.ErrorCode(s.Err) == vidjob.EINTERNAL {
					t.Fatalf("internal error for client input: %v", s.Err)
				}
			}
		}
	})
}
