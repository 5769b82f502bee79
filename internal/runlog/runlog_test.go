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
