package blitline

import (
	"maps"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/net/http/httpguts"

	"github.com/vidjob/vidjob"
)

// Bounds on a job's postback_headers. They travel with the job, are stored
// with it and are sent on every postback attempt; a receiver needs a handful
// (an authorization token, a request ID), so these leave ample room while
// keeping a job's row and each postback request small.
const (
	// MaxPostbackHeaders is the most headers postback_headers may hold.
	MaxPostbackHeaders = 20
	// MaxPostbackHeaderBytes bounds the names and values together, in bytes.
	MaxPostbackHeaderBytes = 8 << 10
)

// validatePostbackHeaders reports, as an EINVALID *Error, why the headers
// cannot be sent with a postback. Go's HTTP client refuses to send a request
// whose header name is not an HTTP token or whose value holds CR, LF, NUL or
// another control character, so a job accepted with one would be billed and
// then fail every postback attempt; httpguts is the check net/http itself
// applies. Control characters that are legal bytes in HTTP (tab, the C1
// range written as UTF-8) are refused too: no receiver expects them and they
// confuse logs. Names are checked in sorted order so that the error reported
// for several bad headers is always the same one.
func validatePostbackHeaders(h map[string]string) error {
	if len(h) > MaxPostbackHeaders {
		return vidjob.Errorf(vidjob.EINVALID, "postback_headers may hold at most %d headers (got %d).", MaxPostbackHeaders, len(h))
	}
	size := 0
	for _, name := range slices.Sorted(maps.Keys(h)) {
		value := h[name]
		size += len(name) + len(value)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			return vidjob.Errorf(vidjob.EINVALID, "postback_headers: %q is not a valid HTTP header name; use letters, digits and !#$%%&'*+-.^_`|~ only.", name)
		case !httpguts.ValidHeaderFieldValue(value) || strings.IndexFunc(value, unicode.IsControl) >= 0:
			return vidjob.Errorf(vidjob.EINVALID, "postback_headers: the value of %q contains a control character (CR, LF, NUL, tab, DEL or another); HTTP header values cannot carry them.", name)
		}
	}
	if size > MaxPostbackHeaderBytes {
		return vidjob.Errorf(vidjob.EINVALID, "postback_headers may hold at most %d bytes of names and values (got %d).", MaxPostbackHeaderBytes, size)
	}
	return nil
}
