package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// ClientFlags reach a running vidjob server's API.
type ClientFlags struct {
	Server        string `help:"Base URL of the vidjob server." default:"http://127.0.0.1:8080" env:"VIDJOB_SERVER"`
	ApplicationID string `name:"application-id" help:"Your application ID (from vidjob apps create)." env:"VIDJOB_APPLICATION_ID"`
}

// apiClient is the CLI's side of the HTTP API.
type apiClient struct {
	base string
	http *http.Client
}

func (f ClientFlags) client() (*apiClient, error) {
	u, err := url.Parse(f.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not an http(s) URL", f.Server)
	}
	return &apiClient{base: strings.TrimRight(f.Server, "/"), http: &http.Client{Timeout: 90 * time.Second}}, nil
}

// appQuery names the application on reads of one job, for servers that scope
// them to it; empty when no application ID is set.
func (f ClientFlags) appQuery() string {
	if f.ApplicationID == "" {
		return ""
	}
	return "?" + url.Values{"application_id": {f.ApplicationID}}.Encode()
}

func (f ClientFlags) needApp() error {
	if f.ApplicationID == "" {
		return errors.New("an application ID is needed: pass --application-id or set VIDJOB_APPLICATION_ID (vidjob apps create NAME makes one)")
	}
	return nil
}

// apiError is a refusal in Blitline's shape, {"results": {"error": "..."}}.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// do sends a request and returns the body of a 2xx answer, or an apiError.
func (c *apiClient) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "vidjob-cli")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("reach the vidjob server: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var env struct {
			Results struct {
				Error string `json:"error"`
			} `json:"results"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &env) == nil && env.Results.Error != "" {
			msg = env.Results.Error
		}
		return resp.StatusCode, raw, &apiError{Status: resp.StatusCode, Message: msg}
	}
	return resp.StatusCode, raw, nil
}

func (c *apiClient) getJSON(ctx context.Context, path string, v any) error {
	_, raw, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode the answer to GET %s: %w", path, err)
	}
	return nil
}

// printJSON writes v indented to stdout.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// JobsCmd lists an application's jobs.
type JobsCmd struct {
	ClientFlags
	Status string `help:"Only jobs in this state: queued, fetching, transcoding, uploading, completed, failed." enum:",queued,fetching,transcoding,uploading,completed,failed" default:""`
	Limit  int    `help:"At most this many jobs, newest first." default:"20"`
	JSON   bool   `name:"json" help:"Print the API's JSON instead of a table."`
}

// jobSummary is one job of GET /jobs.
type jobSummary struct {
	JobID     string    `json:"job_id"`
	State     string    `json:"state"`
	Progress  float64   `json:"progress"`
	PresetID  string    `json:"preset_id"`
	CreatedAt time.Time `json:"created_at"`
}

// Run prints the table.
func (c *JobsCmd) Run(ctx context.Context) error {
	if err := c.needApp(); err != nil {
		return err
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	q := url.Values{"application_id": {c.ApplicationID}, "limit": {fmt.Sprint(c.Limit)}}
	if c.Status != "" {
		q.Set("status", c.Status)
	}
	var out struct {
		Jobs []jobSummary `json:"jobs"`
	}
	if err := api.getJSON(ctx, "/jobs?"+q.Encode(), &out); err != nil {
		return err
	}
	if c.JSON {
		return printJSON(out)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB ID\tSTATE\tPROGRESS\tPRESET\tCREATED (UTC)")
	for _, j := range out.Jobs {
		fmt.Fprintf(tw, "%s\t%s\t%d%%\t%s\t%s\n", j.JobID, j.State, percentOf(j.State, j.Progress), j.PresetID, j.CreatedAt.UTC().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

func percentOf(state string, progress float64) int {
	if state == "completed" {
		return 100
	}
	return int(max(0, min(progress, 1)) * 100)
}

// JobCmd prints one job.
type JobCmd struct {
	ClientFlags
	ID string `arg:"" help:"The job_id."`
}

// Run prints the job's JSON: state, progress, results, charge and postback attempts.
func (c *JobCmd) Run(ctx context.Context) error {
	api, err := c.client()
	if err != nil {
		return err
	}
	var out json.RawMessage
	if err := api.getJSON(ctx, "/jobs/"+url.PathEscape(c.ID)+c.appQuery(), &out); err != nil {
		return err
	}
	return printJSON(out)
}

// UsageCmd prints an application's billed usage.
type UsageCmd struct {
	ClientFlags
	From string `help:"Start (inclusive): YYYY-MM-DD, an RFC 3339 time or Unix seconds."`
	To   string `help:"End (exclusive): YYYY-MM-DD, an RFC 3339 time or Unix seconds."`
	JSON bool   `name:"json" help:"Print the API's JSON."`
}

// Run prints the sums.
func (c *UsageCmd) Run(ctx context.Context) error {
	if err := c.needApp(); err != nil {
		return err
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	q := url.Values{"application_id": {c.ApplicationID}}
	if c.From != "" {
		q.Set("from", c.From)
	}
	if c.To != "" {
		q.Set("to", c.To)
	}
	var out struct {
		ApplicationID string `json:"application_id"`
		Jobs          int64  `json:"jobs"`
		Minutes       int64  `json:"minutes"`
		AmountUSD     string `json:"amount_usd"`
	}
	if err := api.getJSON(ctx, "/usage?"+q.Encode(), &out); err != nil {
		return err
	}
	if c.JSON {
		return printJSON(out)
	}
	fmt.Printf("application  %s\njobs         %d\nminutes      %d\namount       $%s\n", out.ApplicationID, out.Jobs, out.Minutes, out.AmountUSD)
	return nil
}
