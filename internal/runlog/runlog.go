// Package runlog records, for one job attempt, the external programs it ran and
// the time it spent in each phase. The log travels in a context, so packages
// that run programs (ffmpeg, exiftool) record them without knowing about jobs;
// without a log in the context, recording does nothing.
package runlog

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidjob/vidjob"
)

// Log is one attempt's record. It is safe for concurrent use: a job may run
// programs side by side. A nil *Log records nothing, so code may mark phases
// whether or not its context carries a log.
type Log struct {
	mu       sync.Mutex
	dir      string
	phase    string
	started  time.Time
	since    time.Time
	millis   map[string]time.Duration
	commands []vidjob.Command
}

// New starts a log at now with no phase running. Paths under dir (the
// attempt's working directory) are recorded relative to it.
func New(dir string) *Log {
	now := time.Now()
	return &Log{dir: strings.TrimSuffix(dir, "/"), started: now, since: now, millis: make(map[string]time.Duration)}
}

// SetDir sets the working directory whose paths are shown relative, for a
// log started before the directory existed.
func (l *Log) SetDir(dir string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dir = strings.TrimSuffix(dir, "/")
}

// Started is when the log was made.
func (l *Log) Started() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.started
}

type key struct{}

// With returns ctx carrying l.
func With(ctx context.Context, l *Log) context.Context { return context.WithValue(ctx, key{}, l) }

// From returns the log ctx carries, or nil.
func From(ctx context.Context) *Log {
	l, _ := ctx.Value(key{}).(*Log)
	return l
}

type phaseKey struct{}

// WithPhase returns ctx whose recorded commands are marked phase whatever
// phase the log is in: for work that runs beside others (the output's probe
// and description run while it uploads; the source's description while the
// encode runs) and whose time the caller adds up itself.
func WithPhase(ctx context.Context, phase string) context.Context {
	return context.WithValue(ctx, phaseKey{}, phase)
}

// Record adds a program run to the log in ctx, if any: its arguments, copied,
// and the wall time since start.
func Record(ctx context.Context, program string, args []string, start time.Time, err error) {
	l := From(ctx)
	if l == nil {
		return
	}
	took := time.Since(start)
	l.mu.Lock()
	defer l.mu.Unlock()
	phase := l.phase
	if p, ok := ctx.Value(phaseKey{}).(string); ok {
		phase = p
	}
	c := vidjob.Command{Program: program, Args: make([]string, len(args)), Phase: phase, Failed: err != nil}
	for i, a := range args {
		c.Args[i] = l.relative(a)
	}
	// A run shorter than a millisecond still ran: round up so that a zero
	// means "not measured", never "instant".
	c.Millis = max(1, (took + time.Millisecond - 1).Milliseconds())
	l.commands = append(l.commands, c)
}

// relative rewrites dir/x as x wherever it appears in arg: after a "file:"
// prefix, or inside a muxer option such as hls_segment_filename.
func (l *Log) relative(arg string) string {
	if l.dir == "" {
		return arg
	}
	return strings.ReplaceAll(arg, l.dir+"/", "")
}

// Begin ends the running phase, adding its time to that phase's total, and
// starts phase. A phase may be entered more than once (probe and metadata run
// for the source and again for the output); its times add up.
func (l *Log) Begin(phase string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(time.Now())
	l.phase = phase
}

// End ends the running phase.
func (l *Log) End() { l.Begin("") }

// Add adds d to phase's total without changing the running phase.
func (l *Log) Add(phase string, d time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.millis[phase] += max(0, d)
}

func (l *Log) endLocked(now time.Time) {
	if l.phase != "" {
		l.millis[l.phase] += now.Sub(l.since)
	}
	l.since = now
}

// Continue makes l carry on from an earlier attempt's run, for a job whose
// work spans attempts (accelerated encoding: the split, then the join after
// the parts ran elsewhere). The earlier commands, then more (the parts'),
// come before l's own, and the earlier phase times replace l's so far, so
// that the job shows one run from submission to end rather than its last
// attempt's. The running phase is dropped uncounted; Begin the next.
func (l *Log) Continue(prev *vidjob.Run, more []vidjob.Command) {
	if l == nil || prev == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commands = slices.Concat(prev.Commands, more, l.commands)
	l.millis = make(map[string]time.Duration, len(prev.Phases))
	for _, p := range prev.Phases {
		l.millis[p.Phase] = time.Duration(p.Millis) * time.Millisecond
	}
	l.phase, l.since = "", time.Now()
}

// Run returns what was recorded so far, phases in vidjob.Phases order; nil
// for a nil Log.
func (l *Log) Run(attempt int) *vidjob.Run {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &vidjob.Run{Attempt: attempt, Commands: slices.Clone(l.commands)}
	if r.Commands == nil {
		r.Commands = []vidjob.Command{}
	}
	for _, p := range vidjob.Phases() {
		if d, ok := l.millis[p]; ok {
			r.Phases = append(r.Phases, vidjob.PhaseTime{Phase: p, Millis: d.Milliseconds()})
		}
	}
	return r
}
