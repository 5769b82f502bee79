package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/diskstore"
	"github.com/vidjob/vidjob/exiftool"
	"github.com/vidjob/vidjob/fetch"
	"github.com/vidjob/vidjob/ffmpeg"
	vidjobhttp "github.com/vidjob/vidjob/http"
	"github.com/vidjob/vidjob/postback"
	"github.com/vidjob/vidjob/preset"
	"github.com/vidjob/vidjob/queue"
	"github.com/vidjob/vidjob/s3"
)

// ServeCmd runs the API server and, unless --workers 0, the transcoding workers.
type ServeCmd struct {
	DatabaseFlags
	Listen               string          `help:"Address to listen on." default:"127.0.0.1:8080" env:"VIDJOB_LISTEN"`
	PublicURL            string          `help:"Public base URL of this server, used in s3_url for the local object store. Default: http://LISTEN." env:"VIDJOB_PUBLIC_URL"`
	AllowPrivateNetworks bool            `help:"Let src and postback_url reach loopback and private addresses (refused by default)." env:"VIDJOB_ALLOW_PRIVATE_NETWORKS"`
	AllowCIDR            []string        `help:"Non-public address ranges that src and postback_url may reach even without --allow-private-networks." env:"VIDJOB_ALLOW_CIDR"`
	Workers              int             `help:"Transcodes run at once in this process; 0 runs none (API only); -1 picks one per two cores." default:"-1" env:"VIDJOB_WORKERS"`
	PricePerMinute       string          `help:"Price in US dollars per started minute of output." default:"0.0389" env:"VIDJOB_PRICE_PER_MINUTE"`
	MaxSourceBytes       int64           `help:"Largest source file fetched, in bytes; the download stops when it grows past this." default:"10737418240" env:"VIDJOB_MAX_SOURCE_BYTES"`
	JobTimeout           time.Duration   `help:"Wall-clock limit of one job attempt." default:"2h" env:"VIDJOB_JOB_TIMEOUT"`
	MaxAttempts          int             `help:"Attempts at a job whose failure may pass (source server down, storage timeout)." default:"5" env:"VIDJOB_MAX_ATTEMPTS"`
	PostbackRetry        []time.Duration `help:"Waits between postback attempts; one more attempt than waits." default:"1s,3s,15s,1m,5m,10m,30m,1h" env:"VIDJOB_POSTBACK_RETRY"`
	PresetsFile          string          `name:"presets-file" help:"JSON file of custom presets in Elastic Transcoder's shape, added to the system presets." env:"VIDJOB_PRESETS_FILE"`
	X264Preset           string          `name:"x264-preset" help:"x264 speed/quality preset (ultrafast ... veryslow)." default:"medium" env:"VIDJOB_X264_PRESET"`
	FFmpegThreads        int             `name:"ffmpeg-threads" help:"Threads per ffmpeg process; 0 lets ffmpeg choose." default:"0" env:"VIDJOB_FFMPEG_THREADS"`
	ListenTimeout        time.Duration   `help:"How long GET /listen waits for a job to end before answering 202." default:"60s" env:"VIDJOB_LISTEN_TIMEOUT"`
	ShutdownGrace        time.Duration   `help:"On SIGTERM, how long running jobs may finish before they are released for retry." default:"30s" env:"VIDJOB_SHUTDOWN_GRACE"`

	S3Endpoint   string `name:"s3-endpoint" help:"S3-compatible endpoint URL; empty stores outputs on local disk under DATA/objects." env:"VIDJOB_S3_ENDPOINT"`
	S3Region     string `name:"s3-region" help:"S3 region." default:"us-east-1" env:"VIDJOB_S3_REGION"`
	S3AccessKey  string `name:"s3-access-key" help:"S3 access key; empty uses the AWS credential chain." env:"VIDJOB_S3_ACCESS_KEY"`
	S3SecretKey  string `name:"s3-secret-key" help:"S3 secret key." env:"VIDJOB_S3_SECRET_KEY"`
	S3PathStyle  bool   `name:"s3-path-style" help:"Address buckets in the path (needed by most S3-compatible servers)." env:"VIDJOB_S3_PATH_STYLE"`
	S3PublicURL  string `name:"s3-public-url" help:"Base URL for s3_url instead of the endpoint's own object URL; {bucket} is replaced by the bucket name." env:"VIDJOB_S3_PUBLIC_URL"`
	S3DefaultACL string `name:"s3-default-acl" help:"Canned ACL for uploads whose job sets no x-amz-acl (Blitline used public-read; buckets with ACLs disabled refuse any)." env:"VIDJOB_S3_DEFAULT_ACL"`
}

// Run serves until ctx is cancelled (SIGINT or SIGTERM).
func (c *ServeCmd) Run(ctx context.Context, logger *slog.Logger) error {
	price, err := vidjob.ParseMicros(c.PricePerMinute)
	if err != nil {
		return fmt.Errorf("--price-per-minute: %w", err)
	}
	policy := fetch.Policy{AllowPrivateNetworks: c.AllowPrivateNetworks}
	for _, s := range c.AllowCIDR {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--allow-cidr %q: %w", s, err)
		}
		policy.AllowedCIDRs = append(policy.AllowedCIDRs, p)
	}
	if err := checkTools(); err != nil {
		return err
	}
	catalog, err := loadCatalog(c.PresetsFile)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, c.DatabaseFlags)
	if err != nil {
		return err
	}
	defer db.Close()

	listener, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	publicURL := c.PublicURL
	if publicURL == "" {
		publicURL = "http://" + listener.Addr().String()
	}

	var store queue.ObjectStore
	var objects nethttp.Handler
	if c.S3Endpoint != "" {
		s3store, err := s3.New(ctx, s3.Config{
			Endpoint: c.S3Endpoint, Region: c.S3Region, AccessKeyID: c.S3AccessKey, SecretAccessKey: c.S3SecretKey,
			PathStyle: c.S3PathStyle, PublicURL: c.S3PublicURL, DefaultACL: c.S3DefaultACL, Logger: logger,
		})
		if err != nil {
			return err
		}
		store = s3store
	} else {
		disk, err := diskstore.New(filepath.Join(c.Data, "objects"), publicURL)
		if err != nil {
			return err
		}
		defer disk.Close()
		store, objects = disk, disk.Handler()
	}

	workers := c.Workers
	if workers < 0 {
		workers = max(1, runtime.NumCPU()/2)
	}
	client := policy.Client()
	transcoder := &queue.TranscodeWorker{
		Catalog:        catalog,
		Media:          &ffmpeg.Runner{Threads: c.FFmpegThreads, X264Preset: c.X264Preset, Logger: logger},
		ArgOptions:     ffmpeg.ArgOptions{X264Preset: c.X264Preset, Threads: c.FFmpegThreads},
		Meta:           &exiftool.Exiftool{},
		Store:          store,
		Fetcher:        client,
		Postbacks:      &postback.Sender{Client: client},
		MaxSourceBytes: c.MaxSourceBytes,
		TempDir:        filepath.Join(c.Data, "tmp"),
		PricePerMinute: price,
		Logger:         logger,
	}
	q, err := queue.New(db, transcoder, queue.Config{
		Workers:          workers,
		MaxAttempts:      c.MaxAttempts,
		JobTimeout:       c.JobTimeout,
		PostbackSchedule: c.PostbackRetry,
	}, logger)
	if err != nil {
		return err
	}
	if err := q.Start(ctx); err != nil {
		return err
	}

	api := &vidjobhttp.Server{
		Submitter: q,
		Store:     db,
		Catalog:   catalog,
		Waiter:    q.Hub(),
		Policy:    policy,
		Objects:   objects,
		Logger:    logger,
		// Blitline's limit was 250,000 characters of job JSON; a request may
		// carry up to 100 jobs of ordinary size.
		MaxBodyBytes:  1 << 20,
		ListenTimeout: c.ListenTimeout,
	}
	srv := &nethttp.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      10 * time.Minute, // /listen waits 60 s; /objects may stream large files
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(listener) }()
	logger.Info("vidjob serving", "listen", listener.Addr().String(), "public_url", publicURL,
		"database", string(db.Dialect), "workers", workers, "object_store", storeName(c.S3Endpoint))

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", c.ShutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	if err := q.Stop(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("queue stop", "err", err)
	}
	return nil
}

func storeName(endpoint string) string {
	if endpoint == "" {
		return "local disk"
	}
	return endpoint
}

// checkTools fails early, with the packages to install, when ffmpeg or exiftool
// is missing, rather than failing every job later.
func checkTools() error {
	var missing []string
	for tool, pkg := range map[string]string{"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "exiftool": "libimage-exiftool-perl"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool, pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing tools: %s; install them, e.g. sudo apt-get install ffmpeg libimage-exiftool-perl", strings.Join(missing, ", "))
	}
	return nil
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
