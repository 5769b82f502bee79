// Package workdir gives a worker process a directory of its own for its
// attempts' files, and removes what no running attempt owns: the directories
// of workers that died (kill -9, a lost machine), those left by earlier
// versions of vidjob, and any of its own that an attempt failed to remove.
//
// Several workers may share one temporary directory (processes on one
// machine, or machines on one NFS mount). Each holds an exclusive flock(2)
// on a lock file inside its directory for as long as it runs; the kernel
// drops the lock when the process dies, however it dies, so a directory whose
// lock another worker can take has no live owner and is removed. A worker
// never removes a directory whose lock is held.
package workdir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The names under the root. A worker's directory is made as newPrefix+random
// and locked before it is renamed to workerPrefix+random, so every
// workerPrefix directory has held its lock since it got that name: there is
// no moment at which a live worker's directory could be taken for a dead one.
// A dead worker's directory is renamed to gonePrefix+random before it is
// removed, so that of two sweepers only one removes it (rename is atomic).
const (
	workerPrefix = "w-"
	newPrefix    = ".new-"
	gonePrefix   = ".gone-"
	lockName     = "lock"
)

// Old layouts: vidjob before per-worker directories made each attempt's
// directory directly under the root.
var oldPrefixes = []string{"job-", "part-"}

// settle is how old an unlocked .new- or an abandoned .gone- directory must
// be before it is removed: both exist for microseconds in a live process.
const settle = time.Minute

// Why a directory was removed.
const (
	ReasonDeadWorker   = "dead_worker"   // its worker's lock was free
	ReasonOldLayout    = "old_layout"    // left by an earlier version, untouched for longer than an attempt lives
	ReasonEndedAttempt = "ended_attempt" // in this worker's own directory, owned by no running attempt
)

// Removed is one directory a sweep removed.
type Removed struct {
	Name   string // its name under the root, or under the worker's directory for ReasonEndedAttempt
	Reason string
	Bytes  int64 // the sizes of the regular files it held
}

// Dir is one worker process's directory under a shared root.
type Dir struct {
	root  string
	path  string
	lock  *os.File
	stale time.Duration
	log   *slog.Logger

	mu   sync.Mutex
	live map[string]bool // names of running attempts' directories in path
}

// Open makes this process's directory under root (created if missing) and
// locks it until Close. stale is how long an attempt may live (the job
// timeout): a directory of the old layout untouched for longer than that
// belongs to no running attempt of any version.
func Open(root string, stale time.Duration, log *slog.Logger) (*Dir, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	fresh, err := os.MkdirTemp(root, newPrefix)
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(fresh, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		os.RemoveAll(fresh)
		return nil, fmt.Errorf("work directory lock: %w", err)
	}
	if ok, err := tryLock(lock); !ok && locking {
		lock.Close()
		os.RemoveAll(fresh)
		return nil, fmt.Errorf("work directory lock %s: %w", lock.Name(), errors.Join(err, errors.New("held by another process")))
	}
	path := filepath.Join(root, workerPrefix+token())
	if err := os.Rename(fresh, path); err != nil {
		lock.Close()
		os.RemoveAll(fresh)
		return nil, fmt.Errorf("work directory: %w", err)
	}
	return &Dir{root: root, path: path, lock: lock, stale: stale, log: log, live: map[string]bool{}}, nil
}

// Path is this process's directory.
func (d *Dir) Path() string { return d.path }

// Close removes this process's directory and releases its lock. Attempts
// should have ended.
func (d *Dir) Close() error {
	err := os.RemoveAll(d.path)
	return errors.Join(err, d.lock.Close())
}

// Attempt makes a directory for one attempt, named prefix followed by random
// characters, inside this process's directory. release removes it; until
// then no sweep touches it.
func (d *Dir) Attempt(prefix string) (dir string, release func(), err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dir, err = os.MkdirTemp(d.path, prefix)
	if err != nil {
		return "", nil, fmt.Errorf("attempt directory: %w", err)
	}
	name := filepath.Base(dir)
	d.live[name] = true
	var once sync.Once
	return dir, func() {
		once.Do(func() {
			if err := os.RemoveAll(dir); err != nil {
				d.log.Warn("could not remove an attempt's files; the next sweep will", "dir", dir, "err", err)
			}
			d.mu.Lock()
			delete(d.live, name)
			d.mu.Unlock()
		})
	}, nil
}

// Sweep removes, under the root, every other worker's directory whose lock
// it can take, and old-layout directories untouched for longer than stale;
// and, in this process's directory, whatever no running attempt owns. It
// leaves any other file alone and logs what it removed.
func (d *Dir) Sweep() []Removed {
	var out []Removed
	entries, err := os.ReadDir(d.root)
	if err != nil {
		d.log.Warn("work directory sweep", "err", err)
	}
	own := filepath.Base(d.path)
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || name == own {
			continue
		}
		full := filepath.Join(d.root, name)
		var r *Removed
		switch {
		case strings.HasPrefix(name, workerPrefix):
			r = d.sweepWorker(full, 0)
		case strings.HasPrefix(name, newPrefix):
			// A worker between making its directory and renaming it holds
			// the lock; one that died there left it free.
			r = d.sweepWorker(full, settle)
		case strings.HasPrefix(name, gonePrefix):
			// Another sweeper died while removing it.
			if untouchedFor(full, settle) {
				r = remove(full, ReasonDeadWorker)
			}
		case hasOldPrefix(name):
			if untouchedFor(full, d.stale) {
				r = remove(full, ReasonOldLayout)
			}
		}
		if r != nil {
			r.Name = name
			out = append(out, *r)
		}
	}
	out = append(out, d.sweepOwn()...)
	for _, r := range out {
		d.log.Info("removed work files no running attempt owns", "dir", r.Name, "reason", r.Reason, "bytes", r.Bytes)
	}
	return out
}

// sweepWorker removes the worker directory full if its lock is free (its
// owner is dead) and it is older than minAge.
func (d *Dir) sweepWorker(full string, minAge time.Duration) *Removed {
	if minAge > 0 && !untouchedFor(full, minAge) {
		return nil
	}
	lock, err := os.OpenFile(filepath.Join(full, lockName), os.O_RDWR, 0)
	if err != nil {
		// No lock file: a .new- directory that died before it made one (a
		// w- directory always has one). Gone already: another sweeper's.
		if errors.Is(err, fs.ErrNotExist) && minAge > 0 {
			return remove(full, ReasonDeadWorker)
		}
		return nil
	}
	defer lock.Close()
	if ok, _ := tryLock(lock); !ok {
		return nil // its worker is alive
	}
	gone := filepath.Join(d.root, gonePrefix+token())
	if err := os.Rename(full, gone); err != nil {
		return nil // another sweeper took it first
	}
	// A rename keeps the directory's time: mark when it became .gone-, so
	// that other sweepers leave it to this one (see Sweep).
	now := time.Now()
	os.Chtimes(gone, now, now)
	return remove(gone, ReasonDeadWorker)
}

// sweepOwn removes what is in this process's directory and belongs to no
// running attempt.
func (d *Dir) sweepOwn() []Removed {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		d.log.Warn("work directory sweep", "err", err)
		return nil
	}
	var orphans []string
	d.mu.Lock()
	for _, e := range entries {
		if n := e.Name(); n != lockName && !d.live[n] {
			orphans = append(orphans, n)
		}
	}
	d.mu.Unlock()
	// Attempt makes fresh names under the lock, so none of these can
	// become a running attempt's.
	var out []Removed
	for _, n := range orphans {
		if r := remove(filepath.Join(d.path, n), ReasonEndedAttempt); r != nil {
			r.Name = n
			out = append(out, *r)
		}
	}
	return out
}

// Run sweeps every interval until ctx ends, telling report (unless nil) of
// each sweep that removed something.
func (d *Dir) Run(ctx context.Context, interval time.Duration, report func([]Removed)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if r := d.Sweep(); len(r) > 0 && report != nil {
				report(r)
			}
		}
	}
}

func hasOldPrefix(name string) bool {
	for _, p := range oldPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// untouchedFor reports whether nothing in the tree at path was modified
// within d: a directory's time says when entries came and went, not when a
// file in it was last written, so the files count too.
func untouchedFor(path string, d time.Duration) bool {
	cutoff := time.Now().Add(-d)
	fresh := false
	filepath.WalkDir(path, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().After(cutoff) {
			fresh = true
			return filepath.SkipAll
		}
		return nil
	})
	return !fresh
}

// remove deletes the tree at path and reports how many bytes its files held;
// nil when it could not.
func remove(path, reason string) *Removed {
	var n int64
	filepath.WalkDir(path, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if err := os.RemoveAll(path); err != nil {
		return nil
	}
	return &Removed{Reason: reason, Bytes: n}
}

func token() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Gone reports whether the worker directory at path (another process's
// Path, on this machine) has no live owner: it was removed, as a sweep
// removes a dead worker's, or its lock is free. A live worker's directory
// exists and is locked for as long as its process runs, so a lease held
// under that name can be taken over at once when it is gone.
func Gone(path string) bool {
	if !strings.HasPrefix(filepath.Base(path), workerPrefix) {
		return false
	}
	lock, err := os.OpenFile(filepath.Join(path, lockName), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	defer lock.Close() // closing drops the lock taken to test it
	ok, _ := tryLock(lock)
	return ok && locking
}
