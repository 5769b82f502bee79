package main

import (
	"context"
	"log/slog"
)

// WorkerCmd runs transcoding workers without an API server, for clusters where
// API servers and workers run on different machines against one PostgreSQL.
type WorkerCmd struct {
	WorkerFlags
	Concurrency int `help:"Transcodes run at once; -1 picks one per two cores." default:"-1" env:"VIDJOB_CONCURRENCY"`
}

// Run works jobs until ctx is cancelled; on SIGTERM it stops taking jobs, lets
// running ones finish within --shutdown-grace and releases the rest for retry.
func (c *WorkerCmd) Run(ctx context.Context, logger *slog.Logger) error {
	rt, err := c.WorkerFlags.open(ctx, logger, c.PublicURL, max(1, workerCount(c.Concurrency)))
	if err != nil {
		return err
	}
	defer rt.Close()
	if err := rt.queue.Start(ctx); err != nil {
		return err
	}
	logger.Info("vidjob worker running", "database", string(rt.db.Dialect), "concurrency", rt.workers,
		"object_store", storeName(c.S3Endpoint))
	<-ctx.Done()
	logger.Info("shutting down", "grace", c.ShutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace)
	defer cancel()
	rt.stopQueue(shutdownCtx, logger)
	return nil
}
