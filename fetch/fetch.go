// Package fetch makes outbound HTTP requests to addresses that strangers chose:
// the job's src and postback_url. Every connection is checked where it is dialled,
// after DNS and on every redirect, so a hostname that resolves to a private or
// metadata address is refused unless the operator allows private networks.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/localdisk"
)

// Policy says which addresses may be dialled and how long and how much a fetch
// may take.
type Policy struct {
	// AllowPrivateNetworks lets requests reach loopback, private, link-local and
	// other non-public addresses, for self-hosted setups and tests.
	AllowPrivateNetworks bool
	// AllowedCIDRs are non-public ranges allowed even when AllowPrivateNetworks
	// is off.
	AllowedCIDRs []netip.Prefix
	// ConnectTimeout bounds each TCP connect; default 10 s.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the first response byte; default 30 s.
	ResponseHeaderTimeout time.Duration
	// MaxRedirects is the most redirects followed; 0 means the default 5 and a
	// negative number follows none.
	MaxRedirects int
	// ReadTimeout is the longest a response body may go without sending a
	// byte, so a server that trickles or stalls cannot hold a worker for the
	// whole job timeout; default 60 s.
	ReadTimeout time.Duration
}

func (p Policy) allowed(addr netip.Addr) bool {
	if p.AllowPrivateNetworks || PublicAddr(addr) {
		return true
	}
	addr = addr.WithZone("").Unmap()
	for _, c := range p.AllowedCIDRs {
		if c.Contains(addr) {
			return true
		}
	}
	return false
}

// ErrForbiddenAddress is wrapped by errors for destinations the policy refuses.
var ErrForbiddenAddress = errors.New("destination address is not allowed")

// CheckLiteral refuses at submission what can be known without DNS: a URL whose
// host is a literal IP address the policy does not allow (in any spelling: a
// zone, an IPv4-mapped or NAT64 form, or the numeric forms inet_aton reads,
// such as "2130706433"), or "localhost". The dialler checks again whatever a
// name resolves to.
func (p Policy) CheckLiteral(field, rawURL string) error {
	if p.AllowPrivateNetworks {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return vidjob.Errorf(vidjob.EINVALID, "%s is not a valid absolute URL.", field)
	}
	// Hostname drops the brackets and port and decodes "%25" to the zone's "%".
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return vidjob.Errorf(vidjob.EINVALID, "%s points at localhost, which this server does not fetch from.", field)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		var numeric bool
		if addr, numeric = numericHost(host); !numeric {
			return nil
		}
	}
	if !p.allowed(addr) {
		return vidjob.Errorf(vidjob.EINVALID, "%s points at a private or reserved address, which this server does not fetch from.", field)
	}
	return nil
}

// Client returns an HTTP client that dials only addresses the policy allows,
// follows at most MaxRedirects redirects and only to http or https.
func (p Policy) Client() *http.Client {
	connect := p.ConnectTimeout
	if connect == 0 {
		connect = 10 * time.Second
	}
	header := p.ResponseHeaderTimeout
	if header == 0 {
		header = 30 * time.Second
	}
	maxRedirects := p.MaxRedirects
	if maxRedirects == 0 {
		maxRedirects = 5
	}
	maxRedirects = max(maxRedirects, 0)
	read := p.ReadTimeout
	if read == 0 {
		read = 60 * time.Second
	}
	dialer := &net.Dialer{
		Timeout: connect,
		// Control runs with the resolved address actually being dialled, so DNS
		// rebinding and redirects cannot slip past it.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || (network != "tcp" && network != "tcp4" && network != "tcp6") {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
			}
			if !p.allowed(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the check
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: idleTimeoutTransport{next: transport, timeout: read},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				if maxRedirects == 0 {
					return errors.New("redirects are not followed")
				}
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL refused", req.URL.Scheme)
			}
			return nil
		},
	}
}

// Download streams url into the file at path, stopping with an error as soon as
// more than maxBytes arrive (0 means no limit). Errors are *vidjob.Error with a
// sentence for the client; Permanent tells whether retrying could help.
func Download(ctx context.Context, client *http.Client, url, path string, maxBytes int64) (int64, error) {
	return DownloadWatched(ctx, client, url, path, maxBytes, nil)
}

// A Watcher follows a download while it runs, so that the file can be read
// before it is whole (package livefile). Its methods are called on the
// downloading goroutine and must not block.
type Watcher interface {
	// Started is called once the response has been accepted (status, size
	// within the limit) and the file created, with the size the server
	// announced, or -1 when it announced none.
	Started(size int64)
	// Wrote is called after each write with the bytes written so far.
	Wrote(total int64)
}

// DownloadWatched is Download telling watch (unless nil) how it goes. The
// download's end is what DownloadWatched returns; the caller tells whoever
// reads the file.
func DownloadWatched(ctx context.Context, client *http.Client, url, path string, maxBytes int64, watch Watcher) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, permanent(vidjob.WrapError(vidjob.EINVALID, err, "Source could not be fetched: the URL is not valid."))
	}
	req.Header.Set("User-Agent", "vidjob")
	resp, err := client.Do(req)
	if err != nil {
		return 0, describe(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := vidjob.Errorf(vidjob.EUNPROCESSABLE, "Source could not be fetched: HTTP %d.", resp.StatusCode)
		// 4xx will not change by retrying, except the classic "slow down" and
		// "not yet there" answers.
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
			return 0, permanent(e)
		}
		return 0, e
	}
	if maxBytes > 0 && resp.ContentLength > maxBytes {
		return 0, permanent(vidjob.Errorf(vidjob.ETOOLARGE, "Source is larger than the %d-byte limit (%d bytes).", maxBytes, resp.ContentLength))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create download file: %w", err)
	}
	body := io.Reader(resp.Body)
	if maxBytes > 0 {
		body = io.LimitReader(resp.Body, maxBytes+1)
	}
	dst := io.Writer(f)
	if watch != nil {
		watch.Started(resp.ContentLength)
		dst = &watchedWriter{w: f, watch: watch}
	}
	n, copyErr := io.Copy(dst, body)
	closeErr := f.Close()
	switch {
	case maxBytes > 0 && n > maxBytes:
		return n, permanent(vidjob.Errorf(vidjob.ETOOLARGE, "Source is larger than the %d-byte limit.", maxBytes))
	case copyErr != nil:
		if _, local := localdisk.Fault(copyErr); local {
			// The server's disk, not the source, failed the download.
			return n, fmt.Errorf("write download file: %w", copyErr)
		}
		return n, describe(copyErr)
	case closeErr != nil:
		return n, fmt.Errorf("write download file: %w", closeErr)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return n, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Source could not be fetched: the connection closed after %d of %d bytes.", n, resp.ContentLength)
	}
	return n, nil
}

// describe turns a transport error into a sentence for the client that names
// the cause without internals.
func describe(err error) error {
	if errors.Is(err, context.Canceled) && !errors.Is(err, ErrForbiddenAddress) {
		return err
	}
	why, perm := Reason(err)
	e := vidjob.WrapError(vidjob.EUNPROCESSABLE, err, "Source could not be fetched: %s.", why)
	if perm {
		return permanent(e)
	}
	return e
}

// Reason says in a clause what went wrong with an outbound request, for the
// client who chose its URL: never an address vidjob dialled or its resolver's
// (a tenant must not learn what an internal name resolves to), only what a
// person can act on. permanent is true when the same request would fail the
// same way again: an address the policy refuses, a host that does not exist, a
// refused redirect.
func Reason(err error) (why string, permanent bool) {
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return "its address is private or reserved, which this server does not connect to", true
	case errors.As(err, new(errStalled)):
		return lastPart(err), false
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "the server did not answer in time", false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", false
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", false
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host", false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return fmt.Sprintf("host %s not found", dnsErr.Name), true
		}
		return fmt.Sprintf("host %s could not be resolved", dnsErr.Name), false
	}
	if strings.Contains(err.Error(), "redirect") {
		return lastPart(err), true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		// Its text names the addresses at both ends.
		return "the connection failed", false
	}
	return lastPart(err), false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lastPart keeps the innermost clause of a wrapped error ("connection reset by
// peer"), which is what a person can act on.
func lastPart(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

// Permanent reports whether err is a failure that retrying cannot mend, such as
// HTTP 404 or a refused address.
func Permanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// watchedWriter tells a Watcher of every write once it is on disk.
type watchedWriter struct {
	w     io.Writer
	watch Watcher
	n     int64
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if n > 0 {
		w.n += int64(n)
		w.watch.Wrote(w.n)
	}
	return n, err
}
