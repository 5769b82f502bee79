package ffmpeg

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob/internal/runlog"
	"github.com/vidjob/vidjob/internal/testmedia"
)

// TestOutputProbeWaitsForTheOutput: the early ffprobe is running before the
// output exists and answers nothing until Result, then finds what a probe
// of the local file finds; the run log shows the local command.
func TestOutputProbeWaitsForTheOutput(t *testing.T) {
	needFFmpeg(t)
	media := t.TempDir()
	clip := testmedia.Make(t, media, testmedia.Spec{Seconds: 2, Width: 320, Height: 240})
	outDir := t.TempDir()
	out := filepath.Join(outDir, "video.mp4")
	r := &Runner{}

	p, err := r.StartOutputProbe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Long enough for ffprobe to start and ask: it must still be waiting.
	time.Sleep(500 * time.Millisecond)
	select {
	case <-p.h.exited:
		t.Fatalf("ffprobe ended before the output was released: %v, %s", p.h.runErr, p.h.stderr.lastLines(3))
	default:
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}

	rl := runlog.New(outDir)
	ctx := runlog.With(context.Background(), rl)
	got, err := p.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.ProbeOutput(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("early probe %+v, local probe %+v", got, want)
	}
	if got.Video == nil || got.Video.Width != 320 {
		t.Errorf("early probe found %+v", got.Video)
	}
	cmds := rl.Run(1).Commands
	if len(cmds) != 1 || cmds[0].Program != "ffprobe" || cmds[0].Args[len(cmds[0].Args)-1] != "file:video.mp4" ||
		!strings.Contains(strings.Join(cmds[0].Args, " "), "-protocol_whitelist file") {
		t.Errorf("run log: %+v, want the local-file ffprobe command", cmds)
	}
}

// TestOutputProbeServesOnlyItsDirectory: the probe's server answers for
// plain names in the output's directory at its random path, and nothing
// else: no other path, no parent, no subdirectory, no symlink leading out.
func TestOutputProbeServesOnlyItsDirectory(t *testing.T) {
	needFFmpeg(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(outDir, "show.m3u8"), []byte("#EXTM3U\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(outDir, "link.ts")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(outDir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := (&Runner{}).StartOutputProbe(context.Background(), filepath.Join(outDir, "show.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	base := "http://" + p.h.addr
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Before Result, even the output's own name waits.
	held := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + p.h.prefix + "show.m3u8")
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	select {
	case code := <-held:
		t.Fatalf("answered %d before the output was released", code)
	case <-time.After(300 * time.Millisecond):
	}
	// Release by hand, as Result does, without waiting for ffprobe.
	p.h.releaseOnce.Do(func() { p.h.serve = p.serveFile; close(p.h.released) })
	if code := <-held; code != http.StatusOK {
		t.Errorf("the output: %d after release", code)
	}
	if code, body := get(p.h.prefix + "show.m3u8"); code != http.StatusOK || body != "#EXTM3U\n" {
		t.Errorf("the output: %d %q", code, body)
	}
	for _, path := range []string{
		"/show.m3u8", // no token
		"/00000000000000000000000000000000/show.m3u8", // another token
		p.h.prefix + "..%2F" + filepath.Base(outside) + "%2Fsecret.txt",
		p.h.prefix + "../secret.txt",
		p.h.prefix + "link.ts", // a symlink out of the directory
		p.h.prefix + "sub",     // a directory
		p.h.prefix + "sub/x",
		p.h.prefix + "missing.ts",
		p.h.prefix,
	} {
		if code, body := get(path); code == http.StatusOK || strings.Contains(body, "secret") {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
	}
}

// TestOutputProbeCloseStopsIt: a probe closed before its output is ready
// (the encode failed) ends its ffprobe and server at once.
func TestOutputProbeCloseStopsIt(t *testing.T) {
	needFFmpeg(t)
	outDir := t.TempDir()
	p, err := (&Runner{}).StartOutputProbe(context.Background(), filepath.Join(outDir, "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if p.h.cmd.ProcessState == nil {
		t.Fatal("ffprobe was not waited for")
	}
	if _, err := http.Get("http://" + p.h.addr + p.h.prefix + "video.mp4"); err == nil {
		t.Error("the probe's server still answers after Close")
	}
	if _, err := p.Result(context.Background()); err == nil {
		t.Error("Result after Close: no error")
	}
}

// TestOutputProbeRefusesOddNames: only plain names are served, so a name
// that ffmpeg would escape or resolve elsewhere is refused up front (the
// worker then probes the local file).
func TestOutputProbeRefusesOddNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a b.mp4", "..", "x%2F.mp4", "é.mp4", ""} {
		if p, err := (&Runner{}).StartOutputProbe(context.Background(), dir+"/"+name); err == nil {
			p.Close()
			t.Errorf("%q: started", name)
		}
	}
}
