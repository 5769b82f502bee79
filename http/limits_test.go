package http

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func serveWith(t *testing.T, l ServerLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), l)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestSlowLorisIsCutOff: a client that sends its headers a line at a time and
// never finishes is disconnected after ReadHeaderTimeout, not kept forever.
func TestSlowLorisIsCutOff(t *testing.T) {
	addr := serveWith(t, ServerLimits{ReadHeaderTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, conn) // returns when the server closes the connection
		closed <- time.Since(start)
	}()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case took := <-closed:
			if took > 2*time.Second {
				t.Fatalf("connection closed after %s, want about 300 ms", took)
			}
			return
		case <-tick.C:
			io.WriteString(conn, "X-Slow: y\r\n") // keep trickling
		case <-deadline:
			t.Fatal("the server kept a trickling connection open for 5 s")
		}
	}
}

// TestOversizedHeadersAreRefused: request headers past MaxHeaderBytes get 431
// before any handler runs; the default applies when the field is zero.
func TestOversizedHeadersAreRefused(t *testing.T) {
	addr := serveWith(t, ServerLimits{})
	for _, c := range []struct {
		size int
		want int
	}{{1 << 10, 200}, {128 << 10, 431}} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", c.size)+"\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%d-byte header: %v", c.size, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%d-byte header: HTTP %d, want %d", c.size, resp.StatusCode, c.want)
		}
	}
}
