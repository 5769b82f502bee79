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
	Listen        string        `help:"Address to listen on." default:"127.0.0.1:8080" env:"VIDJOB_LISTEN"`
	Workers       int           `help:"Transcodes run at once in this process; 0 runs none (API only); -1 picks one per two cores." default:"-1" env:"VIDJOB_WORKERS"`
	ListenTimeout time.Duration `help:"How long GET /listen waits for a job to end before answering 202." default:"60s" env:"VIDJOB_LISTEN_TIMEOUT"`
	OpenListen    bool          `help:"Let GET /listen/{job_id} answer without the job's application ID, as Blitline's did (job IDs are unguessable, but anyone holding one can read the results)." env:"VIDJOB_OPEN_LISTEN"`
	AdminToken    string        `help:"Token for the dashboard and /metrics; empty uses DATA/admin-token, made at first start." env:"VIDJOB_ADMIN_TOKEN"`
	MinFreeBytes  uint64        `help:"Free space, in bytes, the data directory (and, with workers, the tmp directory) must keep: below it POST /job answers 503 and /healthz reports disk_space, instead of jobs failing on a full disk." default:"268435456" env:"VIDJOB_MIN_FREE_BYTES"`
}

// Run serves until ctx is cancelled (SIGINT or SIGTERM).
func (c *ServeCmd) Run(ctx context.Context, logger *slog.Logger) error {
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
		Submitter:  rt.queue,
		Store:      rt.db,
		Catalog:    rt.catalog,
		AppPresets: rt.presets,
		Waiter:     rt.queue.Hub(),
		Policy:     rt.policy,
		OpenListen: c.OpenListen,
		Objects:    rt.objects,
		Logger:     logger,
		// Blitline's limit was 250,000 characters of job JSON; a request may
		// carry up to 100 jobs of ordinary size.
		MaxBodyBytes:  1 << 20,
		ListenTimeout: c.ListenTimeout,
		Lists:         rt.db,
		Presets:       rt.catalog,
		AdminToken:    admin,
		Metrics:       rt.metrics.Handler(),
		Space:         c.space(rt.workers),
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
