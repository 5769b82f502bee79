package main

import (
	"fmt"
	"io"
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

// submitSuite measures POST /job with e.clients concurrent clients for d, on
// each database, with no workers so that only the API and database count.
func (e benchEnv) submitSuite(d time.Duration) error {
	dbs, err := databases()
	if err != nil {
		return err
	}
	fmt.Printf("## Submission: POST /job, %d concurrent clients, %s, workers paused\n\n", e.clients, d)
	fmt.Println("| database | accepted | errors | jobs/s | p50 | p99 | vidjob RSS |")
	fmt.Println("|---|---|---|---|---|---|---|")
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
		fmt.Printf("| %s | %d | %d | %.0f | %s | %s | %.0f MiB |\n", db.name, l.accepted, l.errors, l.rate(),
			ms(l.percentile(0.50)), ms(l.percentile(0.99)), rss)
	}
	fmt.Println()
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

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
