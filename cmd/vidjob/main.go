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
)

// CLI is the command line; every flag can also come from a VIDJOB_* variable.
type CLI struct {
	LogLevel  slog.Level `help:"Log level: debug, info, warn, error." default:"info" env:"VIDJOB_LOG_LEVEL"`
	LogFormat string     `help:"Log format: text or json." default:"text" enum:"text,json" env:"VIDJOB_LOG_FORMAT"`

	Serve  ServeCmd  `cmd:"" help:"Run the API server and transcoding workers. Example: vidjob serve --listen 127.0.0.1:8080 --data ./data"`
	Worker WorkerCmd `cmd:"" help:"Run transcoding workers only, against a shared database. Example: vidjob worker --database postgres://db/vidjob --concurrency 2 --s3-endpoint https://s3.example.com"`
	Apps   AppsCmd   `cmd:"" help:"Manage applications (API clients)."`
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
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
