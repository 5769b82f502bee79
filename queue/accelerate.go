package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/internal/logctx"
	"github.com/vidjob/vidjob/internal/runlog"
	"github.com/vidjob/vidjob/localdisk"
)

// Accelerated (segment-parallel) encoding of long sources.
//
// The job's own River job (the parent) fetches and probes the source as
// always. When the source is longer than Config.AccelerateAfter and the
// preset and source allow it (ffmpeg.Accelerable, ffmpeg.PlanSplit), the
// parent cuts the video by stream copy at keyframes into pieces about
// Config.AccelerateSegment long, encodes the audio once over the whole
// source, stores pieces and audio in the scratch bucket, and inserts one
// EncodePartArgs River job per piece, which any worker of the cluster takes.
// The parent then snoozes: it holds no worker while the parts run. Each time
// it wakes it counts its parts in River's own table; when all are done it
// joins them (concat demuxer, stream copy), muxes the audio, and continues
// the ordinary way: probe, describe, store, and finish, which remains the
// only place a job is completed and charged.
//
// Workers may be on different machines, so everything passes through the
// object store, under SCRATCH/accel/JOB/TOKEN/. TOKEN is 132 random bits made
// by the parent's attempt and known only to River's rows, so no client can
// name a scratch object even where the store serves URLs to anyone (the disk
// store) or shares the bucket; objects are written private. They are deleted
// when the job ends; an attempt that dies before it inserted its parts leaves
// its pieces behind under its own token, which a lifecycle rule on the
// accel/ prefix expires (docs/ARCHITECTURE.md).
//
// Every step is idempotent: a part that runs twice overwrites the same
// object, the parts are inserted in one statement, unique by their
// arguments, and the join only reads.

// EncodePartArgs is the River job that encodes one piece of an accelerated job.
type EncodePartArgs struct {
	JobID string `json:"job_id"`
	// Token names the parent attempt's scratch objects.
	Token string `json:"token"`
	Index int    `json:"index"`
	// Frames is how many frames the piece holds, and its part must hold.
	Frames int `json:"frames"`
	// Source is the probe of the whole source, so that every part is sized
	// and filtered exactly as the single pass would be.
	Source ffmpeg.Probe `json:"source"`
	// Lost counts attempts of earlier River jobs of this part that were
	// taken over from lost workers (lease.go).
	Lost int `json:"lost,omitempty"`
}

// Kind names the River job kind.
func (EncodePartArgs) Kind() string { return "vidjob_encode_part" }

// accelManifest is what the parent keeps for the join, stored beside the pieces.
type accelManifest struct {
	Parts        int         `json:"parts"`
	Frames       int         `json:"frames"`
	Audio        bool        `json:"audio"`
	OriginalMeta vidjob.Meta `json:"original_meta"`
	// Started is when the split began: the encode's wall time runs from it
	// to the end of the join.
	Started time.Time `json:"started"`
	// Run is the splitting attempt's run (its commands and phase times up to
	// the split's end), and SplitEnded when it ended; the joining attempt
	// carries on from them so that the job's run covers every attempt.
	Run        *vidjob.Run `json:"run,omitempty"`
	SplitEnded time.Time   `json:"split_ended"`
}

// partOutput is what a part job records on its River row (river.RecordOutput)
// for the join to read: the commands it ran.
type partOutput struct {
	Commands []vidjob.Command `json:"commands"`
}

// ScratchStore keeps an accelerated job's pieces and parts where every
// worker can read them (packages diskstore, s3).
type ScratchStore interface {
	ObjectStore
	ObjectSource
	Delete(ctx context.Context, bucket, key string) error
}

// packetLister lists a video stream's packets (package ffmpeg).
type packetLister interface {
	VideoPackets(ctx context.Context, path string, index int) ([]ffmpeg.Packet, error)
}

// accelPoll is how long the parent sleeps between looks at its parts.
const accelPoll = time.Second

// maxParts bounds the River jobs one source becomes.
const maxParts = 500

func scratchKey(jobID, token, name string) string {
	return "accel/" + jobID + "/" + token + "/" + name
}

func partName(i int) string { return fmt.Sprintf("part%05d.mp4", i) }

func isSnooze(err error) bool {
	var s *rivertype.JobSnoozeError
	return errors.As(err, &s)
}

// putScratch stores a local file as a private scratch object.
func (w *TranscodeWorker) putScratch(ctx context.Context, key, file string) error {
	if err := checkLease(ctx); err != nil {
		return err // another worker has the part or the job now
	}
	_, err := w.Scratch.Put(ctx, vidjob.Object{Bucket: w.queue.config.ScratchBucket, Key: key, File: file,
		ContentType: "application/octet-stream", Headers: map[string]string{"x-amz-acl": "private"}})
	if err != nil {
		return retryable{fmt.Errorf("store scratch object %s: %w", key, err)}
	}
	return nil
}

func (w *TranscodeWorker) getScratch(ctx context.Context, key, file string) error {
	if _, err := w.Scratch.Get(ctx, w.queue.config.ScratchBucket, key, file, 0); err != nil {
		return retryable{fmt.Errorf("read scratch object %s: %w", key, err)}
	}
	return nil
}

// accelerationOn reports whether the worker splits sources as long as src.
func (w *TranscodeWorker) accelerationOn(src *ffmpeg.Probe) bool {
	cfg := w.queue.config
	return cfg.AccelerateAfter > 0 && w.Scratch != nil && src.Duration*float64(time.Second) >= float64(cfg.AccelerateAfter)
}

// mayAccelerate reports whether startAccelerated may split this job, which
// then needs the whole source and its description first.
func (w *TranscodeWorker) mayAccelerate(preset *vidjob.Preset, src *ffmpeg.Probe) bool {
	if _, ok := w.Media.(packetLister); !ok || !w.accelerationOn(src) {
		return false
	}
	ok, _ := ffmpeg.Accelerable(preset, src)
	return ok
}

// startAccelerated splits the job into part jobs when it qualifies and
// returns a snooze; it returns nil when the job is to be encoded in one pass.
func (w *TranscodeWorker) startAccelerated(ctx context.Context, job *vidjob.Job, preset *vidjob.Preset, src *ffmpeg.Probe,
	srcPath string, originalMeta vidjob.Meta, dir string, log *slog.Logger) error {
	cfg := w.queue.config
	lister, ok := w.Media.(packetLister)
	if !ok || !w.accelerationOn(src) {
		return nil
	}
	single := func(reason string) error {
		log.Info("encoding in one pass", "reason", reason)
		return nil
	}
	if ok, reason := ffmpeg.Accelerable(preset, src); !ok {
		return single(reason)
	}
	pkts, err := lister.VideoPackets(ctx, srcPath, src.Video.Index)
	if err != nil {
		return single(err.Error())
	}
	num, den := src.Video.FrameRateNum, src.Video.FrameRateDen
	plan, reason := ffmpeg.PlanSplit(pkts, num, den, cfg.AccelerateSegment.Seconds(), ffmpeg.FixedGOP(preset))
	if reason != "" {
		return single(reason)
	}
	if len(plan.Cuts)+1 > maxParts {
		return single(fmt.Sprintf("%d pieces is more than %d", len(plan.Cuts)+1, maxParts))
	}
	started := time.Now()
	pieceDir := filepath.Join(dir, "pieces")
	if err := os.Mkdir(pieceDir, 0o700); err != nil {
		return retryable{fmt.Errorf("create pieces dir: %w", err)}
	}
	frameSeconds := float64(den) / float64(num)
	if err := w.Media.Transcode(ctx, ffmpeg.SplitArgs(srcPath, src.Video.Index, plan, frameSeconds, pieceDir), 0, nil); err != nil {
		return single("split: " + err.Error())
	}
	// The pieces must hold exactly the planned frames, or the join would not
	// match the single pass; anything else falls back to it.
	want := plan.PieceFrames()
	for i, n := range want {
		got, err := lister.VideoPackets(ctx, filepath.Join(pieceDir, ffmpeg.PieceName(i)), 0)
		if err != nil || len(got) != n {
			return single(fmt.Sprintf("piece %d holds %d frames, planned %d (%v)", i, len(got), n, err))
		}
	}
	if _, err := os.Stat(filepath.Join(pieceDir, ffmpeg.PieceName(len(want)))); err == nil {
		return single("the split made more pieces than planned")
	}

	token := randomToken(22)
	audioPath := filepath.Join(dir, "audio.m4a")
	audioArgs, err := ffmpeg.AudioArgs(preset, src, srcPath, audioPath)
	if err != nil {
		return err
	}
	if audioArgs != nil {
		if err := w.Media.Transcode(ctx, audioArgs, 0, nil); err != nil {
			return vidjob.WrapError(vidjob.EUNPROCESSABLE, err, "Transcoding failed: ffmpeg could not convert this source's audio with preset %s.", preset.ID)
		}
	}
	rl := runlog.From(ctx)
	rl.Begin(vidjob.PhaseEncode) // count the split so far, and go on counting
	manifest, err := json.Marshal(accelManifest{Parts: len(want), Frames: plan.Frames, Audio: audioArgs != nil,
		OriginalMeta: originalMeta, Started: started, Run: rl.Run(0), SplitEnded: time.Now()})
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	manifestPath := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(manifestPath, manifest, 0o600); err != nil {
		return retryable{err}
	}
	uploads := map[string]string{"manifest.json": manifestPath}
	if audioArgs != nil {
		uploads["audio.m4a"] = audioPath
	}
	for i := range want {
		uploads[ffmpeg.PieceName(i)] = filepath.Join(pieceDir, ffmpeg.PieceName(i))
	}
	var stored []string
	for name, file := range uploads {
		if err := w.putScratch(ctx, scratchKey(job.ID, token, name), file); err != nil {
			if ctx.Err() != nil {
				return err
			}
			// A scratch bucket that is missing or unreachable must not fail
			// jobs that one pass can do: fall back, and say so loudly.
			for _, k := range stored {
				w.Scratch.Delete(ctx, cfg.ScratchBucket, scratchKey(job.ID, token, k))
			}
			log.Warn("the scratch bucket cannot hold the pieces; encoding in one pass", "bucket", cfg.ScratchBucket, "err", err)
			return nil
		}
		stored = append(stored, name)
	}
	params := make([]river.InsertManyParams, len(want))
	for i, n := range want {
		params[i] = river.InsertManyParams{
			Args: EncodePartArgs{JobID: job.ID, Token: token, Index: i, Frames: n, Source: *src},
			InsertOpts: &river.InsertOpts{Queue: QueueTranscode, MaxAttempts: cfg.MaxAttempts,
				UniqueOpts: river.UniqueOpts{ByArgs: true}},
		}
	}
	if _, err := w.queue.river.InsertMany(ctx, params); err != nil {
		return retryable{fmt.Errorf("queue parts: %w", err)}
	}
	log.Info("encoding in parts", "parts", len(want), "frames", plan.Frames, "segment_s", cfg.AccelerateSegment.Seconds())
	return river.JobSnooze(accelPoll)
}

// partJobs returns the River jobs of the job's latest accelerated attempt.
func (w *TranscodeWorker) partJobs(ctx context.Context, jobID string) ([]*rivertype.JobRow, []EncodePartArgs, error) {
	// River's args are JSON in both databases; ->> reads a top-level field
	// in PostgreSQL and in SQLite alike.
	params := river.NewJobListParams().Kinds(EncodePartArgs{}.Kind()).
		Where("args->>'job_id' = @job_id", river.NamedArgs{"job_id": jobID}).First(maxParts * 4)
	res, err := w.queue.river.JobList(ctx, params)
	if err != nil {
		return nil, nil, retryable{fmt.Errorf("list parts of %s: %w", jobID, err)}
	}
	var rows []*rivertype.JobRow
	var args []EncodePartArgs
	latest, token := int64(-1), ""
	for _, r := range res.Jobs {
		var a EncodePartArgs
		if err := json.Unmarshal(r.EncodedArgs, &a); err != nil {
			return nil, nil, fmt.Errorf("part job %d: %w", r.ID, err)
		}
		if r.ID > latest {
			latest, token = r.ID, a.Token
		}
		rows, args = append(rows, r), append(args, a)
	}
	// A part taken over from a lost worker has a newer River job of the
	// same index (lease.go); the newest one speaks for the part.
	newest := map[int]int{}
	for i, a := range args {
		if a.Token != token {
			continue
		}
		if j, ok := newest[a.Index]; !ok || rows[i].ID > rows[j].ID {
			newest[a.Index] = i
		}
	}
	var outRows []*rivertype.JobRow
	var outArgs []EncodePartArgs
	for i, a := range args {
		if a.Token == token && newest[a.Index] == i {
			outRows, outArgs = append(outRows, rows[i]), append(outArgs, a)
		}
	}
	return outRows, outArgs, nil
}

// resumeAccelerated handles a job whose parts are queued: it reports
// resumed=false when there are none. While parts are outstanding it records
// progress and snoozes; when all are done it joins them and delivers.
func (w *TranscodeWorker) resumeAccelerated(ctx context.Context, job *vidjob.Job, preset *vidjob.Preset, note, dir string,
	log *slog.Logger) (resumed bool, result *vidjob.Result, charge *vidjob.Charge, err error) {
	cfg := w.queue.config
	if w.Scratch == nil {
		return false, nil, nil, nil
	}
	// The scratch bucket belongs to the server: a job may neither write its
	// output there nor read its source from it.
	srcBucket, _, isS3, _ := vidjob.ParseS3Source(job.Request.Src)
	if cfg.AccelerateAfter > 0 && (job.Request.Transcode.Destination.Bucket == cfg.ScratchBucket || (isS3 && srcBucket == cfg.ScratchBucket)) {
		return true, nil, nil, vidjob.Errorf(vidjob.EFORBIDDEN, "Bucket %q is reserved for this server's work in progress.", cfg.ScratchBucket)
	}
	// Parts are looked for even when this worker does not split jobs itself,
	// so that a job split by another worker is joined, not encoded again.
	rows, parts, err := w.partJobs(ctx, job.ID)
	if err != nil || len(rows) == 0 {
		return err != nil, nil, nil, err
	}
	done := 0
	for i, r := range rows {
		switch r.State {
		case rivertype.JobStateCompleted:
			done++
		case rivertype.JobStateDiscarded, rivertype.JobStateCancelled:
			return true, nil, nil, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Transcoding failed: ffmpeg could not convert part %d of this source with preset %s.", parts[i].Index+1, preset.ID)
		}
	}
	if done < len(rows) {
		// The parts are nine tenths of the work; the join the last tenth.
		if err := w.setState(ctx, job.ID, vidjob.StateTranscoding, 0.9*float64(done)/float64(len(rows))); err != nil {
			log.Warn("could not save progress", "err", err)
		}
		return true, nil, nil, river.JobSnooze(accelPoll)
	}
	result, charge, err = w.joinParts(ctx, job, preset, note, dir, rows, parts, log)
	return true, result, charge, err
}

// joinParts downloads the parts and the audio, joins them into the job's
// output and delivers it.
func (w *TranscodeWorker) joinParts(ctx context.Context, job *vidjob.Job, preset *vidjob.Preset, note, dir string,
	rows []*rivertype.JobRow, parts []EncodePartArgs, log *slog.Logger) (*vidjob.Result, *vidjob.Charge, error) {
	token := parts[0].Token
	manifestPath := filepath.Join(dir, "manifest.json")
	if err := w.getScratch(ctx, scratchKey(job.ID, token, "manifest.json"), manifestPath); err != nil {
		return nil, nil, err
	}
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, nil, err
	}
	var m accelManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	if m.Parts != len(parts) {
		return nil, nil, fmt.Errorf("manifest names %d parts, River holds %d", m.Parts, len(parts))
	}
	if m.Run != nil {
		// The job's run is the split's, the parts', then this join's; the
		// time between the split and now went to the parts' encoding.
		rl := runlog.From(ctx)
		rl.Continue(m.Run, partCommands(rows, parts, log))
		rl.Add(vidjob.PhaseEncode, time.Since(m.SplitEnded))
		rl.Begin(vidjob.PhaseEncode)
	}
	start := time.Now()
	paths := make([]string, m.Parts)
	for _, p := range parts {
		if p.Index < 0 || p.Index >= m.Parts {
			return nil, nil, fmt.Errorf("part index %d out of range", p.Index)
		}
		paths[p.Index] = filepath.Join(dir, partName(p.Index))
		if err := w.getScratch(ctx, scratchKey(job.ID, token, partName(p.Index)), paths[p.Index]); err != nil {
			return nil, nil, err
		}
	}
	audio := ""
	if m.Audio {
		audio = filepath.Join(dir, "audio.m4a")
		if err := w.getScratch(ctx, scratchKey(job.ID, token, "audio.m4a"), audio); err != nil {
			return nil, nil, err
		}
	}
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		return nil, nil, retryable{fmt.Errorf("create output dir: %w", err)}
	}
	outName := outputFileName(job.Request.Transcode.Destination.Key, preset)
	args, err := ffmpeg.JoinArgs(preset, paths, filepath.Join(dir, "parts.txt"), audio, filepath.Join(outDir, outName))
	if err != nil {
		return nil, nil, err
	}
	if err := w.Media.Transcode(ctx, args, 0, nil); err != nil {
		return nil, nil, fmt.Errorf("join parts: %w", err)
	}
	out, err := w.Media.Probe(ctx, filepath.Join(outDir, outName))
	if err != nil {
		return nil, nil, fmt.Errorf("probe joined output: %w", err)
	}
	if out.Video == nil || out.Video.NbFrames != int64(m.Frames) {
		return nil, nil, fmt.Errorf("joined output has %v frames, the source %d", out.Video, m.Frames)
	}
	if err := w.setState(ctx, job.ID, vidjob.StateTranscoding, 0.95); err != nil {
		log.Warn("could not save progress", "err", err)
	}
	log.Info("parts joined", "parts", m.Parts, "frames", m.Frames, "seconds", time.Since(start).Seconds())
	took := time.Since(start)
	if !m.Started.IsZero() && m.Started.Before(start) {
		took = time.Since(m.Started)
	}
	return w.deliver(ctx, job, preset, note, dir, encoded{name: outName, originalMeta: m.OriginalMeta, took: took}, log)
}

// partCommands returns the commands the parts recorded on their River rows,
// in part order, each marked with its part.
func partCommands(rows []*rivertype.JobRow, parts []EncodePartArgs, log *slog.Logger) []vidjob.Command {
	byIndex := make([][]vidjob.Command, len(parts))
	for i, r := range rows {
		var md struct {
			Output *partOutput `json:"output"`
		}
		if err := json.Unmarshal(r.Metadata, &md); err != nil || md.Output == nil {
			// A part that recorded nothing (a worker of an older version)
			// leaves a gap in the run, not a failed job.
			log.Warn("part recorded no commands", "part", parts[i].Index, "err", err)
			continue
		}
		idx := parts[i].Index
		if idx < 0 || idx >= len(byIndex) {
			continue
		}
		for _, c := range md.Output.Commands {
			c.Part = idx + 1
			byIndex[idx] = append(byIndex[idx], c)
		}
	}
	return slices.Concat(byIndex...)
}

// finishAndClean is finish followed, once the job's end is committed, by
// the removal of its scratch objects.
func (w *TranscodeWorker) finishAndClean(ctx context.Context, rj *river.Job[TranscodeArgs], job *vidjob.Job, charge *vidjob.Charge) error {
	if err := w.finish(ctx, rj, job, charge); err != nil {
		return err
	}
	w.cleanScratch(ctx, job.ID)
	return nil
}

// cleanScratch deletes an ended job's scratch objects, if it was split; it
// only logs failures, since the job's outcome no longer depends on them.
func (w *TranscodeWorker) cleanScratch(ctx context.Context, jobID string) {
	if w.Scratch == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, parts, err := w.partJobs(ctx, jobID)
	if err != nil || len(parts) == 0 {
		return
	}
	token := parts[0].Token
	keys := []string{"manifest.json", "audio.m4a"}
	for _, p := range parts {
		keys = append(keys, ffmpeg.PieceName(p.Index), partName(p.Index))
	}
	for _, k := range keys {
		if err := w.Scratch.Delete(ctx, w.queue.config.ScratchBucket, scratchKey(jobID, token, k)); err != nil {
			w.Logger.Warn("could not delete scratch object", "job_id", jobID, "key", k, "err", err)
		}
	}
}

// PartWorker encodes one piece of an accelerated job.
type PartWorker struct {
	river.WorkerDefaults[EncodePartArgs]
	t *TranscodeWorker
}

// Timeout bounds one attempt as it bounds a whole job's.
func (p *PartWorker) Timeout(*river.Job[EncodePartArgs]) time.Duration {
	return p.t.queue.config.JobTimeout
}

// Work downloads the piece, encodes its video with the job's preset and
// stores the part. Running twice overwrites the same part.
func (p *PartWorker) Work(ctx context.Context, rj *river.Job[EncodePartArgs]) error {
	w, a := p.t, rj.Args
	log := w.Logger.With("job_id", a.JobID, "part", a.Index, "attempt", rj.Attempt)
	ctx = logctx.With(ctx, "job_id", a.JobID)
	job, err := w.queue.db.FindJob(ctx, a.JobID)
	if vidjob.ErrorCode(err) == vidjob.ENOTFOUND {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if job.State.Done() {
		return nil // the job ended (failed) without this part
	}
	if a.Lost >= w.queue.config.MaxAttempts {
		return river.JobCancel(fmt.Errorf("part %d: its worker was lost in each of its %d attempts", a.Index, a.Lost))
	}
	ctx, release, err := w.queue.holdLease(ctx, rj.JobRow, a.JobID)
	if err != nil {
		return err
	}
	defer release()
	app, err := w.queue.db.FindApplication(ctx, job.ApplicationID)
	if err != nil {
		return err
	}
	preset, _, err := w.Catalog.LookupFor(ctx, app, job.Request.Transcode.PresetID)
	if vidjob.ErrorCode(err) == vidjob.ENOTFOUND || vidjob.ErrorCode(err) == vidjob.EINVALID {
		// The preset is gone (an application preset deleted mid-job): the
		// parent finds the job failed or fails it on its own lookup.
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	dir, release, err := w.WorkDirs.Attempt("part-" + a.JobID + "-")
	if err != nil {
		return fmt.Errorf("create part dir: %w", err)
	}
	defer release()
	rl := runlog.New(dir)
	ctx = runlog.With(ctx, rl)
	rl.Begin(vidjob.PhaseEncode)
	piece, part := filepath.Join(dir, ffmpeg.PieceName(a.Index)), filepath.Join(dir, partName(a.Index))
	if err := w.getScratch(ctx, scratchKey(a.JobID, a.Token, ffmpeg.PieceName(a.Index)), piece); err != nil {
		return err
	}
	args, err := ffmpeg.PartArgs(preset, &a.Source, 0, piece, part, w.ArgOptions)
	if err != nil {
		return river.JobCancel(err)
	}
	start := time.Now()
	if err := w.Media.Transcode(ctx, args, 0, nil); err != nil {
		if errno, local := localdisk.Fault(err); local {
			w.recorder().LocalDiskFault(errno) // River retries the part as any other failure
		}
		return fmt.Errorf("encode part %d: %w", a.Index, err)
	}
	out, err := w.Media.Probe(ctx, part)
	if err != nil {
		return fmt.Errorf("probe part %d: %w", a.Index, err)
	}
	if out.Video == nil || out.Video.NbFrames != int64(a.Frames) {
		return river.JobCancel(fmt.Errorf("part %d has %v frames, its piece %d", a.Index, out.Video, a.Frames))
	}
	if err := w.putScratch(ctx, scratchKey(a.JobID, a.Token, partName(a.Index)), part); err != nil {
		return err
	}
	// The job's transcode time is recorded once, by the parent, from the
	// split to the join; parts are not jobs of their own. What the part ran
	// goes on its River row, where the join reads it into the job's run.
	log.Info("part encoded", "frames", a.Frames, "seconds", time.Since(start).Seconds())
	if err := river.RecordOutput(ctx, partOutput{Commands: rl.Run(rj.Attempt).Commands}); err != nil {
		log.Warn("could not record the part's commands", "err", err)
	}
	return nil
}
