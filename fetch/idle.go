package fetch

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// errStalled is returned by a body read after the server sent nothing for the
// read timeout. It is a timeout in net.Error's sense, so callers describe it
// as "did not answer in time" and may retry.
type errStalled struct{ after time.Duration }

func (e errStalled) Error() string   { return fmt.Sprintf("the server sent nothing for %s", e.after) }
func (e errStalled) Timeout() bool   { return true }
func (e errStalled) Temporary() bool { return true }

// idleTimeoutTransport closes a response body that goes quiet for longer than
// timeout. The timer restarts on every read that returns data.
type idleTimeoutTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t idleTimeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || t.timeout <= 0 {
		return resp, err
	}
	b := &idleBody{rc: resp.Body, timeout: t.timeout}
	b.timer = time.AfterFunc(t.timeout, b.expire)
	resp.Body = b
	return resp, nil
}

type idleBody struct {
	rc      io.ReadCloser
	timeout time.Duration
	timer   *time.Timer

	mu      sync.Mutex
	expired bool
}

func (b *idleBody) expire() {
	b.mu.Lock()
	b.expired = true
	b.mu.Unlock()
	b.rc.Close() // unblocks a Read waiting on the connection
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	expired := b.expired
	b.mu.Unlock()
	if expired {
		return n, errStalled{b.timeout}
	}
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.rc.Close()
}
