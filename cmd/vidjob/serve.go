package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"time"

	vidjobhttp "github.com/vidjob/vidjob/http"
	"github.com/vidjob/vidjob/localdisk"
	"github.com/vidjob/vidjob/sqlstore"
)

// ServeCmd runs the API server and, unless --workers 0, the transcoding workers.
type ServeCmd struct {
	WorkerFlags
	Listen            string        `help:"Address to listen on." default:"127.0.0.1:8080" env:"VIDJOB_LISTEN"`
	Workers           int           `help:"Transcodes run at once in this process; 0 runs none (API only); -1 picks one per two cores." default:"-1" env:"VIDJOB_WORKERS"`
	ListenRequiresApp bool          `help:"Make GET /listen/{job_id} answer only the job's application (X-Application-Id header or application_id parameter), as /jobs does. Off: the job ID alone is enough, as on Blitline, whose clients send nothing else." env:"VIDJOB_LISTEN_REQUIRES_APP"`
	ListenKeepAlive   time.Duration `name:"listen-keepalive" help:"How long a held GET /listen stays silent: after it the answer is committed as 200 and a space is written at this interval until the results follow, so proxies and client read timeouts do not cut the wait." default:"3s" env:"VIDJOB_LISTEN_KEEPALIVE"`
	MaxListeners      int           `help:"GET /listen requests held at once by this server; past it a request for a job still running gets 503 with Retry-After." default:"512" env:"VIDJOB_MAX_LISTENERS"`
	// Deprecated flags, accepted so that existing start-up scripts still
	// start; each logs a warning.
	OpenListen    bool          `hidden:"" help:"Deprecated: the job ID alone is enough by default; see --listen-requires-app." env:"VIDJOB_OPEN_LISTEN"`
	ListenTimeout time.Duration `hidden:"" help:"Deprecated and ignored: GET /listen holds until the job ends; clients that want an early answer ask with ?timeout=SECONDS." env:"VIDJOB_LISTEN_TIMEOUT"`
	AdminToken    string        `help:"Token for the dashboard and /metrics; empty uses DATA/admin-token, made at first start." env:"VIDJOB_ADMIN_TOKEN"`
	MinFreeBytes  uint64        `help:"Free space, in bytes, the data directory (and, with workers, the tmp directory) must keep: below it POST /job answers 503 and /healthz reports disk_space, instead of jobs failing on a full disk." default:"268435456" env:"VIDJOB_MIN_FREE_BYTES"`
}

// Run serves until ctx is cancelled (SIGINT or SIGTERM).
func (c *ServeCmd) Run(ctx context.Context, logger *slog.Logger) error {
	if err := c.checkListenFlags(logger); err != nil {
		return err
	}
	listener, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	publicURL := c.PublicURL
	if publicURL == "" {
		publicURL = "http://" + listener.Addr().String()
	}
	admin, err := adminToken(c.AdminToken, c.Data, logger)
	if err != nil {
		listener.Close()
		return err
	}
	rt, err := c.WorkerFlags.open(ctx, logger, publicURL, workerCount(c.Workers))
	if err != nil {
		listener.Close()
		return err
	}
	defer rt.Close()
	if err := rt.queue.Start(ctx); err != nil {
		return err
	}
	if rt.db.Dialect == sqlstore.Postgres {
		// Jobs finished by worker processes elsewhere wake this server's /listen.
		go sqlstore.ListenJobsDone(ctx, rt.db, logger, rt.queue.Hub().Announce)
	}

	api := &vidjobhttp.Server{
		Submitter:         rt.queue,
		Store:             rt.db,
		Catalog:           rt.catalog,
		AppPresets:        rt.presets,
		Waiter:            rt.queue.Hub(),
		Policy:            rt.policy,
		ListenRequiresApp: c.ListenRequiresApp,
		ListenKeepAlive:   c.ListenKeepAlive,
		MaxListeners:      c.MaxListeners,
		Objects:           rt.objects,
		Logger:            logger,
		// Blitline's limit was 250,000 characters of job JSON; a request may
		// carry up to 100 jobs of ordinary size.
		MaxBodyBytes: 1 << 20,
		Lists:        rt.db,
		Presets:      rt.catalog,
		AdminToken:   admin,
		Metrics:      rt.metrics.Handler(),
		Space:        c.space(rt.workers),
	}
	srv := vidjobhttp.NewHTTPServer(api.Handler(), vidjobhttp.ServerLimits{})
	srv.RegisterOnShutdown(api.StopStreams)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(listener) }()
	logger.Info("vidjob serving", "listen", listener.Addr().String(), "public_url", publicURL,
		"database", string(rt.db.Dialect), "workers", rt.workers, "object_store", storeName(c.S3Endpoint))

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", c.ShutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	rt.stopQueue(shutdownCtx, logger)
	return nil
}

// checkListenFlags refuses /listen settings that cannot work and warns of
// the deprecated ones.
func (c *ServeCmd) checkListenFlags(logger *slog.Logger) error {
	if c.OpenListen && c.ListenRequiresApp {
		return fmt.Errorf("--open-listen and --listen-requires-app contradict each other; drop --open-listen (deprecated: the job ID alone is enough by default)")
	}
	if c.OpenListen {
		logger.Warn("--open-listen is deprecated and does nothing: GET /listen needs only the job ID by default (--listen-requires-app restores the strict model)")
	}
	if c.ListenTimeout != 0 {
		logger.Warn("--listen-timeout is deprecated and ignored: GET /listen holds until the job ends; clients that want an early answer ask with ?timeout=SECONDS")
	}
	if c.ListenKeepAlive <= 0 {
		return fmt.Errorf("--listen-keepalive must be positive, not %s", c.ListenKeepAlive)
	}
	if c.MaxListeners < 1 {
		return fmt.Errorf("--max-listeners must be at least 1, not %d", c.MaxListeners)
	}
	return nil
}

// space is the room POST /job and /healthz ask for: in the data directory
// (the SQLite database, the local object store) and, when this process runs
// jobs, in their working directory.
func (c *ServeCmd) space(workers int) *localdisk.Space {
	dirs := []localdisk.Dir{{Role: "data directory", Path: c.Data}}
	if workers > 0 {
		dirs = append(dirs, localdisk.Dir{Role: "work directory", Path: c.tmpDir()})
	}
	return &localdisk.Space{Dirs: dirs, Min: c.MinFreeBytes}
}

// workerCount turns the -1 default into one worker per two cores: ffmpeg uses
// several threads per encode, so more would thrash a small machine.
func workerCount(n int) int {
	if n < 0 {
		return max(1, runtime.NumCPU()/2)
	}
	return n
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
