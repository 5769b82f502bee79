package e2e

import (
	"database/sql"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// takeoverLimit is how soon after its worker is lost a job must be running
// elsewhere, with default flags.
const takeoverLimit = 30 * time.Second

// encoders returns the ffmpeg processes that the process pid started.
func encoders(pid int) []int {
	var out []int
	for _, c := range children(pid) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/comm"); strings.TrimSpace(string(b)) == "ffmpeg" {
			out = append(out, c)
		}
	}
	return out
}

// waitForEncoder waits until one of pids runs ffmpeg and returns which, the
// ffmpeg's pid and when it was seen.
func waitForEncoder(t *testing.T, timeout time.Duration, pids ...int) (owner, ffmpeg int, at time.Time) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, p := range pids {
			if e := encoders(p); len(e) > 0 {
				return p, e[0], time.Now()
			}
		}
	}
	t.Fatalf("no ffmpeg started under %v within %s", pids, timeout)
	return 0, 0, time.Time{}
}

// playsWhole decodes the output at u to the end and checks that it lasts
// as long as its source, seconds, with no decoding error.
func playsWhole(t *testing.T, u string, seconds float64) {
	t.Helper()
	p := ffprobe(t, u)
	if d, _ := strconv.ParseFloat(p.Format.Duration, 64); math.Abs(d-seconds) > 1 {
		t.Errorf("output lasts %s s, want the source's %g", p.Format.Duration, seconds)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", u, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("output does not decode cleanly: %v %s", err, out)
	}
}

// checkOnce checks that the job of a source of seconds completed once: one
// postback with its results, one charge, and an output that plays whole.
func checkOnce(t *testing.T, srv *server, rcv *receiver, id string, seconds float64) {
	t.Helper()
	res := completedOnce(t, srv, rcv, id, math.Ceil(seconds/60))
	_, st := srv.get(t, "/jobs/"+id)
	if st["state"] != "completed" {
		t.Errorf("job state %v, want completed", st["state"])
	}
	video, _ := res["video"].(map[string]any)
	s3url, _ := video["s3_url"].(string)
	playsWhole(t, s3url, seconds)
}

// TestKilledWorkerIsTakenOverWithinSeconds: with default flags (a 2 h job
// timeout), `kill -9` of the encoding worker has the other worker encoding
// the job within 30 s; the job completes once, is billed once and posts
// back once.
func TestKilledWorkerIsTakenOverWithinSeconds(t *testing.T) {
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	rcv := newReceiver(t)
	a, b := startWorker(t, srv, database), startWorker(t, srv, database)
	id := srv.submit(t, localJob(srv.AppID, media.URL+"/squirrel.mp4", rcv.URL))
	owner, _, _ := waitForEncoder(t, 2*time.Minute, a.cmd.Process.Pid, b.cmd.Process.Pid)
	victim, other := a, b
	if owner == b.cmd.Process.Pid {
		victim, other = b, a
	}
	time.Sleep(2 * time.Second) // well into the encode
	victim.cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	<-victim.done
	_, _, at := waitForEncoder(t, takeoverLimit, other.cmd.Process.Pid)
	t.Logf("takeover after kill -9: %.1f s", at.Sub(killed).Seconds())
	checkOnce(t, srv, rcv, id, 35)
}

// TestFrozenWorkerIsTakenOverAndFenced: the encoding worker and its ffmpeg
// are frozen (SIGSTOP, as a hung VM) for 60 s, past the job timeout; the
// other worker takes the job over within 30 s. Thawed, the frozen worker
// finds its lease gone: it stops its ffmpeg within one lease period and
// neither fails the job for its passed deadline, nor charges it, nor posts
// it back, nor deletes the new attempt's output.
func TestFrozenWorkerIsTakenOverAndFenced(t *testing.T) {
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	dir := t.TempDir()
	clip := testmedia.Make(t, dir, testmedia.Spec{Seconds: 150, Width: 1280, Height: 720})
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	// The frozen worker's deadline passes while it is frozen; the other
	// worker's does not while it encodes, which takes long enough that it
	// is still encoding when the frozen one wakes.
	frozen := startWorker(t, srv, database, "--job-timeout", "50s")
	id := srv.submit(t, localJob(srv.AppID, media.URL+"/"+filepath.Base(clip), rcv.URL))
	_, frozenFFmpeg, _ := waitForEncoder(t, 2*time.Minute, frozen.cmd.Process.Pid)
	other := startWorker(t, srv, database, "--job-timeout", "10m", "--x264-preset", "medium", "--ffmpeg-threads", "1")
	time.Sleep(3 * time.Second)
	frozen.cmd.Process.Signal(syscall.SIGSTOP)
	syscall.Kill(frozenFFmpeg, syscall.SIGSTOP)
	stopped := time.Now()
	_, _, at := waitForEncoder(t, takeoverLimit, other.cmd.Process.Pid)
	t.Logf("takeover after SIGSTOP: %.1f s", at.Sub(stopped).Seconds())

	time.Sleep(time.Until(stopped.Add(60 * time.Second)))
	syscall.Kill(frozenFFmpeg, syscall.SIGCONT)
	frozen.cmd.Process.Signal(syscall.SIGCONT)
	thawed := time.Now()
	if _, st := srv.get(t, "/jobs/"+id); st["state"] != "transcoding" {
		t.Errorf("at the thaw the new attempt is no longer encoding but %v: the test shows nothing of a stale attempt beside a live one", st["state"])
	}
	for alive(frozenFFmpeg) && time.Since(thawed) < 15*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(frozenFFmpeg) {
		t.Errorf("the thawed worker's ffmpeg %d still runs %s after the thaw", frozenFFmpeg, time.Since(thawed))
	} else {
		t.Logf("thawed worker's ffmpeg stopped %.1f s after the thaw", time.Since(thawed).Seconds())
	}
	checkOnce(t, srv, rcv, id, 150)
	log, _ := os.ReadFile(frozen.log)
	// Waking, it finds either its lease gone or, first, its deadline
	// passed and then its lease gone: either way it leaves the job.
	if !strings.Contains(string(log), "taken over by another worker") && !strings.Contains(string(log), "lease lost") &&
		!strings.Contains(string(log), "timed out and may have been taken over; leaving the job") {
		t.Errorf("the thawed worker does not say it lost the job:\n%s", filterRiverDebug(string(log)))
	}
	if strings.Contains(string(log), `"job failed"`) || strings.Contains(string(log), "job completed") {
		t.Errorf("the thawed worker ended the job:\n%s", filterRiverDebug(string(log)))
	}
}

// TestKilledSQLiteServerResumesItsJobAtOnce: `kill -9` of `vidjob serve` on
// SQLite mid-encode, then a restart: the interrupted job is encoding again
// within seconds, not after the rescue delay, and completes once.
func TestKilledSQLiteServerResumesItsJobAtOnce(t *testing.T) {
	srv := startServer(t)
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	rcv := newReceiver(t)
	id := srv.submit(t, localJob(srv.AppID, media.URL+"/squirrel.mp4", rcv.URL))
	waitForEncoder(t, 2*time.Minute, srv.cmd.Process.Pid)
	time.Sleep(2 * time.Second)
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done
	srv.cmd = nil
	restarted := time.Now()
	srv.start(t)
	_, _, at := waitForEncoder(t, 20*time.Second, srv.cmd.Process.Pid)
	t.Logf("encoding again %.1f s after the restart began", at.Sub(restarted).Seconds())
	checkOnce(t, srv, rcv, id, 35)
}

// cutProxy forwards TCP connections to target until cut, which drops them
// all and refuses new ones: the database is gone for whoever connects
// through it, and only for them.
type cutProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cutOff bool
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.cutOff {
				p.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOff = true
	p.l.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestWorkerCutOffFromTheDatabaseStopsItsEncode: the encoding worker loses
// its connection to PostgreSQL (a proxy between them is cut) while the
// other worker keeps its own: the cut-off worker stops its ffmpeg within one
// lease period (15 s), and the job completes once on the other worker.
func TestWorkerCutOffFromTheDatabaseStopsItsEncode(t *testing.T) {
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	src := squirrel(t)
	media := mediaServer(t, filepath.Dir(src))
	rcv := newReceiver(t)
	u, err := url.Parse(database)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startCutProxy(t, u.Host)
	u.Host = proxy.l.Addr().String()
	cutOff := startWorker(t, srv, u.String())
	id := srv.submit(t, localJob(srv.AppID, media.URL+"/squirrel.mp4", rcv.URL))
	_, ffmpeg, _ := waitForEncoder(t, 2*time.Minute, cutOff.cmd.Process.Pid)
	other := startWorker(t, srv, database)
	time.Sleep(2 * time.Second)
	proxy.cut()
	cut := time.Now()
	for alive(ffmpeg) && time.Since(cut) < 17*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(ffmpeg) {
		t.Fatalf("the cut-off worker's ffmpeg still runs %s after the cut", time.Since(cut))
	}
	t.Logf("cut-off worker stopped its ffmpeg %.1f s after the cut", time.Since(cut).Seconds())
	_, _, at := waitForEncoder(t, takeoverLimit, other.cmd.Process.Pid)
	t.Logf("takeover after the cut: %.1f s", at.Sub(cut).Seconds())
	checkOnce(t, srv, rcv, id, 35)
}

// TestKilledPartWorkerIsTakenOverWithinSeconds: with default timeouts,
// `kill -9` of a worker encoding a part of an accelerated job has that part
// running again on the other worker within 30 s; the job completes whole,
// billed and posted back once.
func TestKilledPartWorkerIsTakenOverWithinSeconds(t *testing.T) {
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 20, Width: 1280, Height: 720})
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	first := startWorker(t, srv, database, accelFlags...)
	id := srv.submit(t, accelJob(srv.AppID, media.URL+"/"+filepath.Base(src), rcv.URL, "1351620000001-000020", "out", "k.mp4"))
	db, err := sql.Open("pgx", database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Kill once the job waits for its parts and the first worker encodes one.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var parent string
		db.QueryRow(`SELECT state FROM river_job WHERE kind = 'vidjob_transcode'`).Scan(&parent)
		b, _ := os.ReadFile(first.log)
		if strings.Contains(string(b), "encoding in parts") && (parent == "scheduled" || parent == "available") &&
			len(encoders(first.cmd.Process.Pid)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never encoded a part")
		}
	}
	second := startWorker(t, srv, database, accelFlags...)
	first.cmd.Process.Kill()
	killed := time.Now()
	<-first.done
	var took time.Duration
	for deadline := killed.Add(takeoverLimit); ; time.Sleep(50 * time.Millisecond) {
		var n int
		db.QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'vidjob_encode_part' AND args ? 'lost' AND state IN ('running', 'completed')`).Scan(&n)
		if n > 0 {
			took = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed worker's part was not taken over within %s", takeoverLimit)
		}
	}
	t.Logf("part taken over %.1f s after kill -9", took.Seconds())
	res := results(t, rcv.wait(t, 4*time.Minute).Body)
	if res["job_id"] != id || res["errors"] != nil {
		t.Fatalf("results = %v", res)
	}
	time.Sleep(2 * time.Second)
	if n := rcv.count(); n != 1 {
		t.Errorf("%d postbacks, want 1", n)
	}
	_, usage := srv.get(t, "/usage?application_id="+srv.AppID)
	if usage["jobs"] != float64(1) || usage["minutes"] != float64(1) {
		t.Errorf("usage = %v, want one job billed once", usage)
	}
	got, want := mediaFacts(t, filepath.Join(srv.Data, "objects", "out", "k.mp4")), mediaFacts(t, src)
	if got.videoFrames != want.videoFrames || len(got.frameSteps) != 1 {
		t.Errorf("output: %d frames, steps %v; source %d frames", got.videoFrames, got.frameSteps, want.videoFrames)
	}
	if b, _ := os.ReadFile(second.log); !strings.Contains(string(b), "took over a lost attempt") {
		t.Error("the second worker took nothing over")
	}
}
