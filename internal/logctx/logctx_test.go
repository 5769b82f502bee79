package logctx

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestLinesLoggedWithTheContextNameTheJob(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewTextHandler(&buf, nil)))
	ctx := With(context.Background(), "job_id", "j1")
	log.InfoContext(ctx, "ffmpeg done")
	log.With("job_id", "own").InfoContext(ctx, "explicit")
	log.Info("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "job_id=j1") {
		t.Errorf("line with the context lacks job_id: %s", lines[0])
	}
	if strings.Contains(lines[1], "job_id=j1") || !strings.Contains(lines[1], "job_id=own") {
		t.Errorf("a logger's own job_id must win, once: %s", lines[1])
	}
	if strings.Contains(lines[2], "job_id") {
		t.Errorf("line without the context has a job_id: %s", lines[2])
	}
}
