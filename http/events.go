package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vidjob/vidjob/sqlstore"
)

// The live feed reads the database, not in-process signals, so that it sees
// jobs worked by every process of a cluster. These bound what it costs.
const (
	eventsPoll      = 500 * time.Millisecond
	eventsHeartbeat = 15 * time.Second
	// eventsOverlap re-reads a short window behind the last change seen, so that a
	// change committed late with an earlier timestamp is not missed.
	eventsOverlap = 3 * time.Second
	// maxEventStreams bounds concurrent feeds (each polls the database).
	maxEventStreams = 32
)

// getEvents streams job changes as server-sent events ("event: job", data: a
// jobSummary), from ?since= (Unix milliseconds, the page's render time) on,
// optionally for one application_id or one job_id.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case s.eventSlots() <- struct{}{}:
		defer func() { <-s.eventSlots() }()
	default:
		w.Header().Set("Retry-After", "10")
		http.Error(w, "Too many live feeds are open; try again shortly.", http.StatusServiceUnavailable)
		return
	}
	q := r.URL.Query()
	since := time.Now()
	if ms, err := strconv.ParseInt(q.Get("since"), 10, 64); err == nil && ms > 0 {
		// A page older than a minute starts afresh rather than replaying history.
		since = time.UnixMilli(max(ms, time.Now().Add(-time.Minute).UnixMilli()))
	}
	drawn := since
	appID, jobID := q.Get("application_id"), q.Get("job_id")
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, fmt.Errorf("events: response writer cannot flush"))
		return
	}
	// The server's write timeout would cut a long feed; the browser reconnects
	// anyway, but there is no need to make it.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()

	sent := map[string]time.Time{} // job → updated time last sent
	poll := time.NewTicker(eventsPoll)
	defer poll.Stop()
	lastWrite := time.Now()
	for {
		jobs, err := s.Lists.ListJobs(r.Context(), sqlstore.JobFilter{ApplicationID: appID, UpdatedAfter: since.Add(-eventsOverlap), Limit: 200})
		if err != nil && r.Context().Err() == nil {
			s.Logger.Warn("events: list jobs", "err", err)
		}
		latest := since
		for _, j := range jobs {
			if jobID != "" && j.ID != jobID {
				continue
			}
			if prev, ok := sent[j.ID]; ok && !j.UpdatedAt.After(prev) {
				continue
			}
			if j.UpdatedAt.Before(drawn) {
				// Changed before the page was drawn: the page shows it already.
				continue
			}
			b, _ := json.Marshal(summarize(j))
			fmt.Fprintf(w, "event: job\ndata: %s\n\n", b)
			sent[j.ID] = j.UpdatedAt
			lastWrite = time.Now()
			if j.UpdatedAt.After(latest) {
				latest = j.UpdatedAt
			}
		}
		since = latest
		for id, t := range sent {
			if t.Before(since.Add(-2 * eventsOverlap)) {
				delete(sent, id)
			}
		}
		if time.Since(lastWrite) > eventsHeartbeat {
			fmt.Fprint(w, ": keep-alive\n\n")
			lastWrite = time.Now()
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-s.streamsDone():
			// The server is shutting down; the browser reconnects elsewhere or later.
			return
		case <-poll.C:
		}
	}
}

// StopStreams ends every live feed, so that a graceful shutdown need not wait
// for dashboards to close (register it with http.Server.RegisterOnShutdown).
func (s *Server) StopStreams() {
	s.streamsDone()
	s.stopOnce.Do(func() { close(s.stop) })
}

func (s *Server) streamsDone() <-chan struct{} {
	s.slotsOnce.Do(s.initStreams)
	return s.stop
}

func (s *Server) initStreams() {
	s.slots = make(chan struct{}, maxEventStreams)
	s.stop = make(chan struct{})
}

// eventSlots is the semaphore of open feeds, made on first use.
func (s *Server) eventSlots() chan struct{} {
	s.slotsOnce.Do(s.initStreams)
	return s.slots
}
