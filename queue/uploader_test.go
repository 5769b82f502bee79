package queue

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/diskstore"
	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/internal/testmedia"
	"github.com/vidjob/vidjob/preset"
)

// watchedStore is a real disk store that records when each Put ended, how
// many ran at once, and can refuse one key.
type watchedStore struct {
	*diskstore.Store
	root string

	mu       sync.Mutex
	putEnds  map[string]time.Time
	order    []string // keys in the order their Puts ended
	inFlight int
	maxAtOne int
	failKey  string
	onPut    func(key string)
}

func newWatchedStore(t *testing.T) *watchedStore {
	t.Helper()
	root := t.TempDir()
	s, err := diskstore.New(root, "http://media.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &watchedStore{Store: s, root: root, putEnds: map[string]time.Time{}}
}

func (s *watchedStore) Put(ctx context.Context, obj vidjob.Object) (string, error) {
	s.mu.Lock()
	s.inFlight++
	s.maxAtOne = max(s.maxAtOne, s.inFlight)
	fail := obj.Key == s.failKey
	s.mu.Unlock()
	var url string
	var err error
	if fail {
		err = vidjob.Errorf(vidjob.EUNAVAILABLE, "the store is down")
	} else {
		// Long enough for uploads to overlap, as a real network's would.
		time.Sleep(20 * time.Millisecond)
		url, err = s.Store.Put(ctx, obj)
	}
	s.mu.Lock()
	s.inFlight--
	if err == nil {
		s.putEnds[obj.Key] = time.Now()
		s.order = append(s.order, obj.Key)
	}
	onPut := s.onPut
	s.mu.Unlock()
	if err == nil && onPut != nil {
		onPut(obj.Key)
	}
	return url, err
}

// objects lists the keys stored in bucket.
func (s *watchedStore) objects(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	dir := filepath.Join(s.root, bucket)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(keys)
	return keys
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
}

func lookupPreset(t *testing.T, name string) *vidjob.Preset {
	t.Helper()
	c, err := preset.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// segmentedEncode prepares a real ffmpeg encode of a 16 s clip with preset
// into a fresh output directory, reading the source at 4× its rate so that
// it lasts about 4 s and segments finish while it runs.
func segmentedEncode(t *testing.T, presetName, outName string) (p *vidjob.Preset, outDir string, run func(ctx context.Context) error) {
	t.Helper()
	needFFmpeg(t)
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 16, Width: 640, Height: 360})
	r := &ffmpeg.Runner{X264Preset: "ultrafast"}
	sp, err := r.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	p = lookupPreset(t, presetName)
	outDir = filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := r.ArgOptions()
	opts.SegmentSeconds = 1
	args, err := ffmpeg.BuildArgs(p, sp, src, filepath.Join(outDir, outName), opts)
	if err != nil {
		t.Fatal(err)
	}
	args = slices.Insert(args, slices.Index(args, "-i"), "-readrate", "4")
	return p, outDir, func(ctx context.Context) error { return r.Transcode(ctx, args, 0, nil) }
}

var testDest = vidjob.Destination{Bucket: "media", Key: "shows/ep1/index"}

func destFor(name string) vidjob.Destination {
	d := testDest
	d.Key = "shows/ep1/" + name
	return d
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestUploaderStoresSegmentsWhileFFmpegRuns: with real ffmpeg writing HLS and
// DASH, segments are stored before ffmpeg exits, at most uploadConcurrency at
// a time; after finish every file is stored whole, the playlist or manifest
// last, and the keys come in the order jobs have always listed them.
func TestUploaderStoresSegmentsWhileFFmpegRuns(t *testing.T) {
	for _, c := range []struct{ preset, out string }{
		{"System preset: HLS 400k", "index.m3u8"},
		{"System preset: MPEG-Dash Video - 600k", "index.mpd"},
	} {
		t.Run(c.out, func(t *testing.T) {
			p, outDir, run := segmentedEncode(t, c.preset, c.out)
			store := newWatchedStore(t)
			dest := destFor(c.out)
			u := newOutputUploader(context.Background(), store, dest, p, outDir, c.out, discardLog())
			defer u.discard()
			var exited time.Time
			if err := u.encode(context.Background(), func(ctx context.Context) error {
				err := run(ctx)
				exited = time.Now()
				return err
			}); err != nil {
				t.Fatal(err)
			}
			got, err := u.finish(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			u.commit()

			entries, _ := os.ReadDir(outDir)
			want := []string{dest.Key}
			for _, e := range entries {
				if e.Name() != c.out {
					want = append(want, "shows/ep1/"+e.Name())
				}
			}
			if !slices.Equal(got.keys, want) {
				t.Errorf("keys %v, want %v", got.keys, want)
			}
			if got.url != "http://media.test/objects/media/"+dest.Key {
				t.Errorf("url %s", got.url)
			}
			before := 0
			for k, end := range store.putEnds {
				if end.Before(exited) {
					before++
					if k == dest.Key {
						t.Errorf("the main output was stored before ffmpeg exited")
					}
				}
			}
			if before < 2 {
				t.Errorf("%d of %d files stored before ffmpeg exited, want at least 2", before, len(want))
			}
			if last := store.order[len(store.order)-1]; last != dest.Key {
				t.Errorf("last stored %s, want the main output %s", last, dest.Key)
			}
			if store.maxAtOne > uploadConcurrency {
				t.Errorf("%d uploads at once, want at most %d", store.maxAtOne, uploadConcurrency)
			}
			for _, e := range entries {
				local, _ := os.ReadFile(filepath.Join(outDir, e.Name()))
				stored, err := os.ReadFile(filepath.Join(store.root, "media", "shows", "ep1", e.Name()))
				if err != nil || !bytes.Equal(local, stored) {
					t.Errorf("%s: stored %d bytes (%v), local %d", e.Name(), len(stored), err, len(local))
				}
			}
			t.Logf("%d of %d files stored before ffmpeg exited; %d uploads at most at once", before, len(want), store.maxAtOne)
		})
	}
}

// TestUploaderDeletesWhatAFailedEncodeStored: ffmpeg dies after segments
// were stored (killed here); discard leaves nothing in the store.
func TestUploaderDeletesWhatAFailedEncodeStored(t *testing.T) {
	p, outDir, run := segmentedEncode(t, "System preset: HLS 400k", "index.m3u8")
	store := newWatchedStore(t)
	kill := make(chan struct{})
	var once sync.Once
	store.onPut = func(string) {
		if len(store.objects(t, "media")) >= 2 {
			once.Do(func() { close(kill) })
		}
	}
	u := newOutputUploader(context.Background(), store, destFor("index.m3u8"), p, outDir, "index.m3u8", discardLog())
	err := u.encode(context.Background(), func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-kill:
				cancel()
			case <-ctx.Done():
			}
		}()
		return run(ctx)
	})
	if err == nil {
		t.Fatal("the killed ffmpeg succeeded")
	}
	if n := len(store.objects(t, "media")); n < 2 {
		t.Fatalf("%d objects stored before ffmpeg was killed, want at least 2", n)
	}
	u.discard()
	if left := store.objects(t, "media"); len(left) != 0 {
		t.Errorf("objects left after discard: %v", left)
	}
}

// TestUploaderStopsTheEncodeWhenAnUploadFails: a segment the store refuses
// stops ffmpeg at once with the store's retryable error, and discard
// deletes the segments stored before it.
func TestUploaderStopsTheEncodeWhenAnUploadFails(t *testing.T) {
	p, outDir, run := segmentedEncode(t, "System preset: HLS 400k", "index.m3u8")
	store := newWatchedStore(t)
	store.failKey = "shows/ep1/index00001.ts"
	u := newOutputUploader(context.Background(), store, destFor("index.m3u8"), p, outDir, "index.m3u8", discardLog())
	start := time.Now()
	err := u.encode(context.Background(), run)
	took := time.Since(start)
	var r retryable
	var uf uploadFailed
	if !errors.As(err, &r) || !errors.As(err, &uf) || vidjob.ErrorCode(err) != vidjob.EUNAVAILABLE || !strings.Contains(vidjob.ErrorMessage(err), "bucket media") {
		t.Fatalf("encode: %v, want the store's retryable EUNAVAILABLE", err)
	}
	if took > 3500*time.Millisecond {
		t.Errorf("encode ran %s after the failed upload; the whole encode takes about 4 s", took)
	}
	if n := len(store.putEnds); n < 1 {
		t.Errorf("%d segments stored before the failure, want at least 1", n)
	}
	u.discard()
	if left := store.objects(t, "media"); len(left) != 0 {
		t.Errorf("objects left after discard: %v", left)
	}
}

// TestUploaderDeletesWhenTheAttemptEnds: the job's context ends (shutdown,
// timeout) mid-encode; discard still deletes, past the context's end.
func TestUploaderDeletesWhenTheAttemptEnds(t *testing.T) {
	p, outDir, run := segmentedEncode(t, "System preset: MPEG-Dash Video - 600k", "index.mpd")
	store := newWatchedStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store.onPut = func(string) {
		if len(store.objects(t, "media")) >= 3 {
			cancel()
		}
	}
	u := newOutputUploader(ctx, store, destFor("index.mpd"), p, outDir, "index.mpd", discardLog())
	if err := u.encode(ctx, run); err == nil || ctx.Err() == nil {
		t.Fatalf("encode: %v with context %v, want both ended", err, ctx.Err())
	}
	u.discard()
	if left := store.objects(t, "media"); len(left) != 0 {
		t.Errorf("objects left after discard: %v", left)
	}
}

// TestUploaderStoresAgainAFileChangedAfterStoring: should a muxer rewrite a
// segment after it looked finished, finish stores it again, so the stored
// copy is never a stale or partial one.
func TestUploaderStoresAgainAFileChangedAfterStoring(t *testing.T) {
	outDir := t.TempDir()
	p := &vidjob.Preset{Container: "ts", Packaging: vidjob.PackagingHLS}
	store := newWatchedStore(t)
	u := newOutputUploader(context.Background(), store, destFor("index.m3u8"), p, outDir, "index.m3u8", discardLog())
	u.poll = 5 * time.Millisecond
	seg := filepath.Join(outDir, "index00000.ts")
	if err := u.encode(context.Background(), func(context.Context) error {
		os.WriteFile(seg, []byte("first half"), 0o600)
		deadline := time.Now().Add(5 * time.Second)
		for len(store.objects(t, "media")) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(" and the rest")
		f.Close()
		return os.WriteFile(filepath.Join(outDir, "index.m3u8"), []byte("#EXTM3U\n"), 0o600)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(store.root, "media", "shows", "ep1", "index00000.ts"))
	if string(got) != "first half and the rest" {
		t.Errorf("stored %q", got)
	}
}

// TestUploaderStoresASingleFile: a non-segmented output is stored once, at
// finish, and a failure after it (discard without commit) deletes it.
func TestUploaderStoresASingleFile(t *testing.T) {
	outDir := t.TempDir()
	os.WriteFile(filepath.Join(outDir, "out.mp4"), []byte("movie"), 0o600)
	p := &vidjob.Preset{Container: "mp4"}
	store := newWatchedStore(t)
	dest := vidjob.Destination{Bucket: "media", Key: "a/b.mp4"}
	u := newOutputUploader(context.Background(), store, dest, p, outDir, "out.mp4", discardLog())
	if err := u.encode(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := u.finish(context.Background())
	if err != nil || !slices.Equal(got.keys, []string{"a/b.mp4"}) || !slices.Equal(got.sizes, []int64{5}) {
		t.Fatalf("finish: %+v, %v", got, err)
	}
	if keys := store.objects(t, "media"); !slices.Equal(keys, []string{"a/b.mp4"}) {
		t.Errorf("stored %v", keys)
	}
	u.discard()
	if keys := store.objects(t, "media"); len(keys) != 0 {
		t.Errorf("left %v", keys)
	}
}

func TestOverlappedPhasesAddUpToTheWallTime(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct{ probe, meta, wall, p, m, u time.Duration }{
		{60 * ms, 5 * ms, 300 * ms, 60 * ms, 0, 240 * ms},       // uploads the longest
		{60 * ms, 90 * ms, 100 * ms, 60 * ms, 30 * ms, 10 * ms}, // exiftool past the probe
		{60 * ms, 5 * ms, 61 * ms, 60 * ms, 0, 1 * ms},
		{80 * ms, 5 * ms, 70 * ms, 70 * ms, 0, 0}, // clocks read a hair apart
	} {
		p, m, u := overlappedPhases(c.probe, c.meta, c.wall)
		if p != c.p || m != c.m || u != c.u || p+m+u != c.wall {
			t.Errorf("%v %v %v: got %v %v %v, want %v %v %v", c.probe, c.meta, c.wall, p, m, u, c.p, c.m, c.u)
		}
	}
}

// TestUploaderOfATakenOverAttemptWritesAndDeletesNothing: once the
// attempt's lease is lost mid-encode, the uploader stores no further
// segment (the encode ends with errLeaseLost) and discard deletes nothing,
// since the same keys now belong to the attempt that took the job over.
func TestUploaderOfATakenOverAttemptWritesAndDeletesNothing(t *testing.T) {
	p, outDir, run := segmentedEncode(t, "System preset: HLS 400k", "index.m3u8")
	store := newWatchedStore(t)
	l := &lease{token: "t", limit: time.Minute, lastOK: time.Now()}
	ctx := context.WithValue(context.Background(), leaseKey{}, l)
	var lostAt int
	store.onPut = func(string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !l.lost && len(store.objects(t, "media")) >= 2 {
			l.lost, lostAt = true, len(store.objects(t, "media"))
		}
	}
	u := newOutputUploader(ctx, store, destFor("index.m3u8"), p, outDir, "index.m3u8", discardLog())
	if err := u.encode(ctx, run); !errors.Is(err, errLeaseLost) {
		t.Fatalf("encode: %v, want errLeaseLost", err)
	}
	u.discard()
	// Puts already under way when the lease went may have ended after it.
	if n := len(store.objects(t, "media")); n < lostAt || n > lostAt+uploadConcurrency {
		t.Errorf("%d objects after discard; %d were stored when the lease was lost", n, lostAt)
	}
	if lostAt == 0 {
		t.Fatal("the lease was never lost: the test did not exercise anything")
	}
}
