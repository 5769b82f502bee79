package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// table is one suite's result, in the rows and columns docs/PERFORMANCE.md
// carries, so that refreshing the document is pasting what -markdown prints.
type table struct {
	header []string
	rows   [][]string
}

// markdown renders t as a GitHub-flavoured Markdown table.
func (t table) markdown() string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(t.header, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(t.header)) + "\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// stamp is the line above each table in docs/PERFORMANCE.md: when and on
// what machine it was measured, and the command that measured it, so that
// every figure in the document can be traced to a run.
type stamp struct {
	when    time.Time
	cores   int
	cpu     string
	command string
}

func (s stamp) markdown() string {
	return fmt.Sprintf("*%s · %d cores · %s · `%s`*\n", s.when.UTC().Format("2006-01-02 15:04 MST"), s.cores, s.cpu, s.command)
}

// report is where the suites write. Without -markdown it prints each suite's
// heading and notes on method around its tables, for a reader at the
// terminal; with -markdown it prints only each table under its stamp,
// exactly as the document carries them.
type report struct {
	w        io.Writer
	markdown bool
	command  string // the command line that started this run, for stamps
	cpu      string
	cores    int
	now      func() time.Time
}

// heading prints a suite's title (not in -markdown output).
func (r *report) heading(format string, args ...any) {
	if !r.markdown {
		fmt.Fprintf(r.w, "## "+format+"\n\n", args...)
	}
}

// note prints a paragraph on method (not in -markdown output).
func (r *report) note(format string, args ...any) {
	if !r.markdown {
		fmt.Fprintf(r.w, format+"\n\n", args...)
	}
}

// table prints t, under its stamp with -markdown.
func (r *report) table(t table) {
	if r.markdown {
		fmt.Fprint(r.w, stamp{when: r.now(), cores: r.cores, cpu: r.cpu, command: r.command}.markdown()+"\n")
	}
	fmt.Fprint(r.w, t.markdown()+"\n")
}

// commandLine is the command that reproduces this run: go run with the
// arguments as given, quoted where a shell would need it.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$`\\|&;<>()*?[]#~") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// thousands formats n with commas between groups of three digits, as the
// document writes rates and queue sizes.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
