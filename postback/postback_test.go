package postback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestSendSigns: every attempt carries a timestamp and a v1 HMAC-SHA256
// signature over timestamp.body that a receiver computing it independently
// accepts; the idempotency key stays the same across attempts; a client's
// postback_headers cannot overwrite the signature headers.
func TestSendSigns(t *testing.T) {
	const secret = "vjs_test-secret"
	type got struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var deliveries []got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		deliveries = append(deliveries, got{r.Header.Clone(), b})
		n := len(deliveries)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	s := &Sender{Client: srv.Client()}
	body := []byte(`{"results":{"job_id":"1abc"}}`)
	clock := time.Unix(1_700_000_000, 0)
	for i, wantOK := range []bool{false, true} {
		d := Delivery{
			URL: srv.URL, ContentType: "application/json", Body: body, JobID: "1abc", DeliveryID: "1abc-postback",
			Secret:  secret,
			Headers: map[string]string{"X-Vidjob-Signature": "v1=forged", "X-Vidjob-Timestamp": "1", "X-Custom": "kept"},
			Now:     func() time.Time { return clock.Add(time.Duration(i) * time.Minute) },
		}
		_, err := s.Send(context.Background(), d)
		if (err == nil) != wantOK {
			t.Fatalf("attempt %d: err = %v", i+1, err)
		}
	}
	if len(deliveries) != 2 {
		t.Fatalf("%d deliveries, want 2", len(deliveries))
	}
	for i, d := range deliveries {
		ts := d.header.Get("X-Vidjob-Timestamp")
		wantTS := []string{"1700000000", "1700000060"}[i]
		if ts != wantTS {
			t.Errorf("attempt %d: timestamp %q, want %q", i+1, ts, wantTS)
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + string(d.body)))
		want := "v1=" + hex.EncodeToString(mac.Sum(nil))
		if sig := d.header.Get("X-Vidjob-Signature"); sig != want {
			t.Errorf("attempt %d: signature %q, want %q", i+1, sig, want)
		}
		if !Verify(secret, d.header.Get("X-Vidjob-Signature"), ts, d.body, clock.Add(time.Minute), 5*time.Minute) {
			t.Errorf("attempt %d: Verify rejects a genuine delivery", i+1)
		}
		if k := d.header.Get("Idempotency-Key"); k != "1abc-postback" {
			t.Errorf("attempt %d: Idempotency-Key %q", i+1, k)
		}
		if d.header.Get("X-Custom") != "kept" {
			t.Errorf("attempt %d: client header dropped", i+1)
		}
	}
}

// TestVerifyRefuses: a changed body, another secret, a stale or future
// timestamp, or a missing version prefix all fail verification.
func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ts := "1700000000"
	body := []byte(`{"a":1}`)
	sig := "v1=" + Sign("s1", ts, body)
	if !Verify("s1", sig, ts, body, now, 5*time.Minute) {
		t.Fatal("genuine signature refused")
	}
	cases := map[string]bool{
		"other body":   Verify("s1", sig, ts, []byte(`{"a":2}`), now, 5*time.Minute),
		"other secret": Verify("s2", sig, ts, body, now, 5*time.Minute),
		"stale":        Verify("s1", sig, ts, body, now.Add(10*time.Minute), 5*time.Minute),
		"future":       Verify("s1", sig, ts, body, now.Add(-10*time.Minute), 5*time.Minute),
		"no prefix":    Verify("s1", Sign("s1", ts, body), ts, body, now, 5*time.Minute),
		"bad ts":       Verify("s1", sig, "17e8", body, now, 5*time.Minute),
	}
	for name, ok := range cases {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
