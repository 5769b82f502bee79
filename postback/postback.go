// Package postback delivers a finished job's results to the client's
// postback_url. Retries and their schedule belong to the queue; this package
// makes one attempt and says how it went.
package postback

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds an attempt when Sender.Timeout is 0.
const DefaultTimeout = 15 * time.Second

// Sender makes delivery attempts over an HTTP client that the caller has made
// safe for untrusted destinations (see package fetch).
type Sender struct {
	Client *http.Client
	// Timeout bounds one attempt; Blitline expected receivers to answer within
	// 15 s. Default 15 s.
	Timeout time.Duration
}

// Delivery is one postback to make.
type Delivery struct {
	URL         string
	ContentType string
	Body        []byte
	// Headers are the client's postback_headers.
	Headers map[string]string
	// JobID and DeliveryID let receivers drop a duplicate delivery: the same job
	// always gets the same DeliveryID and the same body.
	JobID      string
	DeliveryID string
	// Secret is the application's signing secret; every attempt is signed
	// with it (see Sign).
	Secret string
	// Now is the clock for the signature's timestamp; nil means time.Now.
	Now func() time.Time
}

// reserved are headers a client's postback_headers may not set, because the
// sender must control them for the request to be well-formed and identifiable.
var reserved = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "transfer-encoding": true,
	"connection": true, "idempotency-key": true, "x-vidjob-job-id": true,
	"x-vidjob-signature": true, "x-vidjob-timestamp": true,
}

// Send makes one attempt. It returns the HTTP status (0 when none came) and an
// error unless the receiver answered 2xx.
func (s *Sender) Send(ctx context.Context, d Delivery) (int, error) {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, fmt.Errorf("postback request: %w", err)
	}
	for k, v := range d.Headers {
		if !reserved[strings.ToLower(k)] {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Content-Type", d.ContentType)
	req.Header.Set("User-Agent", "vidjob")
	req.Header.Set("X-Vidjob-Job-Id", d.JobID)
	req.Header.Set("Idempotency-Key", d.DeliveryID)
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, "v1="+Sign(d.Secret, ts, d.Body))
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("postback to %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; never read a hostile
	// receiver's endless body.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("postback to %s: HTTP %d", req.URL.Redacted(), resp.StatusCode)
	}
	return resp.StatusCode, nil
}
