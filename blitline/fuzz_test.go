package blitline

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
)

// checkDecoded fails when decoding client input produced an internal error
// or accepted a job that the worker could not rely on.
func checkDecoded(t *testing.T, subs []Submission, err error) {
	t.Helper()
	if err != nil {
		if vidjob.ErrorCode(err) == vidjob.EINTERNAL {
			t.Fatalf("internal error for client input: %v", err)
		}
		return
	}
	if len(subs) == 0 || len(subs) > 100 {
		t.Fatalf("%d submissions decoded without an error", len(subs))
	}
	for _, s := range subs {
		if s.Err != nil {
			if vidjob.ErrorCode(s.Err) == vidjob.EINTERNAL {
				t.Fatalf("internal error for client input: %v", s.Err)
			}
			continue
		}
		if !validSrc(s.Request.Src) || s.Request.Transcode.PresetID == "" ||
			vidjob.ValidateBucket(s.Request.Transcode.Destination.Bucket) != nil ||
			vidjob.ValidateKey(s.Request.Transcode.Destination.Key) != nil || s.ApplicationID == "" {
			t.Fatalf("accepted an invalid job: %+v", s)
		}
		if ValidateURL("postback_url", s.Request.PostbackURL) != nil && s.Request.PostbackURL != "" {
			t.Fatalf("accepted an invalid postback_url: %q", s.Request.PostbackURL)
		}
	}
}

// validSrc reports whether src is one the worker can fetch: an http(s) URL or
// a valid s3://bucket/key.
func validSrc(src string) bool {
	if _, _, isS3, err := vidjob.ParseS3Source(src); isS3 {
		return err == nil
	}
	return ValidateURL("src", src) == nil
}

// FuzzDecodeForm feeds the job as Blitline's form clients send it: a
// url-encoded json field, sometimes beside other fields, so that the fuzzer
// explores the form path with JSON inside rather than random form syntax.
func FuzzDecodeForm(f *testing.F) {
	f.Add(exampleJob, "")
	f.Add("["+exampleJob+","+exampleJob+"]", "extra=1")
	f.Add(`{"application_id":"a","src":"file:///etc/passwd"}`, "json=second")
	f.Add(`{"application_id":"a","src":"http://169.254.169.254/latest/meta-data/"}`, "")
	f.Add(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, "")
	f.Add(`{"application_id":"a\u0000","src":"https://x/%zz"}`, "%gh&=&&")
	f.Fuzz(func(t *testing.T, job, extra string) {
		body := "json=" + url.QueryEscape(job)
		if extra != "" {
			body = extra + "&" + body
		}
		r := httptest.NewRequest("POST", "/job", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		subs, _, err := DecodeRequest(r, Limits{})
		checkDecoded(t, subs, err)
	})
}

// TestDecodeS3Sources: Blitline's S3 source object and an s3:// URL both
// decode to s3://BUCKET/KEY, the key kept as written.
func TestDecodeS3Sources(t *testing.T) {
	for _, src := range []string{`{"name": "s3", "bucket": "media-in", "key": "raw/a b?.mp4"}`, `"s3://media-in/raw/a b?.mp4"`} {
		job := strings.Replace(exampleJob, `"src": "https://example.com/squirrel.mp4"`, `"src": `+src, 1)
		if job == exampleJob {
			t.Fatal("example job has another src")
		}
		subs, _, err := DecodeJobs([]byte(job), Limits{})
		if err != nil || subs[0].Err != nil {
			t.Fatalf("%s: %v %v", src, err, subs[0].Err)
		}
		if got := subs[0].Request.Src; got != "s3://media-in/raw/a b?.mp4" {
			t.Errorf("%s: src = %q", src, got)
		}
	}
}
