package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

// load is the outcome of a burst of submissions.
type load struct {
	accepted  int
	errors    int
	elapsed   time.Duration
	latencies []time.Duration
}

func (l load) rate() float64 { return float64(l.accepted) / l.elapsed.Seconds() }

func (l load) percentile(p float64) time.Duration {
	if len(l.latencies) == 0 {
		return 0
	}
	i := int(float64(len(l.latencies)-1) * p)
	return l.latencies[i]
}

// submit posts jobs from n clients until total jobs were sent or d has passed
// (whichever is set), recording each request's latency.
func (s *apiServer) submit(clients, total int, d time.Duration) load {
	var mu sync.Mutex
	var res load
	var sent int
	deadline := time.Now().Add(d)
	body := s.job()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			ok, bad := 0, 0
			for {
				mu.Lock()
				if (total > 0 && sent >= total) || (d > 0 && time.Now().After(deadline)) {
					mu.Unlock()
					break
				}
				sent++
				mu.Unlock()
				t0 := time.Now()
				resp, err := httpClient.Post(s.url+"/job", "application/json", strings.NewReader(body))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mine = append(mine, time.Since(t0))
				if err == nil && resp.StatusCode == 200 {
					ok++
				} else {
					bad++
				}
			}
			mu.Lock()
			res.latencies = append(res.latencies, mine...)
			res.accepted += ok
			res.errors += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	return res
}

// submitResult is one database's figures in one run of the submit suite.
type submitResult struct {
	db       string
	rate     float64 // accepted jobs per second
	errors   int
	p50, p99 time.Duration
	rssMiB   float64 // the server's resident memory at the end of the run
}

// submitSuite measures POST /job with e.clients concurrent clients for d, on
// each database, with no workers so that only the API and database count;
// count times, one row per run.
func (e benchEnv) submitSuite(d time.Duration, count int) error {
	e.out.heading("Submission: POST /job, %d concurrent clients, %s, workers paused", e.clients, d)
	var runs [][]submitResult
	for run := 0; run < count; run++ {
		dbs, err := databases()
		if err != nil {
			return err
		}
		var results []submitResult
		for _, db := range dbs {
			s, err := e.startAPI(db, "--workers", "0")
			if err != nil {
				return err
			}
			s.submit(e.clients, 200, 0) // warm up connections and caches
			l := s.submit(e.clients, 0, d)
			rss := procMiB(s.cmd.Process.Pid, "VmRSS")
			s.stop()
			if db.drop != nil {
				db.drop()
			}
			results = append(results, submitResult{db: db.name, rate: l.rate(), errors: l.errors,
				p50: l.percentile(0.50), p99: l.percentile(0.99), rssMiB: rss})
		}
		runs = append(runs, results)
	}
	e.out.table(submitTable(runs))
	return nil
}

// submitTable lays out the submit suite's runs one row per run, the
// databases side by side, as docs/PERFORMANCE.md carries them. A run with
// failed submissions says so beside its rate.
func submitTable(runs [][]submitResult) table {
	t := table{header: []string{"run"}}
	if len(runs) == 0 {
		return t
	}
	for _, r := range runs[0] {
		t.header = append(t.header, r.db+" jobs/s", r.db+" p50 / p99")
	}
	t.header = append(t.header, "vidjob RSS")
	for i, results := range runs {
		row := []string{strconv.Itoa(i + 1)}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range results {
			rate := thousands(int64(math.Round(r.rate)))
			if r.errors > 0 {
				rate += fmt.Sprintf(" (%d failed)", r.errors)
			}
			row = append(row, rate, fmt.Sprintf("%s / %s ms", msNum(r.p50), msNum(r.p99)))
			lo, hi = min(lo, math.Round(r.rssMiB)), max(hi, math.Round(r.rssMiB))
		}
		rss := fmt.Sprintf("%.0f MiB", lo)
		if hi > lo {
			rss = fmt.Sprintf("%.0f–%.0f MiB", lo, hi)
		}
		t.rows = append(t.rows, append(row, rss))
	}
	return t
}

func ms(d time.Duration) string { return msNum(d) + " ms" }

// msNum is d in milliseconds to a tenth, without the unit.
func msNum(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// procMiB reads a memory figure of a process from /proc/PID/status: VmRSS
// (resident now) or VmHWM (the most it was ever resident). Either counts
// that process alone, never its children.
func procMiB(pid int, field string) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func parseLevels(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

func numCPU() int { return runtime.NumCPU() }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return "unknown CPU"
}
