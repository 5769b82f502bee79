package http

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/blitline"
)

// Defaults of GET /listen's settings (Server.ListenKeepAlive, MaxListeners).
const (
	// DefaultListenKeepAlive is below the shortest read timeout found in
	// Blitline's clients: the Python client reads with a 5 s timeout.
	DefaultListenKeepAlive = 3 * time.Second
	// DefaultMaxListeners bounds held /listen requests: each holds a
	// connection, a goroutine and a database read every RecheckInterval.
	DefaultMaxListeners = 512
	// MaxListenTimeout is the largest ?timeout= a client may ask for.
	MaxListenTimeout = 10 * time.Minute
	// DefaultListenWriteTimeout is how long one write of a held /listen may
	// take before the connection is given up.
	DefaultListenWriteTimeout = time.Minute
)

// listenPending is the early answer (HTTP 202) for a job that has not ended.
type listenPending struct {
	JobID    string  `json:"job_id"`
	State    string  `json:"state"`
	Progress float64 `json:"progress"`
}

// getListen answers GET /listen/{id} as Blitline's long poll did: it holds
// until the job has ended, however long that takes, and answers with the
// results (the postback's JSON, or the failure shape). Blitline's clients read
// the body whatever the status, so any answer before the end would be taken
// for the results. To keep proxies and client read timeouts from cutting a
// long hold, the answer is committed as 200 after ListenKeepAlive and a space
// is written every ListenKeepAlive until the JSON follows (JSON allows
// leading whitespace). A client that wants to poll asks with ?timeout=SECONDS
// and gets 202 with the job's state if it has not ended by then. An unknown
// job is 404 at once.
func (s *Server) getListen(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "jobID")
	early, hasEarly, err := listenTimeout(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	caller, err := s.listenCaller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Wait before the first read, so that an end announced between the read
	// and the wait is not missed.
	done, stop := s.Waiter.Wait(id)
	defer stop()
	job, err := s.findOwnJob(r.Context(), caller, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ended(job) {
		s.writeResults(w, r, job, false)
		return
	}
	select {
	case s.listeners() <- struct{}{}:
		defer func() { <-s.listeners() }()
	default:
		s.Logger.Warn("listen: too many requests held", "max_listeners", s.MaxListeners)
		s.writeError(w, r, vidjob.Errorf(vidjob.EUNAVAILABLE, "Too many requests are waiting on /listen at this server; try again in a few seconds, or rely on the postback."))
		return
	}
	l := &heldListen{s: s, w: w, r: r, rc: http.NewResponseController(w), job: job, done: done}
	// The server's WriteTimeout, counted from the request, would fail the
	// answer of a long hold: each write gets its own deadline instead.
	if hasEarly {
		l.rc.SetWriteDeadline(time.Now().Add(early + s.listenWriteTimeout()))
		l.wait(time.NewTimer(early).C, nil)
		return
	}
	l.rc.SetWriteDeadline(time.Now().Add(s.ListenKeepAlive + s.listenWriteTimeout()))
	keep := time.NewTicker(s.ListenKeepAlive)
	defer keep.Stop()
	l.wait(nil, keep.C)
}

// heldListen is one /listen request waiting for its job to end.
type heldListen struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	rc   *http.ResponseController
	job  *vidjob.Job
	done <-chan struct{}
	// committed is set once the 200 and a first space have been sent.
	committed bool
}

// wait re-reads the job whenever the hub announces it or RecheckInterval
// passes, and answers once it has ended. giveUp, when not nil, ends the wait
// with the 202 answer; keepAlive, when not nil, writes a space at each tick.
func (l *heldListen) wait(giveUp <-chan time.Time, keepAlive <-chan time.Time) {
	s, r := l.s, l.r
	recheck := time.NewTicker(s.RecheckInterval)
	defer recheck.Stop()
	for {
		select {
		case <-l.done:
			// The hub only tells that something changed: read below.
			l.done = nil
		case <-recheck.C:
		case <-keepAlive:
			if !l.keepAlive() {
				return
			}
			continue
		case <-giveUp:
			if latest, err := s.Store.FindJob(r.Context(), l.job.ID); err == nil {
				l.job = latest
			}
			if ended(l.job) {
				s.writeResults(l.w, r, l.job, false)
				return
			}
			writeJSON(l.w, http.StatusAccepted, blitline.Envelope{Results: listenPending{JobID: l.job.ID, State: string(l.job.State), Progress: l.job.Progress}})
			return
		case <-r.Context().Done():
			return // the client went away
		case <-s.streamsDone():
			if l.committed {
				// The status is sent: cut the body short so that the client
				// sees a broken answer, never one it could take for results.
				panic(http.ErrAbortHandler)
			}
			s.writeError(l.w, r, vidjob.Errorf(vidjob.EUNAVAILABLE, "The server is shutting down; ask /listen again."))
			return
		}
		latest, err := s.Store.FindJob(r.Context(), l.job.ID)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			if vidjob.ErrorCode(err) == vidjob.ENOTFOUND {
				s.writeResultError(l, err)
				return
			}
			// A database hiccup: the next recheck reads again.
			s.Logger.Warn("listen: read job", "err", err)
			continue
		}
		l.job = latest
		if ended(l.job) {
			l.rc.SetWriteDeadline(time.Now().Add(s.listenWriteTimeout()))
			s.writeResults(l.w, r, l.job, l.committed)
			return
		}
	}
}

// keepAlive commits the 200 on its first call and writes a space, which a
// JSON parser skips before the results. It reports whether the client is
// still reading.
func (l *heldListen) keepAlive() bool {
	if !l.committed {
		h := l.w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		// nginx would otherwise buffer the spaces away from the client.
		h.Set("X-Accel-Buffering", "no")
		l.w.WriteHeader(http.StatusOK)
		l.committed = true
	}
	l.rc.SetWriteDeadline(time.Now().Add(l.s.ListenKeepAlive + l.s.listenWriteTimeout()))
	if _, err := l.w.Write([]byte{' '}); err != nil {
		return false
	}
	return l.rc.Flush() == nil
}

// writeResultError ends a held /listen with an error: in Blitline's error
// shape with its status, or, once 200 is committed, as the body.
func (s *Server) writeResultError(l *heldListen, err error) {
	if !l.committed {
		s.writeError(l.w, l.r, err)
		return
	}
	s.Logger.Warn("listen: ended with an error after committing", "err", err)
	writeBody(l.w, blitline.Envelope{Results: blitline.ErrorAnswer(err)})
}

// writeResults answers with a finished job's results; committed says the 200
// and its headers are already sent.
func (s *Server) writeResults(w http.ResponseWriter, r *http.Request, job *vidjob.Job, committed bool) {
	body, err := blitline.ResultJSON(job.Result)
	if err != nil {
		if committed {
			s.Logger.Error("listen: render results", "err", err)
			writeBody(w, blitline.Envelope{Results: blitline.ErrorAnswer(err)})
			return
		}
		s.writeError(w, r, err)
		return
	}
	if !committed {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
	}
	w.Write(body)
}

// writeBody writes v as JSON after headers already sent.
func writeBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// listenCaller is the application a /listen request speaks for: required
// with ListenRequiresApp; otherwise checked only when the request names one
// (a caller who names an application is answered as that application, so
// another application's job is 404), and nil when it names none.
func (s *Server) listenCaller(r *http.Request) (*vidjob.Application, error) {
	named := strings.TrimSpace(r.Header.Get(ApplicationHeader)) != "" || strings.TrimSpace(r.URL.Query().Get("application_id")) != ""
	if !s.ListenRequiresApp && !named {
		return nil, nil
	}
	return s.caller(r)
}

// listenTimeout reads ?timeout=SECONDS, the client's request for an early
// answer: 0 answers at once.
func listenTimeout(q url.Values) (time.Duration, bool, error) {
	if _, ok := q["timeout"]; !ok {
		return 0, false, nil
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(q.Get("timeout")), 64)
	if err != nil || math.IsNaN(secs) || secs < 0 || secs > MaxListenTimeout.Seconds() {
		return 0, false, vidjob.Errorf(vidjob.EINVALID, "timeout must be a number of seconds from 0 to %d; leave it out to wait until the job ends.", int(MaxListenTimeout.Seconds()))
	}
	return time.Duration(secs * float64(time.Second)), true, nil
}

// ended reports whether a job's results can be answered.
func ended(job *vidjob.Job) bool { return job.State.Done() && job.Result != nil }

// listenWriteTimeout is ListenWriteTimeout or its default.
func (s *Server) listenWriteTimeout() time.Duration {
	if s.ListenWriteTimeout > 0 {
		return s.ListenWriteTimeout
	}
	return DefaultListenWriteTimeout
}

// listeners is the semaphore of held /listen requests, made on first use.
func (s *Server) listeners() chan struct{} {
	s.listenOnce.Do(func() {
		n := s.MaxListeners
		if n <= 0 {
			n = DefaultMaxListeners
		}
		s.listenSlots = make(chan struct{}, n)
	})
	return s.listenSlots
}
