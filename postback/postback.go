// Package postback delivers a finished job's results to the client's
// postback_url. Retries and their schedule belong to the queue; this package
// makes one attempt and says how it went.
package postback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vidjob/vidjob/fetch"
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
	resp, err := s.client().Do(req)
	if err != nil {
		why, _ := fetch.Reason(err)
		// Of the failures fetch calls permanent, only a refused address is
		// sure to stay so for a postback: a receiver's name may yet appear.
		return 0, &Failure{msg: fmt.Sprintf("postback to %s: %s", req.URL.Redacted(), why), cause: err,
			permanent: errors.Is(err, fetch.ErrForbiddenAddress)}
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; never read a hostile
	// receiver's endless body.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		return code, nil
	case code >= 300 && code <= 399:
		return code, &Failure{msg: fmt.Sprintf("postback to %s: HTTP %d, a redirect that is not followed: only 307 and 308 keep the POST and its body, so only they are followed", req.URL.Redacted(), code)}
	default:
		return code, &Failure{msg: fmt.Sprintf("postback to %s: HTTP %d", req.URL.Redacted(), code)}
	}
}

// client is Sender.Client following only the redirects that repeat the
// request as it was: 307 and 308 resend the POST and its body (to an address
// that passes the same checks, since the same client dials it), where 301,
// 302 and 303 would turn it into a body-less GET and the results would
// never arrive. Those answers are returned as they are, a failed attempt.
func (s *Sender) client() *http.Client {
	c := *s.Client
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if code := req.Response.StatusCode; code != http.StatusTemporaryRedirect && code != http.StatusPermanentRedirect {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &c
}

// A Failure is an attempt that did not deliver. Its message is for the client
// (it is shown on the job): it never carries an address vidjob dialled or its
// resolver's, which Unwrap keeps for the operator's log.
type Failure struct {
	msg       string
	cause     error
	permanent bool
}

func (f *Failure) Error() string { return f.msg }

// Unwrap returns the transport error behind the failure, if any.
func (f *Failure) Unwrap() error { return f.cause }

// Permanent reports whether err is a failure that another attempt would meet
// the same way: the receiver's address is one this server does not send to.
// Such a postback is failed at once instead of retried for hours.
func Permanent(err error) bool {
	var f *Failure
	return errors.As(err, &f) && f.permanent
}
