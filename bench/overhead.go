package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
	"github.com/vidjob/vidjob/preset"
)

// overheadOptions choose what the overhead suite runs.
type overheadOptions struct {
	sources  []time.Duration
	presets  []string
	runs     int
	longRuns int           // runs for sources of at least longFrom
	longFrom time.Duration // sources this long or longer are "long"
	serve    []string      // extra `vidjob serve` flags (e.g. --x264-preset)
	postgres bool          // run on PostgreSQL (VIDJOB_TEST_DATABASE_URL) instead of SQLite
	// fastStart generates sources with the MP4 index first (web-style), so
	// a worker may probe and encode while the source downloads.
	fastStart bool
}

// presetName is a preset's catalog name without ET's "System preset: "
// prefix, for tables; an ID the catalog does not know stays as it is.
func presetName(id string) string {
	catalog, err := preset.Load()
	if err != nil {
		return id
	}
	p, _, err := catalog.Lookup(id)
	if err != nil {
		return id
	}
	return strings.TrimPrefix(p.Name, "System preset: ")
}

// sample is one job of the overhead suite next to plain ffmpeg.
type sample struct {
	key      string        // the output's key in bucket "bench"
	endToEnd time.Duration // POST /job sent → postback received
	plain    time.Duration // the job's own ffmpeg command, run by hand
	inJob    time.Duration // that command's wall time inside the job
	phases   map[string]time.Duration
}

// overheadSuite runs each preset on each generated 720p source through a
// vidjob with one worker, from POST /job to the postback arriving at a local
// receiver, and compares it with ffmpeg run alone with exactly the arguments
// the job lists.
func (e benchEnv) overheadSuite(o overheadOptions) error {
	media, err := os.MkdirTemp("", "vidjob-bench-media-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(media)
	srcFiles := map[time.Duration]string{}
	for _, d := range o.sources {
		t0 := time.Now()
		path, err := testmedia.Generate(context.Background(), media, testmedia.Spec{Seconds: d.Seconds(), Width: 1280, Height: 720, FastStart: o.fastStart})
		if err != nil {
			return fmt.Errorf("generate %s source: %w", d, err)
		}
		fmt.Fprintf(os.Stderr, "bench: generated %s 720p source in %s\n", d, time.Since(t0).Round(time.Second))
		srcFiles[d] = path
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

	db := database{name: "SQLite"}
	if o.postgres {
		dbs, err := databases()
		if err != nil {
			return err
		}
		if len(dbs) < 2 {
			return fmt.Errorf("-postgres needs VIDJOB_TEST_DATABASE_URL")
		}
		db = dbs[1]
		defer db.drop()
	}
	flags := append([]string{"--workers", "1", "--allow-cidr", "127.0.0.0/8"}, o.serve...)
	s, err := e.startAPI(db, flags...)
	if err != nil {
		return err
	}
	defer s.stop()
	// One job first, unmeasured: it starts the resident exiftool processes and
	// warms the database and the page cache, as on a server that has run a job.
	if _, err := s.overheadRun(origin.url+"/"+filepath.Base(srcFiles[o.sources[0]]), o.presets[0], srcFiles[o.sources[0]], recv); err != nil {
		return fmt.Errorf("warm-up job: %w", err)
	}

	results := map[time.Duration]map[string][]sample{}
	for _, d := range o.sources {
		results[d] = map[string][]sample{}
		runs := o.runs
		if d >= o.longFrom {
			runs = o.longRuns
		}
		for _, p := range o.presets {
			for i := 0; i < runs; i++ {
				smp, err := s.overheadRun(origin.url+"/"+filepath.Base(srcFiles[d]), p, srcFiles[d], recv)
				if err != nil {
					return fmt.Errorf("%s source, preset %s, run %d: %w", d, p, i+1, err)
				}
				fmt.Fprintf(os.Stderr, "bench: %s %s run %d: end-to-end %s, ffmpeg alone %s, queue wait %s, postback %s\n", d, presetName(p), i+1,
					smp.endToEnd.Round(time.Millisecond), smp.plain.Round(time.Millisecond),
					smp.phases[vidjob.PhaseQueueWait], smp.phases[vidjob.PhasePostback])
				results[d][p] = append(results[d][p], smp)
			}
		}
	}
	e.out.heading("Overhead: end-to-end job time ÷ ffmpeg alone with the job's own arguments")
	layout := "index (moov) first, as web-served files have it"
	if !o.fastStart {
		layout = "index (moov) last: the probe waits for the whole download"
	}
	e.out.note("Sources: H.264/AAC MP4, %s.", layout)
	e.out.note("One worker, %s, local object store, source and postback receiver on local HTTP. End to end is POST /job sent → postback received; ffmpeg alone is the job's listed encode command, run by hand on a local copy of the source. Medians of the runs shown.", db.name)
	e.out.note("*ratio* is the median end to end ÷ the median ffmpeg alone; *paired ratio* is the median of each run's end to end ÷ the ffmpeg run made right after it, which the encoder's drift over minutes disturbs less; *overhead* is the median of each run's difference. *outside ffmpeg* is end to end minus the job's own ffmpeg run, which a busy machine disturbs less still (all come from the same runs).")
	e.out.table(overheadTable(o.sources, o.presets, results))
	e.out.heading("Fixed overhead on the %s source, by phase (median ms)", o.sources[0])
	e.out.note("encode − ffmpeg is the encode phase's time outside the ffmpeg process (state updates, building arguments); other is end to end minus every phase (HTTP submission before the job row exists, and the receiver's side).")
	e.out.table(phaseTable(o.sources[0], o.presets, results[o.sources[0]]))
	return nil
}

// overheadTable is one row per source and preset: the medians of its runs
// against ffmpeg alone.
func overheadTable(sources []time.Duration, presets []string, results map[time.Duration]map[string][]sample) table {
	t := table{header: []string{"source", "preset", "runs", "end to end", "ffmpeg alone", "ratio", "paired ratio", "overhead (ms)", "outside ffmpeg (ms)"}}
	for _, d := range sources {
		for _, p := range presets {
			ss := results[d][p]
			e2e := median(ss, func(s sample) time.Duration { return s.endToEnd })
			plain := median(ss, func(s sample) time.Duration { return s.plain })
			over := median(ss, func(s sample) time.Duration { return s.endToEnd - s.plain })
			outside := median(ss, func(s sample) time.Duration { return s.endToEnd - s.inJob })
			t.rows = append(t.rows, []string{d.String(), presetName(p), fmt.Sprint(len(ss)), secs(e2e), secs(plain),
				fmt.Sprintf("%.2f", e2e.Seconds()/plain.Seconds()), fmt.Sprintf("%.2f", pairedRatio(ss)), msInt(over), msInt(outside)})
		}
	}
	return t
}

// phaseTable breaks the jobs on one source down by phase (median ms).
func phaseTable(source time.Duration, presets []string, results map[string][]sample) table {
	t := table{header: []string{"source", "preset", "end to end", "ffmpeg in job"}}
	t.header = append(t.header, vidjob.Phases()...)
	t.header = append(t.header, "encode − ffmpeg", "other")
	for _, p := range presets {
		ss := results[p]
		row := []string{source.String(), presetName(p), msInt(median(ss, func(s sample) time.Duration { return s.endToEnd })),
			msInt(median(ss, func(s sample) time.Duration { return s.inJob }))}
		for _, ph := range vidjob.Phases() {
			row = append(row, msInt(median(ss, func(s sample) time.Duration { return s.phases[ph] })))
		}
		row = append(row,
			msInt(median(ss, func(s sample) time.Duration { return s.phases[vidjob.PhaseEncode] - s.inJob })),
			msInt(median(ss, func(s sample) time.Duration {
				rest := s.endToEnd
				for _, d := range s.phases {
					rest -= d
				}
				return rest
			})))
		t.rows = append(t.rows, row)
	}
	return t
}

// overheadRun submits one job, waits for its postback, reads its run and,
// when localSrc is set, runs its encode command alone on that file.
func (s *apiServer) overheadRun(src, presetID, localSrc string, recv *receiver) (sample, error) {
	key := fmt.Sprintf("bench/%d", time.Now().UnixNano())
	body := fmt.Sprintf(`{"application_id": %q, "src": %q, "src_type": "pre_process_only", "v": 1.22, "postback_url": %q,
 "pre_process": {"transcode": {"preset_id": %q, "s3_destination": {"bucket": "bench", "key": %q}}}}`,
		s.appID, src, recv.url, presetID, key)
	start := time.Now()
	resp, err := httpClient.Post(s.url+"/job", "application/json", strings.NewReader(body))
	if err != nil {
		return sample{}, err
	}
	var accepted struct {
		Results struct {
			JobID string `json:"job_id"`
			Error string `json:"error"`
		} `json:"results"`
	}
	err = json.NewDecoder(resp.Body).Decode(&accepted)
	resp.Body.Close()
	id := accepted.Results.JobID
	if err != nil || id == "" {
		return sample{}, fmt.Errorf("POST /job: HTTP %d %v %s", resp.StatusCode, err, accepted.Results.Error)
	}
	arrived, err := recv.wait(id, 2*time.Hour)
	if err != nil {
		return sample{}, err
	}
	smp := sample{key: key, endToEnd: arrived.Sub(start), phases: map[string]time.Duration{}}
	run, err := s.jobRun(id)
	if err != nil {
		return sample{}, err
	}
	var encode *vidjob.Command
	for i, c := range run.Commands {
		if c.Phase == vidjob.PhaseEncode && strings.Contains(filepath.Base(c.Program), "ffmpeg") {
			encode = &run.Commands[i]
		}
	}
	if encode == nil {
		return sample{}, fmt.Errorf("job %s lists no encode command", id)
	}
	smp.inJob = time.Duration(encode.Millis) * time.Millisecond
	for _, p := range run.Phases {
		smp.phases[p.Phase] = time.Duration(p.Millis) * time.Millisecond
	}
	if localSrc == "" {
		return smp, nil
	}
	smp.plain, err = runAlone(encode, localSrc)
	return smp, err
}

// jobRun reads a finished job's run, waiting for the postback phase, which is
// written just after the receiver answers.
func (s *apiServer) jobRun(id string) (*vidjob.Run, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/jobs/"+id, nil)
		req.Header.Set("X-Application-Id", s.appID)
		resp, err := httpClient.Do(req)
		if err != nil {
			return nil, err
		}
		var st struct {
			State string      `json:"state"`
			Run   *vidjob.Run `json:"run"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("GET /jobs/%s: %w", id, err)
		}
		if st.State != string(vidjob.StateCompleted) {
			return nil, fmt.Errorf("job %s ended %s", id, st.State)
		}
		if st.Run != nil {
			if _, ok := st.Run.Phase(vidjob.PhasePostback); ok || time.Now().After(deadline) {
				return st.Run, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runAlone runs a job's encode command by hand in a directory laid out as the
// job's was: the source as "source" and an empty "out/".
func runAlone(c *vidjob.Command, localSrc string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "vidjob-bench-plain-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := os.Symlink(localSrc, filepath.Join(dir, "source")); err != nil {
		return 0, err
	}
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		return 0, err
	}
	cmd := exec.Command(c.Program, c.Args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("ffmpeg alone: %w: %s", err, stderr.String())
	}
	return time.Since(start), nil
}

// fileServer serves a directory over local HTTP, as a customer's origin would.
type fileServer struct {
	url string
	srv *http.Server
}

func serveDir(dir string) (*fileServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return &fileServer{url: "http://" + l.Addr().String(), srv: srv}, nil
}

func (f *fileServer) Close() { f.srv.Close() }

// receiver is a postback receiver that notes when each job's results arrive.
type receiver struct {
	fileServer
	mu      sync.Mutex
	arrived map[string]time.Time
	signal  chan struct{}
}

func newReceiver() (*receiver, error) {
	r := &receiver{arrived: map[string]time.Time{}, signal: make(chan struct{}, 1)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.url = "http://" + l.Addr().String() + "/postback"
	r.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		var body struct {
			Results struct {
				JobID string `json:"job_id"`
			} `json:"results"`
		}
		json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&body)
		w.WriteHeader(http.StatusNoContent)
		r.mu.Lock()
		if _, seen := r.arrived[body.Results.JobID]; !seen {
			r.arrived[body.Results.JobID] = at
		}
		r.mu.Unlock()
		select {
		case r.signal <- struct{}{}:
		default:
		}
	})}
	go r.srv.Serve(l)
	return r, nil
}

// wait returns when job id's postback arrived.
func (r *receiver) wait(id string, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		at, ok := r.arrived[id]
		r.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-r.signal:
		case <-time.After(time.Second):
		case <-deadline:
			return time.Time{}, fmt.Errorf("no postback for job %s within %s", id, timeout)
		}
	}
}

// pairedRatio is the median over runs of end to end ÷ ffmpeg alone.
func pairedRatio(ss []sample) float64 {
	r := make([]float64, 0, len(ss))
	for _, s := range ss {
		if s.plain > 0 {
			r = append(r, s.endToEnd.Seconds()/s.plain.Seconds())
		}
	}
	return medianOf(r)
}

// median of f over samples.
func median(ss []sample, f func(sample) time.Duration) time.Duration {
	v := make([]time.Duration, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	return medianOf(v)
}

// medianOf is the middle value of v, or the mean of the two middle ones for
// an even count; 0 for none. v is left as it was.
func medianOf[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func secs(d time.Duration) string  { return fmt.Sprintf("%.2f s", d.Seconds()) }
func msInt(d time.Duration) string { return fmt.Sprintf("%d", d.Milliseconds()) }
