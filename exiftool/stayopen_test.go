package exiftool

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
)

func TestResidentDescribesLikeAOneShotRun(t *testing.T) {
	dir := t.TempDir()
	clip := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 320, Height: 240})
	want, err := (&Exiftool{}).Meta(context.Background(), clip)
	if err != nil {
		t.Fatal(err)
	}
	r := &Resident{Size: 2}
	defer r.Close()
	for i := 0; i < 3; i++ { // the same process answers again and again
		got, err := r.Meta(context.Background(), clip)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if strings.HasPrefix(k, "File") && strings.HasSuffix(k, "Date") {
				continue // reading the file may move its access time
			}
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				t.Errorf("run %d: %s = %v, one-shot says %v", i, k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("run %d: %d keys, one-shot has %d", i, len(got), len(want))
		}
	}
}

func TestResidentServesConcurrentCallersAndReportsUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	clip := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 160, Height: 120})
	// Bytes with an MP4 name and no MP4 structure: exiftool reports an error.
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7 + i/13)
	}
	text := filepath.Join(dir, "garbage.mp4")
	os.WriteFile(text, garbage, 0o644)
	r := &Resident{Size: 2}
	defer r.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			m, err := r.Meta(context.Background(), clip)
			if err != nil || fmt.Sprint(m["ImageWidth"]) != "160" {
				errs <- fmt.Errorf("clip: %v %v", m["ImageWidth"], err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := r.Meta(context.Background(), text); vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE {
				errs <- fmt.Errorf("garbage file: %v", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(r.all); n > 2 {
		t.Errorf("%d processes, want at most 2", n)
	}
}

func TestResidentRecoversFromAStuckFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "stuck.mp4")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	clip := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 160, Height: 120})
	r := &Resident{Size: 1, Timeout: time.Second}
	defer r.Close()
	start := time.Now()
	if _, err := r.Meta(context.Background(), fifo); err == nil {
		t.Fatal("a file that never answers was described")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("timeout took %s", time.Since(start))
	}
	if m, err := r.Meta(context.Background(), clip); err != nil || fmt.Sprint(m["ImageWidth"]) != "160" {
		t.Fatalf("after a timeout: %v %v", m["ImageWidth"], err)
	}
}

// BenchmarkMeta compares a new exiftool per file with a resident one, side by
// side on the same file.
func BenchmarkMeta(b *testing.B) {
	clip := testmedia.Make(b, b.TempDir(), testmedia.Spec{Seconds: 1, Width: 320, Height: 240})
	b.Run("one-shot", func(b *testing.B) {
		e := &Exiftool{}
		for i := 0; i < b.N; i++ {
			if _, err := e.Meta(context.Background(), clip); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("resident", func(b *testing.B) {
		r := &Resident{Size: 1}
		defer r.Close()
		for i := 0; i < b.N; i++ {
			if _, err := r.Meta(context.Background(), clip); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestResidentDiesWithItsWorker: a worker killed with SIGKILL runs no
// cleanup, and exiftool -stay_open keeps reading its closed input for ever;
// the kernel must take the resident process down with the worker. The test
// binary plays the worker (envResidentChild), prints its exiftool's PID and
// is killed.
func TestResidentDiesWithItsWorker(t *testing.T) {
	if os.Getenv(envResidentChild) != "" {
		residentChild()
		return
	}
	dir := t.TempDir()
	clip := testmedia.Make(t, dir, testmedia.Spec{Seconds: 1, Width: 160, Height: 120})
	cmd := exec.Command(os.Args[0], "-test.run", "^TestResidentDiesWithItsWorker$")
	cmd.Env = append(os.Environ(), envResidentChild+"="+clip)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscanf(bufio.NewReader(out), "exiftool %d\n", &pid); err != nil || pid <= 0 {
		cmd.Process.Kill()
		t.Fatalf("child did not report its exiftool: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("exiftool %d is not running while its worker is: %v", pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("exiftool %d outlived its killed worker", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const envResidentChild = "VIDJOB_TEST_RESIDENT_CHILD"

// residentChild describes the clip named by envResidentChild with a resident
// exiftool, prints that process's PID and waits to be killed.
func residentChild() {
	r := &Resident{Size: 1}
	if _, err := r.Meta(context.Background(), os.Getenv(envResidentChild)); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	r.mu.Lock()
	for p := range r.all {
		fmt.Printf("exiftool %d\n", p.cmd.Process.Pid)
	}
	r.mu.Unlock()
	time.Sleep(time.Minute)
	os.Exit(0)
}
