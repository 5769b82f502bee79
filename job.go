package vidjob

import (
	"context"
	"time"
)

// State is where a job is in its life. A job moves forward only:
// queued → fetching → transcoding → uploading → completed, or to failed from any
// state before completed.
type State string

// The states a job can be in.
const (
	StateQueued      State = "queued"
	StateFetching    State = "fetching"
	StateTranscoding State = "transcoding"
	StateUploading   State = "uploading"
	StateCompleted   State = "completed"
	StateFailed      State = "failed"
)

// Done reports whether the job has ended, successfully or not.
func (s State) Done() bool { return s == StateCompleted || s == StateFailed }

// Job is one accepted transcoding job: what the client asked for, where it is,
// and (once done) what came of it.
type Job struct {
	ID            string
	ApplicationID string
	State         State
	Progress      float64 // 0..1 of the current transcode, by output time
	Request       Request
	Result        *Result // set once State.Done()
	// Run is how the finishing attempt went; FindJob sets it once the job is
	// done (lists leave it nil), with the postback phase once delivered.
	Run       *Run
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Request is a job as the client submitted it, after parsing and validation.
type Request struct {
	Src             string            `json:"src"`
	PostbackURL     string            `json:"postback_url,omitempty"`
	PostbackHeaders map[string]string `json:"postback_headers,omitempty"`
	// Version is the client's "v"; postbacks for v ≤ 1.17 are form-encoded
	// unless ContentTypeJSON.
	Version float64 `json:"v,omitempty"`
	// ContentTypeJSON is Blitline's content_type_json: the client of an old
	// API version asks for a JSON postback instead of the form field.
	ContentTypeJSON bool `json:"content_type_json,omitempty"`
	// WaitRetryDelay is the seconds to wait before retrying a failed attempt.
	WaitRetryDelay int       `json:"wait_retry_delay"`
	Transcode      Transcode `json:"transcode"`
}

// FormPostback reports whether the client expects Blitline's legacy form-encoded
// postback (results=<json>) rather than a JSON body: Blitline sent the form
// to clients of v 1.17 and older unless they set content_type_json.
func (r Request) FormPostback() bool {
	return r.Version != 0 && r.Version <= 1.17 && !r.ContentTypeJSON
}

// Transcode names the preset to apply and where the output goes.
type Transcode struct {
	// PresetID is the preset as the client named it (ID, Description or Name).
	PresetID        string      `json:"preset_id"`
	VideoIdentifier string      `json:"video_identifier,omitempty"`
	Destination     Destination `json:"s3_destination"`
}

// Destination is an object in a bucket.
type Destination struct {
	Bucket string `json:"bucket"`
	Region string `json:"location,omitempty"`
	Key    string `json:"key"`
	// Headers are S3 headers for the upload (x-amz-acl, Cache-Control, ...).
	Headers map[string]string `json:"headers,omitempty"`
}

// Meta is exiftool's description of a media file, normalised as Blitline did.
type Meta map[string]any

// Result is what a finished job reports, in the postback and on /listen.
type Result struct {
	JobID        string       `json:"job_id"`
	OriginalMeta Meta         `json:"original_meta"`
	Video        *VideoResult `json:"video,omitempty"`
	// Errors is set when the job failed: one sentence each, for the client.
	Errors                 []string `json:"errors,omitempty"`
	FailedVideoIdentifiers []string `json:"failed_video_identifiers,omitempty"`
}

// VideoResult describes the transcoded output.
type VideoResult struct {
	Meta            Meta   `json:"meta"`
	S3URL           string `json:"s3_url"`
	VideoIdentifier string `json:"video_identifier"`
	// PresetID is the ID of the preset that ran, after resolving names and
	// deprecated IDs.
	PresetID string `json:"preset_id"`
	// PresetNote says, when set, how the requested preset was resolved (e.g. a
	// deprecated ID replaced by its successor).
	PresetNote string `json:"preset_note,omitempty"`
	// DurationSeconds is the billed duration of the output, from ffprobe.
	DurationSeconds float64 `json:"duration_seconds"`
	// Objects lists every object written (one for single-file outputs).
	Objects []string `json:"objects,omitempty"`
}

// Application is a client account: jobs are submitted with its ID.
type Application struct {
	ID        string
	Name      string
	CreatedAt time.Time
	// Secret keys the HMAC that signs the application's postbacks, so that
	// receivers can tell vidjob's deliveries from forgeries.
	Secret string
	// Disabled applications may not submit jobs, and their queued jobs fail
	// rather than run.
	Disabled bool
	// Buckets are the destination buckets the application may write to; empty
	// means any bucket the server's credentials reach.
	Buckets []string
	// OwnPresets is how many presets of its own (POST /presets) the
	// application had when it was read. With none, a job's preset is looked
	// up in the system catalog alone, without a trip to the database.
	OwnPresets int
}

// CheckSubmit says whether the application may run a job that writes to
// bucket: an EFORBIDDEN error when it is disabled or the bucket is not among
// its allowed ones. Checked at submission and again before a job runs.
func (a *Application) CheckSubmit(bucket string) error {
	if a.Disabled {
		return Errorf(EFORBIDDEN, "This application is disabled; its jobs are not run. Ask the operator to enable it.")
	}
	if len(a.Buckets) == 0 {
		return nil
	}
	for _, b := range a.Buckets {
		if b == bucket {
			return nil
		}
	}
	return Errorf(EFORBIDDEN, "Bucket %q is not among this application's allowed destination buckets.", bucket)
}

// PostbackAttempt records one try to deliver a job's results.
type PostbackAttempt struct {
	JobID      string
	Attempt    int
	URL        string
	StatusCode int    // 0 when no HTTP answer came
	Error      string // empty on success
	Duration   time.Duration
	At         time.Time
}

// JobService is the store of applications, jobs, charges and postback attempts.
// Implementations must be safe for concurrent use.
type JobService interface {
	// CreateApplication stores a new application. Called by `vidjob apps create`.
	CreateApplication(ctx context.Context, app *Application) error
	// FindApplication returns ENOTFOUND when no application has this ID.
	FindApplication(ctx context.Context, id string) (*Application, error)
	// FindJob returns the job or ENOTFOUND.
	FindJob(ctx context.Context, id string) (*Job, error)
	// Usage sums an application's charges with from ≤ completed time < to; zero
	// times mean no bound.
	Usage(ctx context.Context, appID string, from, to time.Time) (Usage, error)
	// PostbackAttempts lists a job's delivery attempts, oldest first.
	PostbackAttempts(ctx context.Context, jobID string) ([]PostbackAttempt, error)
}
