// Package s3test runs a real S3-compatible server (versitygw, Apache-2.0) for
// tests, so that uploads are tested against the S3 protocol rather than a mock.
//
// The binary is built outside vidjob's module by scripts/install-tools.sh, into
// tools/bin/versitygw; VIDJOB_VERSITYGW names another one.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/proc"
)

// EnvBinary names an environment variable that, when set, is the path of the
// versitygw binary to run instead of tools/bin/versitygw.
const EnvBinary = "VIDJOB_VERSITYGW"

// Region is the region the server answers for.
const Region = "us-east-1"

// startTimeout bounds how long a server may take to answer its health check.
const startTimeout = 20 * time.Second

const installHint = "versitygw is not installed: run scripts/install-tools.sh (it builds tools/bin/versitygw) or set " + EnvBinary

// Server is a running versitygw that a test may stop and restart, to play an
// S3 outage.
type Server struct {
	Endpoint  string // "http://127.0.0.1:PORT"
	AccessKey string
	SecretKey string

	t    testing.TB
	bin  string
	args []string
	out  *syncBuffer
	stop func()
}

// Start runs a versitygw server on a free loopback port, storing objects in a
// temporary directory, and returns its endpoint ("http://127.0.0.1:PORT") and
// root credentials. It creates no buckets. The server is killed when the test
// ends.
//
// When the binary is missing the test is skipped, or failed if the CI
// environment variable is set, so that CI cannot pass without S3 tests.
func Start(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	s := StartServer(t)
	return s.Endpoint, s.AccessKey, s.SecretKey
}

// StartServer is Start returning the server, for tests that stop it.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("s3test: %s (%v)", installHint, err)
		}
		t.Skipf("s3test: SKIPPING S3 TESTS: %s (%v)", installHint, err)
	}
	s := &Server{t: t, bin: bin, AccessKey: "vidjobtest", SecretKey: rand.Text(), out: &syncBuffer{}}
	t.Cleanup(func() {
		if s.stop != nil {
			s.stop()
		}
		if t.Failed() {
			t.Logf("versitygw output:\n%s", s.out.String())
		}
	})
	// A port picked this way can be taken by another process before versitygw
	// binds it, so a server that fails to start is tried again on a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", port)
		s.Endpoint = "http://" + addr
		s.args = []string{
			"--port", addr,
			"--access", s.AccessKey,
			"--secret", s.SecretKey,
			"--region", Region,
			"--health", "/health",
			"--quiet",
			// vidjob accepts legacy (us-east-1) bucket names such as "YOUR_BUCKET".
			"--disable-strict-bucket-names",
			"posix",
			// Metadata in a sidecar directory rather than extended attributes, which
			// not every file system behind t.TempDir() supports.
			"--sidecar", t.TempDir(),
			t.TempDir(),
		}
		if lastErr = s.launch(); lastErr == nil {
			return s
		}
		t.Logf("s3test: attempt %d: %v", attempt+1, lastErr)
	}
	t.Fatalf("s3test: cannot start versitygw: %v", lastErr)
	return nil
}

// Stop kills the server; its objects stay on disk for Restart.
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Restart starts the server again on the same port with the same objects.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.launch(); err != nil {
		s.t.Fatalf("s3test: restart: %v", err)
	}
}

func (s *Server) launch() error {
	cmd := exec.Command(s.bin, s.args...)
	// The server dies with the test binary even if it dies without running
	// its cleanups (a -timeout panic).
	proc.DieWithParent(cmd)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	// Keep credentials for real services out of the server's environment: it
	// reads some of them (ROOT_ACCESS_KEY...) as defaults.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.t.TempDir()}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	s.stop = func() {
		// Only the process this helper started is killed, by its own handle.
		_ = cmd.Process.Kill()
		<-exited
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitHealthy(ctx, s.Endpoint+"/health", exited); err != nil {
		s.Stop()
		if waitErr != nil {
			err = fmt.Errorf("%w (%v)", err, waitErr)
		}
		return fmt.Errorf("%s %s: %w; output:\n%s", s.bin, strings.Join(s.args, " "), err, s.out.String())
	}
	return nil
}

// waitHealthy polls url until it answers 200, the server exits, or ctx ends.
func waitHealthy(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("versitygw exited early")
		case <-ctx.Done():
			return fmt.Errorf("versitygw did not answer %s: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// findBinary returns $VIDJOB_VERSITYGW, or tools/bin/versitygw in the
// repository that holds the working directory.
func findBinary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return checkExecutable(p)
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return checkExecutable(filepath.Join(root, "tools", "bin", "versitygw"))
}

func checkExecutable(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return p, nil
}

// repoRoot walks up from the working directory (a test runs in its package's
// directory) to the directory whose go.mod declares vidjob's module; go.mod
// files of other modules, such as tools/, are passed by.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresVidjob(b) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod for module github.com/vidjob/vidjob above the working directory")
		}
		dir = parent
	}
}

func declaresVidjob(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == "github.com/vidjob/vidjob" {
			return true
		}
	}
	return false
}

// syncBuffer collects the server's output, written from exec's copying
// goroutines and read from the test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p, up to 1 MiB in all.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil // enough to diagnose; the rest is dropped
	}
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
