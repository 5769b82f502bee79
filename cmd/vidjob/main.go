// Command vidjob is the vidjob transcoding service: `vidjob serve` runs the API
// and workers, `vidjob apps create` makes an application. This file alone knows
// about configuration; it wires the packages together.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/vidjob/vidjob/internal/logctx"
)

// CLI is the command line; every flag can also come from a VIDJOB_* variable.
type CLI struct {
	LogLevel  slog.Level `help:"Log level: debug, info, warn, error." default:"info" env:"VIDJOB_LOG_LEVEL"`
	LogFormat string     `help:"Log format: text or json." default:"text" enum:"text,json" env:"VIDJOB_LOG_FORMAT"`

	Serve  ServeCmd  `cmd:"" help:"Run the API server and transcoding workers. Example: vidjob serve --listen 127.0.0.1:8080 --data ./data"`
	Worker WorkerCmd `cmd:"" help:"Run transcoding workers only, against a shared database. Example: vidjob worker --database postgres://db/vidjob --concurrency 2 --s3-endpoint https://s3.example.com"`
	Apps   AppsCmd   `cmd:"" help:"Manage applications (API clients)."`

	Submit  SubmitCmd  `cmd:"" help:"Submit a job to a vidjob server. Example: vidjob submit --src https://example.com/in.mp4 --preset 'System preset generic 720p' --bucket videos --key out/720p.mp4 --wait   (or: vidjob submit job.json --wait)"`
	Presets PresetsCmd `cmd:"" help:"List the presets a job may name. Example: vidjob presets   (or: vidjob presets --json)"`
	Jobs    JobsCmd    `cmd:"" help:"List your application's jobs, newest first. Example: vidjob jobs --status failed"`
	Job     JobCmd     `cmd:"" help:"Show one job: state, progress, results, charge, postback attempts. Example: vidjob job 1a2b3c..."`
	Usage   UsageCmd   `cmd:"" help:"Show your application's billed jobs, minutes and amount. Example: vidjob usage --from 2026-11-01 --to 2026-12-01"`
}

// DatabaseFlags choose the database.
type DatabaseFlags struct {
	Data     string `help:"Data directory: the SQLite database, the local object store and temporary files." default:"./data" env:"VIDJOB_DATA" type:"path"`
	Database string `help:"Database URL: postgres://... for PostgreSQL; empty for SQLite in the data directory." env:"VIDJOB_DATABASE"`
}

func main() {
	var cli CLI
	kctx := kong.Parse(&cli,
		kong.Name("vidjob"),
		kong.Description("A self-hostable video transcoding service that speaks Blitline's job format and runs the Elastic Transcoder system presets with ffmpeg."),
		kong.UsageOnError(),
	)
	logger := newLogger(cli.LogLevel, cli.LogFormat)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(logger); err != nil {
		fmt.Fprintln(os.Stderr, "vidjob:", err)
		os.Exit(1)
	}
}

func newLogger(level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	// logctx adds the job_id that a worker puts in the context to the lines of
	// the packages it calls.
	if format == "json" {
		return slog.New(logctx.Handler(slog.NewJSONHandler(os.Stderr, opts)))
	}
	return slog.New(logctx.Handler(slog.NewTextHandler(os.Stderr, opts)))
}
