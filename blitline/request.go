// Package blitline speaks Blitline's video-transcoding wire format: it decodes the
// four shapes in which clients submit jobs to POST /job and renders the answers
// and postbacks they expect. It knows nothing of storage or ffmpeg.
package blitline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vidjob/vidjob"
)

// Submission is one job of a POST /job request: the application it is for and the
// validated request, or the reason it cannot be accepted. In a request that
// carries several jobs each has its own Err, so one bad job does not sink the rest.
type Submission struct {
	ApplicationID string
	Request       vidjob.Request
	Err           error
}

// Limits bound what a request may carry.
type Limits struct {
	// MaxJobs is the most jobs one request may carry; 0 means 100.
	MaxJobs int
}

// DecodeRequest reads a POST /job request in any of the shapes Blitline's clients
// send: a form field "json" holding one job or an array of jobs, a JSON body
// {"json": [...]}, a JSON body that is one job, or a JSON body that is an array.
// multi reports whether the client sent an array and so expects an array back.
// A request that cannot be read at all returns err; per-job problems are in each
// Submission's Err. The caller limits the body's size.
//
// A job without application_id takes the request's application_id query
// parameter, where some clients (detailnet/blitline for PHP) send it; a job
// that names its own keeps it.
func DecodeRequest(r *http.Request, limits Limits) (subs []Submission, multi bool, err error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, false, vidjob.WrapError(vidjob.EINVALID, err, "The request body could not be read.")
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	raw, err := jobsPayload(mediaType, body)
	if err != nil {
		return nil, false, err
	}
	return decodeJobs(raw, limits, strings.TrimSpace(r.URL.Query().Get("application_id")))
}

// jobsPayload finds the JSON that holds the job(s) in a request body.
func jobsPayload(mediaType string, body []byte) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, vidjob.Errorf(vidjob.EINVALID, "The request body is empty; send the job as JSON or as a form field named json.")
	}
	isJSON := mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
	if !isJSON && mediaType != "multipart/form-data" && (trimmed[0] == '{' || trimmed[0] == '[') {
		// Clients that forget the Content-Type still send JSON.
		isJSON = true
	}
	if mediaType == "multipart/form-data" {
		return nil, vidjob.Errorf(vidjob.EINVALID, "Multipart bodies are not accepted; send the job as JSON or as a url-encoded form field named json.")
	}
	if !isJSON {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, vidjob.WrapError(vidjob.EINVALID, err, "The form body could not be parsed.")
		}
		v, ok := form["json"]
		if !ok || len(v) == 0 {
			return nil, vidjob.Errorf(vidjob.EINVALID, "The form has no field named json; send the job as json=<job JSON>.")
		}
		if len(v) > 1 {
			return nil, vidjob.Errorf(vidjob.EINVALID, "The form has more than one field named json; send several jobs as one JSON array.")
		}
		return json.RawMessage(v[0]), nil
	}
	// A JSON body is either the job(s) or an object whose "json" member holds them.
	if trimmed[0] == '{' {
		var envelope map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &envelope); err != nil {
			return nil, invalidJSON(err)
		}
		if inner, ok := envelope["json"]; ok {
			// {"json": "<job JSON as a string>"} is the form field's shape in JSON clothing.
			var s string
			if json.Unmarshal(inner, &s) == nil {
				return json.RawMessage(s), nil
			}
			return inner, nil
		}
	}
	return json.RawMessage(trimmed), nil
}

// DecodeJobs decodes one job object or an array of them.
func DecodeJobs(raw json.RawMessage, limits Limits) (subs []Submission, multi bool, err error) {
	return decodeJobs(raw, limits, "")
}

// decodeJobs is DecodeJobs with the application ID that jobs naming none
// take.
func decodeJobs(raw json.RawMessage, limits Limits, defaultApp string) (subs []Submission, multi bool, err error) {
	maxJobs := limits.MaxJobs
	if maxJobs <= 0 {
		maxJobs = 100
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false, vidjob.Errorf(vidjob.EINVALID, "The job is empty; send a JSON object.")
	}
	var items []json.RawMessage
	switch raw[0] {
	case '[':
		multi = true
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, true, invalidJSON(err)
		}
		if len(items) == 0 {
			return nil, true, vidjob.Errorf(vidjob.EINVALID, "The job array is empty.")
		}
		if len(items) > maxJobs {
			return nil, true, vidjob.Errorf(vidjob.ETOOLARGE, "A request may carry at most %d jobs; this one has %d.", maxJobs, len(items))
		}
	case '{':
		items = []json.RawMessage{raw}
	default:
		if !json.Valid(raw) {
			return nil, false, invalidJSON(fmt.Errorf("not JSON"))
		}
		return nil, false, vidjob.Errorf(vidjob.EINVALID, "The job must be a JSON object (or an array of them).")
	}
	subs = make([]Submission, len(items))
	for i, item := range items {
		subs[i] = decodeJob(item, defaultApp)
	}
	return subs, multi, nil
}

func invalidJSON(err error) error {
	return vidjob.WrapError(vidjob.EINVALID, err, "The job is not valid JSON: %s.", strings.TrimPrefix(err.Error(), "json: "))
}

// wireJob is a job as it travels; fields whose shape varies between clients are
// kept raw and interpreted by hand.
type wireJob struct {
	ApplicationID   json.RawMessage   `json:"application_id"`
	Src             json.RawMessage   `json:"src"`
	SrcType         string            `json:"src_type"`
	V               json.RawMessage   `json:"v"`
	PostbackURL     string            `json:"postback_url"`
	PostbackHeaders map[string]string `json:"postback_headers"`
	ContentTypeJSON json.RawMessage   `json:"content_type_json"`
	RetryPostback   json.RawMessage   `json:"retry_postback"`
	WaitRetryDelay  json.RawMessage   `json:"wait_retry_delay"`
	PreProcess      json.RawMessage   `json:"pre_process"`
	Functions       json.RawMessage   `json:"functions"`
}

type wireTranscode struct {
	PresetID        json.RawMessage    `json:"preset_id"`
	VideoIdentifier json.RawMessage    `json:"video_identifier"`
	S3Destination   *wireS3Destination `json:"s3_destination"`
}

type wireS3Destination struct {
	Bucket  json.RawMessage   `json:"bucket"`
	Key     json.RawMessage   `json:"key"`
	Headers map[string]string `json:"headers"`
}

func decodeJob(raw json.RawMessage, defaultApp string) (sub Submission) {
	var w wireJob
	if err := json.Unmarshal(raw, &w); err != nil {
		sub.Err = invalidJSON(err)
		return sub
	}
	appID, ok := jsonString(w.ApplicationID)
	if !ok {
		sub.Err = vidjob.Errorf(vidjob.EINVALID, "application_id must be a string.")
		return sub
	}
	sub.ApplicationID = strings.TrimSpace(appID)
	if sub.ApplicationID == "" {
		sub.ApplicationID = defaultApp
	}
	if sub.ApplicationID == "" {
		sub.Err = vidjob.Errorf(vidjob.EUNAUTHORIZED, "Your application ID is required; put it in the job's application_id field (or the application_id query parameter).")
		return sub
	}
	req, err := decodeRequest(&w)
	if err != nil {
		sub.Err = err
		return sub
	}
	sub.Request = req
	return sub
}

func decodeRequest(w *wireJob) (vidjob.Request, error) {
	var req vidjob.Request
	if len(bytes.TrimSpace(w.Src)) == 0 || string(bytes.TrimSpace(w.Src)) == "null" {
		return req, vidjob.Errorf(vidjob.EINVALID, "src is required: the URL of the source video.")
	}
	src, ok := jsonString(w.Src)
	if !ok {
		if bytes.HasPrefix(bytes.TrimSpace(w.Src), []byte("{")) {
			obj, err := decodeS3Source(w.Src)
			if err != nil {
				return req, err
			}
			src, ok = obj, true
		} else {
			return req, vidjob.Errorf(vidjob.EINVALID, "src must be a string: the URL of the source video.")
		}
	}
	req.Src = strings.TrimSpace(src)
	if req.Src == "" {
		return req, vidjob.Errorf(vidjob.EINVALID, "src is required: the URL of the source video.")
	}
	if _, _, isS3, err := vidjob.ParseS3Source(req.Src); isS3 {
		if err != nil {
			return req, err
		}
	} else if err := ValidateURL("src", req.Src); err != nil {
		return req, err
	}
	if w.SrcType != "" && w.SrcType != "pre_process_only" {
		return req, vidjob.Errorf(vidjob.EUNPROCESSABLE, "src_type %q is not supported; vidjob transcodes video with src_type \"pre_process_only\".", w.SrcType)
	}
	if fn := bytes.TrimSpace(w.Functions); len(fn) > 0 && string(fn) != "null" && string(fn) != "[]" {
		return req, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Image functions are not supported; vidjob runs video transcodes (pre_process.transcode) only.")
	}
	if v := bytes.TrimSpace(w.V); len(v) > 0 && string(v) != "null" {
		f, err := jsonNumber(v)
		if err != nil {
			return req, vidjob.Errorf(vidjob.EINVALID, "v must be a number such as 1.22.")
		}
		req.Version = f
	}
	req.PostbackURL = strings.TrimSpace(w.PostbackURL)
	if req.PostbackURL != "" {
		if err := ValidateURL("postback_url", req.PostbackURL); err != nil {
			return req, err
		}
	}
	if err := validatePostbackHeaders(w.PostbackHeaders); err != nil {
		return req, err
	}
	req.PostbackHeaders = w.PostbackHeaders
	asJSON, ok := jsonBool(w.ContentTypeJSON)
	if !ok {
		return req, vidjob.Errorf(vidjob.EINVALID, "content_type_json must be true or false.")
	}
	req.ContentTypeJSON = asJSON
	req.WaitRetryDelay = 5
	if d := bytes.TrimSpace(w.WaitRetryDelay); len(d) > 0 && string(d) != "null" {
		f, err := jsonNumber(d)
		if err != nil {
			return req, vidjob.Errorf(vidjob.EINVALID, "wait_retry_delay must be a number of seconds.")
		}
		// Blitline clamped the delay to 0–100 seconds.
		req.WaitRetryDelay = int(math.Max(0, math.Min(100, f)))
	}
	tc, err := decodePreProcess(w.PreProcess)
	if err != nil {
		return req, err
	}
	req.Transcode = tc
	return req, nil
}

func decodePreProcess(raw json.RawMessage) (vidjob.Transcode, error) {
	var tc vidjob.Transcode
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return tc, vidjob.Errorf(vidjob.EINVALID, "pre_process is required and must hold a transcode.")
	}
	var items []json.RawMessage
	switch raw[0] {
	case '[':
		if err := json.Unmarshal(raw, &items); err != nil {
			return tc, invalidJSON(err)
		}
	case '{':
		items = []json.RawMessage{raw}
	default:
		return tc, vidjob.Errorf(vidjob.EINVALID, "pre_process must be an object or an array of objects.")
	}
	var transcodes []*wireTranscode
	for _, item := range items {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(item, &fields); err != nil {
			return tc, vidjob.Errorf(vidjob.EINVALID, "pre_process must be an object or an array of objects.")
		}
		for name, value := range fields {
			if name != "transcode" {
				return tc, vidjob.Errorf(vidjob.EUNPROCESSABLE, "pre_process.%s is not supported; only pre_process.transcode is.", name)
			}
			var t wireTranscode
			if err := json.Unmarshal(value, &t); err != nil {
				return tc, vidjob.Errorf(vidjob.EINVALID, "pre_process.transcode must be an object.")
			}
			var all map[string]json.RawMessage
			_ = json.Unmarshal(value, &all)
			for k := range all {
				switch k {
				case "preset_id", "video_identifier", "s3_destination":
				default:
					if strings.HasSuffix(k, "_destination") {
						return tc, vidjob.Errorf(vidjob.EUNPROCESSABLE, "%s is not supported; transcode output goes to an s3_destination.", k)
					}
				}
			}
			transcodes = append(transcodes, &t)
		}
	}
	switch {
	case len(transcodes) == 0:
		return tc, vidjob.Errorf(vidjob.EINVALID, "pre_process must hold a transcode.")
	case len(transcodes) > 1:
		return tc, vidjob.Errorf(vidjob.EUNPROCESSABLE, "A job may hold one transcode; submit several jobs (a JSON array) for several outputs.")
	}
	t := transcodes[0]
	presetID, ok := jsonString(t.PresetID)
	if !ok || strings.TrimSpace(presetID) == "" {
		return tc, vidjob.Errorf(vidjob.EINVALID, "transcode.preset_id is required: a preset's ID, Description or Name.")
	}
	tc.PresetID = strings.TrimSpace(presetID)
	if id, ok := jsonScalar(t.VideoIdentifier); ok {
		tc.VideoIdentifier = id
	} else {
		return tc, vidjob.Errorf(vidjob.EINVALID, "transcode.video_identifier must be a string.")
	}
	if t.S3Destination == nil {
		return tc, vidjob.Errorf(vidjob.EINVALID, "transcode.s3_destination is required, with a bucket and a key.")
	}
	dest, err := decodeDestination(t.S3Destination)
	if err != nil {
		return tc, err
	}
	tc.Destination = dest
	return tc, nil
}

func decodeDestination(d *wireS3Destination) (vidjob.Destination, error) {
	var dest vidjob.Destination
	b := bytes.TrimSpace(d.Bucket)
	if len(b) > 0 && b[0] == '{' {
		var named struct {
			Name     string `json:"name"`
			Location string `json:"location"`
		}
		if err := json.Unmarshal(b, &named); err != nil {
			return dest, vidjob.Errorf(vidjob.EINVALID, "s3_destination.bucket must be a name or {\"name\": ..., \"location\": ...}.")
		}
		dest.Bucket, dest.Region = named.Name, named.Location
	} else if s, ok := jsonString(b); ok {
		dest.Bucket = s
	} else {
		return dest, vidjob.Errorf(vidjob.EINVALID, "s3_destination.bucket must be a name or {\"name\": ..., \"location\": ...}.")
	}
	if dest.Bucket == "" {
		return dest, vidjob.Errorf(vidjob.EINVALID, "s3_destination.bucket is required.")
	}
	if err := vidjob.ValidateBucket(dest.Bucket); err != nil {
		return dest, err
	}
	key, ok := jsonString(d.Key)
	if !ok {
		return dest, vidjob.Errorf(vidjob.EINVALID, "s3_destination.key must be a string.")
	}
	if key == "" {
		return dest, vidjob.Errorf(vidjob.EINVALID, "s3_destination.key is required.")
	}
	if err := vidjob.ValidateKey(key); err != nil {
		return dest, err
	}
	dest.Key = key
	if err := vidjob.ValidateHeaders(d.Headers); err != nil {
		return dest, err
	}
	dest.Headers = d.Headers
	return dest, nil
}

// decodeS3Source reads Blitline's {"name": "s3", "bucket": B, "key": K} source
// object as "s3://B/K".
func decodeS3Source(raw json.RawMessage) (string, error) {
	var obj struct {
		Name   string `json:"name"`
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", vidjob.Errorf(vidjob.EINVALID, "src as an S3 object must be {\"name\": \"s3\", \"bucket\": ..., \"key\": ...} with string values.")
	}
	if obj.Name != "s3" {
		return "", vidjob.Errorf(vidjob.EUNPROCESSABLE, "src object %q is not supported; give an http(s) URL or {\"name\": \"s3\", \"bucket\": ..., \"key\": ...}.", obj.Name)
	}
	if obj.Bucket == "" || obj.Key == "" {
		return "", vidjob.Errorf(vidjob.EINVALID, "src as an S3 object needs both bucket and key.")
	}
	return vidjob.S3Source(obj.Bucket, obj.Key), nil
}

// ValidateURL checks what can be known of a URL without the network: it parses,
// it is absolute http or https, and it has a host. Where the host resolves is
// checked when it is dialled.
func ValidateURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return vidjob.Errorf(vidjob.EINVALID, "%s is not a valid absolute URL.", field)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return vidjob.Errorf(vidjob.EINVALID, "%s must be an http or https URL, not %s.", field, u.Scheme)
	}
	if u.Host == "" {
		return vidjob.Errorf(vidjob.EINVALID, "%s is not a valid absolute URL.", field)
	}
	if u.User != nil {
		return vidjob.Errorf(vidjob.EINVALID, "%s must not carry a user name or password.", field)
	}
	return nil
}

// jsonString reads a JSON string; absent and null read as "".
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonBool reads a JSON boolean, or a string "true" or "false" as clients
// that build jobs from strings send; absent and null read as false.
func jsonBool(raw json.RawMessage) (bool, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return false, true
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, true
		case "false", "":
			return false, true
		}
	}
	return false, false
}

// jsonScalar reads a JSON string or number as text, since clients send
// identifiers of either kind.
func jsonScalar(raw json.RawMessage) (string, bool) {
	if s, ok := jsonString(raw); ok {
		return s, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true
	}
	return "", false
}

// jsonNumber reads a JSON number or a string holding one ("1.22").
func jsonNumber(raw json.RawMessage) (float64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return f, nil
}
