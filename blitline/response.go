package blitline

import (
	"encoding/json"
	"net/url"

	"github.com/vidjob/vidjob"
)

// Accepted is the immediate answer element for a job that was queued.
type Accepted struct {
	JobID  string   `json:"job_id"`
	Images []string `json:"images"`
}

// Refused is the answer element for a job, or a request, that was not accepted.
type Refused struct {
	Error string `json:"error"`
}

// Envelope wraps every answer and postback body: {"results": ...}.
type Envelope struct {
	Results any `json:"results"`
}

// AcceptedAnswer is the element for a queued job.
func AcceptedAnswer(jobID string) Accepted { return Accepted{JobID: jobID, Images: []string{}} }

// ErrorAnswer is the element for a refused job: the error's client-facing message.
func ErrorAnswer(err error) Refused { return Refused{Error: vidjob.ErrorMessage(err)} }

// resultBody is vidjob.Result in Blitline's shape: images is always an empty
// array and original_meta is null (not absent) when unknown.
type resultBody struct {
	JobID                  string              `json:"job_id"`
	OriginalMeta           vidjob.Meta         `json:"original_meta"`
	Images                 []string            `json:"images"`
	Video                  *vidjob.VideoResult `json:"video,omitempty"`
	Errors                 []string            `json:"errors,omitempty"`
	FailedVideoIdentifiers []string            `json:"failed_video_identifiers,omitempty"`
}

// ResultJSON renders a finished job's results as Blitline's postback JSON:
// {"results": {...}}.
func ResultJSON(res *vidjob.Result) ([]byte, error) {
	return json.Marshal(Envelope{Results: resultBody{
		JobID:                  res.JobID,
		OriginalMeta:           res.OriginalMeta,
		Images:                 []string{},
		Video:                  res.Video,
		Errors:                 res.Errors,
		FailedVideoIdentifiers: res.FailedVideoIdentifiers,
	}})
}

// PostbackBody renders the postback for a client: a JSON body, or for clients of
// API version 1.17 and older the form field results=<JSON>, as Blitline did.
func PostbackBody(res *vidjob.Result, form bool) (contentType string, body []byte, err error) {
	js, err := ResultJSON(res)
	if err != nil {
		return "", nil, err
	}
	if form {
		return "application/x-www-form-urlencoded", []byte(url.Values{"results": {string(js)}}.Encode()), nil
	}
	return "application/json", js, nil
}
