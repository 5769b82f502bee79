package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// SubmitCmd submits a job through the HTTP API and, with --wait, follows it.
type SubmitCmd struct {
	ClientFlags
	File       string        `arg:"" optional:"" help:"A Blitline job file (one job or an array of jobs); - reads stdin. Without it, the job is built from the flags below."`
	Src        string        `help:"URL of the source video."`
	Preset     string        `help:"Preset ID, name or description (see vidjob presets)."`
	Bucket     string        `help:"Destination bucket."`
	Key        string        `help:"Destination key."`
	Identifier string        `help:"video_identifier, echoed in the results."`
	Postback   string        `help:"URL that receives the results when the job ends."`
	Wait       bool          `help:"Follow the job to its end: a progress bar on a terminal, plain lines otherwise; then print the results JSON. Exits non-zero if the job failed."`
	Timeout    time.Duration `help:"With --wait, give up after this long." default:"2h30m"`
	Poll       time.Duration `help:"With --wait, how often to ask for progress." default:"500ms" hidden:""`
}

// job builds the request body: the file as given (with the application ID
// filled in where it is missing), or a job from the flags.
func (c *SubmitCmd) job() ([]byte, error) {
	if c.File != "" {
		if c.Src != "" || c.Preset != "" || c.Bucket != "" || c.Key != "" {
			return nil, errors.New("give either a job file or --src/--preset/--bucket/--key, not both")
		}
		var raw []byte
		var err error
		if c.File == "-" {
			raw, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		} else {
			raw, err = os.ReadFile(c.File)
		}
		if err != nil {
			return nil, fmt.Errorf("read job file: %w", err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("job file %s is not JSON: %w", c.File, err)
		}
		fill := func(m map[string]any) {
			if _, ok := m["application_id"]; !ok && c.ApplicationID != "" {
				m["application_id"] = c.ApplicationID
			}
		}
		switch v := v.(type) {
		case map[string]any:
			fill(v)
		case []any:
			for _, e := range v {
				if m, ok := e.(map[string]any); ok {
					fill(m)
				}
			}
		default:
			return nil, fmt.Errorf("job file %s holds neither a job object nor an array of jobs", c.File)
		}
		return json.Marshal(v)
	}
	var missing []string
	for name, v := range map[string]string{"--src": c.Src, "--preset": c.Preset, "--bucket": c.Bucket, "--key": c.Key} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s (or give a job file)", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	if err := c.needApp(); err != nil {
		return nil, err
	}
	transcode := map[string]any{
		"preset_id":      c.Preset,
		"s3_destination": map[string]any{"bucket": c.Bucket, "key": c.Key},
	}
	if c.Identifier != "" {
		transcode["video_identifier"] = c.Identifier
	}
	job := map[string]any{
		"application_id": c.ApplicationID,
		"src":            c.Src,
		"src_type":       "pre_process_only",
		"v":              1.22,
		"pre_process":    map[string]any{"transcode": transcode},
	}
	if c.Postback != "" {
		job["postback_url"] = c.Postback
	}
	return json.Marshal(job)
}

// Run submits, prints each job ID (without --wait) or follows each job.
func (c *SubmitCmd) Run(ctx context.Context) error {
	body, err := c.job()
	if err != nil {
		return err
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	_, raw, err := api.do(ctx, http.MethodPost, "/job", body)
	if err != nil {
		return fmt.Errorf("the server refused the job: %w", err)
	}
	ids, refusals, err := acceptedIDs(raw)
	if err != nil {
		return err
	}
	for _, r := range refusals {
		fmt.Fprintln(os.Stderr, "vidjob: a job was refused:", r)
	}
	if !c.Wait {
		for _, id := range ids {
			fmt.Println(id)
		}
		if len(refusals) > 0 {
			return fmt.Errorf("%d of %d jobs refused", len(refusals), len(refusals)+len(ids))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	failed := len(refusals)
	for _, id := range ids {
		ok, err := c.follow(ctx, api, id)
		if err != nil {
			return err
		}
		if !ok {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d jobs failed", failed, len(refusals)+len(ids))
	}
	return nil
}

// acceptedIDs reads POST /job's answer: one {"job_id"} or an array of answers.
func acceptedIDs(raw []byte) (ids, refusals []string, err error) {
	var env struct {
		Results json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, nil, fmt.Errorf("decode the answer to POST /job: %w", err)
	}
	type answer struct {
		JobID string `json:"job_id"`
		Error string `json:"error"`
	}
	var list []answer
	if strings.HasPrefix(strings.TrimSpace(string(env.Results)), "[") {
		if err := json.Unmarshal(env.Results, &list); err != nil {
			return nil, nil, fmt.Errorf("decode the answer to POST /job: %w", err)
		}
	} else {
		var one answer
		if err := json.Unmarshal(env.Results, &one); err != nil {
			return nil, nil, fmt.Errorf("decode the answer to POST /job: %w", err)
		}
		list = []answer{one}
	}
	for _, a := range list {
		if a.JobID != "" {
			ids = append(ids, a.JobID)
		} else {
			refusals = append(refusals, a.Error)
		}
	}
	return ids, refusals, nil
}

// progressView shows a job's progress: a bar on a terminal, lines elsewhere.
type progressView interface {
	update(state string, percent int)
	done()
}

// barView draws phase, percent, speed (percent per second) and time left.
type barView struct{ bar *progressbar.ProgressBar }

func newBarView(jobID string) *barView {
	return &barView{bar: progressbar.NewOptions(100,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("%-11s", "queued")),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("%"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionSetTheme(progressbar.ThemeASCII),
	)}
}

func (v *barView) update(state string, percent int) {
	v.bar.Describe(fmt.Sprintf("%-11s", state))
	v.bar.Set(percent)
}

func (v *barView) done() {
	v.bar.Finish()
	fmt.Fprintln(os.Stderr)
}

// lineView prints a line when the phase changes or progress moves by 10 points.
type lineView struct {
	jobID     string
	lastState string
	lastPct   int
	started   time.Time
}

func (v *lineView) update(state string, percent int) {
	if state == v.lastState && percent < v.lastPct+10 && !(percent == 100 && v.lastPct < 100) {
		return
	}
	v.lastState, v.lastPct = state, percent
	fmt.Fprintf(os.Stderr, "job %s %s %d%% %.1fs\n", v.jobID, state, percent, time.Since(v.started).Seconds())
}

func (v *lineView) done() {}

// follow waits for the job's end, showing its progress, and prints its results
// JSON. It reports whether the job completed.
func (c *SubmitCmd) follow(ctx context.Context, api *apiClient, id string) (bool, error) {
	var view progressView = &lineView{jobID: id, lastPct: -100, started: time.Now()}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		fmt.Fprintf(os.Stderr, "job %s\n", id)
		view = newBarView(id)
	}
	tick := time.NewTicker(c.Poll)
	defer tick.Stop()
	for {
		var st struct {
			State    string  `json:"state"`
			Progress float64 `json:"progress"`
		}
		if err := api.getJSON(ctx, "/jobs/"+url.PathEscape(id)+c.appQuery(), &st); err != nil {
			return false, fmt.Errorf("follow job %s: %w", id, err)
		}
		view.update(st.State, percentOf(st.State, st.Progress))
		if st.State == "completed" || st.State == "failed" {
			view.done()
			break
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("gave up waiting for job %s (state %s): %w", id, st.State, ctx.Err())
		case <-tick.C:
		}
	}
	_, raw, err := api.do(ctx, http.MethodGet, "/listen/"+url.PathEscape(id)+c.appQuery(), nil)
	if err != nil {
		return false, fmt.Errorf("results of job %s: %w", id, err)
	}
	var res struct {
		Results struct {
			Errors []string `json:"errors"`
		} `json:"results"`
	}
	json.Unmarshal(raw, &res)
	var pretty any
	if err := json.Unmarshal(raw, &pretty); err != nil {
		return false, fmt.Errorf("results of job %s are not JSON: %w", id, err)
	}
	if err := printJSON(pretty); err != nil {
		return false, err
	}
	if len(res.Results.Errors) > 0 {
		fmt.Fprintf(os.Stderr, "vidjob: job %s failed: %s\n", id, strings.Join(res.Results.Errors, "; "))
		return false, nil
	}
	return true, nil
}
