// Package testmedia makes short media files with ffmpeg's lavfi sources for tests,
// so that no binary media lives in the repository.
package testmedia

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Spec describes a clip to generate. Zero values take the defaults noted.
type Spec struct {
	Seconds float64 // default 2
	Width   int     // default 1280
	Height  int     // default 720
	FPS     string  // default "30000/1001"
	NoAudio bool    // true for a video-only clip
	// Noise makes the picture hard to compress (for bitrate tests); the default
	// is a test pattern with a moving counter, which compresses well.
	Noise bool
	// Rotation, when non-zero, tags the video stream with display rotation
	// metadata (90, 180, 270) as phones do, without rotating the pixels.
	Rotation int
	// Container is the file extension; default "mp4". The codec follows from it
	// (H.264/AAC for mp4, mov and mkv; uncompressed video and 16-bit PCM for
	// nut, which costs nothing to decode, for tests that encode one source
	// many times).
	Container string
	// FastStart puts an MP4's or MOV's index (moov) before its media, as files
	// prepared for the web have it, so that a reader can start before the end.
	FastStart bool
}

// Make writes the clip into dir and returns its path. It fails the test when
// ffmpeg is missing or fails.
func Make(t testing.TB, dir string, s Spec) string {
	t.Helper()
	path, err := Generate(context.Background(), dir, s)
	if err != nil {
		t.Fatalf("testmedia: %v", err)
	}
	return path
}

// Generate writes the clip into dir and returns its path.
func Generate(ctx context.Context, dir string, s Spec) (string, error) {
	if s.Seconds == 0 {
		s.Seconds = 2
	}
	if s.Width == 0 {
		s.Width = 1280
	}
	if s.Height == 0 {
		s.Height = 720
	}
	if s.FPS == "" {
		s.FPS = "30000/1001"
	}
	if s.Container == "" {
		s.Container = "mp4"
	}
	dur := strconv.FormatFloat(s.Seconds, 'f', -1, 64)
	size := fmt.Sprintf("%dx%d", s.Width, s.Height)
	name := fmt.Sprintf("clip-%s-%ss-%dfps-%s-a%v-n%v-r%d-f%v.%s", size, dur, len(s.FPS), sanitize(s.FPS), !s.NoAudio, s.Noise, s.Rotation, s.FastStart, s.Container)
	path := filepath.Join(dir, name)

	video := fmt.Sprintf("testsrc2=size=%s:rate=%s:duration=%s", size, s.FPS, dur)
	if s.Noise {
		// Full-frame temporal noise over the pattern defeats motion prediction,
		// so an encoder must spend its whole bitrate budget.
		video = fmt.Sprintf("testsrc2=size=%s:rate=%s:duration=%s,noise=alls=40:allf=t+u", size, s.FPS, dur)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video}
	if !s.NoAudio {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%s", dur))
	}
	vcodec, acodec := []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "30"}, []string{"-c:a", "aac", "-b:a", "96k"}
	if s.Container == "nut" {
		vcodec, acodec = []string{"-c:v", "rawvideo"}, []string{"-c:a", "pcm_s16le"}
	}
	args = append(append(args, vcodec...), "-pix_fmt", "yuv420p")
	if !s.NoAudio {
		args = append(append(args, acodec...), "-ac", "2")
	}
	if s.FastStart {
		args = append(args, "-movflags", "+faststart")
	}
	encoded := path
	if s.Rotation != 0 {
		encoded = path + ".unrotated." + s.Container
	}
	args = append(args, "-t", dur, encoded)

	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput()
	if err != nil {
		os.Remove(encoded)
		return "", fmt.Errorf("ffmpeg %v: %w: %s", args, err, out)
	}
	if s.Rotation != 0 {
		defer os.Remove(encoded)
		// ffmpeg 5.1 drops a rotate tag when encoding and honours it only when
		// stream-copying, where it writes the display matrix with the opposite
		// sign to phones: a phone's rotate=90 clip has a matrix of -90 degrees,
		// which ffmpeg 5.1 writes for rotate=270. So copy with 360-Rotation to
		// get what a phone records.
		args = []string{"-hide_banner", "-loglevel", "error", "-y", "-i", encoded, "-map", "0", "-c", "copy",
			"-metadata:s:v:0", fmt.Sprintf("rotate=%d", (360-s.Rotation%360)%360), path}
		out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput()
		if err != nil {
			os.Remove(path)
			return "", fmt.Errorf("ffmpeg %v: %w: %s", args, err, out)
		}
	}
	return path, nil
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '/' || c == '.' {
			b[i] = '_'
		}
	}
	return string(b)
}
