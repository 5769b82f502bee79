// Package http serves vidjob's API: Blitline's POST /job and GET /listen, plus
// the job status, usage, health and (for the embedded store) object endpoints.
package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/blitline"
	"github.com/vidjob/vidjob/fetch"
)

// Submitter accepts jobs (package queue).
type Submitter interface {
	Submit(ctx context.Context, appID string, req vidjob.Request) (*vidjob.Job, error)
}

// Store reads what the API shows (package sqlstore).
type Store interface {
	FindApplication(ctx context.Context, id string) (*vidjob.Application, error)
	FindJob(ctx context.Context, id string) (*vidjob.Job, error)
	FindCharge(ctx context.Context, jobID string) (*vidjob.Charge, error)
	Usage(ctx context.Context, appID string, from, to time.Time) (vidjob.Usage, error)
	PostbackAttempts(ctx context.Context, jobID string) ([]vidjob.PostbackAttempt, error)
	PostbackState(ctx context.Context, jobID string) (string, error)
	Ping(ctx context.Context) error
}

// SpaceChecker says whether the server has the disk space it keeps free
// (package localdisk): an EUNAVAILABLE error when it has not.
type SpaceChecker interface {
	Check() error
}

// PresetCatalog finds presets (package preset).
type PresetCatalog interface {
	Lookup(name string) (*vidjob.Preset, string, error)
	// All lists every preset, for GET /presets.
	All() []*vidjob.Preset
}

// Waiter wakes /listen requests when a job ends (queue.Hub).
type Waiter interface {
	Wait(jobID string) (<-chan struct{}, func())
}

// Server is the API's handler and its dependencies.
type Server struct {
	Submitter Submitter
	Store     Store
	Catalog   PresetCatalog
	// AppPresets holds applications' own presets (POST /presets); nil
	// refuses them, and jobs see the system catalog only.
	AppPresets AppPresets
	Waiter     Waiter
	// Policy refuses, at submission, URLs whose literal address is not allowed.
	Policy fetch.Policy
	// Objects serves the embedded object store at /objects/; nil when outputs go
	// to S3.
	Objects http.Handler
	// MaxBodyBytes bounds a POST /job body; Blitline allowed 250,000 characters.
	// Default 1 MiB.
	MaxBodyBytes int64
	// MaxJobsPerRequest bounds a job array; default 100.
	MaxJobsPerRequest int
	// ListenRequiresApp makes GET /listen/{id} answer only the job's
	// application (X-Application-Id or application_id), as GET /jobs/{id}
	// does. Off by default: the job ID is the credential, as on Blitline,
	// whose clients send nothing else.
	ListenRequiresApp bool
	// ListenKeepAlive is how long a held /listen stays silent: after it the
	// answer is committed as 200 and a space is written every ListenKeepAlive
	// until the results follow, so that proxies and clients with a read
	// timeout keep the connection. Default 3 s, below the shortest read
	// timeout of the Blitline clients (5 s).
	ListenKeepAlive time.Duration
	// MaxListeners bounds the /listen requests held at once; past it a
	// request for an unfinished job gets 503. Default 512.
	MaxListeners int
	// ListenWriteTimeout bounds each write of a held /listen, in place of
	// the server's WriteTimeout, which counts from the request and so would
	// cut a long hold. Default 1 min.
	ListenWriteTimeout time.Duration
	// RecheckInterval is how often a waiting /listen re-reads the database, for
	// jobs finished by another process; default 2 s.
	RecheckInterval time.Duration
	Logger          *slog.Logger

	// Lists reads job lists, applications and daily usage (package sqlstore).
	Lists Lister
	// Presets lists the catalog on the dashboard.
	Presets PresetLister
	// AdminToken guards the dashboard and /metrics; empty locks them.
	AdminToken string
	// Metrics serves /metrics (package metrics); nil serves none.
	Metrics http.Handler
	// Space refuses jobs, and makes /healthz unhealthy, while the server's
	// disk is short of room; nil checks nothing.
	Space SpaceChecker

	slotsOnce sync.Once
	slots     chan struct{}
	stopOnce  sync.Once
	stop      chan struct{}

	listenOnce  sync.Once
	listenSlots chan struct{}
}

// Handler returns the routed API.
func (s *Server) Handler() http.Handler {
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 1 << 20
	}
	if s.ListenKeepAlive == 0 {
		s.ListenKeepAlive = DefaultListenKeepAlive
	}
	if s.MaxListeners == 0 {
		s.MaxListeners = DefaultMaxListeners
	}
	if s.RecheckInterval == 0 {
		s.RecheckInterval = 2 * time.Second
	}
	if l, ok := s.Store.(Lister); ok && s.Lists == nil {
		s.Lists = l
	}
	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(s.logRequests)
	r.Use(middleware.Recoverer)
	r.Post("/job", s.postJob)
	r.Get("/listen/{jobID}", s.getListen)
	r.Get("/jobs/{jobID}", s.getJob)
	r.Get("/usage", s.getUsage)
	r.Get("/presets", s.getPresets)
	r.Get("/presets/{id}", s.getPreset)
	r.Post("/presets", s.postPreset)
	r.Delete("/presets/{id}", s.deletePreset)
	r.Get("/healthz", s.getHealth)
	r.Get("/jobs", s.listJobs)
	r.Get("/openapi.json", s.getOpenAPI)
	r.Get("/docs", s.getDocs)
	s.mountOperator(r)
	if s.Objects != nil {
		r.Method(http.MethodGet, "/objects/*", s.Objects)
		r.Method(http.MethodHead, "/objects/*", s.Objects)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, vidjob.Errorf(vidjob.ENOTFOUND, "No such endpoint: %s %s.", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, blitline.Envelope{Results: blitline.Refused{Error: "Method " + r.Method + " is not allowed here."}})
	})
	return r
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		start := time.Now()
		next.ServeHTTP(ww, r)
		s.Logger.Debug("http", "method", r.Method, "path", r.URL.Path, "status", ww.Status(),
			"ms", time.Since(start).Milliseconds(), "request_id", middleware.GetReqID(r.Context()))
	})
}

// statusFor maps an application error code to its HTTP status, in one place.
func statusFor(code string) int {
	switch code {
	case vidjob.EINVALID:
		return http.StatusBadRequest
	case vidjob.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case vidjob.EFORBIDDEN:
		return http.StatusForbidden
	case vidjob.ENOTFOUND:
		return http.StatusNotFound
	case vidjob.EUNPROCESSABLE:
		return http.StatusUnprocessableEntity
	case vidjob.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case vidjob.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers in Blitline's error shape; internal causes go to the log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := vidjob.ErrorCode(err)
	if code == vidjob.EINTERNAL || code == vidjob.EUNAVAILABLE {
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == vidjob.EUNAVAILABLE {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, statusFor(code), blitline.Envelope{Results: blitline.ErrorAnswer(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// postJob accepts one job or an array of jobs.
func (s *Server) postJob(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
	subs, multi, err := blitline.DecodeRequest(r, blitline.Limits{MaxJobs: s.MaxJobsPerRequest})
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = vidjob.Errorf(vidjob.ETOOLARGE, "The request body is larger than the %d-byte limit.", s.MaxBodyBytes)
		}
		s.writeError(w, r, err)
		return
	}
	if s.Space != nil {
		// A job accepted now could not be stored or worked (SQLite cannot
		// commit on a full disk, ffmpeg cannot write its output).
		if err := s.Space.Check(); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	answers := make([]any, len(subs))
	firstErr := error(nil)
	accepted := 0
	for i, sub := range subs {
		job, err := s.accept(r.Context(), sub)
		if err != nil {
			answers[i] = blitline.ErrorAnswer(err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		accepted++
		answers[i] = blitline.AcceptedAnswer(job.ID)
		s.Logger.Info("job accepted", "job_id", job.ID, "application_id", sub.ApplicationID, "preset", sub.Request.Transcode.PresetID)
	}
	if !multi {
		if firstErr != nil {
			s.writeError(w, r, firstErr)
			return
		}
		writeJSON(w, http.StatusOK, blitline.Envelope{Results: answers[0]})
		return
	}
	status := http.StatusOK
	if accepted == 0 {
		status = statusFor(vidjob.ErrorCode(firstErr))
	}
	writeJSON(w, status, blitline.Envelope{Results: answers})
}

// accept checks what can be checked before queueing, then queues the job.
func (s *Server) accept(ctx context.Context, sub blitline.Submission) (*vidjob.Job, error) {
	if sub.Err != nil {
		return nil, sub.Err
	}
	app, err := s.Store.FindApplication(ctx, sub.ApplicationID)
	if err != nil {
		if vidjob.ErrorCode(err) == vidjob.ENOTFOUND {
			return nil, vidjob.Errorf(vidjob.EUNAUTHORIZED, "Your application ID is not known; check the application_id field.")
		}
		return nil, err
	}
	if err := app.CheckSubmit(sub.Request.Transcode.Destination.Bucket); err != nil {
		return nil, err
	}
	preset, err := s.lookupPreset(ctx, app, sub.Request.Transcode.PresetID)
	if err != nil {
		return nil, err
	}
	if err := preset.Supported(); err != nil {
		return nil, err
	}
	if bucket, _, isS3, err := vidjob.ParseS3Source(sub.Request.Src); isS3 {
		if err == nil {
			err = app.CheckRead(bucket)
		}
		if err != nil {
			return nil, err
		}
	} else if err := s.Policy.CheckLiteral("src", sub.Request.Src); err != nil {
		return nil, err
	}
	if sub.Request.PostbackURL != "" {
		if err := s.Policy.CheckLiteral("postback_url", sub.Request.PostbackURL); err != nil {
			return nil, err
		}
	}
	return s.Submitter.Submit(ctx, sub.ApplicationID, sub.Request)
}

// jobStatus is GET /jobs/{id}'s answer.
type jobStatus struct {
	JobID         string          `json:"job_id"`
	ApplicationID string          `json:"application_id"`
	State         string          `json:"state"`
	Progress      float64         `json:"progress"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	Request       vidjob.Request  `json:"request"`
	Results       json.RawMessage `json:"results,omitempty"`
	Charge        *chargeView     `json:"charge,omitempty"`
	Postback      *postbackView   `json:"postback,omitempty"`
	// Run shows the owner the commands the job ran and where its time went.
	// Their paths are relative to the job's working directory, so nothing of
	// the server's layout is shown.
	Run *vidjob.Run `json:"run,omitempty"`
}

type chargeView struct {
	DurationSeconds float64 `json:"duration_seconds"`
	Minutes         int64   `json:"minutes"`
	AmountUSD       string  `json:"amount_usd"`
}

type postbackView struct {
	State    string        `json:"state"`
	Attempts []attemptView `json:"attempts"`
}

type attemptView struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	Millis     int64     `json:"ms"`
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	job, err := s.findOwnJob(ctx, caller, chi.URLParam(r, "jobID"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st := jobStatus{
		JobID: job.ID, ApplicationID: job.ApplicationID, State: string(job.State), Progress: job.Progress,
		CreatedAt: job.CreatedAt.UTC(), UpdatedAt: job.UpdatedAt.UTC(), Request: job.Request, Run: job.Run,
	}
	if job.Result != nil {
		body, err := blitline.ResultJSON(job.Result)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var env struct {
			Results json.RawMessage `json:"results"`
		}
		json.Unmarshal(body, &env)
		st.Results = env.Results
	}
	st.Charge, st.Postback, err = s.chargeAndPostback(ctx, job)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// chargeAndPostback reads a job's charge (nil when it has none) and, when it
// has a postback_url, where its delivery stands with every attempt.
func (s *Server) chargeAndPostback(ctx context.Context, job *vidjob.Job) (*chargeView, *postbackView, error) {
	var cv *chargeView
	charge, err := s.Store.FindCharge(ctx, job.ID)
	if err != nil {
		return nil, nil, err
	}
	if charge != nil {
		cv = &chargeView{DurationSeconds: float64(charge.DurationMillis) / 1000, Minutes: charge.Minutes, AmountUSD: charge.Amount.String()}
	}
	if job.Request.PostbackURL == "" {
		return cv, nil, nil
	}
	state, err := s.Store.PostbackState(ctx, job.ID)
	if err != nil {
		return nil, nil, err
	}
	attempts, err := s.Store.PostbackAttempts(ctx, job.ID)
	if err != nil {
		return nil, nil, err
	}
	pv := &postbackView{State: state, Attempts: []attemptView{}}
	for _, a := range attempts {
		pv.Attempts = append(pv.Attempts, attemptView{Attempt: a.Attempt, At: a.At.UTC(), StatusCode: a.StatusCode, Error: a.Error, Millis: a.Duration.Milliseconds()})
	}
	return cv, pv, nil
}

// usageView is GET /usage's answer.
type usageView struct {
	ApplicationID string `json:"application_id"`
	Jobs          int64  `json:"jobs"`
	Minutes       int64  `json:"minutes"`
	AmountUSD     string `json:"amount_usd"`
}

func (s *Server) getUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	appID := app.ID
	from, err := parseTime("from", q.Get("from"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	to, err := parseTime("to", q.Get("to"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.Store.Usage(r.Context(), appID, from, to)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, usageView{ApplicationID: appID, Jobs: u.Jobs, Minutes: u.Minutes, AmountUSD: u.Amount.String()})
}

// parseTime reads an RFC 3339 time, a date (YYYY-MM-DD, midnight UTC) or Unix
// seconds.
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, vidjob.Errorf(vidjob.EINVALID, "%s must be an RFC 3339 time, a YYYY-MM-DD date or Unix seconds.", name)
}

func (s *Server) getHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.unhealthy(w, r, "database", vidjob.WrapError(vidjob.EUNAVAILABLE, err, "The database is unavailable."))
		return
	}
	if s.Space != nil {
		// The same check as POST /job's: unhealthy exactly while jobs are
		// refused for lack of room.
		if err := s.Space.Check(); err != nil {
			s.unhealthy(w, r, "disk_space", err)
			return
		}
	}
	writeJSON(w, http.StatusOK, health{Status: "ok"})
}

// health is GET /healthz's answer; Reason names what is wrong in a word a
// monitor can match ("database", "disk_space"), Error says it in a sentence.
type health struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (s *Server) unhealthy(w http.ResponseWriter, r *http.Request, reason string, err error) {
	s.Logger.Warn("unhealthy", "reason", reason, "err", err)
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, health{Status: "unavailable", Reason: reason, Error: vidjob.ErrorMessage(err)})
}
