package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

	pb := rcv.wait(t, 4*time.Minute)
	res := results(t, pb.Body)
	if res["job_id"] != id || res["errors"] != nil || res["video"] == nil {
		t.Fatalf("results = %s", pb.Body)
	}
	time.Sleep(2 * time.Second)
	if n := rcv.count(); n != 1 {
		t.Errorf("%d postbacks, want 1", n)
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(1) || usage["minutes"] != float64(1) {
		t.Errorf("usage = %v, want one job billed once", usage)
	}
	if left := workFilesLeft(srv); len(left) != 0 {
		t.Errorf("work files left after the job: %v", left)
	}
}
