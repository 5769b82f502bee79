package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// worker is a running `vidjob worker` process.
type worker struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startWorker starts `vidjob worker` on srv's database and data directory.
func startWorker(t *testing.T, srv *server, database string, extra ...string) *worker {
	t.Helper()
	args := append([]string{"worker", "--database", database, "--data", srv.Data, "--public-url", srv.URL,
		"--allow-private-networks", "--x264-preset", "veryfast", "--concurrency", "1", "--log-level", "debug"}, extra...)
	cmd := exec.Command(vidjobBin, args...)
	logPath := filepath.Join(t.TempDir(), "worker.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w := &worker{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("worker %d log:\n%s", cmd.Process.Pid, filterRiverDebug(string(b)))
		}
	})
	return w
}

// waitForState polls /jobs until the job is in state with at least progress.
func waitForState(t *testing.T, srv *server, id, state string, progress float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, st := srv.get(t, "/jobs/"+id)
		if st["state"] == state && st["progress"].(float64) >= progress {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job %s did not reach %s ≥ %.2f within %s", id, state, progress, timeout)
}

// children lists the PIDs of pid's child processes, whichever of its threads
// started them.
func children(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	// A zombie (state Z) has exited and only waits to be reaped.
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// TestKilledWorkerJobIsRescuedAndBilledOnce: `kill -9` of a worker in the middle
// of an encode kills its ffmpeg too; the next worker on the same disk removes
// its work files and takes the job over, which completes once, is billed
// once and posts back once.
func TestKilledWorkerJobIsRescuedAndBilledOnce(t *testing.T) {
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	rcv := newReceiver(t)
	flags := []string{"--job-timeout", "40s", "--rescue-after", "40s"}
	first := startWorker(t, srv, database, flags...)

	job := strings.Replace(localJob(srv.AppID, media.URL+"/squirrel.mp4", rcv.URL), "System preset generic 720p", "System preset generic 480p 16:9", 1)
	id := srv.submit(t, job)
	waitForState(t, srv, id, "transcoding", 0.01, 2*time.Minute)
	var encoders []int
	for _, c := range children(first.cmd.Process.Pid) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/comm"); strings.TrimSpace(string(b)) == "ffmpeg" {
			encoders = append(encoders, c)
		}
	}
	if len(encoders) != 1 {
		t.Fatalf("worker has %d ffmpeg children, want 1", len(encoders))
	}
	attempts, _ := filepath.Glob(filepath.Join(srv.Data, "tmp", "w-*", "job-"+id+"-*"))
	if len(attempts) != 1 {
		t.Fatalf("attempt directories: %v, want one in the worker's own directory", attempts)
	}
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done
	deadline := time.Now().Add(5 * time.Second)
	for alive(encoders[0]) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(encoders[0]) {
		t.Errorf("ffmpeg %d outlived its killed worker", encoders[0])
	}

	startWorker(t, srv, database, flags...)
	// The new worker shares the dead one's tmp directory and sweeps it at
	// start: the dead worker's lock is free.
	deadDir := filepath.Dir(attempts[0])
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(deadDir); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed worker's directory %s was not swept", deadDir)
		}
	}
	completedOnce(t, srv, rcv, id, 1)
}

// TestSigtermLetsRunningJobsFinish: a worker told to stop finishes the job in
// hand within the grace period and takes no new ones; with too short a grace,
// the job is released and another worker completes it.
func TestSigtermLetsRunningJobsFinish(t *testing.T) {
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	job := strings.Replace(localJob(srv.AppID, media.URL+"/squirrel.mp4", ""), "System preset generic 720p", "System preset generic 360p 16:9", 1)

	t.Run("within the grace period", func(t *testing.T) {
		w := startWorker(t, srv, database, "--shutdown-grace", "2m")
		id := srv.submit(t, job)
		waitForState(t, srv, id, "transcoding", 0.01, 2*time.Minute)
		w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(3 * time.Minute):
			t.Fatal("worker did not exit")
		}
		_, st := srv.get(t, "/jobs/"+id)
		if st["state"] != "completed" {
			t.Fatalf("after a graceful stop the job is %v, want completed", st["state"])
		}
	})
	t.Run("past the grace period", func(t *testing.T) {
		w := startWorker(t, srv, database, "--shutdown-grace", "500ms")
		id := srv.submit(t, job)
		waitForState(t, srv, id, "transcoding", 0.01, 2*time.Minute)
		w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(time.Minute):
			t.Fatal("worker did not exit after its grace period")
		}
		_, st := srv.get(t, "/jobs/"+id)
		if st["state"] == "completed" || st["state"] == "failed" {
			t.Fatalf("job %v although its worker stopped mid-encode", st["state"])
		}
		startWorker(t, srv, database)
		res := listen(t, srv, id, 3*time.Minute)
		if res["errors"] != nil || res["video"] == nil {
			t.Fatalf("released job did not complete: %v", res)
		}
	})
}

// TestUndeliverablePostbackIsMarkedFailed: when the receiver never accepts,
// delivery stops after the configured attempts, the job shows "postback failed",
// and the transcode itself stays completed and billed.
func TestUndeliverablePostbackIsMarkedFailed(t *testing.T) {
	srv := startServer(t, "--postback-retry", "100ms,200ms")
	dir := t.TempDir()
	clip := makeClip(t, dir, 1)
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	rcv.failNext = 1000
	id := srv.submit(t, strings.Replace(localJob(srv.AppID, media.URL+"/"+clip, rcv.URL), "System preset generic 720p", "1351620000001-000061", 1))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, st := srv.get(t, "/jobs/"+id)
		p, _ := st["postback"].(map[string]any)
		if p["state"] == "failed" {
			attempts, _ := p["attempts"].([]any)
			if len(attempts) != 3 || st["state"] != "completed" || st["charge"] == nil {
				t.Fatalf("job = %v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postback never marked failed: %v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
