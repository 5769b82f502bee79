// Package livefile lets local programs read a file while it is still being
// downloaded: a File follows the download (how big it will be, how much is on
// disk, how it ended), and a Server serves that one file over loopback HTTP at
// an unguessable URL, with Range requests, to readers that may run ahead of
// the download. A read of bytes not yet written waits for them; if the
// download fails, the reader's connection is aborted so that it stops at
// once rather than taking a short file for a whole one.
//
// It exists so that ffprobe and ffmpeg can start on a source while the
// worker's own fetcher (package fetch, with its address checks and size limit)
// still downloads it: ffmpeg never fetches the client's URL itself.
package livefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// ErrIncomplete is returned by reads past what a download that ended
// successfully wrote (it wrote less than it announced).
var ErrIncomplete = errors.New("livefile: the download ended before this offset")

// File is a file at a path that one download writes and other readers read.
// It implements fetch.Watcher. The zero value is not usable; use New.
type File struct {
	path string

	mu      sync.Mutex
	size    int64 // announced final size; -1 unknown
	started bool
	written int64
	done    bool
	err     error
	// changed is closed, and replaced, whenever any of the above changes.
	changed chan struct{}
}

// New returns a File for the download that will be written at path.
func New(path string) *File {
	return &File{path: path, size: -1, changed: make(chan struct{})}
}

// Path is where the file is written.
func (f *File) Path() string { return f.path }

func (f *File) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Started records that the download has created the file and will write
// size bytes (-1 when it does not know).
func (f *File) Started(size int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started, f.size = true, size
	f.notifyLocked()
}

// Wrote records that total bytes are on disk. Bytes past the announced size
// are never served.
func (f *File) Wrote(total int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if total > f.written {
		f.written = total
		f.notifyLocked()
	}
}

// Finish records the download's end: err is nil when it completed, or why it
// failed. Readers waiting for bytes that will now never come get err.
func (f *File) Finish(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.done, f.err = true, err
	f.notifyLocked()
}

// State is a snapshot of a File.
type State struct {
	// Started is set once the file exists and Size is known.
	Started bool
	// Size is the announced final size, -1 when unknown.
	Size int64
	// Written is how many bytes are on disk.
	Written int64
	// Done is set when the download ended; Err says why it failed, nil when
	// it completed.
	Done bool
	Err  error
}

// State returns the file's state now, and a channel closed at its next change.
func (f *File) State() (State, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return State{Started: f.started, Size: f.size, Written: f.written, Done: f.done, Err: f.err}, f.changed
}

// Wait returns the file's state once ready says it is, or the download ended,
// or ctx ended (then with ctx's error).
func (f *File) Wait(ctx context.Context, ready func(State) bool) (State, error) {
	for {
		s, changed := f.State()
		if s.Done || ready(s) {
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return s, context.Cause(ctx)
		}
	}
}

// waitFor waits until the bytes up to end are on disk. It fails with the
// download's error if the download failed before writing them, with
// ErrIncomplete if it completed short of them, and with ctx's error.
func (f *File) waitFor(ctx context.Context, end int64) error {
	s, err := f.Wait(ctx, func(s State) bool { return s.Written >= end })
	switch {
	case err != nil:
		return err
	case s.Written >= end:
		return nil
	case s.Err != nil:
		return s.Err
	}
	return ErrIncomplete
}

// Head waits for the first n bytes (fewer if the download announced fewer)
// and returns them, for telling the file's format before it is whole.
func (f *File) Head(ctx context.Context, n int) ([]byte, error) {
	s, err := f.Wait(ctx, func(s State) bool { return s.Started })
	if err != nil {
		return nil, err
	}
	if s.Size >= 0 {
		n = int(min(int64(n), s.Size))
	}
	if err := f.waitFor(ctx, int64(n)); err != nil {
		return nil, err
	}
	r := f.reader(ctx)
	defer r.Close()
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// reader is one reader's view of the file: reads block until their bytes are
// written, and end with ctx.
type reader struct {
	f   *File
	ctx context.Context

	once sync.Once
	file *os.File
	err  error
	// failed is the download's failure, when a read ended because of it.
	failed error
}

func (f *File) reader(ctx context.Context) *reader { return &reader{f: f, ctx: ctx} }

// ReadAt reads len(p) bytes at off, waiting until they are written. It
// returns io.EOF only at the announced end of the file.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if err := r.f.waitFor(r.ctx, off+int64(len(p))); err != nil {
		if r.ctx.Err() == nil {
			r.failed = err
		}
		return 0, err
	}
	r.once.Do(func() { r.file, r.err = os.Open(r.f.path) })
	if r.err != nil {
		return 0, fmt.Errorf("livefile: %w", r.err)
	}
	return r.file.ReadAt(p, off)
}

func (r *reader) Close() error {
	if r.file != nil {
		return r.file.Close()
	}
	return nil
}

var _ io.ReaderAt = (*reader)(nil)
