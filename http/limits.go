package http

import (
	"net/http"
	"time"
)

// ServerLimits bound what one connection may cost the server. Zero fields take
// the defaults, which suit the API: small JSON requests and a /listen that
// waits up to a minute.
type ServerLimits struct {
	// ReadHeaderTimeout closes a connection whose request headers have not all
	// arrived in time (slow-loris); default 10 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included; default 2 min.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response; default 10 min, since /listen
	// waits and /objects may stream large files.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections left idle; default 2 min.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; larger requests get
	// 431. Default 64 KiB.
	MaxHeaderBytes int
}

// NewHTTPServer returns an http.Server for handler with limits applied, so
// that no deployment serves the API without them.
func NewHTTPServer(handler http.Handler, l ServerLimits) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d == 0 {
			return v
		}
		return d
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: def(l.ReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       def(l.ReadTimeout, 2*time.Minute),
		WriteTimeout:      def(l.WriteTimeout, 10*time.Minute),
		IdleTimeout:       def(l.IdleTimeout, 2*time.Minute),
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}
