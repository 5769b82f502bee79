package loopback

import (
	"net"
	"regexp"
	"testing"
)

// TestListenIsLoopbackWithAFreshSecretPath: the listener is on 127.0.0.1 and
// each call gets another port and another 128-bit path.
func TestListenIsLoopbackWithAFreshSecretPath(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		ln, path, err := Listen()
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addr := ln.Addr().(*net.TCPAddr)
		if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) || addr.Port == 0 {
			t.Errorf("listening on %v", addr)
		}
		if !regexp.MustCompile(`^/[0-9a-f]{32}$`).MatchString(path) {
			t.Errorf("path %q is not / and 128 bits in hex", path)
		}
		if seen[path] || seen[addr.String()] {
			t.Errorf("path %q or address %v came twice", path, addr)
		}
		seen[path], seen[addr.String()] = true, true
	}
}
