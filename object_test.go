package vidjob

import (
	"strings"
	"testing"
)

func TestValidateBucket(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the client message; "" means valid
	}{
		{"plain", "my-bucket", ""},
		{"legacy upper case and underscore", "YOUR_BUCKET", ""},
		{"dots and digits", "media.example.com-2024", ""},
		{"max length", strings.Repeat("b", 255), ""},
		{"empty", "", "The destination bucket is required."},
		{"too long", strings.Repeat("b", 256), "The destination bucket name is longer than 255 characters."},
		{"dot", ".", `The destination bucket name cannot be ".".`},
		{"dot dot", "..", `The destination bucket name cannot be "..".`},
		{"slash", "a/b", "The destination bucket name cannot contain '/'."},
		{"traversal", "../etc", "The destination bucket name cannot contain '/'."},
		{"NUL", "a\x00b", "The destination bucket name cannot contain control characters."},
		{"newline", "a\nb", "The destination bucket name cannot contain control characters."},
		{"DEL", "a\x7fb", "The destination bucket name cannot contain control characters."},
		{"embedded dot dot", "a..b", `The destination bucket name cannot contain "..".`},
		{"backslash", `a\b`, `The destination bucket name can only contain letters, digits, '.', '-' and '_' (found '\\').`},
		{"space", "a b", `The destination bucket name can only contain letters, digits, '.', '-' and '_' (found ' ').`},
		{"colon", "c:", `The destination bucket name can only contain letters, digits, '.', '-' and '_' (found ':').`},
		{"non-ASCII", "bücket", `The destination bucket name can only contain letters, digits, '.', '-' and '_' (found 'ü').`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, ValidateBucket(tt.in), tt.want)
		})
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "video.mp4", ""},
		{"nested", "2024/01/video 1.mp4", ""},
		{"dots inside names", "a/..b/c../.hidden/x...mp4", ""},
		{"unicode", "vidéos/日本.mp4", ""},
		{"max length", strings.Repeat("k", 1024), ""},
		{"empty", "", "The destination key is required."},
		{"too long", strings.Repeat("k", 1025), "The destination key is longer than 1024 bytes."},
		{"multibyte too long", strings.Repeat("é", 513), "The destination key is longer than 1024 bytes."},
		{"invalid UTF-8", "a\xffb", "The destination key is not valid UTF-8."},
		{"NUL", "a\x00b", "The destination key cannot contain control characters."},
		{"tab", "a\tb", "The destination key cannot contain control characters."},
		{"C1 control", "a\u0085b", "The destination key cannot contain control characters."},
		{"leading slash", "/etc/passwd", "The destination key cannot start with '/'."},
		{"backslash", `a\..\b`, "The destination key cannot contain a backslash."},
		{"dot dot", "..", `The destination key cannot contain ".." as a path segment.`},
		{"traversal", "a/../../b", `The destination key cannot contain ".." as a path segment.`},
		{"trailing dot dot", "a/..", `The destination key cannot contain ".." as a path segment.`},
		{"dot", "a/./b", `The destination key cannot contain "." as a path segment.`},
		{"lone dot", ".", `The destination key cannot contain "." as a path segment.`},
		{"trailing slash", "videos/", "The destination key cannot end with '/': it must name a file, not a folder."},
		{"lone slash", "/", "The destination key cannot start with '/'."},
		{"empty segment", "videos//a.mp4", `The destination key cannot contain "//" (an empty path segment).`},
		{"empty segments", "a///b.mp4", `The destination key cannot contain "//" (an empty path segment).`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, ValidateKey(tt.in), tt.want)
		})
	}
}

// TestValidateSourceKey: an s3:// source may name a key with empty segments,
// which S3 keeps as objects of their own; every other rule of ValidateKey
// holds, named for the source.
func TestValidateSourceKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "in/video.mp4", ""},
		{"empty segment", "in//video.mp4", ""},
		{"trailing slash", "in/", ""},
		{"empty", "", "The source key is required."},
		{"traversal", "a/../b", `The source key cannot contain ".." as a path segment.`},
		{"control", "a\rb", "The source key cannot contain control characters."},
		{"leading slash", "/a", "The source key cannot start with '/'."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, ValidateSourceKey(tt.in), tt.want)
		})
	}
}

func checkValidation(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if code := ErrorCode(err); code != EINVALID {
		t.Errorf("code = %q, want %q", code, EINVALID)
	}
	if got := ErrorMessage(err); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

func TestValidateHeaders(t *testing.T) {
	const unsupported = "; use x-amz-acl, Cache-Control, Content-Type, Content-Disposition, Content-Encoding, Content-Language, Expires, x-amz-storage-class, x-amz-server-side-encryption, x-amz-tagging, x-amz-grant-*, or x-amz-meta-*."
	tests := []struct {
		name string
		in   map[string]string
		want string
	}{
		{"none", nil, ""},
		{"Blitline's usual", map[string]string{"x-amz-acl": "public-read", "Cache-Control": "max-age=3600"}, ""},
		{"case-insensitive names", map[string]string{"X-Amz-Acl": "private", "CONTENT-TYPE": "video/mp4", "x-amz-meta-Owner": "tom"}, ""},
		{"empty value removes", map[string]string{"x-amz-acl": "", "Content-Disposition": ""}, ""},
		{"expires", map[string]string{"Expires": "Wed, 21 Oct 2026 07:28:00 GMT"}, ""},
		{"unknown", map[string]string{"X-Foo": "1"}, `The S3 header "X-Foo" is not supported` + unsupported},
		{"first unknown in order", map[string]string{"Z-Foo": "1", "A-Foo": "1"}, `The S3 header "A-Foo" is not supported` + unsupported},
		{"checksum not settable", map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}, `The S3 header "x-amz-checksum-crc32" is not supported` + unsupported},
		{"bad ACL", map[string]string{"x-amz-acl": "public"}, `The S3 header x-amz-acl must be one of private, public-read, public-read-write, authenticated-read, aws-exec-read, bucket-owner-read, bucket-owner-full-control (got "public").`},
		{"bad Expires", map[string]string{"Expires": "tomorrow"}, `The S3 header Expires must be an HTTP date such as "Wed, 21 Oct 2026 07:28:00 GMT" (got "tomorrow").`},
		{"header injection", map[string]string{"Cache-Control": "no-cache\r\nX-Evil: 1"}, `The value of the S3 header "Cache-Control" can only contain printable ASCII characters.`},
		{"non-ASCII", map[string]string{"x-amz-meta-title": "café"}, `The value of the S3 header "x-amz-meta-title" can only contain printable ASCII characters.`},
		{"meta without name", map[string]string{"x-amz-meta-": "x"}, `The S3 header "x-amz-meta-" is not a valid metadata header name.`},
		{"meta with space", map[string]string{"x-amz-meta-a b": "x"}, `The S3 header "x-amz-meta-a b" is not a valid metadata header name.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, ValidateHeaders(tt.in), tt.want)
		})
	}
}
