// Package loopback is where vidjob serves files over HTTP to the programs it
// starts on the same machine (ffprobe and ffmpeg): 127.0.0.1 only, a fresh
// port each time, and a path of 128 random bits, so that no other local
// program can guess a URL.
package loopback

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// Listen opens a listener on 127.0.0.1 at a free port and returns it with a
// fresh secret path ("/" and 32 hex digits) to serve under.
func Listen() (net.Listener, string, error) {
	var token [16]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, "", fmt.Errorf("loopback: token: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("loopback: listen: %w", err)
	}
	return ln, "/" + hex.EncodeToString(token[:]), nil
}

// NewServer is the http.Server for h: a header timeout, so that a connection
// that never sends a request does not hold a handler, and no error log,
// since ffmpeg hangs up mid-answer whenever it seeks.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}
