package workdir

import (
	"bufio"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// holdEnv makes the test binary a worker that holds a directory under the
// root it names until its stdin closes (see TestMain).
const holdEnv = "VIDJOB_WORKDIR_TEST_HOLD"

func TestMain(m *testing.M) {
	if root := os.Getenv(holdEnv); root != "" {
		d, err := Open(root, time.Hour, slog.New(slog.DiscardHandler))
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		dir, _, err := d.Attempt("job-held-")
		if err != nil {
			os.Exit(1)
		}
		os.WriteFile(filepath.Join(dir, "source"), make([]byte, 1000), 0o600)
		os.Stdout.WriteString(d.Path() + "\n")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holder starts another process that holds a worker directory under root and
// returns the directory and the process.
func holder(t *testing.T, root string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+root)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("holder: %v", err)
	}
	return strings.TrimSpace(line), cmd
}

func open(t *testing.T, root string) *Dir {
	t.Helper()
	d, err := Open(root, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// A directory whose lock another live process holds is never removed; once
// that process is killed (-9, so it cleans nothing), the next sweep removes
// it and counts its bytes.
func TestSweepSparesLiveWorkersAndRemovesDeadOnes(t *testing.T) {
	root := t.TempDir()
	other, cmd := holder(t, root)
	if !strings.HasPrefix(filepath.Base(other), workerPrefix) || !exists(filepath.Join(other, lockName)) {
		t.Fatalf("holder's directory %s", other)
	}
	d := open(t, root)
	for i := 0; i < 3; i++ {
		if r := d.Sweep(); len(r) != 0 {
			t.Fatalf("sweep removed %v while its owner runs", r)
		}
	}
	if !exists(other) {
		t.Fatal("a live process's directory was removed")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !exists(other) {
		t.Fatal("the killed process removed its directory: the test proves nothing")
	}
	r := d.Sweep()
	if len(r) != 1 || r[0].Name != filepath.Base(other) || r[0].Reason != ReasonDeadWorker || r[0].Bytes != 1000 {
		t.Fatalf("sweep after the kill = %+v, want %s removed with its 1000 bytes", r, filepath.Base(other))
	}
	if exists(other) {
		t.Error("the dead process's directory is still there")
	}
	if left, _ := filepath.Glob(filepath.Join(root, gonePrefix+"*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if !exists(filepath.Join(d.Path(), lockName)) {
		t.Error("the sweeper's own directory was touched")
	}
}

// Two workers of one process (as tests run them) do not take each other's
// directory either: flock locks of separate opens exclude each other.
func TestSweepSparesAnotherDirOfTheSameProcess(t *testing.T) {
	root := t.TempDir()
	a, b := open(t, root), open(t, root)
	if r := a.Sweep(); len(r) != 0 || !exists(b.Path()) {
		t.Fatalf("sweep removed %v", r)
	}
}

// Within its own directory a worker removes what no running attempt owns,
// and only that.
func TestSweepRemovesOwnEndedAttempts(t *testing.T) {
	d := open(t, t.TempDir())
	live, release, err := d.Attempt("job-live-")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(live, "source"), []byte("12345"), 0o600)
	stray := filepath.Join(d.Path(), "job-stray-1")
	os.MkdirAll(filepath.Join(stray, "out"), 0o700)
	os.WriteFile(filepath.Join(stray, "out", "x.ts"), []byte("1234567"), 0o600)
	r := d.Sweep()
	if len(r) != 1 || r[0].Name != "job-stray-1" || r[0].Reason != ReasonEndedAttempt || r[0].Bytes != 7 {
		t.Fatalf("sweep = %+v", r)
	}
	if !exists(filepath.Join(live, "source")) {
		t.Fatal("a running attempt's files were removed")
	}
	release()
	if exists(live) {
		t.Error("release left the attempt's directory")
	}
	if r := d.Sweep(); len(r) != 0 {
		t.Errorf("second sweep = %+v", r)
	}
}

// Directories of the old layout (job-ID-*, part-ID-* directly under the root)
// go once nothing in them changed for longer than an attempt lives; fresh
// ones, and files that are not vidjob's, stay.
func TestSweepRemovesOldLayoutOnlyWhenStale(t *testing.T) {
	root := t.TempDir()
	old := filepath.Join(root, "job-1abc-123")
	os.MkdirAll(filepath.Join(old, "out"), 0o700)
	os.WriteFile(filepath.Join(old, "source"), make([]byte, 300), 0o600)
	fresh := filepath.Join(root, "part-2def-456")
	os.MkdirAll(fresh, 0o700)
	os.WriteFile(filepath.Join(fresh, "piece"), make([]byte, 10), 0o600)
	oldButWritten := filepath.Join(root, "job-3ghi-789")
	os.MkdirAll(oldButWritten, 0o700)
	os.WriteFile(filepath.Join(oldButWritten, "source"), make([]byte, 10), 0o600)
	os.WriteFile(filepath.Join(root, "operator-notes"), []byte("x"), 0o600)
	long := time.Now().Add(-3 * time.Hour)
	for _, p := range []string{old, filepath.Join(old, "out"), filepath.Join(old, "source"), oldButWritten} {
		os.Chtimes(p, long, long)
	}
	d, err := Open(root, 2*time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := d.Sweep()
	if len(r) != 1 || r[0].Name != "job-1abc-123" || r[0].Reason != ReasonOldLayout || r[0].Bytes != 300 {
		t.Fatalf("sweep = %+v", r)
	}
	entries, _ := os.ReadDir(root)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, want := range []string{"part-2def-456", "job-3ghi-789", "operator-notes", filepath.Base(d.Path())} {
		if !slices.Contains(names, want) {
			t.Errorf("%s was removed; left %v", want, names)
		}
	}
}

// Close removes the worker's directory and frees its lock.
func TestCloseRemovesOwnDirectory(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Attempt("job-x-"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if exists(d.Path()) {
		t.Error("Close left the directory")
	}
}
