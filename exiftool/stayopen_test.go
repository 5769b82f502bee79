package exiftool

import (
	"context"
	"fmt"
	"os"
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
