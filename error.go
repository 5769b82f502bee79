package vidjob

import (
	"errors"
	"fmt"
)

// Application error codes. The HTTP layer maps each code to one status code; the
// message of an *Error is written for the client, so it never carries internal
// details such as file paths or SQL.
const (
	EINVALID       = "invalid"       // the request is malformed (HTTP 400)
	EUNAUTHORIZED  = "unauthorized"  // no or unknown application (HTTP 401)
	EFORBIDDEN     = "forbidden"     // the application may not do this (HTTP 403)
	ENOTFOUND      = "not_found"     // the named thing does not exist (HTTP 404)
	EUNPROCESSABLE = "unprocessable" // well-formed but cannot be done, e.g. unknown preset (HTTP 422)
	ETOOLARGE      = "too_large"     // a size limit was exceeded (HTTP 413)
	EUNAVAILABLE   = "unavailable"   // a dependency is down; try again (HTTP 503)
	EINTERNAL      = "internal"      // a bug or an unexpected failure (HTTP 500)
)

// Error is an application error: a code for programs and a message for people.
type Error struct {
	Code    string
	Message string
	// Err is an optional underlying cause kept for logs; it is never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted client-facing message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with code and message that keeps cause for logging.
func WrapError(code string, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-facing message of the first *Error in err's
// chain, or a generic sentence for any other error so that internals never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error; the operator's logs have the details."
}
