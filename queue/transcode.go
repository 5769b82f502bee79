package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"golang.org/x/sync/errgroup"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/fetch"
	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/internal/logctx"
	"github.com/vidjob/vidjob/internal/runlog"
	"github.com/vidjob/vidjob/localdisk"
	"github.com/vidjob/vidjob/postback"
)

// MediaTool probes and transcodes media files (package ffmpeg).
type MediaTool interface {
	Probe(ctx context.Context, path string) (*ffmpeg.Probe, error)
	// ProbeOutput is Probe for an output, which may be an HLS playlist or a
	// DASH manifest.
	ProbeOutput(ctx context.Context, path string) (*ffmpeg.Probe, error)
	// StartOutputProbe starts ProbeOutput's ffprobe before the output is
	// written, so that its start-up overlaps the encode.
	StartOutputProbe(ctx context.Context, path string) (*ffmpeg.OutputProbe, error)
	Transcode(ctx context.Context, args []string, total time.Duration, progress func(fraction float64)) error
	// SmoothManifests writes the .ism and .ismc of a Smooth Streaming .ismv
	// beside it.
	SmoothManifests(ctx context.Context, ismv, published, work string) ([]string, error)
}

// MetaReader describes a media file the way Blitline's results do (package exiftool).
type MetaReader interface {
	Meta(ctx context.Context, path string) (vidjob.Meta, error)
}

// ObjectStore stores finished outputs and returns their URL, and deletes
// those of an attempt that failed (packages diskstore, s3).
type ObjectStore interface {
	Put(ctx context.Context, obj vidjob.Object) (string, error)
	// Delete removes bucket/key; a missing key is no error.
	Delete(ctx context.Context, bucket, key string) error
}

// ObjectSource reads an object of the server's own storage into a local file,
// stopping past maxBytes, for s3:// sources (packages diskstore, s3).
type ObjectSource interface {
	Get(ctx context.Context, bucket, key, path string, maxBytes int64) (int64, error)
}

// Recorder counts what a job moved and how long ffmpeg took (package metrics).
type Recorder interface {
	SourceFetched(bytes int64)
	Transcoded(presetID string, took time.Duration, mediaSeconds float64)
	OutputStored(bytes int64)
	// LocalDiskFault counts an attempt failed by the server's own disk;
	// errno names the error (ENOSPC, ...).
	LocalDiskFault(errno string)
}

type noRecorder struct{}

func (noRecorder) LocalDiskFault(string)                     {}
func (noRecorder) SourceFetched(int64)                       {}
func (noRecorder) Transcoded(string, time.Duration, float64) {}
func (noRecorder) OutputStored(int64)                        {}

// WorkDirs gives each attempt a directory for its files, inside this
// process's own, and release removes it; until then no sweep of leftovers
// touches it (package workdir).
type WorkDirs interface {
	Attempt(prefix string) (dir string, release func(), err error)
}

// PresetCatalog finds the preset a job of an application names, by ID,
// Description or Name, among the system presets and the application's own
// (package preset).
type PresetCatalog interface {
	LookupFor(ctx context.Context, app *vidjob.Application, name string) (*vidjob.Preset, string, error)
}

// TranscodeWorker runs one job: fetch, probe, transcode, describe, upload, charge,
// and hand the results to the postback queue.
type TranscodeWorker struct {
	river.WorkerDefaults[TranscodeArgs]

	Catalog    PresetCatalog
	Media      MediaTool
	ArgOptions ffmpeg.ArgOptions
	Meta       MetaReader
	Store      ObjectStore
	// Fetcher downloads sources; it must refuse addresses the operator has not
	// allowed (fetch.Policy.Client).
	Fetcher   *http.Client
	Postbacks *postback.Sender
	// Sources reads s3:// sources from the server's storage; nil refuses them.
	Sources ObjectSource
	// StreamSources lets ffprobe and ffmpeg read an http(s) source over
	// loopback HTTP while it is still downloading, when it is a container
	// that cannot name other resources and its size is known (see source);
	// otherwise, and for s3:// sources, the download comes first.
	StreamSources bool
	// MaxSourceBytes stops a download that grows past it; 0 means no limit.
	MaxSourceBytes int64
	// SourceLimits refuse, at probe time, sources too long or too large to
	// decode safely.
	SourceLimits ffmpeg.SourceLimits
	// WorkDirs gives each attempt a local directory of its own, removed
	// when the attempt ends.
	WorkDirs       WorkDirs
	PricePerMinute vidjob.Micros
	Logger         *slog.Logger
	// Metrics counts bytes and transcode time; nil counts nothing.
	Metrics Recorder
	// Scratch holds accelerated jobs' pieces and parts in
	// Config.ScratchBucket; nil encodes every job in one pass.
	Scratch ScratchStore

	queue *Queue
}

// retryable marks failures that a later attempt may not meet: a source server
// that was down, an object store that timed out, a database hiccup.
type retryable struct{ error }

func (r retryable) Unwrap() error { return r.error }

// Timeout lets River cancel an attempt that runs past the job wall-clock limit.
func (w *TranscodeWorker) Timeout(*river.Job[TranscodeArgs]) time.Duration {
	return w.queue.config.JobTimeout
}

// NextRetry honours the client's wait_retry_delay, as Blitline did.
func (w *TranscodeWorker) NextRetry(job *river.Job[TranscodeArgs]) time.Time {
	return time.Now().Add(time.Duration(job.Args.WaitRetryDelay) * time.Second)
}

// Work runs one attempt of a job.
func (w *TranscodeWorker) Work(ctx context.Context, rj *river.Job[TranscodeArgs]) error {
	// The attempt's record of commands and phase times, saved by finish.
	rl := runlog.New("")
	ctx = runlog.With(ctx, rl)
	db := w.queue.db
	attempt := rj.Args.Lost + rj.Attempt // River's, after those of taken-over River jobs
	log := w.Logger.With("job_id", rj.Args.JobID, "attempt", attempt)
	ctx = logctx.With(ctx, "job_id", rj.Args.JobID)
	job, err := db.FindJob(ctx, rj.Args.JobID)
	if vidjob.ErrorCode(err) == vidjob.ENOTFOUND {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if job.State.Done() {
		// An earlier attempt finished the job and died before River heard of it.
		log.Info("job already finished; nothing to do", "state", job.State)
		w.cleanScratch(ctx, job.ID)
		return nil
	}
	// The attempt holds a lease for as long as it runs; losing it ends ctx.
	ctx, release, err := w.queue.holdLease(ctx, rj.JobRow, job.ID)
	if err != nil {
		return err
	}
	defer release()
	cfg := w.queue.config
	started := time.Now()
	rl.Add(vidjob.PhaseQueueWait, rl.Started().Sub(job.CreatedAt))
	var result *vidjob.Result
	var charge *vidjob.Charge
	if rj.Args.Lost >= cfg.MaxAttempts {
		// Every attempt so far ended with its worker lost: a source that
		// kills its workers (out of memory, say) must not go round forever.
		err = vidjob.Errorf(vidjob.EUNAVAILABLE, "The job's worker stopped (killed, frozen or cut off from the database) in each of its %d attempts.", rj.Args.Lost)
	} else {
		result, charge, err = w.run(ctx, job, log)
	}
	if isSnooze(err) {
		// An accelerated job waits for its parts without holding a worker.
		return err
	}
	if err != nil {
		if errors.Is(context.Cause(ctx), errLeaseLost) || errors.Is(err, errLeaseLost) {
			// Another worker has the job now: this attempt ends without
			// writing anything to it.
			log.Warn("attempt taken over by another worker; leaving the job to it", "err", err)
			return err
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			// Shutdown: leave the job to be retried, not failed.
			log.Warn("attempt interrupted; the job will be retried", "err", err)
			return err
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// A worker frozen past the deadline finds it passed on waking:
			// the job is the attempt's to fail only if it still holds it.
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			held, herr := db.HoldsLease(hctx, leaseToken(ctx))
			cancel()
			if herr != nil || !held || !leaseFrom(ctx).held() {
				log.Warn("attempt timed out and may have been taken over; leaving the job", "err", err, "check_err", herr)
				return errors.Join(errLeaseLost, err)
			}
			// A timeout is the attempt's failure; only when every attempt
			// timed out is the job itself too long to do.
			if rj.Attempt < rj.MaxAttempts {
				err = retryable{vidjob.WrapError(vidjob.EUNAVAILABLE, err, "The attempt took longer than the %s limit; the job will be retried.", cfg.JobTimeout)}
			} else if attempt > 1 {
				err = vidjob.WrapError(vidjob.EUNPROCESSABLE, err, "The job took longer than the %s limit in each of its %d attempts.", cfg.JobTimeout, attempt)
			} else {
				err = vidjob.WrapError(vidjob.EUNPROCESSABLE, err, "The job took longer than the %s limit.", cfg.JobTimeout)
			}
		} else if errno, local := localdisk.Fault(err); local {
			w.recorder().LocalDiskFault(errno)
			err = localDiskFailure(err, errno, rj.Attempt < rj.MaxAttempts, rj.MaxAttempts)
		}
		var r retryable
		if errors.As(err, &r) && rj.Attempt < rj.MaxAttempts {
			log.Warn("attempt failed; will retry", "err", err, "next_in_s", rj.Args.WaitRetryDelay)
			w.setState(context.WithoutCancel(ctx), job.ID, vidjob.StateQueued, 0)
			return err
		}
		log.Error("job failed", "err", err, "seconds", time.Since(started).Seconds())
		job.State = vidjob.StateFailed
		job.Result = &vidjob.Result{JobID: job.ID, Errors: []string{vidjob.ErrorMessage(err)}}
		if id := job.Request.Transcode.VideoIdentifier; id != "" {
			job.Result.FailedVideoIdentifiers = []string{id}
		}
		return w.finishAndClean(ctx, rj, job, nil)
	}
	job.State, job.Result = vidjob.StateCompleted, result
	log.Info("job completed", "seconds", time.Since(started).Seconds(), "billed_minutes", charge.Minutes)
	return w.finishAndClean(ctx, rj, job, charge)
}

// setState records the job's state and progress, if the attempt still
// holds its lease (sqlstore.ErrLeaseLost when it does not).
func (w *TranscodeWorker) setState(ctx context.Context, id string, state vidjob.State, progress float64) error {
	return w.queue.db.SetStateHeld(ctx, id, leaseToken(ctx), state, progress)
}

// localDiskFailure is the failure of an attempt that the server's own disk
// stopped (full, over quota, read-only, failing), wherever in the attempt it
// happened: the server is at fault, not the source, so the attempt is
// retried (retry says one follows) and the message says so, even when
// ffmpeg was the one to hit it.
func localDiskFailure(err error, errno string, retry bool, attempts int) error {
	what := "ran out of disk space"
	if errno == "EIO" || errno == "EROFS" {
		what = "could not write its working files (a disk fault)"
	}
	if retry {
		return retryable{vidjob.WrapError(vidjob.EUNAVAILABLE, err,
			"The server %s while transcoding; the job will be retried.", what)}
	}
	return vidjob.WrapError(vidjob.EUNAVAILABLE, err,
		"The server %s while transcoding, in each of its %d attempts; the fault is the server's, not the source's.", what, attempts)
}

// finish records the job's end, its charge and its postback, and completes the
// River job, all in one transaction: a crash anywhere before the commit leaves the
// job to be run again, and after it, nothing to do twice.
func (w *TranscodeWorker) finish(ctx context.Context, rj *river.Job[TranscodeArgs], job *vidjob.Job, charge *vidjob.Charge) error {
	db := w.queue.db
	rl := runlog.From(ctx)
	rl.Begin(vidjob.PhaseFinish)
	// The attempt's own context may have timed out; the bookkeeping must still happen.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finish job %s: %w", job.ID, err)
	}
	defer tx.Rollback()
	rl.End()
	job.Run = rl.Run(rj.Args.Lost + rj.Attempt)
	// Releasing the lease in this transaction refuses the end of a job
	// that another worker has taken over, and keeps any takeover out until
	// the commit.
	first, err := db.FinishJobHeld(ctx, tx, job, leaseToken(ctx), charge, w.PricePerMinute)
	if err != nil {
		return err
	}
	// The postback's River job is committed with the job's end, so it cannot
	// be lost; this worker makes the first attempt at once (postbackNow), and
	// the River job waits a lease before it runs as the retry.
	var postbackJob int64
	if first && job.Request.PostbackURL != "" {
		q := w.queue
		// With no retries configured there is no lease to wait out: the
		// River job is the one attempt.
		inline := q.postbacks != nil && len(q.config.PostbackSchedule) > 0
		opts := &river.InsertOpts{
			Queue:       QueuePostback,
			MaxAttempts: len(q.config.PostbackSchedule) + 1,
			UniqueOpts:  river.UniqueOpts{ByArgs: true},
		}
		if inline {
			opts.MaxAttempts--
			opts.ScheduledAt = time.Now().Add(q.postbackLease())
		}
		res, err := q.river.InsertTx(ctx, tx, PostbackArgs{JobID: job.ID, Inline: inline}, opts)
		if err != nil {
			return fmt.Errorf("queue postback for %s: %w", job.ID, err)
		}
		if inline && !res.UniqueSkippedAsDuplicate {
			postbackJob = res.Job.ID
		}
	}
	if err := db.NotifyJobDone(ctx, tx, job.ID); err != nil {
		return err
	}
	// The driver type only picks the generic instance; the client in ctx does
	// the work with whichever driver it has.
	if _, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, rj); err != nil {
		return fmt.Errorf("complete river job for %s: %w", job.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish job %s: %w", job.ID, err)
	}
	w.queue.hub.Announce(job.ID)
	if postbackJob != 0 {
		w.queue.postbackNow(job.ID, postbackJob)
	}
	return nil
}

func (w *TranscodeWorker) run(ctx context.Context, job *vidjob.Job, log *slog.Logger) (*vidjob.Result, *vidjob.Charge, error) {
	db := w.queue.db
	req := job.Request
	rl := runlog.From(ctx)
	rl.Begin(vidjob.PhaseFetch)
	// The application may have been disabled, or its buckets narrowed, since the
	// job was accepted: check again before any work starts.
	app, err := db.FindApplication(ctx, job.ApplicationID)
	if err != nil {
		return nil, nil, retryable{err}
	}
	if err := app.CheckSubmit(req.Transcode.Destination.Bucket); err != nil {
		return nil, nil, err
	}
	preset, note, err := w.Catalog.LookupFor(ctx, app, req.Transcode.PresetID)
	if err != nil {
		if c := vidjob.ErrorCode(err); c == vidjob.EUNAVAILABLE || c == vidjob.EINTERNAL {
			err = retryable{err} // the application's presets could not be read
		}
		return nil, nil, err
	}
	dir, release, err := w.WorkDirs.Attempt("job-" + job.ID + "-")
	if err != nil {
		return nil, nil, retryable{fmt.Errorf("create job dir: %w", err)}
	}
	defer release()
	rl.SetDir(dir)

	// An accelerated job whose parts are out comes back here: it waits, or
	// joins them, without fetching the source again.
	if resumed, result, charge, err := w.resumeAccelerated(ctx, job, preset, note, dir, log); resumed {
		return result, charge, err
	}

	if err := w.setState(ctx, job.ID, vidjob.StateFetching, 0); err != nil {
		return nil, nil, retryable{err}
	}
	s, err := w.openSource(ctx, app, req.Src, filepath.Join(dir, "source"), log)
	if err != nil {
		return nil, nil, err
	}
	defer s.close()
	result, charge, err := w.transcodeSource(ctx, job, preset, note, dir, s, log)
	if err != nil {
		// Whatever failed while the source was still arriving, a download
		// that failed is the job's error, as when the download came first.
		err = s.failure(err)
	}
	return result, charge, err
}

// transcodeSource probes, describes and encodes the source s (which may
// still be downloading, see source) and delivers the output.
func (w *TranscodeWorker) transcodeSource(ctx context.Context, job *vidjob.Job, preset *vidjob.Preset, note, dir string,
	s *source, log *slog.Logger) (*vidjob.Result, *vidjob.Charge, error) {
	req := job.Request
	rl := runlog.From(ctx)
	srcPath := s.path
	rl.Begin(vidjob.PhaseProbe)
	src, err := s.probe(ctx, w.Media)
	if err != nil {
		return nil, nil, err
	}
	if err := w.SourceLimits.Check(src); err != nil {
		return nil, nil, err
	}
	rl.Begin(vidjob.PhaseMetadata)
	s.describe(ctx, w.Meta)
	var originalMeta vidjob.Meta
	if w.mayAccelerate(preset, src) {
		// A split reads the whole source and carries its description.
		if err := s.whole(ctx); err != nil {
			return nil, nil, err
		}
		originalMeta = s.description(ctx)
	}

	rl.Begin(vidjob.PhaseEncode)
	if err := w.setState(ctx, job.ID, vidjob.StateTranscoding, 0); err != nil {
		return nil, nil, retryable{err}
	}
	// ffmpeg writes into a directory of its own: the output, and for a
	// segmented preset its segments, which are all stored.
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		return nil, nil, retryable{fmt.Errorf("create output dir: %w", err)}
	}
	dest := req.Transcode.Destination
	outName := outputFileName(dest.Key, preset)
	outPath := filepath.Join(outDir, outName)
	if err := w.startAccelerated(ctx, job, preset, src, srcPath, originalMeta, dir, log); err != nil {
		return nil, nil, err // the parts are queued (a snooze), or a failure
	}
	args, err := ffmpeg.BuildArgs(preset, src, srcPath, outPath, w.ArgOptions)
	if err != nil {
		return nil, nil, err
	}
	total := time.Duration(src.Duration * float64(time.Second))
	encodeStart := time.Now()
	// Segments are stored as ffmpeg finishes them; whatever this attempt
	// stored is deleted if it fails.
	up := newOutputUploader(ctx, w.Store, dest, preset, outDir, outName, log)
	defer up.discard()
	// The output's ffprobe starts with ffmpeg and waits to read its output.
	early, err := w.Media.StartOutputProbe(runlog.WithPhase(ctx, vidjob.PhaseProbe), outPath)
	if err != nil {
		log.Warn("output probe not started early; it will start after the encode", "err", err)
		early = nil
	} else {
		defer early.Close()
	}
	if err := up.encode(ctx, func(ctx context.Context) error {
		return s.transcode(ctx, w.Media, args, total, w.progressSaver(ctx, job.ID))
	}); err != nil {
		var uf uploadFailed
		if ctx.Err() != nil || s.broken() || errors.As(err, &uf) {
			// The attempt ended, the download failed, or a segment could
			// not be stored.
			return nil, nil, err
		}
		if _, local := localdisk.Fault(err); local {
			return nil, nil, err // the server's disk, not the source: Work says so
		}
		log.Error("ffmpeg failed", "err", err)
		var ve *vidjob.Error
		if errors.As(err, &ve) {
			return nil, nil, err
		}
		return nil, nil, vidjob.WrapError(vidjob.EUNPROCESSABLE, err, "Transcoding failed: ffmpeg could not convert this source with preset %s.", preset.ID)
	}
	return w.deliver(ctx, job, preset, note, dir, encoded{
		name: outName, originalMeta: s.description(ctx), took: time.Since(encodeStart),
		source: src, uploader: up, early: early,
	}, log)
}

// encoded is what an encode leaves for deliver.
type encoded struct {
	// name is the main output's file name in dir/out, with its segments
	// beside it.
	name         string
	originalMeta vidjob.Meta
	took         time.Duration
	// source is the source's probe, to check the output against; nil when
	// the encode checked itself (an accelerated job's parts count frames).
	source *ffmpeg.Probe
	// uploader holds what was stored while ffmpeg ran; nil means nothing
	// was, and deliver makes its own.
	uploader *outputUploader
	// early is the output's ffprobe started with ffmpeg; without it (or if
	// it fails) deliver starts one.
	early *ffmpeg.OutputProbe
}

// deliver probes and describes the encoded output, stores it and returns the
// job's result and charge.
//
// The probe, the description and the uploads run side by side; the main
// output is stored last of the uploads.
func (w *TranscodeWorker) deliver(ctx context.Context, job *vidjob.Job, preset *vidjob.Preset, note, dir string,
	enc encoded, log *slog.Logger) (*vidjob.Result, *vidjob.Charge, error) {
	req := job.Request
	dest := req.Transcode.Destination
	outDir := filepath.Join(dir, "out")
	outName, up, early, took := enc.name, enc.uploader, enc.early, enc.took
	outPath := filepath.Join(outDir, outName)
	if up == nil {
		up = newOutputUploader(ctx, w.Store, dest, preset, outDir, outName, log)
		defer up.discard()
	}
	rl := runlog.From(ctx)
	// Smooth Streaming's manifests are made from the encoded fragments; their
	// time counts as the encode's (the phase still open).
	if preset.Packaging == vidjob.PackagingSmooth {
		if _, err := w.Media.SmoothManifests(ctx, outPath, path.Base(dest.Key), dir); err != nil {
			return nil, nil, fmt.Errorf("smooth streaming manifests: %w", err)
		}
	}

	// The encode's phase ends here; the probe, metadata and upload phases
	// overlap, and are added up below.
	rl.End()
	start := time.Now()
	if err := w.setState(ctx, job.ID, vidjob.StateUploading, 1); err != nil {
		return nil, nil, retryable{err}
	}
	var (
		out                 *ffmpeg.Probe
		meta                vidjob.Meta
		stored              *storedOutput
		probeTook, metaTook time.Duration
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// The billed duration is the main output's: for HLS and DASH,
		// ffprobe reads the local playlist or manifest and through it every
		// segment.
		t := time.Now()
		defer func() { probeTook = time.Since(t) }()
		pctx := runlog.WithPhase(gctx, vidjob.PhaseProbe)
		var err error
		if early != nil {
			if out, err = early.Result(pctx); err == nil {
				return nil
			}
			if gctx.Err() != nil {
				return fmt.Errorf("probe output: %w", err)
			}
			log.Warn("early output probe failed; probing the local files", "err", err)
		}
		if out, err = w.Media.ProbeOutput(pctx, outPath); err != nil {
			return fmt.Errorf("probe output: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		t := time.Now()
		defer func() { metaTook = time.Since(t) }()
		var err error
		if meta, err = w.Meta.Meta(runlog.WithPhase(gctx, vidjob.PhaseMetadata), outPath); err != nil {
			return retryable{fmt.Errorf("describe output: %w", err)}
		}
		return nil
	})
	g.Go(func() error {
		var err error
		stored, err = up.finish(gctx)
		return err
	})
	err := g.Wait()
	p, m, u := overlappedPhases(probeTook, metaTook, time.Since(start))
	rl.Add(vidjob.PhaseProbe, p)
	rl.Add(vidjob.PhaseMetadata, m)
	rl.Add(vidjob.PhaseUpload, u)
	if err != nil {
		return nil, nil, err
	}
	if err := checkOutputDuration(enc.source, out); err != nil {
		return nil, nil, err
	}
	up.commit()
	w.recorder().Transcoded(preset.ID, took, out.Duration)
	log.Info("transcoded", "preset", preset.ID, "seconds", took.Seconds(), "media_seconds", out.Duration)
	for _, n := range stored.sizes {
		w.recorder().OutputStored(n)
	}

	billed := out.BilledDuration()
	charge := vidjob.NewCharge(job.ID, job.ApplicationID, billed.Milliseconds(), w.PricePerMinute)
	return &vidjob.Result{
		JobID:        job.ID,
		OriginalMeta: enc.originalMeta,
		Video: &vidjob.VideoResult{
			Meta:            meta,
			S3URL:           stored.url,
			VideoIdentifier: req.Transcode.VideoIdentifier,
			PresetID:        preset.ID,
			PresetNote:      note,
			DurationSeconds: billed.Seconds(),
			Objects:         stored.keys,
		},
	}, &charge, nil
}

// checkOutputDuration fails an output much shorter than its source: ffmpeg
// skips what it cannot decode and still exits 0, so a corrupt source would
// otherwise "complete" as a fraction of itself, and be billed as one. The
// output is compared with the source's stream of the same kind (video when
// the output has video, else audio), and is short when it lacks more than a
// second and more than a tenth of it: encoder priming, edit lists and frame
// rate changes move durations by far less. No source (nil) checks nothing.
func checkOutputDuration(src, out *ffmpeg.Probe) error {
	if src == nil {
		return nil
	}
	want := src.Duration
	switch {
	case out.Video != nil && src.Video != nil && src.Video.Duration > 0:
		want = src.Video.Duration
	case out.Video == nil && out.Audio != nil && src.Audio != nil && src.Audio.Duration > 0:
		want = src.Audio.Duration
	}
	got := out.BilledDuration().Seconds()
	if want <= 0 || math.IsNaN(want) || math.IsInf(want, 0) || got >= want-1 || got >= 0.9*want {
		return nil
	}
	return vidjob.Errorf(vidjob.EUNPROCESSABLE,
		"Transcoding failed: the output is %.2f s long but the source is %.2f s; the source is probably damaged (ffmpeg could not decode part of it).", got, want)
}

// overlappedPhases splits the wall time of the output's probe, its
// description and its uploads, which start together and run side by side,
// so that the three still add up to it: the probe counts its own time, the
// description the time it ran on past the probe, and the upload the time it
// ran on past both.
func overlappedPhases(probe, meta, wall time.Duration) (p, m, u time.Duration) {
	p = min(probe, wall)
	m = max(0, min(meta, wall)-p)
	u = max(0, wall-p-m)
	return p, m, u
}

func (w *TranscodeWorker) recorder() Recorder {
	if w.Metrics == nil {
		return noRecorder{}
	}
	return w.Metrics
}

// segmentContentTypes are the media types of segment files; "" lets the
// store choose.
var segmentContentTypes = map[string]string{
	".ts":  "video/mp2t",
	".m4s": "video/iso.segment",
	// Smooth Streaming's server manifest is SMIL; its client manifest has
	// the media type Microsoft registered for it.
	".ism":  "application/smil+xml",
	".ismc": "application/vnd.ms-sstr+xml",
}

// outputFileName is the local name ffmpeg writes the main output to: the
// key's last element without its extension, reduced to letters, digits, '.',
// '_' and '-' (segment names are made from it, and muxers read '%' and '$' as
// patterns), with the preset's extension. Segments are stored under the
// key's prefix with the same names the playlist gives them, so the names
// need only be consistent, not equal to the key's.
func outputFileName(key string, p *vidjob.Preset) string {
	base := path.Base(key)
	stem := strings.TrimSuffix(base, path.Ext(base))
	stem = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			return r
		}
		return '_'
	}, stem)
	if strings.Trim(stem, "._") == "" || len(stem) > 100 {
		stem = "output"
	}
	return stem + p.OutputExtension()
}

// siblingKey is the key of a file written next to the object at key.
func siblingKey(key, name string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i+1] + name
	}
	return name
}

// progressSaver returns a callback that stores transcode progress at most once a
// second, so that a fast encode does not turn into a stream of writes.
func (w *TranscodeWorker) progressSaver(ctx context.Context, jobID string) func(float64) {
	var mu sync.Mutex
	var last time.Time
	return func(f float64) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second && f < 1 {
			return
		}
		last = time.Now()
		if err := w.setState(ctx, jobID, vidjob.StateTranscoding, f); err != nil {
			w.Logger.Warn("could not save progress", "job_id", jobID, "err", err)
		}
	}
}

// fetchSource downloads src, an http(s) URL or an s3:// object the
// application may read, into path.
func (w *TranscodeWorker) fetchSource(ctx context.Context, app *vidjob.Application, src, path string) (int64, error) {
	bucket, key, isS3, err := vidjob.ParseS3Source(src)
	if !isS3 {
		return w.download(ctx, src, path, nil)
	}
	if err != nil {
		return 0, err
	}
	if err := app.CheckRead(bucket); err != nil {
		return 0, err
	}
	if w.Sources == nil {
		return 0, vidjob.Errorf(vidjob.EUNPROCESSABLE, "This server does not read sources from S3.")
	}
	n, err := w.Sources.Get(ctx, bucket, key, path, w.MaxSourceBytes)
	if err != nil && (vidjob.ErrorCode(err) == vidjob.EUNAVAILABLE || vidjob.ErrorCode(err) == vidjob.EINTERNAL) {
		err = retryable{err}
	}
	return n, err
}

// download fetches the http(s) URL src into path, telling watch (unless nil)
// how it goes; a failure that may pass is retryable.
func (w *TranscodeWorker) download(ctx context.Context, src, path string, watch fetch.Watcher) (int64, error) {
	n, err := fetch.DownloadWatched(ctx, w.Fetcher, src, path, w.MaxSourceBytes, watch)
	if err != nil && !fetch.Permanent(err) {
		err = retryable{err}
	}
	return n, err
}
