package runlog

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

func TestLogRecordsCommandsAndPhases(t *testing.T) {
	l := New("/data/tmp/job-1-2/")
	ctx := With(context.Background(), l)
	l.Add(vidjob.PhaseQueueWait, 40*time.Millisecond)
	l.Begin(vidjob.PhaseProbe)
	Record(ctx, "ffprobe", []string{"-i", "file:/data/tmp/job-1-2/source", "/other/source"}, time.Now(), nil)
	time.Sleep(5 * time.Millisecond)
	l.Begin(vidjob.PhaseEncode)
	Record(ctx, "ffmpeg", []string{"-hls_segment_filename", "file:/data/tmp/job-1-2/out/a%05d.ts"}, time.Now().Add(-20*time.Millisecond), errors.New("exit 1"))
	l.Begin(vidjob.PhaseProbe)
	time.Sleep(5 * time.Millisecond)
	l.End()
	Record(context.Background(), "exiftool", nil, time.Now(), nil) // no log: nothing recorded

	r := l.Run(2)
	if r.Attempt != 2 || len(r.Commands) != 2 {
		t.Fatalf("run = %+v", r)
	}
	probe, encode := r.Commands[0], r.Commands[1]
	if !slices.Equal(probe.Args, []string{"-i", "file:source", "/other/source"}) || probe.Phase != vidjob.PhaseProbe || probe.Millis < 1 || probe.Failed {
		t.Errorf("probe = %+v", probe)
	}
	if encode.Args[1] != "file:out/a%05d.ts" || encode.Phase != vidjob.PhaseEncode || encode.Millis < 20 || !encode.Failed {
		t.Errorf("encode = %+v", encode)
	}
	var names []string
	for _, p := range r.Phases {
		names = append(names, p.Phase)
	}
	if !slices.Equal(names, []string{vidjob.PhaseQueueWait, vidjob.PhaseProbe, vidjob.PhaseEncode}) {
		t.Errorf("phases = %v", names)
	}
	// Probe was entered twice; its times add up.
	if ms, _ := r.Phase(vidjob.PhaseProbe); ms < 10 {
		t.Errorf("probe phase = %d ms, want both stretches (≥ 10)", ms)
	}
	if ms, _ := r.Phase(vidjob.PhaseQueueWait); ms != 40 {
		t.Errorf("queue_wait = %d ms, want 40", ms)
	}
}

func TestNilLogRecordsNothing(t *testing.T) {
	var l *Log
	l.Begin(vidjob.PhaseFetch)
	l.SetDir("/x")
	l.Add(vidjob.PhaseFetch, time.Second)
	l.End()
	if l.Run(1) != nil {
		t.Error("a nil log returned a run")
	}
}

// A job whose work spans attempts shows one run: the earlier attempt's
// commands, then the parts', then this attempt's; the earlier phase times
// replace this attempt's own so far (its queue wait was the whole split).
func TestContinueCarriesAnEarlierAttemptsRun(t *testing.T) {
	l := New("/work/job-1")
	ctx := With(context.Background(), l)
	l.Add(vidjob.PhaseQueueWait, time.Hour) // the joining attempt's misleading wait
	l.Begin(vidjob.PhaseFetch)
	prev := &vidjob.Run{
		Commands: []vidjob.Command{{Program: "ffmpeg", Args: []string{"-f", "segment"}, Millis: 7, Phase: vidjob.PhaseEncode}},
		Phases:   []vidjob.PhaseTime{{Phase: vidjob.PhaseQueueWait, Millis: 20}, {Phase: vidjob.PhaseEncode, Millis: 100}},
	}
	part := vidjob.Command{Program: "ffmpeg", Args: []string{"-i", "piece00000.mkv"}, Millis: 50, Phase: vidjob.PhaseEncode, Part: 1}
	l.Continue(prev, []vidjob.Command{part})
	l.Begin(vidjob.PhaseEncode)
	Record(ctx, "ffmpeg", []string{"-f", "concat", "/work/job-1/out/x.mp4"}, time.Now(), nil)
	l.Add(vidjob.PhaseEncode, 5*time.Millisecond)
	l.End()
	r := l.Run(3)
	if len(r.Commands) != 3 || r.Commands[0].Args[1] != "segment" || r.Commands[1].Part != 1 || r.Commands[2].Args[2] != "out/x.mp4" {
		t.Fatalf("commands = %+v, want split, part 1, join", r.Commands)
	}
	if qw, _ := r.Phase(vidjob.PhaseQueueWait); qw != 20 {
		t.Errorf("queue_wait = %d ms, want the earlier attempt's 20", qw)
	}
	if enc, _ := r.Phase(vidjob.PhaseEncode); enc < 105 || enc > 1000 {
		t.Errorf("encode = %d ms, want the earlier 100 plus this attempt's", enc)
	}
	if _, ok := r.Phase(vidjob.PhaseFetch); ok {
		t.Errorf("phases %+v: this attempt's few microseconds of fetch before Continue should be gone", r.Phases)
	}
}

func TestWithPhaseMarksCommandsBesideTheRunningPhase(t *testing.T) {
	l := New("")
	ctx := With(context.Background(), l)
	l.Begin(vidjob.PhaseUpload)
	Record(WithPhase(ctx, vidjob.PhaseMetadata), "exiftool", nil, time.Now(), nil)
	Record(ctx, "other", nil, time.Now(), nil)
	r := l.Run(1)
	if len(r.Commands) != 2 || r.Commands[0].Phase != vidjob.PhaseMetadata || r.Commands[1].Phase != vidjob.PhaseUpload {
		t.Errorf("commands = %+v", r.Commands)
	}
}

// Work beside the main line records its commands in the phase it names,
// and adds no time to that phase.
func TestWithPhaseAddsNoTime(t *testing.T) {
	l := New("/w")
	ctx := With(context.Background(), l)
	l.Begin(vidjob.PhaseEncode)
	Record(WithPhase(ctx, vidjob.PhaseMetadata), "exiftool", []string{"/w/source"}, time.Now(), nil)
	l.End()
	r := l.Run(1)
	if r.Commands[0].Phase != vidjob.PhaseMetadata {
		t.Errorf("commands %+v", r.Commands)
	}
	if _, ok := r.Phase(vidjob.PhaseMetadata); ok {
		t.Error("a command beside the main line added time to its phase")
	}
}
