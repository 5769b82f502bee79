package blitline

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
)

// TestPostbackHeadersGoClientCannotSendAreRefused: every postback_headers
// entry that Go's HTTP client would refuse to send, and every control
// character, is refused at submission with a sentence naming the header; so
// are too many headers and too many bytes. Before these checks a value with
// DEL, a C1 control or a tab, and a name with a space inside quotes, were
// accepted, the job billed, and every postback attempt failed.
func TestPostbackHeadersGoClientCannotSendAreRefused(t *testing.T) {
	many := map[string]any{}
	for i := range MaxPostbackHeaders + 1 {
		many[fmt.Sprintf("X-H%d", i)] = "v"
	}
	cases := []struct {
		name    string
		headers map[string]any
		want    string
	}{
		{"CR", map[string]any{"X-Token": "a\rb"}, `postback_headers: the value of "X-Token" contains a control character`},
		{"LF", map[string]any{"X-Token": "a\nSet-Cookie: x"}, `the value of "X-Token" contains a control character`},
		{"NUL", map[string]any{"X-Token": "a\x00b"}, `the value of "X-Token" contains a control character`},
		{"DEL", map[string]any{"X-Token": "a\x7fb"}, `the value of "X-Token" contains a control character`},
		{"other C0", map[string]any{"X-Token": "a\x1bb"}, `the value of "X-Token" contains a control character`},
		{"tab", map[string]any{"X-Token": "a\tb"}, `the value of "X-Token" contains a control character`},
		{"C1", map[string]any{"X-Token": "a\u0085b"}, `the value of "X-Token" contains a control character`},
		{"name with space", map[string]any{"X Token": "v"}, `postback_headers: "X Token" is not a valid HTTP header name`},
		{"name with colon", map[string]any{"X-Token:": "v"}, `"X-Token:" is not a valid HTTP header name`},
		{"name with slash", map[string]any{"X/Token": "v"}, `"X/Token" is not a valid HTTP header name`},
		{"name with CR", map[string]any{"X-Token\r": "v"}, `is not a valid HTTP header name`},
		{"non-ASCII name", map[string]any{"X-Tökén": "v"}, `"X-Tökén" is not a valid HTTP header name`},
		{"empty name", map[string]any{"": "v"}, `"" is not a valid HTTP header name`},
		{"too many", many, fmt.Sprintf("postback_headers may hold at most %d headers (got %d).", MaxPostbackHeaders, MaxPostbackHeaders+1)},
		{"too large", map[string]any{"X-Big": strings.Repeat("v", MaxPostbackHeaderBytes)}, fmt.Sprintf("postback_headers may hold at most %d bytes of names and values (got %d).", MaxPostbackHeaderBytes, MaxPostbackHeaderBytes+5)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := mutate(t, func(j map[string]any) { j["postback_headers"] = c.headers })
			subs, _, err := decode(t, "application/json", body)
			if err == nil {
				err = subs[0].Err
			}
			if vidjob.ErrorCode(err) != vidjob.EINVALID || !strings.Contains(vidjob.ErrorMessage(err), c.want) {
				t.Errorf("err = %v (%s), want EINVALID saying %q", err, vidjob.ErrorCode(err), c.want)
			}
		})
	}
}

// TestAcceptedPostbackHeadersCanBeSent: whatever postback_headers the decoder
// accepts, Go's client can put on a request (the property the refusals above
// protect), including values at the limits and the characters HTTP allows.
func TestAcceptedPostbackHeadersCanBeSent(t *testing.T) {
	headers := map[string]any{
		"Authorization":  "Bearer abc.DEF-123_~+/=",
		"X-Odd!#$%&'*+.": `spaces and "quotes", commas; (parens) <angles> {braces} [brackets] é 日本`,
	}
	for i := range MaxPostbackHeaders - len(headers) {
		headers[fmt.Sprintf("X-H%d", i)] = strings.Repeat("v", 100)
	}
	body := mutate(t, func(j map[string]any) { j["postback_headers"] = headers })
	subs, _, err := decode(t, "application/json", body)
	if err == nil {
		err = subs[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
	for k, v := range subs[0].Request.PostbackHeaders {
		req.Header.Set(k, v)
	}
	// A header Go refuses fails the request before any connection is made
	// with "invalid header field"; a refused connection means it was sent.
	_, err = http.DefaultClient.Do(req)
	if err == nil || strings.Contains(err.Error(), "invalid header") {
		t.Errorf("sending the accepted headers: %v", err)
	}
}

// TestDestinationKeysThatCannotBeStoredAreRefused: a destination key with an
// empty path segment is refused at submission; before, the job was accepted
// and failed on the disk store after the whole transcode.
func TestDestinationKeysThatCannotBeStoredAreRefused(t *testing.T) {
	for key, want := range map[string]string{
		"out/":           "The destination key cannot end with '/': it must name a file, not a folder.",
		"out//video.mp4": `The destination key cannot contain "//" (an empty path segment).`,
	} {
		body := mutate(t, func(j map[string]any) { dest(j)["key"] = key })
		subs, _, err := decode(t, "application/json", body)
		if err == nil {
			err = subs[0].Err
		}
		if vidjob.ErrorCode(err) != vidjob.EINVALID || vidjob.ErrorMessage(err) != want {
			t.Errorf("key %q: %v, want %q", key, err, want)
		}
	}
	// A source key may have them: S3 keeps such objects.
	body := mutate(t, func(j map[string]any) { j["src"] = "s3://media/in//video.mp4" })
	if subs, _, err := decode(t, "application/json", body); err != nil || subs[0].Err != nil {
		t.Errorf("s3 source with an empty segment: %v %v", err, subs[0].Err)
	}
}
