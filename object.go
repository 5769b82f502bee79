package vidjob

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Object is one file to store under a bucket and key. Both object stores (the
// embedded disk store and S3) take it, so the worker uploads the same way
// whichever is configured.
type Object struct {
	// Bucket is the destination bucket; see ValidateBucket.
	Bucket string
	// Key is the object's name in the bucket; see ValidateKey.
	Key string
	// Region, when set, is the bucket's region (Blitline's s3_destination
	// "location"); it overrides the store's configured region for this object.
	Region string
	// File is the path of the local file whose bytes become the object. Stores
	// stream from it rather than taking a reader so that they can retry or split
	// the upload into parts by reading the file again.
	File string
	// ContentType is the object's media type; empty lets the store choose.
	ContentType string
	// Headers are the client's S3 headers (x-amz-acl, Cache-Control, ...; see
	// ValidateHeaders). Names are case-insensitive. A header with an empty value
	// is ignored: Blitline clients send one to remove a default.
	Headers map[string]string
}

// ObjectStore stores objects and says where they can be fetched.
type ObjectStore interface {
	// Put stores obj and returns the object's URL for the client (s3_url).
	Put(ctx context.Context, obj Object) (url string, err error)
}

// Limits on bucket names and keys. Keys follow S3's 1024-byte limit; bucket
// names follow S3's legacy (us-east-1) rule of at most 255 characters, because
// Blitline clients send names such as "YOUR_BUCKET" that only those rules allow.
const (
	// MaxBucketLen is the longest bucket name, in bytes.
	MaxBucketLen = 255
	// MaxKeyLen is the longest object key, in bytes of UTF-8.
	MaxKeyLen = 1024
)

// ValidateBucket reports, as an EINVALID *Error, why name cannot be a bucket.
// It allows S3's legacy character set (letters of either case, digits, '.', '-'
// and '_') and refuses anything that could act as a path on a disk store.
func ValidateBucket(name string) error {
	switch {
	case name == "":
		return Errorf(EINVALID, "The destination bucket is required.")
	case len(name) > MaxBucketLen:
		return Errorf(EINVALID, "The destination bucket name is longer than %d characters.", MaxBucketLen)
	case name == "." || name == "..":
		return Errorf(EINVALID, "The destination bucket name cannot be %q.", name)
	case strings.Contains(name, "/"):
		return Errorf(EINVALID, "The destination bucket name cannot contain '/'.")
	case strings.IndexFunc(name, isControl) >= 0:
		return Errorf(EINVALID, "The destination bucket name cannot contain control characters.")
	case strings.Contains(name, ".."):
		return Errorf(EINVALID, "The destination bucket name cannot contain \"..\".")
	}
	for _, r := range name {
		if !isBucketRune(r) {
			return Errorf(EINVALID, "The destination bucket name can only contain letters, digits, '.', '-' and '_' (found %q).", r)
		}
	}
	return nil
}

// isBucketRune reports whether r is allowed in a legacy S3 bucket name.
func isBucketRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
}

// isControl reports whether r is a control character, including DEL and the C1
// range, which can confuse logs, terminals and file systems.
func isControl(r rune) bool { return unicode.IsControl(r) }

// ValidateKey reports, as an EINVALID *Error, why key cannot be a destination
// key. Beyond S3's own rules it refuses "." and ".." segments, a leading '/'
// and backslashes, so that a key is also a safe relative path on a disk store,
// and empty segments ("//" or a trailing '/'): on a disk store "a//b" is the
// same file as "a/b" and "a/" is a directory, and a segmented output names its
// segments after the key's last segment. Refusing them here, at submission,
// spares the client a transcode that could only fail when it is stored.
func ValidateKey(key string) error {
	if err := checkKey("destination key", key); err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(key, "/"):
		return Errorf(EINVALID, "The destination key cannot end with '/': it must name a file, not a folder.")
	case strings.Contains(key, "//"):
		return Errorf(EINVALID, "The destination key cannot contain \"//\" (an empty path segment).")
	}
	return nil
}

// ValidateSourceKey reports, as an EINVALID *Error, why key cannot name an
// s3:// source. It is ValidateKey without the empty-segment rule: S3 keeps
// "a//b" and "a/" as objects of their own, so a client may have one to read;
// the disk store, where they cannot exist, refuses them when asked for them.
func ValidateSourceKey(key string) error { return checkKey("source key", key) }

// checkKey holds the rules that every key meets, for what ("destination key"
// or "source key") as messages name it.
func checkKey(what, key string) error {
	switch {
	case key == "":
		return Errorf(EINVALID, "The %s is required.", what)
	case len(key) > MaxKeyLen:
		return Errorf(EINVALID, "The %s is longer than %d bytes.", what, MaxKeyLen)
	case !utf8.ValidString(key):
		return Errorf(EINVALID, "The %s is not valid UTF-8.", what)
	case strings.IndexFunc(key, isControl) >= 0:
		return Errorf(EINVALID, "The %s cannot contain control characters.", what)
	case strings.HasPrefix(key, "/"):
		return Errorf(EINVALID, "The %s cannot start with '/'.", what)
	case strings.Contains(key, `\`):
		return Errorf(EINVALID, "The %s cannot contain a backslash.", what)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return Errorf(EINVALID, "The %s cannot contain %q as a path segment.", what, seg)
		}
	}
	return nil
}

// MetaHeaderPrefix starts the names of headers that become user metadata.
const MetaHeaderPrefix = "x-amz-meta-"

// uploadHeaders are the S3 headers, in lower case, that a destination may set.
// They are the PutObject headers that describe or protect the object; headers
// that change the request itself (checksums, conditions, encryption keys) are
// left out because vidjob sets or does not support them.
var uploadHeaders = map[string]bool{
	"x-amz-acl":                    true,
	"cache-control":                true,
	"content-type":                 true,
	"content-disposition":          true,
	"content-encoding":             true,
	"content-language":             true,
	"expires":                      true,
	"x-amz-storage-class":          true,
	"x-amz-server-side-encryption": true,
	"x-amz-server-side-encryption-aws-kms-key-id": true,
	"x-amz-tagging":                   true,
	"x-amz-website-redirect-location": true,
	"x-amz-grant-read":                true,
	"x-amz-grant-read-acp":            true,
	"x-amz-grant-write-acp":           true,
	"x-amz-grant-full-control":        true,
}

// cannedACLs are the values S3 accepts in x-amz-acl.
var cannedACLs = []string{
	"private", "public-read", "public-read-write", "authenticated-read",
	"aws-exec-read", "bucket-owner-read", "bucket-owner-full-control",
}

// ValidateHeaders reports, as an EINVALID *Error, the first destination header
// that vidjob cannot apply: an unknown name, a value with control characters
// (which could split an HTTP request), an x-amz-acl that is not a canned ACL, an
// Expires that is not an HTTP date, or an x-amz-meta- header without a name.
// Headers with empty values are accepted: they remove a default. Checking at
// submission lets a client learn of a typo at once rather than when its
// transcode is done.
func ValidateHeaders(h map[string]string) error {
	// Sorted, so that the error reported for several bad headers is always the
	// same one.
	for _, name := range slices.Sorted(maps.Keys(h)) {
		value := h[name]
		lower := strings.ToLower(name)
		meta, isMeta := strings.CutPrefix(lower, MetaHeaderPrefix)
		switch {
		case isMeta && (meta == "" || strings.IndexFunc(meta, notTokenRune) >= 0):
			return Errorf(EINVALID, "The S3 header %q is not a valid metadata header name.", name)
		case !isMeta && !uploadHeaders[lower]:
			return Errorf(EINVALID, "The S3 header %q is not supported; use x-amz-acl, Cache-Control, Content-Type, Content-Disposition, Content-Encoding, Content-Language, Expires, x-amz-storage-class, x-amz-server-side-encryption, x-amz-tagging, x-amz-grant-*, or x-amz-meta-*.", name)
		case strings.IndexFunc(value, notHeaderValueRune) >= 0:
			// S3 sends header values as US-ASCII; CR and LF could split the request.
			return Errorf(EINVALID, "The value of the S3 header %q can only contain printable ASCII characters.", name)
		case value == "":
			continue
		case lower == "x-amz-acl" && !slices.Contains(cannedACLs, value):
			return Errorf(EINVALID, "The S3 header x-amz-acl must be one of %s (got %q).", strings.Join(cannedACLs, ", "), value)
		case lower == "expires":
			if _, err := http.ParseTime(value); err != nil {
				return Errorf(EINVALID, "The S3 header Expires must be an HTTP date such as \"Wed, 21 Oct 2026 07:28:00 GMT\" (got %q).", value)
			}
		}
	}
	return nil
}

// notTokenRune reports whether r cannot appear in an HTTP header name.
func notTokenRune(r rune) bool {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return false
	}
	return !strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// notHeaderValueRune reports whether r cannot appear in an S3 header value.
func notHeaderValueRune(r rune) bool { return r < ' ' || r > '~' }
