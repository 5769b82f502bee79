package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestCheckListenFlags: contradictory or unusable /listen settings stop the
// server with the reason; the deprecated flags only warn.
func TestCheckListenFlags(t *testing.T) {
	ok := ServeCmd{ListenKeepAlive: 3 * time.Second, MaxListeners: 512}
	cases := []struct {
		name    string
		change  func(*ServeCmd)
		wantErr string
		wantLog string
	}{
		{"defaults", func(*ServeCmd) {}, "", ""},
		{"open listen warns", func(c *ServeCmd) { c.OpenListen = true }, "", "--open-listen is deprecated and does nothing"},
		{"listen timeout warns", func(c *ServeCmd) { c.ListenTimeout = time.Minute }, "", "--listen-timeout is deprecated and ignored"},
		{"open and strict contradict", func(c *ServeCmd) { c.OpenListen, c.ListenRequiresApp = true, true }, "contradict each other", ""},
		{"no keep-alive", func(c *ServeCmd) { c.ListenKeepAlive = 0 }, "--listen-keepalive must be positive", ""},
		{"no listeners", func(c *ServeCmd) { c.MaxListeners = 0 }, "--max-listeners must be at least 1", ""},
	}
	for _, tc := range cases {
		c := ok
		tc.change(&c)
		var log bytes.Buffer
		err := c.checkListenFlags(slog.New(slog.NewTextHandler(&log, nil)))
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
		if tc.wantLog != "" && !strings.Contains(log.String(), tc.wantLog) || tc.wantLog == "" && log.Len() != 0 {
			t.Errorf("%s: log = %q, want %q", tc.name, log.String(), tc.wantLog)
		}
	}
}
