package main

import (
	"bytes"
	"testing"
	"time"
)

// The tables -markdown prints are pasted into docs/PERFORMANCE.md as they
// are, so each is checked here character for character from fixed numbers.

func TestSubmitTableMarkdown(t *testing.T) {
	runs := [][]submitResult{
		{{db: "SQLite", rate: 3031.4, p50: 4900 * time.Microsecond, p99: 12 * time.Millisecond, rssMiB: 35.2},
			{db: "PostgreSQL", rate: 2827.6, p50: 5300 * time.Microsecond, p99: 12900 * time.Microsecond, rssMiB: 38.6}},
		{{db: "SQLite", rate: 12345, errors: 2, p50: 4550 * time.Microsecond, p99: 11300 * time.Microsecond, rssMiB: 36},
			{db: "PostgreSQL", rate: 999.5, p50: 5800 * time.Microsecond, p99: 13900 * time.Microsecond, rssMiB: 36.4}},
	}
	want := "| run | SQLite jobs/s | SQLite p50 / p99 | PostgreSQL jobs/s | PostgreSQL p50 / p99 | vidjob RSS |\n" +
		"|---|---|---|---|---|---|\n" +
		"| 1 | 3,031 | 4.9 / 12.0 ms | 2,828 | 5.3 / 12.9 ms | 35–39 MiB |\n" +
		"| 2 | 12,345 (2 failed) | 4.5 / 11.3 ms | 1,000 | 5.8 / 13.9 ms | 36 MiB |\n"
	if got := submitTable(runs).markdown(); got != want {
		t.Errorf("submit table:\n%s\nwant:\n%s", got, want)
	}
}

func TestScalingRowsMarkdown(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var out []time.Duration
		for _, f := range v {
			out = append(out, time.Duration(f*float64(time.Millisecond)))
		}
		return out
	}
	rows := scalingRows("SQLite", []levelFigures{
		{level: 100, p50: ms(5, 4, 6), p99: ms(10, 12, 11), rates: []float64{3000, 3100, 2900}, rssMiB: 38.4},
		{level: 100000, p50: ms(5.5, 4.4, 6), p99: ms(13.2, 11, 20), rates: []float64{2950.5, 3200}, rssMiB: 40},
	})
	tab := table{header: scalingHeader(100)}
	for _, r := range rows {
		tab.rows = append(tab.rows, append([]string{"1"}, r...))
	}
	want := "| run | database | queued | p50 | p99 | p50 ÷ 100 | p99 ÷ 100 | p50 spread | p99 spread | jobs/s | vidjob RSS |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|\n" +
		"| 1 | SQLite | 100 | 5.0 ms | 11.0 ms | 1.00 | 1.00 | 4.0–6.0 ms | 10.0–12.0 ms | 3,000 | 38 MiB |\n" +
		"| 1 | SQLite | 100,000 | 5.5 ms | 13.2 ms | 1.10 | 1.20 | 4.4–6.0 ms | 11.0–20.0 ms | 3,075 | 40 MiB |\n"
	if got := tab.markdown(); got != want {
		t.Errorf("scaling table:\n%s\nwant:\n%s", got, want)
	}
}

func TestOverheadTablesMarkdown(t *testing.T) {
	s := func(e2e, plain, inJob time.Duration, phases map[string]time.Duration) sample {
		return sample{endToEnd: e2e, plain: plain, inJob: inJob, phases: phases}
	}
	const generic = "1351620000001-000010"
	phases := map[string]time.Duration{"queue_wait": 15 * time.Millisecond, "fetch": time.Millisecond,
		"probe": 93 * time.Millisecond, "encode": 886 * time.Millisecond, "metadata": 7 * time.Millisecond, "postback": 4 * time.Millisecond}
	results := map[time.Duration]map[string][]sample{2 * time.Second: {generic: {
		s(1018*time.Millisecond, 890*time.Millisecond, 885*time.Millisecond, phases),
		s(1100*time.Millisecond, 900*time.Millisecond, 950*time.Millisecond, phases),
		s(1000*time.Millisecond, 880*time.Millisecond, 870*time.Millisecond, phases),
	}}}
	want := "| source | preset | runs | end to end | ffmpeg alone | ratio | paired ratio | overhead (ms) | outside ffmpeg (ms) |\n" +
		"|---|---|---|---|---|---|---|---|---|\n" +
		"| 2s | Generic 720p | 3 | 1.02 s | 0.89 s | 1.14 | 1.14 | 128 | 133 |\n"
	if got := overheadTable([]time.Duration{2 * time.Second}, []string{generic}, results).markdown(); got != want {
		t.Errorf("overhead table:\n%s\nwant:\n%s", got, want)
	}
	want = "| source | preset | end to end | ffmpeg in job | queue_wait | fetch | probe | encode | metadata | upload | finish | postback | encode − ffmpeg | other |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" +
		"| 2s | Generic 720p | 1018 | 885 | 15 | 1 | 93 | 886 | 7 | 0 | 0 | 4 | 1 | 12 |\n"
	if got := phaseTable(2*time.Second, []string{generic}, results[2*time.Second]).markdown(); got != want {
		t.Errorf("phase table:\n%s\nwant:\n%s", got, want)
	}
}

func TestReportMarkdownPrintsStampedTablesOnly(t *testing.T) {
	var out bytes.Buffer
	r := &report{w: &out, markdown: true, command: commandLine([]string{"-suite", "submit", "-count", "3", "-markdown"}),
		cpu: "AMD EPYC 7B13", cores: 2, now: func() time.Time { return time.Date(2026, 11, 27, 10, 53, 12, 0, time.UTC) }}
	r.heading("Submission")
	r.note("prose for the terminal")
	r.table(table{header: []string{"a", "b"}, rows: [][]string{{"1", "2"}}})
	want := "*2026-11-27 10:53 UTC · 2 cores · AMD EPYC 7B13 · `go run ./bench -suite submit -count 3 -markdown`*\n\n" +
		"| a | b |\n|---|---|\n| 1 | 2 |\n\n"
	if out.String() != want {
		t.Errorf("-markdown output:\n%q\nwant:\n%q", out.String(), want)
	}

	out.Reset()
	r.markdown = false
	r.heading("Submission")
	r.note("prose for the terminal")
	r.table(table{header: []string{"a"}, rows: [][]string{{"1"}}})
	want = "## Submission\n\nprose for the terminal\n\n| a |\n|---|\n| 1 |\n\n"
	if out.String() != want {
		t.Errorf("terminal output:\n%q\nwant:\n%q", out.String(), want)
	}
}

func TestCommandLineQuotesWhatAShellWouldSplit(t *testing.T) {
	got := commandLine([]string{"-suite", "overhead", "-presets", "a,b", "-x264-preset", "", "-note", "two words"})
	want := `go run ./bench -suite overhead -presets a,b -x264-preset "" -note "two words"`
	if got != want {
		t.Errorf("commandLine = %s, want %s", got, want)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -2500: "-2,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %s, want %s", n, got, want)
		}
	}
}
