package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/ffmpeg"
)

// uploadConcurrency bounds the uploads of one job in flight at once: enough
// to hide each request's round trip behind the others, few enough not to
// crowd the encode for CPU or the link. Each upload streams from its file.
const uploadConcurrency = 3

// segmentPollInterval is how often the output directory is looked at for
// finished segments while ffmpeg runs. Segments last seconds, so a fifth of
// a second late costs nothing but the last one's wait.
const segmentPollInterval = 200 * time.Millisecond

// discardTimeout bounds the clean-up of a failed attempt's objects, which
// runs after the attempt's own context may have ended.
const discardTimeout = 30 * time.Second

// outputUploader stores the files ffmpeg writes into a job's output
// directory: for HLS and DASH, each segment as soon as ffmpeg has finished
// it (ffmpeg.FinishedSegments), the rest once ffmpeg has exited, and the
// main output (playlist or manifest) last of all, so that no one ever sees a
// playlist naming a segment that is not stored yet. If the attempt fails,
// discard deletes whatever it stored.
type outputUploader struct {
	store  ObjectStore
	dest   vidjob.Destination
	preset *vidjob.Preset
	dir    string // the output directory
	main   string // the main output's file name in dir
	log    *slog.Logger
	poll   time.Duration

	ctx    context.Context // the uploads'; cancel stops them
	cancel context.CancelFunc
	parent context.Context // for discard, past the attempt's end
	slots  chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	started map[string]bool      // file names whose upload has started
	stored  map[string]fileStamp // file name → what was stored
	tried   []string             // every key a Put was started for
	err     error                // the first upload's failure
	early   int                  // files stored while ffmpeg ran
	closed  bool                 // no upload starts any more
	kept    bool                 // the attempt delivered: keep everything
}

// fileStamp is what a file looked like when it was read for storing; a file
// that differs later was still being written, and is stored again.
type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(fi os.FileInfo) fileStamp { return fileStamp{fi.Size(), fi.ModTime()} }

func newOutputUploader(ctx context.Context, store ObjectStore, dest vidjob.Destination, preset *vidjob.Preset, dir, main string, log *slog.Logger) *outputUploader {
	uctx, cancel := context.WithCancel(ctx)
	return &outputUploader{
		store: store, dest: dest, preset: preset, dir: dir, main: main, log: log, poll: segmentPollInterval,
		ctx: uctx, cancel: cancel, parent: ctx, slots: make(chan struct{}, uploadConcurrency),
		started: map[string]bool{}, stored: map[string]fileStamp{},
	}
}

// encode runs fn (ffmpeg writing the output) and, for a segmented preset,
// stores each segment as ffmpeg finishes it. A failed upload stops fn (its
// context is cancelled) and is the error returned, as an uploadFailed, since
// it is the cause.
// Uploads still in flight when fn returns carry on; finish waits for them.
func (u *outputUploader) encode(ctx context.Context, fn func(context.Context) error) error {
	if !u.preset.Segmented() {
		return fn(ctx)
	}
	ctx, stopEncode := context.WithCancelCause(ctx)
	defer stopEncode(nil)
	onFail := func(err error) { stopEncode(err) }
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(u.poll)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				u.storeFinished(onFail)
			}
		}
	}()
	err := fn(ctx)
	close(stop)
	<-watched
	u.mu.Lock()
	uerr, early := u.err, u.early
	u.mu.Unlock()
	if uerr != nil && u.parent.Err() == nil {
		return uploadFailed{uerr}
	}
	if err == nil {
		u.log.Debug("segments stored while encoding", "count", early)
	}
	return err
}

// storeFinished starts storing the segments ffmpeg has finished since the
// last look.
func (u *outputUploader) storeFinished(onFail func(error)) {
	entries, err := os.ReadDir(u.dir)
	if err != nil {
		return // finish lists the directory again and reports it
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	for _, name := range ffmpeg.FinishedSegments(u.preset, filepath.Join(u.dir, u.main), names) {
		u.start(name, true, onFail)
	}
}

// start stores name in the background unless it was started before;
// onFail, if not nil, hears of a failure.
func (u *outputUploader) start(name string, early bool, onFail func(error)) {
	u.mu.Lock()
	if u.started[name] || u.closed {
		u.mu.Unlock()
		return
	}
	u.started[name] = true
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		select {
		case u.slots <- struct{}{}:
		case <-u.ctx.Done():
			u.fail(u.ctx.Err(), onFail)
			return
		}
		defer func() { <-u.slots }()
		if _, err := u.put(name); err != nil {
			u.fail(err, onFail)
			return
		}
		if early {
			u.mu.Lock()
			u.early++
			u.mu.Unlock()
			u.log.Debug("stored while encoding", "key", u.key(name))
		}
	}()
}

func (u *outputUploader) fail(err error, onFail func(error)) {
	u.mu.Lock()
	first := u.err == nil
	if first {
		u.err = err
	}
	u.mu.Unlock()
	if first && onFail != nil {
		onFail(err)
	}
}

// key is the object key of the output file name.
func (u *outputUploader) key(name string) string {
	if name == u.main {
		return u.dest.Key
	}
	return siblingKey(u.dest.Key, name)
}

// put stores one file and returns its URL. The file's stamp is taken before
// it is read, so a file that changed while it was read shows as changed.
func (u *outputUploader) put(name string) (string, error) {
	file := filepath.Join(u.dir, name)
	fi, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", name, err)
	}
	key, contentType := u.key(name), u.preset.OutputContentType()
	if name != u.main {
		contentType = segmentContentTypes[filepath.Ext(name)]
	}
	// An attempt that may have been taken over writes nothing more: the
	// keys are the new attempt's now.
	if err := checkLease(u.ctx); err != nil {
		return "", err
	}
	u.mu.Lock()
	u.tried = append(u.tried, key)
	u.mu.Unlock()
	url, err := u.store.Put(u.ctx, vidjob.Object{
		Bucket:      u.dest.Bucket,
		Region:      u.dest.Region,
		Key:         key,
		File:        file,
		ContentType: contentType,
		Headers:     u.dest.Headers,
	})
	if err != nil {
		return "", storeError(u.dest, err)
	}
	u.mu.Lock()
	u.stored[name] = stampOf(fi)
	u.mu.Unlock()
	return url, nil
}

// uploadFailed marks an error of storing the output, as opposed to one of
// ffmpeg, which encode also returns.
type uploadFailed struct{ error }

func (e uploadFailed) Unwrap() error { return e.error }

// storeError keeps the store's own refusals (a bucket that does not exist,
// access denied) and makes anything else a retryable EUNAVAILABLE.
func storeError(dest vidjob.Destination, err error) error {
	var ve *vidjob.Error
	if errors.As(err, &ve) && ve.Code != vidjob.EUNAVAILABLE && ve.Code != vidjob.EINTERNAL {
		return err
	}
	return retryable{vidjob.WrapError(vidjob.EUNAVAILABLE, err, "The output could not be stored in bucket %s.", dest.Bucket)}
}

// stored is what finish reports: the main output's URL, every key in the
// order the job's result lists them (the main output first, then the other
// files by name), and the size of each file.
type storedOutput struct {
	url   string
	keys  []string
	sizes []int64
}

// finish stores what ffmpeg left once it has exited: every file not stored
// yet, and again any stored while it was still changing, up to
// uploadConcurrency at a time; then, once all of them are stored, the main
// output.
func (u *outputUploader) finish(ctx context.Context) (*storedOutput, error) {
	stop := context.AfterFunc(ctx, u.cancel)
	defer stop()
	entries, err := os.ReadDir(u.dir)
	if err != nil {
		return nil, fmt.Errorf("list outputs: %w", err)
	}
	out := &storedOutput{keys: []string{u.dest.Key}}
	var hasMain bool
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("output %q is not a regular file", e.Name())
		}
		if fi, err := e.Info(); err == nil {
			out.sizes = append(out.sizes, fi.Size())
		}
		if e.Name() == u.main {
			hasMain = true
			continue
		}
		out.keys = append(out.keys, u.key(e.Name()))
		u.start(e.Name(), false, nil)
	}
	if err := u.wait(); err != nil {
		return nil, err
	}
	// A file stored while ffmpeg ran must not have changed since: if it
	// did (a muxer that rewrites a segment), the stored copy is replaced.
	for _, e := range entries {
		name := e.Name()
		if name == u.main {
			continue
		}
		fi, err := os.Stat(filepath.Join(u.dir, name))
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		u.mu.Lock()
		changed := u.stored[name] != stampOf(fi)
		if changed {
			delete(u.started, name)
		}
		u.mu.Unlock()
		if changed {
			u.log.Warn("output changed after it was stored; storing it again", "key", u.key(name))
			u.start(name, false, nil)
		}
	}
	if err := u.wait(); err != nil {
		return nil, err
	}
	if !hasMain {
		return nil, fmt.Errorf("ffmpeg wrote no %s", u.main)
	}
	if out.url, err = u.put(u.main); err != nil {
		return nil, err
	}
	return out, nil
}

// wait waits for the uploads started so far and returns the first failure.
func (u *outputUploader) wait() error {
	u.wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// commit marks the attempt delivered: discard then keeps what was stored.
func (u *outputUploader) commit() {
	u.mu.Lock()
	u.kept = true
	u.mu.Unlock()
}

// discard, unless the attempt was committed, stops the uploads in flight
// and deletes every object this attempt stored or began to store, best
// effort: a failure is logged, and a later attempt overwrites the same keys.
func (u *outputUploader) discard() {
	u.mu.Lock()
	u.closed = true
	kept := u.kept
	u.mu.Unlock()
	u.cancel()
	u.wg.Wait()
	if kept {
		return
	}
	u.mu.Lock()
	keys := u.tried
	u.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	if err := checkLease(u.parent); err != nil {
		// The same keys may hold the new attempt's objects by now, which
		// overwrites whatever this one stored.
		u.log.Warn("not deleting the attempt's outputs: another worker has the job", "objects", len(keys))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.parent), discardTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	slots := make(chan struct{}, uploadConcurrency)
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := u.store.Delete(ctx, u.dest.Bucket, k); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
				u.log.Warn("could not delete an output of the failed attempt", "bucket", u.dest.Bucket, "key", k, "err", err)
			}
		}()
	}
	wg.Wait()
	u.log.Info("deleted the failed attempt's outputs", "bucket", u.dest.Bucket, "objects", len(seen)-failed, "not_deleted", failed)
}
