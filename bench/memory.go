package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
)

// rawFrameBytes is one 1920x1080 yuv420p frame.
const rawFrameBytes = 1920 * 1080 * 3 / 2

// memoryResult is one store's row of the memory suite.
type memoryResult struct {
	store, preset          string
	idle, afterSmall, peak float64
	sampled                float64
	resetOK                bool
	outputMiB              float64
	job                    sample
}

// memorySuite measures the vidjob process's own peak resident memory (ffmpeg,
// ffprobe and exiftool are its children and not counted) while it fetches,
// transcodes and stores a source of about size bytes: with the local object
// store, and, when versitygw is set, with S3 and a preset whose output is
// large enough for many multipart parts. The source is raw 1080p video with
// noise, which costs little more to generate than writing it, and whose noise
// makes a high-bitrate output really that large.
func (e benchEnv) memorySuite(size int64, serve []string, versitygw string) error {
	media, err := os.MkdirTemp("", "vidjob-bench-big-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(media)
	frames := max(1, size/rawFrameBytes)
	big := filepath.Join(media, "big.mkv")
	t0 := time.Now()
	gen := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30,noise=alls=30:allf=t+u",
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

	var results []memoryResult
	r, err := e.memoryRun(origin, recv, small, "local disk", "1351620000001-000010", serve, func(s *apiServer, key string) string {
		return filepath.Join(s.data, "objects", "bench", key)
	})
	if err != nil {
		return err
	}
	results = append(results, r)
	if versitygw != "" {
		s3, err := startS3(versitygw)
		if err != nil {
			return err
		}
		defer s3.stop()
		presets := filepath.Join(media, "presets.json")
		if err := os.WriteFile(presets, []byte(bigOutputPreset), 0o600); err != nil {
			return err
		}
		flags := append(append(s3.flags(), "--presets-file", presets), serve...)
		r, err := e.memoryRun(origin, recv, small, "S3 (versitygw)", "bench-big-1080p", flags, func(_ *apiServer, key string) string {
			return filepath.Join(s3.dir, "data", "bench", key)
		})
		if err != nil {
			return err
		}
		results = append(results, r)
	}

	e.out.heading("Memory: the vidjob process while it runs one job on a %d MiB source", fi.Size()>>20)
	e.out.note("Raw 1080p video with noise in Matroska (%d frames), served over local HTTP, one worker. RSS is the vidjob process's own (/proc/PID/status), never ffmpeg's or exiftool's. The peak during the big job is VmHWM after resetting it (/proc/PID/clear_refs) once a 2 s job had run.", frames)
	e.out.table(memoryTable(results))
	return nil
}

// memoryTable is one row per object store.
func memoryTable(results []memoryResult) table {
	t := table{header: []string{"store", "preset", "output", "RSS idle", "peak after a 2 s job", "**peak during the big job**", "largest 20 ms sample", "big job: fetch / encode / upload"}}
	for _, r := range results {
		peak := fmt.Sprintf("**%.0f MiB**", r.peak)
		if !r.resetOK {
			peak += " (since start: reset refused)"
		}
		t.rows = append(t.rows, []string{r.store, presetName(r.preset), fmt.Sprintf("%.0f MiB", r.outputMiB),
			fmt.Sprintf("%.0f MiB", r.idle), fmt.Sprintf("%.0f MiB", r.afterSmall), peak, fmt.Sprintf("%.0f MiB", r.sampled),
			fmt.Sprintf("%s / %s / %s", secs(r.job.phases[vidjob.PhaseFetch]), secs(r.job.phases[vidjob.PhaseEncode]), secs(r.job.phases[vidjob.PhaseUpload]))})
	}
	return t
}

// memoryRun starts vidjob with flags, runs a 2 s job, resets the peak, runs
// the big job and reads the peak. stored maps a server and an output key to
// where the store keeps that object on this machine, to report its size.
func (e benchEnv) memoryRun(origin *fileServer, recv *receiver, small, store, presetID string, flags []string, stored func(*apiServer, string) string) (memoryResult, error) {
	res := memoryResult{store: store, preset: presetID}
	s, err := e.startAPI(database{name: "SQLite"}, append([]string{"--workers", "1", "--allow-cidr", "127.0.0.0/8"}, flags...)...)
	if err != nil {
		return res, err
	}
	defer s.stop()
	pid := s.cmd.Process.Pid
	res.idle = procMiB(pid, "VmRSS")
	if _, err := s.overheadRun(origin.url+"/"+filepath.Base(small), "1351620000001-000010", "", recv); err != nil {
		return res, fmt.Errorf("%s: small job: %w", store, err)
	}
	res.afterSmall = procMiB(pid, "VmHWM")
	// Writing 5 to clear_refs resets the peak to the current RSS, so that the
	// peak read after the big job is that job's.
	res.resetOK = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil

	var mu sync.Mutex
	stop, done := make(chan struct{}), make(chan struct{})
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
				res.sampled = max(res.sampled, r)
				mu.Unlock()
			}
		}
	}()
	res.job, err = s.overheadRun(origin.url+"/big.mkv", presetID, "", recv)
	close(stop)
	<-done
	if err != nil {
		return res, fmt.Errorf("%s: big job: %w", store, err)
	}
	res.peak = procMiB(pid, "VmHWM")
	if matches, _ := filepath.Glob(stored(s, res.job.key) + "*"); len(matches) > 0 {
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && !strings.HasSuffix(m, ".json") && fi.Mode().IsRegular() {
				res.outputMiB = max(res.outputMiB, float64(fi.Size())/(1<<20))
			}
		}
	}
	fmt.Fprintf(os.Stderr, "bench: %s: big job end to end %s, peak RSS %.0f MiB\n", store, secs(res.job.endToEnd), res.peak)
	return res, nil
}
