package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/diskstore"
	"github.com/vidjob/vidjob/exiftool"
	"github.com/vidjob/vidjob/fetch"
	"github.com/vidjob/vidjob/ffmpeg"
	"github.com/vidjob/vidjob/metrics"
	"github.com/vidjob/vidjob/postback"
	"github.com/vidjob/vidjob/preset"
	"github.com/vidjob/vidjob/queue"
	"github.com/vidjob/vidjob/s3"
	"github.com/vidjob/vidjob/sqlstore"
	"github.com/vidjob/vidjob/workdir"
)

// WorkerFlags configure everything that runs jobs; `serve` and `worker` share them.
type WorkerFlags struct {
	DatabaseFlags
	PublicURL            string          `help:"Public base URL of the API server, used in s3_url for the local object store. Default: http://LISTEN." env:"VIDJOB_PUBLIC_URL"`
	AllowPrivateNetworks bool            `help:"Let src and postback_url reach loopback and private addresses (refused by default)." env:"VIDJOB_ALLOW_PRIVATE_NETWORKS"`
	AllowCIDR            []string        `help:"Non-public address ranges that src and postback_url may reach even without --allow-private-networks." env:"VIDJOB_ALLOW_CIDR"`
	PricePerMinute       string          `help:"Price in US dollars per started minute of output." default:"0.0389" env:"VIDJOB_PRICE_PER_MINUTE"`
	MaxSourceBytes       int64           `help:"Largest source file fetched, in bytes; the download stops when it grows past this." default:"10737418240" env:"VIDJOB_MAX_SOURCE_BYTES"`
	JobTimeout           time.Duration   `help:"Wall-clock limit of one job attempt." default:"2h" env:"VIDJOB_JOB_TIMEOUT"`
	MaxSourceDuration    time.Duration   `help:"Longest source accepted, judged from its probe before decoding; 0 for no limit." default:"4h" env:"VIDJOB_MAX_SOURCE_DURATION"`
	MaxSourceResolution  string          `help:"Largest source picture accepted (WIDTHxHEIGHT, either orientation), judged from its probe before decoding." default:"8192x4320" env:"VIDJOB_MAX_SOURCE_RESOLUTION"`
	FetchConnectTimeout  time.Duration   `help:"Limit on each TCP connect and TLS handshake when fetching src or posting back." default:"10s" env:"VIDJOB_FETCH_CONNECT_TIMEOUT"`
	FetchHeaderTimeout   time.Duration   `help:"Limit on the wait for a response's headers when fetching src or posting back." default:"30s" env:"VIDJOB_FETCH_HEADER_TIMEOUT"`
	FetchReadTimeout     time.Duration   `help:"Longest a source download may go without receiving a byte." default:"60s" env:"VIDJOB_FETCH_READ_TIMEOUT"`
	StreamSource         bool            `name:"stream-source" help:"Probe and encode an http(s) source while it downloads (MP4/MOV, Matroska/WebM or MPEG-TS of known size; ffmpeg reads the worker's own download over loopback); --stream-source=false waits for every whole download." default:"true" negatable:"" env:"VIDJOB_STREAM_SOURCE"`
	FetchMaxRedirects    int             `help:"Most redirects followed when fetching src or posting back; 0 follows none." default:"5" env:"VIDJOB_FETCH_MAX_REDIRECTS"`
	MaxAttempts          int             `help:"Attempts at a job whose failure may pass (source server down, storage timeout)." default:"5" env:"VIDJOB_MAX_ATTEMPTS"`
	RescueAfter          time.Duration   `help:"River's own rescue, the last resort behind the leases: how long a job may stay running without finishing before River runs it again (never sooner than --job-timeout after its attempt began). Default: job timeout + 10m." env:"VIDJOB_RESCUE_AFTER"`
	LeaseRenew           time.Duration   `help:"How often a running attempt renews its lease, whatever ffmpeg is doing." default:"3s" env:"VIDJOB_LEASE_RENEW"`
	TakeoverAfter        time.Duration   `help:"How long a lease may go unrenewed (its worker killed, frozen or cut off from the database) before another worker takes its job over; the worker itself stops the attempt --lease-renew sooner. At least twice --lease-renew." default:"15s" env:"VIDJOB_TAKEOVER_AFTER"`
	FetchPollInterval    time.Duration   `help:"How often an idle worker looks for queued jobs when it hears of none: workers hear of new jobs (at once on PostgreSQL, within 50 ms on SQLite), so this is the fallback." default:"200ms" env:"VIDJOB_FETCH_POLL_INTERVAL"`
	PostbackRetry        []time.Duration `help:"Waits between postback attempts; one more attempt than waits." default:"1s,3s,15s,1m,5m,10m,30m,1h" env:"VIDJOB_POSTBACK_RETRY"`
	PostbackTimeout      time.Duration   `help:"How long a postback receiver has to answer one attempt." default:"15s" env:"VIDJOB_POSTBACK_TIMEOUT"`
	PresetsFile          string          `name:"presets-file" help:"JSON file of custom presets in Elastic Transcoder's shape, added to the system presets." env:"VIDJOB_PRESETS_FILE"`
	X264Preset           string          `name:"x264-preset" help:"x264 speed/quality preset (ultrafast ... veryslow)." default:"medium" env:"VIDJOB_X264_PRESET"`
	FFmpegThreads        int             `name:"ffmpeg-threads" help:"Threads per ffmpeg process; 0 lets ffmpeg choose." default:"0" env:"VIDJOB_FFMPEG_THREADS"`
	ShutdownGrace        time.Duration   `help:"On SIGTERM, how long running jobs may finish before they are released for retry." default:"30s" env:"VIDJOB_SHUTDOWN_GRACE"`
	AccelerateAfter      time.Duration   `help:"Encode sources at least this long in segments that any worker takes, then join them (single-file MP4/H.264 presets that keep the source's frame rate); 0 turns it off." default:"0" env:"VIDJOB_ACCELERATE_AFTER"`
	AccelerateSegment    time.Duration   `help:"Length of the segments of an accelerated encode (cut at the source's keyframes)." default:"45s" env:"VIDJOB_ACCELERATE_SEGMENT"`
	ScratchBucket        string          `help:"Bucket of the object store that holds accelerated encodes' segments while they run; allow it to no application." default:"vidjob-scratch" env:"VIDJOB_SCRATCH_BUCKET"`
	TmpDir               string          `name:"tmp-dir" help:"Directory for jobs' working files (sources, outputs); workers may share it. Default: DATA/tmp." env:"VIDJOB_TMP_DIR" type:"path"`
	TmpSweepInterval     time.Duration   `name:"tmp-sweep-interval" help:"How often a worker removes working files that no running attempt owns (dead workers', earlier versions', its own leftovers); it also does at start." default:"5m" env:"VIDJOB_TMP_SWEEP_INTERVAL"`

	S3Endpoint   string `name:"s3-endpoint" help:"S3-compatible endpoint URL; empty stores outputs on local disk under DATA/objects." env:"VIDJOB_S3_ENDPOINT"`
	S3Region     string `name:"s3-region" help:"S3 region." default:"us-east-1" env:"VIDJOB_S3_REGION"`
	S3AccessKey  string `name:"s3-access-key" help:"S3 access key; empty uses the AWS credential chain." env:"VIDJOB_S3_ACCESS_KEY"`
	S3SecretKey  string `name:"s3-secret-key" help:"S3 secret key." env:"VIDJOB_S3_SECRET_KEY"`
	S3PathStyle  bool   `name:"s3-path-style" help:"Address buckets in the path (needed by most S3-compatible servers)." env:"VIDJOB_S3_PATH_STYLE"`
	S3PublicURL  string `name:"s3-public-url" help:"Base URL for s3_url instead of the endpoint's own object URL; {bucket} is replaced by the bucket name." env:"VIDJOB_S3_PUBLIC_URL"`
	S3DefaultACL string `name:"s3-default-acl" help:"Canned ACL for uploads whose job sets no x-amz-acl (Blitline used public-read; buckets with ACLs disabled refuse any)." env:"VIDJOB_S3_DEFAULT_ACL"`
}

// jobRuntime is everything a process needs to accept or run jobs.
type jobRuntime struct {
	db      *sqlstore.DB
	catalog *preset.Catalog
	// presets is the catalog plus each application's own presets.
	presets *preset.AppCatalog
	policy  fetch.Policy
	queue   *queue.Queue
	workers int
	// metrics reads the database's totals at each scrape and counts this
	// process's transcodes.
	metrics *metrics.Metrics
	// objects serves the local object store; nil with S3.
	objects nethttp.Handler
	closers []func() error
}

// Close releases what open acquired, in reverse order.
func (rt *jobRuntime) Close() {
	for i := len(rt.closers) - 1; i >= 0; i-- {
		rt.closers[i]()
	}
}

// stopQueue lets running jobs finish until ctx ends, then releases them for retry.
func (rt *jobRuntime) stopQueue(ctx context.Context, logger *slog.Logger) {
	if err := rt.queue.Stop(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("queue stop", "err", err)
	}
}

// open builds the database, object store, catalog and queue with workers
// transcodes at once (0 for a process that only submits).
func (f *WorkerFlags) open(ctx context.Context, logger *slog.Logger, publicURL string, workers int) (*jobRuntime, error) {
	price, err := vidjob.ParseMicros(f.PricePerMinute)
	if err != nil {
		return nil, fmt.Errorf("--price-per-minute: %w", err)
	}
	policy := fetch.Policy{
		AllowPrivateNetworks:  f.AllowPrivateNetworks,
		ConnectTimeout:        f.FetchConnectTimeout,
		ResponseHeaderTimeout: f.FetchHeaderTimeout,
		ReadTimeout:           f.FetchReadTimeout,
		MaxRedirects:          f.FetchMaxRedirects,
	}
	if f.FetchMaxRedirects == 0 {
		policy.MaxRedirects = -1 // 0 in the Policy means "default"
	}
	maxW, maxH, err := ffmpeg.ParseResolution(f.MaxSourceResolution)
	if err != nil {
		return nil, fmt.Errorf("--max-source-resolution: %w", err)
	}
	for _, s := range f.AllowCIDR {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("--allow-cidr %q: %w", s, err)
		}
		policy.AllowedCIDRs = append(policy.AllowedCIDRs, p)
	}
	if f.LeaseRenew <= 0 || f.TakeoverAfter < 2*f.LeaseRenew {
		return nil, fmt.Errorf("--takeover-after (%s) must be at least twice --lease-renew (%s), which must be positive", f.TakeoverAfter, f.LeaseRenew)
	}
	if f.FetchPollInterval < time.Millisecond {
		return nil, fmt.Errorf("--fetch-poll-interval (%s) must be at least 1ms", f.FetchPollInterval)
	}
	if workers > 0 {
		if err := checkTools(); err != nil {
			return nil, err
		}
	}
	catalog, err := loadCatalog(f.PresetsFile)
	if err != nil {
		return nil, err
	}
	rt := &jobRuntime{catalog: catalog, policy: policy, workers: workers}
	rt.db, err = openDatabase(ctx, f.DatabaseFlags)
	if err != nil {
		return nil, err
	}
	rt.closers = append(rt.closers, rt.db.Close)
	rt.presets = &preset.AppCatalog{Catalog: catalog, Store: rt.db, Check: ffmpeg.CheckPreset}
	rt.metrics = metrics.New(rt.db, logger)

	var store queue.ObjectStore
	var sources queue.ObjectSource
	var scratch queue.ScratchStore
	if f.S3Endpoint != "" {
		s3store, err := s3.New(ctx, s3.Config{
			Endpoint: f.S3Endpoint, Region: f.S3Region, AccessKeyID: f.S3AccessKey, SecretAccessKey: f.S3SecretKey,
			PathStyle: f.S3PathStyle, PublicURL: f.S3PublicURL, DefaultACL: f.S3DefaultACL, Logger: logger,
		})
		if err != nil {
			rt.Close()
			return nil, err
		}
		store, sources, scratch = s3store, s3store, s3store
	} else {
		disk, err := diskstore.New(filepath.Join(f.Data, "objects"), publicURL)
		if err != nil {
			rt.Close()
			return nil, err
		}
		rt.closers = append(rt.closers, disk.Close)
		store, sources, scratch, rt.objects = disk, disk, disk, disk.Handler()
	}

	var work *workdir.Dir
	// Leases name their worker by machine and work directory: a worker
	// restarted on the same machine finds its predecessor's directory gone
	// (swept at start) and takes its jobs over at once.
	host, _ := os.Hostname()
	var holder string
	if workers > 0 {
		if work, err = f.openWorkDir(ctx, logger, rt.metrics); err != nil {
			rt.Close()
			return nil, err
		}
		rt.closers = append(rt.closers, work.Close)
		holder = work.Path()
	}

	client := policy.Client()
	// Resident exiftool processes, one per concurrent transcode (each job reads
	// two files): starting exiftool costs more than asking it.
	meta := &exiftool.Resident{Size: max(1, workers)}
	rt.closers = append(rt.closers, meta.Close)
	transcoder := &queue.TranscodeWorker{
		Catalog:        rt.presets,
		Media:          &ffmpeg.Runner{Threads: f.FFmpegThreads, X264Preset: f.X264Preset, Logger: logger},
		ArgOptions:     ffmpeg.ArgOptions{X264Preset: f.X264Preset, Threads: f.FFmpegThreads},
		Meta:           meta,
		Store:          store,
		Fetcher:        client,
		Postbacks:      &postback.Sender{Client: client, Timeout: f.PostbackTimeout},
		Sources:        sources,
		MaxSourceBytes: f.MaxSourceBytes,
		StreamSources:  f.StreamSource,
		SourceLimits:   ffmpeg.SourceLimits{MaxDuration: f.MaxSourceDuration, MaxWidth: maxW, MaxHeight: maxH},
		WorkDirs:       work,
		PricePerMinute: price,
		Logger:         logger,
		Metrics:        rt.metrics,
		Scratch:        scratch,
	}
	rt.queue, err = queue.New(rt.db, transcoder, queue.Config{
		Workers:           workers,
		MaxAttempts:       f.MaxAttempts,
		JobTimeout:        f.JobTimeout,
		RescueAfter:       f.RescueAfter,
		LeaseRenew:        f.LeaseRenew,
		TakeoverAfter:     f.TakeoverAfter,
		Host:              host,
		Holder:            holder,
		DeadHolder:        workdir.Gone,
		FetchPollInterval: f.FetchPollInterval,
		PostbackSchedule:  f.PostbackRetry,
		AccelerateAfter:   f.AccelerateAfter,
		AccelerateSegment: f.AccelerateSegment,
		ScratchBucket:     f.ScratchBucket,
	}, logger)
	if err != nil {
		rt.Close()
		return nil, err
	}
	rt.closers = append(rt.closers, func() error { rt.queue.Close(); return nil })
	return rt, nil
}

// tmpDir is where jobs' working files go.
func (f *WorkerFlags) tmpDir() string {
	if f.TmpDir != "" {
		return f.TmpDir
	}
	return filepath.Join(f.Data, "tmp")
}

// openWorkDir makes this process's own directory under the tmp dir, sweeps
// what no running attempt owns once before any job starts (so a restart after
// a kill -9 leaves nothing of the dead process), then again every
// --tmp-sweep-interval until ctx ends.
func (f *WorkerFlags) openWorkDir(ctx context.Context, logger *slog.Logger, m *metrics.Metrics) (*workdir.Dir, error) {
	if f.TmpSweepInterval <= 0 {
		return nil, fmt.Errorf("--tmp-sweep-interval (%s) must be positive", f.TmpSweepInterval)
	}
	// A directory of the old layout may belong to a running attempt of an
	// older vidjob on the same disk; no attempt outlives its job timeout, and
	// the margin is the rescue delay's default.
	work, err := workdir.Open(f.tmpDir(), f.JobTimeout+10*time.Minute, logger.With("component", "workdir"))
	if err != nil {
		return nil, err
	}
	count := func(removed []workdir.Removed) {
		for _, r := range removed {
			m.WorkFilesSwept(r.Reason, r.Bytes)
		}
	}
	count(work.Sweep())
	go work.Run(ctx, f.TmpSweepInterval, count)
	return work, nil
}

// loadCatalog returns the system presets plus, when path is set, the custom
// presets in that file, each checked as ffmpeg would run it.
func loadCatalog(path string) (*preset.Catalog, error) {
	if path == "" {
		return preset.Load()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--presets-file: %w", err)
	}
	custom, err := preset.ParseCustom(data)
	if err != nil {
		return nil, fmt.Errorf("--presets-file %s: %w", path, err)
	}
	for _, p := range custom {
		if err := ffmpeg.CheckPreset(p); err != nil {
			return nil, fmt.Errorf("--presets-file %s: %w", path, err)
		}
	}
	c, err := preset.LoadWithCustom(custom)
	if err != nil {
		return nil, fmt.Errorf("--presets-file %s: %w", path, err)
	}
	return c, nil
}
