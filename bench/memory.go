package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
)

// rawFrameBytes is one 1920x1080 yuv420p frame.
const rawFrameBytes = 1920 * 1080 * 3 / 2

// memorySuite measures the vidjob process's own peak resident memory (ffmpeg,
// ffprobe and exiftool are children and not counted) while it fetches,
// transcodes and stores a source of about size bytes. The source is raw video,
// which costs nothing to generate beyond writing it and is as large per second
// as a source can be.
func (e benchEnv) memorySuite(size int64, serve []string) error {
	media, err := os.MkdirTemp("", "vidjob-bench-big-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(media)
	frames := max(1, size/rawFrameBytes)
	big := filepath.Join(media, "big.mkv")
	t0 := time.Now()
	gen := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-frames:v", strconv.FormatInt(frames, 10), "-shortest",
		"-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", big)
	if out, err := gen.CombinedOutput(); err != nil {
		return fmt.Errorf("generate big source: %w: %s", err, out)
	}
	fi, err := os.Stat(big)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: generated %d MiB raw source (%d frames) in %s\n", fi.Size()>>20, frames, time.Since(t0).Round(time.Second))
	small, err := testmedia.Generate(context.Background(), media, testmedia.Spec{Seconds: 2})
	if err != nil {
		return err
	}
	origin, err := serveDir(media)
	if err != nil {
		return err
	}
	defer origin.Close()
	recv, err := newReceiver()
	if err != nil {
		return err
	}
	defer recv.Close()
	flags := append([]string{"--workers", "1", "--allow-cidr", "127.0.0.0/8"}, serve...)
	s, err := e.startAPI(database{name: "SQLite"}, flags...)
	if err != nil {
		return err
	}
	defer s.stop()
	pid := s.cmd.Process.Pid
	idle := procMiB(pid, "VmHWM")
	if _, err := s.overheadRun(origin.url+"/"+filepath.Base(small), "1351620000001-000010", "", recv); err != nil {
		return fmt.Errorf("small job: %w", err)
	}
	afterSmall := procMiB(pid, "VmHWM")
	// Writing 5 to clear_refs resets the peak to the current RSS, so that the
	// peak read after the big job is that job's.
	reset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	before := procMiB(pid, "VmRSS")

	var mu sync.Mutex
	var sampled float64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				r := procMiB(pid, "VmRSS")
				mu.Lock()
				sampled = max(sampled, r)
				mu.Unlock()
			}
		}
	}()
	smp, err := s.overheadRun(origin.url+"/big.mkv", "1351620000001-000010", "", recv)
	close(stop)
	<-done
	if err != nil {
		return fmt.Errorf("big job: %w", err)
	}
	peak := procMiB(pid, "VmHWM")

	fmt.Printf("## Memory: the vidjob process while it runs one job on a %d MiB source\n\n", fi.Size()>>20)
	fmt.Printf("Raw 1080p video in Matroska (%d frames), served over local HTTP; preset Generic 720p; local object store. RSS is the vidjob process's own (/proc/PID/status), never ffmpeg's or exiftool's.\n\n", frames)
	fmt.Println("| measure | MiB |")
	fmt.Println("|---|---|")
	fmt.Printf("| peak RSS at start, idle | %.0f |\n", idle)
	fmt.Printf("| peak RSS after a 2 s job | %.0f |\n", afterSmall)
	fmt.Printf("| RSS before the big job | %.0f |\n", before)
	if reset {
		fmt.Printf("| **peak RSS during the big job** (VmHWM, reset before it) | **%.0f** |\n", peak)
	} else {
		fmt.Printf("| peak RSS since start (VmHWM; could not reset it) | %.0f |\n", peak)
	}
	fmt.Printf("| largest RSS sampled every 20 ms during the big job | %.0f |\n", sampled)
	fmt.Println()
	fmt.Printf("Big job end to end %s:", secs(smp.endToEnd))
	for _, p := range vidjob.Phases() {
		if d, ok := smp.phases[p]; ok {
			fmt.Printf(" %s %s,", p, secs(d))
		}
	}
	fmt.Println()
	fmt.Println()
	return nil
}
