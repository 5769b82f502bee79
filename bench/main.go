// Command bench measures what vidjob adds around ffmpeg and how its API holds up
// under load, side by side in one run, and prints a table. It is a benchmark,
// not a test: numbers depend on the machine, so compare ratios from one run.
//
//	go run ./bench -suite submit            # POST /job throughput and latency, SQLite (and PostgreSQL)
//	go run ./bench -suite scaling           # submission latency and RSS with 100, 10,000 and 100,000 queued jobs, interleaved
//	go run ./bench -suite accel             # one 10-minute encode with 1, 2 and 4 pinned worker processes
//	go run ./bench -suite accel -accel-source 1m -accel-segment 15s   # a short run that shows it works
//	go run ./bench -suite overhead          # end-to-end job time ÷ ffmpeg alone, and the fixed overhead by phase
//	go run ./bench -suite memory            # vidjob's peak RSS while it runs a job on a 2 GB source
//	go run ./bench -suite x264              # what each --x264-preset costs in time and gives in quality
//	go run ./bench -suite failover          # kill -9 or SIGSTOP of the encoding worker to the job's new ffmpeg elsewhere (PostgreSQL)
//
// With -markdown it prints only the tables docs/PERFORMANCE.md carries, each
// under a line giving the date, the core count, the CPU model and the command,
// so that refreshing the document is one command and a paste:
//
//	make bench BENCH_ARGS="-suite submit -count 3 -markdown"
//
// A quick smoke run of the overhead suite:
//
//	go run ./bench -suite overhead -sources 2s -presets 1351620000001-000010 -runs 2
//
// PostgreSQL is used when VIDJOB_TEST_DATABASE_URL names a server; the accel
// suite needs it (its workers are separate processes).
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	suite := flag.String("suite", "submit,scaling", "comma-separated suites: submit, scaling, overhead, memory, x264, accel, failover")
	clients := flag.Int("clients", 16, "concurrent clients for the submission suites")
	duration := flag.Duration("duration", 10*time.Second, "how long the submission suite runs per database")
	levels := flag.String("levels", "100,10000,100000", "queue sizes for the scaling suite")
	scalingRounds := flag.Int("scaling-rounds", 7, "scaling suite: rounds; each measures every queue size once")
	scalingJobs := flag.Int("scaling-jobs", 2000, "scaling suite: submissions measured per queue size and round")
	sources := flag.String("sources", "2s,35s,5m", "overhead suite: lengths of the generated 720p sources; the first is the one broken down by phase")
	presets := flag.String("presets", "1351620000001-000010,1351620000001-100070,1351620000001-200030,1351620000001-100250",
		"overhead suite: preset IDs (Generic 720p, Web, HLS 1M, Webm VP9 720p)")
	runs := flag.Int("runs", 5, "overhead suite: runs per source and preset (the median is shown)")
	longRuns := flag.Int("long-runs", 1, "overhead suite: runs for sources of -long-from or longer")
	longFrom := flag.Duration("long-from", 2*time.Minute, "overhead suite: sources this long use -long-runs")
	x264 := flag.String("x264-preset", "", "overhead and memory suites: vidjob's --x264-preset (default: vidjob's own for overhead, veryfast for memory)")
	fastStart := flag.Bool("faststart", true, "overhead suite: generate MP4 sources with their index first, as files served on the web have it (false: index last, so a worker cannot start before the download ends)")
	onPostgres := flag.Bool("postgres", false, "overhead suite: run vidjob on PostgreSQL (VIDJOB_TEST_DATABASE_URL) instead of SQLite")
	memMiB := flag.Int("memory-source-mib", 2048, "memory suite: size of the generated source in MiB")
	versitygw := flag.String("versitygw", "tools/bin/versitygw", "memory suite: S3 server to also measure uploads to S3 with (\"\" for the local store only)")
	x264Speeds := flag.String("x264-speeds", "medium,fast,faster,veryfast", "x264 suite: the x264 presets compared")
	x264Presets := flag.String("x264-presets", "1351620000001-000010,1351620000001-100070", "x264 suite: preset IDs (Generic 720p: Baseline; Web: Main)")
	x264Source := flag.Duration("x264-source", 35*time.Second, "x264 suite: length of the 720p source")
	accelSource := flag.Duration("accel-source", 10*time.Minute, "length of the accel suite's generated source")
	accelSegment := flag.Duration("accel-segment", 45*time.Second, "segment length of the accel suite (--accelerate-segment)")
	accelWorkers := flag.String("accel-workers", "1,2,4", "worker process counts of the accel suite")
	accelX264 := flag.String("accel-x264-preset", "medium", "x264 preset of the accel suite's workers and plain ffmpeg")
	accelPresetID := flag.String("accel-preset", accelPreset, "Elastic Transcoder preset of the accel suite")
	markdown := flag.Bool("markdown", false, "print only the tables docs/PERFORMANCE.md carries, each under a line with the date, machine and command")
	failoverKills := flag.Int("failover-kills", 10, "failover suite: rounds that kill -9 the encoding worker")
	failoverFreezes := flag.Int("failover-freezes", 10, "failover suite: rounds that freeze (SIGSTOP) the encoding worker")
	count := flag.Int("count", 1, "submit and scaling suites: how many times to run, one row (or group of rows) per run")
	flag.Parse()
	if *count < 1 {
		fail(fmt.Errorf("-count must be at least 1"))
	}
	counts, err := parseCounts(*accelWorkers)
	if err != nil {
		fail(err)
	}
	var serveFlags []string
	if *x264 != "" {
		serveFlags = append(serveFlags, "--x264-preset", *x264)
	}

	bin, cleanup, err := buildVidjob()
	if err != nil {
		fail(err)
	}
	defer cleanup()
	out := &report{w: os.Stdout, markdown: *markdown, command: commandLine(os.Args[1:]), cpu: cpuModel(), cores: numCPU(), now: time.Now}
	env := benchEnv{bin: bin, clients: *clients, out: out}
	if !out.markdown {
		fmt.Printf("vidjob benchmark — %s, %d cores, %s\n\n", time.Now().UTC().Format(time.RFC3339), out.cores, out.cpu)
	}
	for _, s := range strings.Split(*suite, ",") {
		switch strings.TrimSpace(s) {
		case "submit":
			err = env.submitSuite(*duration, *count)
		case "scaling":
			err = env.scalingSuite(scalingOptions{levels: parseLevels(*levels), rounds: *scalingRounds, jobs: *scalingJobs, count: *count})
		case "accel":
			err = env.accelSuite(accelOptions{source: *accelSource, segment: *accelSegment, workers: counts,
				x264: *accelX264, presetID: *accelPresetID})
		case "overhead":
			var o overheadOptions
			o, err = parseOverhead(*sources, *presets, *runs, *longRuns, *longFrom)
			if err == nil {
				o.serve, o.postgres, o.fastStart = serveFlags, *onPostgres, *fastStart
				err = env.overheadSuite(o)
			}
		case "failover":
			err = env.failoverSuite(*failoverKills, *failoverFreezes)
		case "x264":
			err = env.x264Suite(*x264Source, splitList(*x264Presets), splitList(*x264Speeds))
		case "memory":
			gw := *versitygw
			if _, statErr := os.Stat(gw); gw != "" && statErr != nil {
				fmt.Fprintf(os.Stderr, "bench: %s not found; measuring the local object store only\n", gw)
				gw = ""
			}
			// The encoder's speed does not change vidjob's own memory; a fast
			// one keeps the suite short.
			memFlags := serveFlags
			if *x264 == "" {
				memFlags = []string{"--x264-preset", "veryfast"}
			}
			err = env.memorySuite(int64(*memMiB)<<20, memFlags, gw)
		default:
			err = fmt.Errorf("unknown suite %q", s)
		}
		if err != nil {
			fail(err)
		}
	}
}

func parseOverhead(sources, presets string, runs, longRuns int, longFrom time.Duration) (overheadOptions, error) {
	o := overheadOptions{runs: runs, longRuns: longRuns, longFrom: longFrom}
	for _, f := range strings.Split(sources, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return o, fmt.Errorf("-sources: %q is not a duration such as 2s or 5m", f)
		}
		o.sources = append(o.sources, d)
	}
	for _, p := range strings.Split(presets, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.presets = append(o.presets, p)
		}
	}
	if len(o.presets) == 0 || runs < 1 || longRuns < 1 {
		return o, fmt.Errorf("-presets, -runs and -long-runs need at least one")
	}
	return o, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

type benchEnv struct {
	bin     string
	clients int
	out     *report
}

// buildVidjob builds the binary under test into a temporary directory.
func buildVidjob() (string, func(), error) {
	dir, err := os.MkdirTemp("", "vidjob-bench-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "vidjob")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/vidjob")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build vidjob: %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// database is a database to run vidjob on.
type database struct {
	name string
	url  string // "" for SQLite in the data directory
	drop func()
}

// databases returns SQLite and, when VIDJOB_TEST_DATABASE_URL is set, a fresh
// PostgreSQL database.
func databases() ([]database, error) {
	dbs := []database{{name: "SQLite"}}
	if os.Getenv("VIDJOB_TEST_DATABASE_URL") == "" {
		fmt.Fprintln(os.Stderr, "bench: PostgreSQL skipped: VIDJOB_TEST_DATABASE_URL is not set")
		return dbs, nil
	}
	pg, err := freshPostgres()
	if err != nil {
		return nil, err
	}
	return append(dbs, pg), nil
}

// freshPostgres creates a new database on the server VIDJOB_TEST_DATABASE_URL
// names; its drop removes it.
func freshPostgres() (database, error) {
	base := os.Getenv("VIDJOB_TEST_DATABASE_URL")
	u, err := url.Parse(base)
	if err != nil {
		return database{}, err
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return database{}, err
	}
	name := fmt.Sprintf("vidjob_bench_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return database{}, fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + name
	return database{name: "PostgreSQL", url: u.String(), drop: func() {
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}}, nil
}

// apiServer is a running `vidjob serve`. With --workers 0 jobs are accepted
// and stay queued, so only the API and the database are measured.
type apiServer struct {
	url   string
	appID string
	cmd   *exec.Cmd
	data  string
}

// startAPI starts `vidjob serve` on db with the given extra flags (for the
// submission suites, "--workers", "0").
func (e benchEnv) startAPI(db database, flags ...string) (*apiServer, error) {
	data, err := os.MkdirTemp("", "vidjob-bench-data-")
	if err != nil {
		return nil, err
	}
	dbArgs := []string{"--data", data}
	if db.url != "" {
		dbArgs = append(dbArgs, "--database", db.url)
	}
	out, err := exec.Command(e.bin, append([]string{"apps", "create", "bench"}, dbArgs...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("apps create: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	args := append([]string{"serve", "--listen", addr, "--log-level", "warn"}, dbArgs...)
	cmd := exec.Command(e.bin, append(args, flags...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &apiServer{url: "http://" + addr, appID: strings.TrimSpace(string(out)), cmd: cmd, data: data}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := httpClient.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("vidjob serve did not become healthy")
}

func (s *apiServer) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	os.RemoveAll(s.data)
}

// job is a valid job for the benchmark: it is accepted and stays queued.
func (s *apiServer) job() string {
	return `{"application_id": "` + s.appID + `", "src": "https://media.example.com/squirrel.mp4", "src_type": "pre_process_only",
 "v": 1.22, "postback_url": "https://hooks.example.com/postback", "pre_process": {"transcode": {
 "preset_id": "System preset generic 720p", "video_identifier": "toms_video",
 "s3_destination": {"bucket": "YOUR_BUCKET", "key": "grumpy_squirrel/transcoded_out.mp4"}}}}`
}
