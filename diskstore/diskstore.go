// Package diskstore is vidjob's embedded object store: objects are plain files
// under a root directory (ROOT/BUCKET/KEY), written atomically and served
// read-only over HTTP, so that a single vidjob needs no S3 service.
//
// Every file access goes through an os.Root, which refuses names that resolve
// outside the root, even through symbolic links; names are also validated and
// checked lexically first, so a bad name fails with a clear error before any
// file system call.
package diskstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vidjob/vidjob"
)

// tmpPrefix starts the names of objects being written. Keys whose last segment
// starts with it are refused, and the handler never serves such names, so a
// half-written object is never visible.
const tmpPrefix = ".vidjob-tmp-"

// copyChunk is how much is copied between checks of the context, so that a
// cancelled job stops copying a large file promptly.
const copyChunk = 16 << 20

// Store keeps objects as files under a root directory. It is safe for
// concurrent use.
type Store struct {
	dir     string // the absolute root directory
	root    *os.Root
	baseURL string // without a trailing slash
}

var _ vidjob.ObjectStore = (*Store)(nil)

// New opens (creating it if needed) the store rooted at root. baseURL is the
// public address of vidjob's HTTP server, e.g. "https://media.example.com"; the
// URLs Put returns are baseURL + "/objects/" + bucket + "/" + key.
func New(root string, baseURL string) (*Store, error) {
	if root == "" {
		return nil, errors.New("diskstore: root directory is required")
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("diskstore: base URL %q: %w", baseURL, err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("diskstore: base URL %q must not have a query or fragment", baseURL)
	}
	dir, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("diskstore: root %q: %w", root, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("diskstore: create root: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("diskstore: open root: %w", err)
	}
	return &Store{dir: dir, root: r, baseURL: strings.TrimRight(baseURL, "/")}, nil
}

// Close releases the root directory. The store must not be used afterwards.
func (s *Store) Close() error { return s.root.Close() }

// Root returns the absolute directory the objects live under.
func (s *Store) Root() string { return s.dir }

// URL returns the public address of an object: baseURL/objects/BUCKET/KEY with
// each path segment escaped.
func (s *Store) URL(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return s.baseURL + "/objects/" + url.PathEscape(bucket) + "/" + strings.Join(segs, "/")
}

// Put copies obj.File to ROOT/BUCKET/KEY and returns the object's URL. It
// writes a temporary file in the destination directory, syncs it and renames
// it into place, so a reader sees either the old object or the whole new one.
//
// The disk store serves objects to anyone with the URL and picks Content-Type
// from the key's extension, so obj.ContentType and obj.Headers (ACLs, cache
// headers) are not stored.
func (s *Store) Put(ctx context.Context, obj vidjob.Object) (string, error) {
	name, err := s.objectName(obj.Bucket, obj.Key)
	if err != nil {
		return "", err
	}
	if obj.File == "" {
		return "", errors.New("diskstore: put: no source file")
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("diskstore: put %s: %w", name, err)
	}
	src, err := os.Open(obj.File)
	if err != nil {
		return "", fmt.Errorf("diskstore: put %s: %w", name, err)
	}
	defer src.Close()
	if fi, err := src.Stat(); err != nil {
		return "", fmt.Errorf("diskstore: put %s: %w", name, err)
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("diskstore: put %s: source %s is not a regular file", name, obj.File)
	}

	dir := path.Dir(name)
	if err := s.root.MkdirAll(dir, 0o755); err != nil {
		return "", conflict(err, obj, fmt.Errorf("diskstore: put %s: create directory: %w", name, err))
	}
	tmpName := path.Join(dir, tmpPrefix+rand.Text())
	tmp, err := s.root.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", conflict(err, obj, fmt.Errorf("diskstore: put %s: create temporary file: %w", name, err))
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			s.root.Remove(tmpName)
		}
	}()
	if err := copyContext(ctx, tmp, src); err != nil {
		return "", fmt.Errorf("diskstore: put %s: %w", name, err)
	}
	// Sync before rename: otherwise a crash can leave the new name pointing at
	// an empty or partial file.
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("diskstore: put %s: sync: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("diskstore: put %s: close: %w", name, err)
	}
	if err := s.root.Rename(tmpName, name); err != nil {
		return "", conflict(err, obj, fmt.Errorf("diskstore: put %s: rename into place: %w", name, err))
	}
	renamed = true
	// Syncing the directory makes the rename itself durable.
	if d, err := s.root.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return "", fmt.Errorf("diskstore: put %s: sync directory: %w", name, err)
		}
	}
	return s.URL(obj.Bucket, obj.Key), nil
}

// conflict turns the errors a file system gives when a key needs a directory
// where an object is (or the reverse: "a" and "a/b"), or when a key's segment is
// longer than the file system allows, into client errors.
func conflict(err error, obj vidjob.Object, wrapped error) error {
	if errors.Is(err, syscall.ENAMETOOLONG) {
		return vidjob.WrapError(vidjob.EINVALID, wrapped, "A segment of the destination key is too long for the disk store.")
	}
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		return vidjob.WrapError(vidjob.EUNPROCESSABLE, wrapped,
			"The destination key %q conflicts with an existing object or folder in bucket %q.", obj.Key, obj.Bucket)
	}
	return wrapped
}

// copyContext copies src to dst in chunks, checking ctx between them. Each
// chunk is an io.CopyN between two files, which lets the kernel copy the data
// (copy_file_range) without passing it through user space.
func copyContext(ctx context.Context, dst *os.File, src *os.File) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := io.CopyN(dst, src, copyChunk)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
}

// objectName validates bucket and key and returns the object's slash-separated
// name relative to the root. Validation is repeated here, although the API
// validates too, because this is where a name becomes a path.
func (s *Store) objectName(bucket, key string) (string, error) {
	if err := vidjob.ValidateBucket(bucket); err != nil {
		return "", err
	}
	// ValidateKey also refuses empty segments: on disk "a//b" would be the
	// same file as "a/b", and "a/" a directory.
	if err := vidjob.ValidateKey(key); err != nil {
		return "", err
	}
	if strings.HasPrefix(path.Base(key), tmpPrefix) {
		return "", vidjob.Errorf(vidjob.EINVALID, "The destination key cannot start its last segment with %q.", tmpPrefix)
	}
	name := bucket + "/" + key
	// The checks above should make this impossible; it is the last line of
	// defence should they ever be loosened.
	full := filepath.Join(s.dir, filepath.FromSlash(name))
	if rel, err := filepath.Rel(s.dir, full); err != nil || rel == "." || !filepath.IsLocal(rel) || filepath.ToSlash(rel) != name {
		return "", vidjob.Errorf(vidjob.EINVALID, "The destination bucket and key do not name a file inside the store.")
	}
	return name, nil
}

// open opens an object for reading. Directories and other non-regular files
// are reported as fs.ErrNotExist so that they are never listed or served.
func (s *Store) open(bucket, key string) (*os.File, fs.FileInfo, error) {
	name, err := s.objectName(bucket, key)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, fi, nil
}
