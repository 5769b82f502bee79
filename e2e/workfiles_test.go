package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testdisk"
	"github.com/vidjob/vidjob/internal/testmedia"
)

// ffmpegChildren lists pid's children that are ffmpeg.
func ffmpegChildren(pid int) []int {
	var out []int
	for _, c := range children(pid) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/comm"); strings.TrimSpace(string(b)) == "ffmpeg" {
			out = append(out, c)
		}
	}
	return out
}

// TestKilledServersWorkFilesAreSweptOnRestart: `kill -9` of a SQLite `vidjob
// serve` in the middle of an encode leaves its attempt's files in its own
// directory under DATA/tmp (nothing of the dead process can remove them);
// the restarted server removes that directory before it answers, and the job
// still completes, billed and posted back once.
func TestKilledServersWorkFilesAreSweptOnRestart(t *testing.T) {
	srv := startServer(t, "--job-timeout", "40s", "--rescue-after", "40s")
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	rcv := newReceiver(t)
	job := strings.Replace(localJob(srv.AppID, media.URL+"/squirrel.mp4", rcv.URL), "System preset generic 720p", "System preset generic 480p 16:9", 1)
	id := srv.submit(t, job)
	waitForState(t, srv, id, "transcoding", 0.01, 2*time.Minute)

	tmp := filepath.Join(srv.Data, "tmp")
	attempts, _ := filepath.Glob(filepath.Join(tmp, "w-*", "job-"+id+"-*"))
	if len(attempts) != 1 {
		t.Fatalf("attempt directories of job %s: %v, want one inside the worker's own directory", id, attempts)
	}
	deadDir := filepath.Dir(attempts[0])
	encoders := ffmpegChildren(srv.cmd.Process.Pid)
	if len(encoders) != 1 {
		t.Fatalf("server has %d ffmpeg children, want 1", len(encoders))
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done
	srv.cmd = nil
	deadline := time.Now().Add(5 * time.Second)
	for alive(encoders[0]) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(encoders[0]) {
		t.Errorf("ffmpeg %d outlived its killed server", encoders[0])
	}
	if _, err := os.Stat(filepath.Join(attempts[0], "out")); err != nil {
		t.Fatalf("the killed server's attempt files are not there to sweep: %v", err)
	}

	srv.start(t) // returns once /healthz answers
	if _, err := os.Stat(deadDir); !os.IsNotExist(err) {
		t.Errorf("the dead server's directory %s is still there after the restart (err %v)", filepath.Base(deadDir), err)
	}
	live, _ := filepath.Glob(filepath.Join(tmp, "w-*"))
	if len(live) != 1 || live[0] == deadDir {
		t.Errorf("worker directories after the restart: %v, want the new server's alone", live)
	}
	if !strings.Contains(srv.log(), "removed work files no running attempt owns") {
		t.Error("the sweep was not logged")
	}

	completedOnce(t, srv, rcv, id, 1)
	if left := workFilesLeft(srv); len(left) != 0 {
		t.Errorf("work files left after the job: %v", left)
	}
}

// TestFullDiskIsTheServersFaultAndRetried: the worker's tmp directory is a
// real 2 MiB tmpfs and the job's encode (8 s scaled up to 1080p, about 5 MB)
// overflows it. The job is not failed for the source's sake: each attempt is
// retried with a message that blames the server, the fault is counted,
// /healthz and POST /job answer 503 naming disk space while the disk is full,
// and once the disk is enlarged the job completes, billed and posted back
// once.
func TestFullDiskIsTheServersFaultAndRetried(t *testing.T) {
	tmp := testdisk.Tmpfs(t, "2m")
	srv := startServer(t, "--tmp-dir", tmp, "--min-free-bytes", "1048576", "--admin-token", adminToken,
		"--max-attempts", "50", "--workers", "1")
	media := t.TempDir()
	clip := filepath.Base(testmedia.Make(t, media, testmedia.Spec{Seconds: 8, Width: 320, Height: 240}))
	origin := mediaServer(t, media)
	rcv := newReceiver(t)
	job := strings.Replace(localJob(srv.AppID, origin.URL+"/"+clip, rcv.URL), "System preset generic 720p", "System preset generic 1080p", 1)
	job = strings.Replace(job, `"v": 1.22,`, `"v": 1.22, "wait_retry_delay": 1,`, 1)
	id := srv.submit(t, job)

	const retryMsg = "The server ran out of disk space while transcoding; the job will be retried."
	deadline := time.Now().Add(3 * time.Minute)
	for scrape(t, srv)[`vidjob_local_disk_faults_total{error="ENOSPC"}`] < 1 {
		if _, st := srv.get(t, "/jobs/"+id); st["state"] == "failed" || st["state"] == "completed" {
			t.Fatalf("on a full disk the job is %v: %v", st["state"], st["results"])
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt failed for lack of disk space")
		}
		time.Sleep(200 * time.Millisecond)
	}
	log := srv.log()
	if !strings.Contains(log, "attempt failed; will retry") || !strings.Contains(log, retryMsg) {
		t.Errorf("the log does not show the attempt retried with %q", retryMsg)
	}
	if strings.Contains(log, "could not convert this source") {
		t.Error("the source was blamed for the full disk")
	}

	// Hold the disk full between attempts, as the job's own files do during
	// them: what is left is below the 1 MiB the server keeps free.
	fill := filepath.Join(tmp, "fill")
	f, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Minute)
	for written := 0; written < 1536<<10; {
		// A running attempt's files may hold the room for a while.
		n, err := f.Write(make([]byte, 1536<<10-written))
		written += n
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("could not fill the disk: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	f.Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		status, body := srv.get(t, "/healthz")
		if status == 503 && body["reason"] == "disk_space" && strings.Contains(body["error"].(string), "short of disk space: its work directory") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz on a full disk: HTTP %d %v, want 503 naming disk_space", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status, out := srv.post(t, "/job", "application/json", job); status != 503 {
		t.Errorf("POST /job on a full disk: HTTP %d %v, want 503", status, out)
	}
	// Attempts go on failing (the source no longer fits: the download's
	// writes fail) and are retried; the job is not failed.
	deadline = time.Now().Add(time.Minute)
	for scrape(t, srv)[`vidjob_local_disk_faults_total{error="ENOSPC"}`] < 3 {
		if time.Now().After(deadline) {
			t.Fatal("attempts stopped while the disk was full")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, st := srv.get(t, "/jobs/"+id); st["state"] == "failed" || strings.Contains(srv.log(), "job failed") {
		t.Fatalf("the job failed for good while the disk was full: %v", st)
	}

	// The operator makes room: the next attempt completes.
	os.Remove(fill)
	testdisk.Resize(t, tmp, "64m")
	completedOnce(t, srv, rcv, id, 1)
	if status, body := srv.get(t, "/healthz"); status != 200 {
		t.Errorf("/healthz with room again: HTTP %d %v", status, body)
	}
	if left := workFilesLeft(srv); len(left) != 0 {
		t.Errorf("work files left: %v", left)
	}
}
