package http

import (
	"context"
	"net/http"
	"strings"

	"github.com/vidjob/vidjob"
)

// ApplicationHeader names the application on GET requests, as an alternative
// to the application_id query parameter (which ends up in access logs).
const ApplicationHeader = "X-Application-Id"

// caller returns the application a read request speaks for: the
// X-Application-Id header, else the application_id query parameter. An
// application ID is the client's credential, so a missing or unknown one is
// EUNAUTHORIZED. Disabled applications may still read their jobs.
func (s *Server) caller(r *http.Request) (*vidjob.Application, error) {
	id := strings.TrimSpace(r.Header.Get(ApplicationHeader))
	if id == "" {
		id = strings.TrimSpace(r.URL.Query().Get("application_id"))
	}
	if id == "" {
		return nil, vidjob.Errorf(vidjob.EUNAUTHORIZED, "Your application ID is required; send it in the %s header or the application_id query parameter.", ApplicationHeader)
	}
	app, err := s.Store.FindApplication(r.Context(), id)
	if vidjob.ErrorCode(err) == vidjob.ENOTFOUND {
		return nil, vidjob.Errorf(vidjob.EUNAUTHORIZED, "Your application ID is not known; check the %s header or application_id parameter.", ApplicationHeader)
	}
	return app, err
}

// findOwnJob returns the job when caller owns it (or caller is nil: open
// /listen). Another application's job is answered exactly as a job that does
// not exist, so that job IDs cannot be probed across tenants.
func (s *Server) findOwnJob(ctx context.Context, caller *vidjob.Application, id string) (*vidjob.Job, error) {
	job, err := s.Store.FindJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if caller != nil && job.ApplicationID != caller.ID {
		return nil, vidjob.Errorf(vidjob.ENOTFOUND, "Job %q is not known.", id)
	}
	return job, nil
}
