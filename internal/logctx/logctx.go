// Package logctx carries log attributes in a context, so that packages which
// log with a context (ffmpeg, exiftool) name the job they work for without
// knowing about jobs.
package logctx

import (
	"context"
	"log/slog"
	"time"
)

type key struct{}

// With returns ctx carrying attrs (key-value pairs, as slog takes them) in
// addition to those it already carries.
func With(ctx context.Context, args ...any) context.Context {
	prev, _ := ctx.Value(key{}).([]slog.Attr)
	r := slog.NewRecord(time.Time{}, 0, "", 0)
	r.Add(args...)
	attrs := append([]slog.Attr(nil), prev...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	return context.WithValue(ctx, key{}, attrs)
}

// Handler adds the attributes carried by a record's context to the record,
// unless the record already has an attribute of that key.
func Handler(next slog.Handler) slog.Handler { return &handler{next: next} }

type handler struct {
	next slog.Handler
	// own are the keys added by WithAttrs, which win over the context's.
	own map[string]bool
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	attrs, _ := ctx.Value(key{}).([]slog.Attr)
	if len(attrs) > 0 {
		have := map[string]bool{}
		r.Attrs(func(a slog.Attr) bool {
			have[a.Key] = true
			return true
		})
		for _, a := range attrs {
			if !have[a.Key] && !h.own[a.Key] {
				r.AddAttrs(a)
			}
		}
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	own := make(map[string]bool, len(h.own)+len(attrs))
	for k := range h.own {
		own[k] = true
	}
	for _, a := range attrs {
		own[a.Key] = true
	}
	return &handler{next: h.next.WithAttrs(attrs), own: own}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), own: h.own}
}
