package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSoakJobsThroughRestarts submits 1,000 small jobs (VIDJOB_SOAK_JOBS to
// change) to an API server and a worker on PostgreSQL, restarting the API server
// a third of the way and the worker two thirds of the way through. Every job must
// complete, be charged once (the ledger's key holds) and post back once.
//
// It takes minutes, so it runs under `make soak` (VIDJOB_SOAK=1), which CI runs
// after `make test`.
func TestSoakJobsThroughRestarts(t *testing.T) {
	if os.Getenv("VIDJOB_SOAK") == "" {
		t.Skip("SKIPPED: soak test; run `make soak` (VIDJOB_SOAK=1)")
	}
	n := 1000
	if v := os.Getenv("VIDJOB_SOAK_JOBS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	worker := startWorker(t, srv, database, "--concurrency", "2")
	dir := t.TempDir()
	clip := makeClip(t, dir, 0.5)
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	job := strings.Replace(localJob(srv.AppID, media.URL+"/"+clip, rcv.URL), "System preset generic 720p", "1351620000001-000061", 1)

	var submitted atomic.Int64
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	const clients = 8
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; i < n; i += clients {
				id := submitWithRetry(t, srv.URL, job)
				if id == "" {
					return
				}
				mu.Lock()
				ids[id] = true
				mu.Unlock()
				submitted.Add(1)
			}
		}(c)
	}
	waitFor := func(count int64) {
		for submitted.Load() < count && !t.Failed() {
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor(int64(n / 3))
	srv.restart(t)
	t.Logf("API server restarted after %d submissions", submitted.Load())
	waitFor(int64(2 * n / 3))
	worker.cmd.Process.Signal(syscall.SIGTERM)
	<-worker.done
	startWorker(t, srv, database, "--concurrency", "2")
	t.Logf("worker restarted after %d submissions", submitted.Load())
	wg.Wait()
	if len(ids) != n {
		t.Fatalf("%d distinct job IDs for %d submissions", len(ids), n)
	}
	t.Logf("%d jobs submitted in %s", n, time.Since(start).Round(time.Millisecond))

	db, err := sql.Open("pgx", database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Minute)
	for {
		var done, failed int
		db.QueryRow(`SELECT COUNT(*) FILTER (WHERE state = 'completed'), COUNT(*) FILTER (WHERE state = 'failed') FROM jobs`).Scan(&done, &failed)
		if failed > 0 {
			t.Fatalf("%d jobs failed", failed)
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs completed before the deadline", done, n)
		}
		time.Sleep(time.Second)
	}
	t.Logf("%d jobs completed in %s", n, time.Since(start).Round(time.Millisecond))
	var charges, distinct int
	db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT job_id) FROM charges`).Scan(&charges, &distinct)
	if charges != n || distinct != n {
		t.Errorf("ledger has %d rows for %d jobs, want %d", charges, distinct, n)
	}
	// Postbacks: one per job.
	deadline = time.Now().Add(2 * time.Minute)
	for rcv.count() < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	perJob := map[string]int{}
	rcv.mu.Lock()
	for _, pb := range rcv.got {
		var env struct {
			Results struct {
				JobID string `json:"job_id"`
			} `json:"results"`
		}
		json.Unmarshal(pb.Body, &env)
		perJob[env.Results.JobID]++
	}
	rcv.mu.Unlock()
	for id := range ids {
		if perJob[id] != 1 {
			t.Errorf("job %s posted back %d times", id, perJob[id])
		}
	}
}

// submitWithRetry submits a job, retrying while the API server restarts.
func submitWithRetry(t *testing.T, base, job string) string {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/job", strings.NewReader(job))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var out struct {
			Results struct {
				JobID string `json:"job_id"`
				Error string `json:"error"`
			} `json:"results"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		cancel()
		if resp.StatusCode == http.StatusOK && out.Results.JobID != "" {
			return out.Results.JobID
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("submit: HTTP %d %s", resp.StatusCode, out.Results.Error)
			return ""
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error(fmt.Sprintf("submit: no answer within 2 minutes"))
	return ""
}

// TestSoakFailover runs 200 jobs (VIDJOB_SOAK_FAILOVER_JOBS to change) on
// three workers on PostgreSQL while a random worker is killed (and replaced)
// or frozen for 25 s every 20 s. Every job must complete exactly once,
// be charged once and post back once; the longest takeover (the loss to the
// lost worker's leases being taken and its jobs queued again for the next
// free worker) is reported and must be within 30 s.
func TestSoakFailover(t *testing.T) {
	if os.Getenv("VIDJOB_SOAK") == "" {
		t.Skip("SKIPPED: soak test; run `make soak` (VIDJOB_SOAK=1)")
	}
	n := 200
	if v := os.Getenv("VIDJOB_SOAK_FAILOVER_JOBS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	database := postgresDatabase(t)
	srv := startServer(t, "--database", database, "--workers", "0")
	db, err := sql.Open("pgx", database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	workers := []*worker{startWorker(t, srv, database), startWorker(t, srv, database), startWorker(t, srv, database)}
	dir := t.TempDir()
	clip := makeClip(t, dir, 3)
	media := mediaServer(t, dir)
	rcv := newReceiver(t)
	job := strings.Replace(localJob(srv.AppID, media.URL+"/"+clip, rcv.URL), "System preset generic 720p", "1351620000001-000061", 1)
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		ids[srv.submit(t, job)] = true
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var chaos sync.WaitGroup
	var losses, kills atomic.Int64
	var longest atomic.Int64 // nanoseconds
	chaos.Add(1)
	go func() {
		defer chaos.Done()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Second):
			}
			mu.Lock()
			w := workers[int(time.Now().UnixNano())%len(workers)]
			mu.Unlock()
			holder := workDirOf(w.cmd.Process.Pid)
			var held []string
			rows, err := db.Query(`SELECT job_id FROM job_leases WHERE holder = $1 AND kind = 'vidjob_transcode'`, holder)
			if err == nil {
				for rows.Next() {
					var id string
					rows.Scan(&id)
					held = append(held, id)
				}
				rows.Close()
			}
			freeze := i%2 == 1
			lost := time.Now()
			if freeze {
				signalTree(w.cmd.Process.Pid, syscall.SIGSTOP)
			} else {
				w.cmd.Process.Kill()
				<-w.done
				kills.Add(1)
			}
			losses.Add(1)
			for _, id := range held {
				for time.Since(lost) < 2*time.Minute && ctx.Err() == nil {
					// Taken over: the lost worker's lease is gone and the
					// job queued again for the next free worker.
					var still int
					db.QueryRow(`SELECT COUNT(*) FROM job_leases WHERE job_id = $1 AND holder = $2`, id, holder).Scan(&still)
					if still == 0 {
						if d := time.Since(lost); int64(d) > longest.Load() {
							longest.Store(int64(d))
						}
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			if freeze {
				time.Sleep(time.Until(lost.Add(25 * time.Second)))
				signalTree(w.cmd.Process.Pid, syscall.SIGCONT)
			} else {
				replacement := startWorker(t, srv, database)
				mu.Lock()
				for j := range workers {
					if workers[j] == w {
						workers[j] = replacement
					}
				}
				mu.Unlock()
			}
		}
	}()

	start := time.Now()
	deadline := start.Add(30 * time.Minute)
	for {
		var done, failed int
		db.QueryRow(`SELECT COUNT(*) FILTER (WHERE state = 'completed'), COUNT(*) FILTER (WHERE state = 'failed') FROM jobs`).Scan(&done, &failed)
		if failed > 0 {
			t.Fatalf("%d jobs failed", failed)
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs completed before the deadline", done, n)
		}
		time.Sleep(time.Second)
	}
	stop()
	chaos.Wait()
	t.Logf("%d jobs completed in %s through %d lost workers (%d killed, %d frozen); longest takeover %.1f s",
		n, time.Since(start).Round(time.Second), losses.Load(), kills.Load(), losses.Load()-kills.Load(), time.Duration(longest.Load()).Seconds())
	if d := time.Duration(longest.Load()); d > 30*time.Second {
		t.Errorf("longest takeover %s, want within 30 s", d)
	}
	var charges, distinct int
	db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT job_id) FROM charges`).Scan(&charges, &distinct)
	if charges != n || distinct != n {
		t.Errorf("ledger has %d rows for %d jobs, want %d", charges, distinct, n)
	}
	for deadline := time.Now().Add(2 * time.Minute); rcv.count() < n && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	perJob := map[string]int{}
	rcv.mu.Lock()
	for _, pb := range rcv.got {
		var env struct {
			Results struct {
				JobID  string `json:"job_id"`
				Errors []any  `json:"errors"`
			} `json:"results"`
		}
		json.Unmarshal(pb.Body, &env)
		perJob[env.Results.JobID]++
	}
	rcv.mu.Unlock()
	for id := range ids {
		if perJob[id] != 1 {
			t.Errorf("job %s posted back %d times", id, perJob[id])
		}
	}
}

// workDirOf returns the work directory whose lock the process pid holds
// open: the holder its leases name.
func workDirOf(pid int) string {
	fds, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && filepath.Base(target) == "lock" && strings.HasPrefix(filepath.Base(filepath.Dir(target)), "w-") {
			return filepath.Dir(target)
		}
	}
	return ""
}

// signalTree sends sig to pid and to the processes it started (its ffmpeg).
func signalTree(pid int, sig syscall.Signal) {
	if sig == syscall.SIGSTOP {
		syscall.Kill(pid, sig)
	}
	for _, c := range children(pid) {
		syscall.Kill(c, sig)
	}
	if sig != syscall.SIGSTOP {
		syscall.Kill(pid, sig)
	}
}
