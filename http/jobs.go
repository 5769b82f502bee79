package http

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/sqlstore"
)

// Lister reads lists for GET /jobs and the dashboard (package sqlstore).
type Lister interface {
	ListJobs(ctx context.Context, f sqlstore.JobFilter) ([]*vidjob.Job, error)
	ListApplications(ctx context.Context) ([]vidjob.Application, error)
	DailyUsage(ctx context.Context, appID string, from, to time.Time) ([]sqlstore.DayUsage, error)
}

// jobSummary is one row of GET /jobs and of the dashboard's live feed.
type jobSummary struct {
	JobID           string    `json:"job_id"`
	ApplicationID   string    `json:"application_id"`
	State           string    `json:"state"`
	Progress        float64   `json:"progress"`
	PresetID        string    `json:"preset_id"`
	VideoIdentifier string    `json:"video_identifier,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func summarize(j *vidjob.Job) jobSummary {
	return jobSummary{
		JobID: j.ID, ApplicationID: j.ApplicationID, State: string(j.State), Progress: j.Progress,
		PresetID: j.Request.Transcode.PresetID, VideoIdentifier: j.Request.Transcode.VideoIdentifier,
		CreatedAt: j.CreatedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(),
	}
}

// jobList is GET /jobs's answer.
type jobList struct {
	Jobs []jobSummary `json:"jobs"`
}

// parseState accepts a job state name, or empty for any.
func parseState(v string) (vidjob.State, error) {
	switch s := vidjob.State(v); s {
	case "", vidjob.StateQueued, vidjob.StateFetching, vidjob.StateTranscoding, vidjob.StateUploading,
		vidjob.StateCompleted, vidjob.StateFailed:
		return s, nil
	}
	return "", vidjob.Errorf(vidjob.EINVALID, "status must be one of queued, fetching, transcoding, uploading, completed, failed.")
}

// listJobs answers GET /jobs?status=&limit=: the calling application's jobs
// (X-Application-Id or ?application_id=, as every read takes it), newest first.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	state, err := parseState(q.Get("status"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			s.writeError(w, r, vidjob.Errorf(vidjob.EINVALID, "limit must be a whole number from 1 to 500."))
			return
		}
		limit = n
	}
	jobs, err := s.Lists.ListJobs(r.Context(), sqlstore.JobFilter{ApplicationID: app.ID, State: state, Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := jobList{Jobs: make([]jobSummary, 0, len(jobs))}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, summarize(j))
	}
	writeJSON(w, http.StatusOK, out)
}
