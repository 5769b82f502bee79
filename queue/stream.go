package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/internal/runlog"
	"github.com/vidjob/vidjob/livefile"
	"github.com/vidjob/vidjob/localdisk"
)

// StreamingMedia reads a source over loopback HTTP while it downloads
// (package ffmpeg). A MediaTool without it reads sources once they are whole.
type StreamingMedia interface {
	// ProbeStream is Probe of the stream's local file, read as it arrives.
	ProbeStream(ctx context.Context, s ffmpeg.Stream) (*ffmpeg.Probe, error)
	// TranscodeStream is Transcode with args that read the stream's local
	// file reading the stream instead.
	TranscodeStream(ctx context.Context, args []string, s ffmpeg.Stream, total time.Duration, progress func(fraction float64)) error
	// StartStreamProbe starts ProbeStream's ffprobe before the source's
	// first bytes are in, for a stream in the given format.
	StartStreamProbe(ctx context.Context, path, format string) (*ffmpeg.StreamProbe, error)
}

// errJobEnded stops a download whose job no longer needs it.
var errJobEnded = errors.New("the attempt ended")

// source is a job's source at DIR/source. Usually the download is whole
// before anything reads it. When it streams (TranscodeWorker.StreamSources),
// the worker's own fetcher goes on downloading it while ffprobe and then
// ffmpeg read it over loopback HTTP (package livefile), waiting for bytes not
// yet there; the source's exiftool description, which needs the whole file,
// runs beside the encode once the download ends.
//
// It streams only when all of these hold, and otherwise waits for the whole
// download as before: an http(s) source (not s3://); a MediaTool that can
// (StreamingMedia); a size the server announced (the loopback server must
// announce the final size, and the limit is checked against it before a
// byte is read); and first bytes that ffmpeg.StreamFormat recognises as MP4/
// MOV, Matroska/WebM or MPEG-TS, the containers that cannot make ffmpeg open
// other URLs. Even then, each step reads the local file instead when the
// download has ended by the time it starts.
//
// A download that fails fails the job with the fetch's own error, whatever
// ffprobe or ffmpeg made of the part they read: readers are cut off at once
// (their context ends with the download's error, and the loopback server
// drops their connections). A streamed probe or encode that fails while the
// download succeeds is run again on the whole local file, so that the job
// ends exactly as it would have without streaming.
type source struct {
	path string
	log  *slog.Logger

	// done is closed when the download ended, with its size and error
	// (as fetchSource returns them) in n and err.
	done chan struct{}
	n    int64
	err  error

	// Set only while the source may stream.
	media        StreamingMedia
	stream       ffmpeg.Stream
	srv          *livefile.Server
	stopDownload context.CancelCauseFunc
	// readCtx ends with the download's error if it fails, stopping
	// whatever reads the stream.
	readCtx     context.Context
	stopReading context.CancelCauseFunc
	// early is the source's ffprobe, started with the download in the
	// likeliest format (MP4/MOV) and kept when the source streams in it.
	early *ffmpeg.StreamProbe

	// The source's description; metaDone is closed when it is known.
	meta     vidjob.Meta
	metaDone chan struct{}
	stopMeta context.CancelFunc

	closeOnce sync.Once
}

// openSource starts fetching src into path and returns once the source may be
// read: when it streams, as soon as its first bytes say it may; otherwise
// when the whole download is done. On success the caller closes the source.
func (w *TranscodeWorker) openSource(ctx context.Context, app *vidjob.Application, src, path string, log *slog.Logger) (*source, error) {
	s := &source{path: path, log: log, done: make(chan struct{})}
	sm, canStream := w.Media.(StreamingMedia)
	if _, _, isS3, _ := vidjob.ParseS3Source(src); isS3 || !w.StreamSources || !canStream {
		s.n, s.err = w.fetchSource(ctx, app, src, path)
		close(s.done)
		if s.err != nil {
			return nil, s.err
		}
		w.fetched(s.n, false, log)
		return s, nil
	}

	file := livefile.New(path)
	var dctx context.Context
	dctx, s.stopDownload = context.WithCancelCause(ctx)
	s.readCtx, s.stopReading = context.WithCancelCause(ctx)
	go func() {
		defer close(s.done)
		n, err := w.download(dctx, src, path, file)
		file.Finish(err)
		s.n, s.err = n, err
		if err != nil {
			s.stopReading(err)
			return
		}
		w.fetched(n, true, log)
	}()

	// ffprobe starts now, so that its start-up overlaps the request: nearly
	// every source is an MP4 or MOV.
	early, err := sm.StartStreamProbe(ctx, path, ffmpeg.FormatMOV)
	if err != nil {
		log.Warn("source probe not started early", "err", err)
		early = nil
	}
	format := ""
	head, err := file.Head(ctx, ffmpeg.StreamHead)
	st, _ := file.State()
	if err == nil && st.Size >= 0 && !st.Done {
		format = ffmpeg.StreamFormat(head)
	}
	if format != "" {
		srv, err := livefile.Serve(file)
		if err == nil {
			s.media, s.srv = sm, srv
			s.stream = ffmpeg.Stream{Path: path, URL: srv.URL(), Format: format}
			if early != nil && early.Format() == format {
				s.early, early = early, nil
			}
			if early != nil {
				early.Close()
			}
			log.Info("reading the source while it downloads", "format", format, "bytes", st.Size)
			return s, nil
		}
		log.Warn("cannot serve the source while it downloads; waiting for it", "err", err)
	}
	if early != nil {
		early.Close()
	}
	if err := s.wait(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// fetched counts a whole download.
func (w *TranscodeWorker) fetched(n int64, streamed bool, log *slog.Logger) {
	log.Info("source fetched", "bytes", n, "streamed", streamed)
	w.recorder().SourceFetched(n)
}

// wait waits for the download's end and returns its error. The download
// runs under the attempt's context, so it ends when the attempt does.
func (s *source) wait() error {
	<-s.done
	return s.err
}

// ended reports whether the download has ended.
func (s *source) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// streaming reports whether a reader starting now reads over loopback: the
// source streams and is not yet whole.
func (s *source) streaming() bool { return s.srv != nil && !s.ended() }

// broken reports whether the download has failed.
func (s *source) broken() bool { return s.ended() && s.err != nil }

// failure is the job's error when err stopped it: the download's error if
// the download failed (it may have been still running when err came), else
// err.
func (s *source) failure(err error) error {
	if s.srv == nil {
		return err
	}
	if derr := s.wait(); derr != nil {
		return derr
	}
	return err
}

// whole waits for the whole download; the wait counts as the fetch's.
func (s *source) whole(ctx context.Context) error {
	if !s.ended() {
		rl := runlog.From(ctx)
		rl.Begin(vidjob.PhaseFetch)
		defer rl.Begin(vidjob.PhaseEncode)
	}
	return s.wait()
}

// probe runs ffprobe on the source, over loopback while it downloads.
func (s *source) probe(ctx context.Context, media MediaTool) (*ffmpeg.Probe, error) {
	if early := s.early; early != nil && !s.broken() {
		// Started with the download; the loopback server also serves the
		// file once it is whole.
		s.early = nil
		defer early.Close()
		p, err := early.Result(s.readCtx, s.srv.ServeFile)
		if err == nil || ctx.Err() != nil {
			return p, err
		}
		if derr := s.wait(); derr != nil {
			return nil, derr
		}
		s.log.Info("probing the source while it downloaded failed; probing the whole file", "err", err)
		return media.Probe(ctx, s.path)
	}
	if s.streaming() {
		p, err := s.media.ProbeStream(s.readCtx, s.stream)
		if err == nil || ctx.Err() != nil {
			return p, err
		}
		if derr := s.wait(); derr != nil {
			return nil, derr
		}
		s.log.Info("probing the source while it downloaded failed; probing the whole file", "err", err)
	} else if err := s.wait(); err != nil {
		return nil, err
	}
	return media.Probe(ctx, s.path)
}

// transcode runs ffmpeg with args (as BuildArgs made them for the local
// file), over loopback while the source downloads. After a streamed encode
// it waits for the download's end, whose failure is the job's; the wait
// counts as the fetch's.
func (s *source) transcode(ctx context.Context, media MediaTool, args []string, total time.Duration, progress func(float64)) error {
	if s.streaming() {
		err := s.media.TranscodeStream(s.readCtx, args, s.stream, total, progress)
		if derr := s.whole(ctx); derr != nil {
			return derr
		}
		if err == nil || ctx.Err() != nil {
			return err
		}
		if _, local := localdisk.Fault(err); local {
			return err // the disk, not the stream, failed it: so would the whole file
		}
		s.log.Warn("ffmpeg failed reading the source while it downloaded; encoding the whole file again", "err", err)
	} else if err := s.wait(); err != nil {
		return err
	}
	return media.Transcode(ctx, args, total, progress)
}

// describe starts exiftool on the source. A whole source is described at
// once, as before streaming existed; a streaming one once its download is
// whole, beside the encode, its command recorded in the metadata phase.
// description returns the result.
func (s *source) describe(ctx context.Context, meta MetaReader) {
	s.metaDone = make(chan struct{})
	if !s.streaming() {
		defer close(s.metaDone)
		if s.wait() != nil {
			return
		}
		s.meta = s.describeNow(ctx, meta)
		return
	}
	mctx, cancel := context.WithCancel(runlog.WithPhase(ctx, vidjob.PhaseMetadata))
	s.stopMeta = cancel
	go func() {
		defer close(s.metaDone)
		if s.wait() != nil {
			return
		}
		s.meta = s.describeNow(mctx, meta)
	}()
}

func (s *source) describeNow(ctx context.Context, meta MetaReader) vidjob.Meta {
	m, err := meta.Meta(ctx, s.path)
	if err != nil {
		// The source's description is a courtesy; its absence must not fail a
		// job that ffmpeg can read.
		s.log.Warn("could not describe source", "err", err)
	}
	return m
}

// description waits for describe's result; a wait counts as the metadata
// phase's, and the encode phase goes on after it (deliver expects it open).
func (s *source) description(ctx context.Context) vidjob.Meta {
	select {
	case <-s.metaDone:
	default:
		rl := runlog.From(ctx)
		rl.Begin(vidjob.PhaseMetadata)
		<-s.metaDone
		rl.Begin(vidjob.PhaseEncode)
	}
	return s.meta
}

// close stops what still runs for the source (the download, its
// description, the loopback server) and returns when all of it has.
func (s *source) close() {
	s.closeOnce.Do(func() {
		if s.stopDownload == nil {
			return
		}
		s.stopDownload(errJobEnded)
		<-s.done
		if s.stopMeta != nil {
			s.stopMeta()
			<-s.metaDone
		}
		if s.early != nil {
			s.early.Close()
		}
		if s.srv != nil {
			s.srv.Close()
		}
		s.stopReading(errJobEnded)
	})
}
