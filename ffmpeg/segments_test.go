package ffmpeg

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/testmedia"
)

func TestFinishedSegmentsByName(t *testing.T) {
	hls := &vidjob.Preset{Packaging: vidjob.PackagingHLS}
	dash := &vidjob.Preset{Packaging: vidjob.PackagingDASH}
	for _, c := range []struct {
		p     *vidjob.Preset
		names []string
		want  []string
	}{
		{hls, []string{"ep1.m3u8", "ep100000.ts", "ep100001.ts.tmp", "ep1.m3u8.tmp", "other.ts", "ep1x.ts"}, []string{"ep100000.ts"}},
		// The init segment waits for the first media segment.
		{dash, []string{"ep1-init.m4s", "ep1.mpd", "ep1-00001.m4s.tmp"}, nil},
		{dash, []string{"ep1-00001.m4s", "ep1-init.m4s", "ep1.mpd", "ep1.mpd.tmp", "ep1-00002.m4s.tmp"}, []string{"ep1-00001.m4s", "ep1-init.m4s"}},
		{&vidjob.Preset{Packaging: vidjob.PackagingSmooth}, []string{"ep1.ismv"}, nil},
		{&vidjob.Preset{Container: "mp4"}, []string{"ep1.mp4"}, nil},
	} {
		main := "ep1.m3u8"
		if c.p == dash {
			main = "ep1.mpd"
		}
		if got := FinishedSegments(c.p, filepath.Join("/out", main), c.names); !slices.Equal(got, c.want) {
			t.Errorf("%s %v: got %v, want %v", c.p.Packaging, c.names, got, c.want)
		}
	}
}

// TestFinishedSegmentsAreCompleteWhenSeen watches real ffmpeg write HLS and
// DASH outputs: every file FinishedSegments names while ffmpeg runs already
// has its final size and time, so storing it then cannot store half a file.
func TestFinishedSegmentsAreCompleteWhenSeen(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 16, Width: 640, Height: 360})
	r := &Runner{X264Preset: "ultrafast"}
	sp, err := r.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ preset, out string }{
		{"System preset: HLS 400k", "show.m3u8"},
		{"System preset: MPEG-Dash Video - 600k", "show.mpd"},
	} {
		t.Run(c.out, func(t *testing.T) {
			p := lookup(t, c.preset)
			outDir := filepath.Join(dir, c.out+"-dir")
			if err := os.Mkdir(outDir, 0o755); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(outDir, c.out)
			opts := r.ArgOptions()
			opts.SegmentSeconds = 1 // one GOP a segment
			args, err := BuildArgs(p, sp, src, out, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Read the source at 4× its rate, so that the encode lasts long
			// enough for several segments to be seen finished while it runs.
			i := slices.Index(args, "-i")
			args = slices.Insert(args, i, "-readrate", "4")

			type seen struct {
				size int64
				mod  time.Time
			}
			first := map[string]seen{}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
					entries, _ := os.ReadDir(outDir)
					var names []string
					for _, e := range entries {
						names = append(names, e.Name())
					}
					for _, n := range FinishedSegments(p, out, names) {
						if _, ok := first[n]; ok {
							continue
						}
						if fi, err := os.Stat(filepath.Join(outDir, n)); err == nil {
							first[n] = seen{fi.Size(), fi.ModTime()}
						}
					}
				}
			}()
			err = r.Transcode(context.Background(), args, 0, nil)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if len(first) < 3 {
				t.Fatalf("saw %d finished segments while ffmpeg ran (%v), want at least 3", len(first), first)
			}
			for n, s := range first {
				fi, err := os.Stat(filepath.Join(outDir, n))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != s.size || !fi.ModTime().Equal(s.mod) {
					t.Errorf("%s seen finished at %d bytes (%v), ended at %d bytes (%v)", n, s.size, s.mod, fi.Size(), fi.ModTime())
				}
			}
			t.Logf("%d segments seen finished while ffmpeg ran", len(first))
		})
	}
}

// TestHLSTempFileChangesNoByte: the temp_file flag only changes how the hls
// muxer names files while writing them, not what it writes. Both encodes run
// x264 on one thread, the only way two runs are byte-identical under load.
func TestHLSTempFileChangesNoByte(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	src := testmedia.Make(t, dir, testmedia.Spec{Seconds: 8, Width: 640, Height: 360})
	r := &Runner{X264Preset: "ultrafast"}
	sp, err := r.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	p := lookup(t, "System preset: HLS 400k")
	encode := func(name string, flags string) string {
		outDir := filepath.Join(dir, name)
		if err := os.Mkdir(outDir, 0o755); err != nil {
			t.Fatal(err)
		}
		args, err := BuildArgs(p, sp, src, filepath.Join(outDir, "show.m3u8"), ArgOptions{X264Preset: "ultrafast", SegmentSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(args, "-hls_flags")
		if i < 0 || args[i+1] != "independent_segments+temp_file" {
			t.Fatalf("hls flags: %v", args)
		}
		args[i+1] = flags
		// One encoder thread: with several, x264 under CPU contention (as
		// when test packages run side by side) gives a different rate
		// control per run, so two runs differ whatever the muxer does.
		args = slices.Insert(args, len(args)-1, "-threads", "1")
		if err := r.Transcode(context.Background(), args, 0, nil); err != nil {
			t.Fatal(err)
		}
		return outDir
	}
	with, without := encode("with", "independent_segments+temp_file"), encode("without", "independent_segments")
	a, _ := os.ReadDir(with)
	b, _ := os.ReadDir(without)
	if len(a) < 3 || len(a) != len(b) {
		t.Fatalf("%d files with temp_file, %d without", len(a), len(b))
	}
	for i := range a {
		x, _ := os.ReadFile(filepath.Join(with, a[i].Name()))
		y, _ := os.ReadFile(filepath.Join(without, b[i].Name()))
		if a[i].Name() != b[i].Name() || !bytes.Equal(x, y) {
			t.Errorf("%s (%d bytes) differs from %s (%d bytes)", a[i].Name(), len(x), b[i].Name(), len(y))
		}
	}
}
