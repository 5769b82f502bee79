package exiftool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/proc"
	"github.com/vidjob/vidjob/internal/runlog"
)

// Resident describes files with exiftool processes that stay running between
// files (exiftool's -stay_open mode). Starting Perl and loading exiftool costs
// about 0.2–0.4 s a file; a resident process answers in a few milliseconds, which
// matters for short jobs, where it is most of the service's own overhead.
//
// Up to Size processes run at once, each describing one file at a time. A
// process that times out or misbehaves is killed and a new one started for the
// next file. Resident is safe for concurrent use; Close stops the processes.
type Resident struct {
	// Path is the exiftool program; default "exiftool".
	Path string
	// Size is the most processes kept; default 2.
	Size int
	// Timeout bounds one file, as Exiftool.Timeout does.
	Timeout time.Duration

	once sync.Once
	idle chan *resident
	mu   sync.Mutex
	all  map[*resident]bool
}

// resident is one running exiftool -stay_open process.
type resident struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *lockedBuffer
	exited chan struct{}
}

// readyMarker ends each answer: exiftool prints "{ready}" after -execute.
const readyMarker = "{ready}"

func (r *Resident) init() {
	r.once.Do(func() {
		if r.Size <= 0 {
			r.Size = 2
		}
		r.idle = make(chan *resident, r.Size)
		for i := 0; i < r.Size; i++ {
			r.idle <- nil // a free slot; the process starts on first use
		}
		r.all = make(map[*resident]bool)
	})
}

// Meta describes the file at path, normalised like Exiftool.Meta.
func (r *Resident) Meta(ctx context.Context, path string) (vidjob.Meta, error) {
	r.init()
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("exiftool: resolve %q: %w", path, err)
	}
	if strings.ContainsAny(abs, "\r\n") || !strings.HasPrefix(abs, "/") {
		// Arguments travel one per line; such a name cannot be passed safely.
		return nil, fmt.Errorf("exiftool: file name %q has a line break", abs)
	}
	var p *resident
	select {
	case p = <-r.idle:
	case <-ctx.Done():
		return nil, fmt.Errorf("exiftool %s: waiting for a process: %w", abs, ctx.Err())
	}
	if p == nil {
		if p, err = r.start(); err != nil {
			r.idle <- nil
			return nil, err
		}
	}
	start := time.Now()
	out, stderr, err := p.describe(ctx, abs)
	// What the resident process did is what this one-shot command does, which
	// is what a person rerunning it by hand needs.
	runlog.Record(ctx, r.program(), commandArgs(abs), start, err)
	if err != nil {
		r.kill(p)
		r.idle <- nil
		return nil, fmt.Errorf("exiftool %s: %w", abs, err)
	}
	r.idle <- p
	grouped, err := parse(out)
	if err != nil {
		return nil, fmt.Errorf("exiftool %s: %w: %s", abs, err, stderr)
	}
	raw := flatten(grouped)
	if msg, ok := raw["Error"].(string); ok {
		return nil, vidjob.WrapError(vidjob.EUNPROCESSABLE, fmt.Errorf("exiftool %s: %s", abs, msg),
			"The file's metadata could not be read: %s.", strings.TrimSuffix(msg, "."))
	}
	return Normalize(raw), nil
}

func (r *Resident) program() string {
	if r.Path == "" {
		return "exiftool"
	}
	return r.Path
}

func (r *Resident) start() (*resident, error) {
	bin := r.program()
	// -config "" must come first: no user configuration may rename tags.
	cmd := exec.Command(bin, "-config", "", "-stay_open", "True", "-@", "-")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	// With -stay_open True exiftool keeps reading its argument file past its
	// end, so a worker that is killed would leave it running for good.
	proc.DieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("exiftool: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("exiftool: %w", err)
	}
	p := &resident{cmd: cmd, stdin: stdin, stdout: bufio.NewReaderSize(stdout, 64<<10), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exiftool: cannot run %q: %w", bin, err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	r.mu.Lock()
	r.all[p] = true
	r.mu.Unlock()
	return p, nil
}

// describe sends one request and reads its answer up to the ready marker.
func (p *resident) describe(ctx context.Context, abs string) ([]byte, string, error) {
	p.stderr.Reset()
	// No "--" here: in an argument file it would make "-execute" a file name.
	// abs is absolute, so it starts with "/" and cannot be read as an option.
	req := strings.Join(append(requestArgs(), abs, "-execute"), "\n") + "\n"
	if _, err := io.WriteString(p.stdin, req); err != nil {
		return nil, "", fmt.Errorf("send request: %w", err)
	}
	type answer struct {
		out []byte
		err error
	}
	done := make(chan answer, 1)
	go func() {
		var out bytes.Buffer
		for {
			line, err := p.stdout.ReadString('\n')
			if strings.TrimRight(line, "\r\n") == readyMarker {
				done <- answer{out: out.Bytes()}
				return
			}
			if out.Len()+len(line) > maxOutput {
				done <- answer{err: fmt.Errorf("output is larger than %d bytes", maxOutput)}
				return
			}
			out.WriteString(line)
			if err != nil {
				done <- answer{err: fmt.Errorf("read answer: %w", err)}
				return
			}
		}
	}()
	select {
	case a := <-done:
		return a.out, strings.TrimSpace(p.stderr.String()), a.err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	case <-p.exited:
		return nil, "", errors.New("exiftool exited: " + strings.TrimSpace(p.stderr.String()))
	}
}

func (r *Resident) kill(p *resident) {
	p.cmd.Process.Kill()
	<-p.exited
	r.mu.Lock()
	delete(r.all, p)
	r.mu.Unlock()
}

// Close asks every process to exit and waits for them.
func (r *Resident) Close() error {
	r.init()
	r.mu.Lock()
	procs := make([]*resident, 0, len(r.all))
	for p := range r.all {
		procs = append(procs, p)
	}
	r.mu.Unlock()
	for _, p := range procs {
		io.WriteString(p.stdin, "-stay_open\nFalse\n")
		p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	return nil
}

// lockedBuffer collects a process's stderr while another goroutine reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < 64<<10 {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset empties the buffer before the next request.
func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
