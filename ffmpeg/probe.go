package ffmpeg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/runlog"
)

// Probe is what ffprobe says about a media file: the container and its first
// video and first audio stream, with numbers parsed.
type Probe struct {
	// FormatName is ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
	FormatName string
	// Duration is the container's duration in seconds.
	Duration float64
	// Size is the file size in bytes; BitRate the container's bits per second.
	Size    int64
	BitRate int64
	// Video is the first video stream that is not cover art; nil if none.
	Video *VideoStream
	// Audio is the first audio stream; nil if none.
	Audio *AudioStream
}

// VideoStream describes a probed video stream.
type VideoStream struct {
	Index   int // stream index in the file, for -map
	Codec   string
	Profile string // e.g. "High", "Main", "Constrained Baseline"
	// Level is the H.264 level_idc as ffprobe reports it: 31 for level 3.1.
	Level  int
	Width  int // coded picture size, before rotation
	Height int
	// SARNum:SARDen is the sample (pixel) aspect ratio; 1:1 when unknown.
	SARNum, SARDen int
	// Rotation is how many degrees clockwise the picture must be turned to
	// display upright (0, 90, 180 or 270), from the display matrix or the
	// legacy rotate tag. A portrait phone clip is typically 90.
	Rotation int
	// FrameRate is frames per second (avg_frame_rate, else r_frame_rate);
	// FrameRateNum/FrameRateDen is the same rate exactly. Zero when unknown.
	FrameRate                  float64
	FrameRateNum, FrameRateDen int
	// FieldOrder is "progressive", "tt", "bb", "tb", "bt" or "" when unknown.
	FieldOrder string
	PixFmt     string
	NbFrames   int64
	Duration   float64 // seconds
	BitRate    int64
	// StartTime is when the stream's first frame is shown, in seconds.
	StartTime float64
}

// AudioStream describes a probed audio stream.
type AudioStream struct {
	Index      int
	Codec      string
	Profile    string // e.g. "LC"
	SampleRate int
	Channels   int
	BitRate    int64
	Duration   float64 // seconds
	// SampleFmt is ffmpeg's sample format ("s16", "fltp"); BitsPerSample the
	// stored bits per sample (bits_per_raw_sample, else bits_per_sample),
	// 0 when the codec has none (lossy codecs).
	SampleFmt     string
	BitsPerSample int
	// StartTime is when the stream's first sample plays, in seconds.
	StartTime float64
}

// DisplaySize is the picture's size as a viewer sees it: pixels stretched by
// the sample aspect ratio, then turned by Rotation.
func (v *VideoStream) DisplaySize() (w, h float64) {
	w, h = float64(v.Width), float64(v.Height)
	if v.SARNum > 0 && v.SARDen > 0 {
		w = w * float64(v.SARNum) / float64(v.SARDen)
	}
	if v.Rotation == 90 || v.Rotation == 270 {
		w, h = h, w
	}
	return w, h
}

// Interlaced reports whether ffprobe says the stream is coded in fields.
func (v *VideoStream) Interlaced() bool {
	switch v.FieldOrder {
	case "tt", "bb", "tb", "bt":
		return true
	}
	return false
}

// BilledDuration is the duration a customer is charged for when this probe is
// of a transcoded output, rounded to whole milliseconds.
//
// It is the video stream's duration when there is one, because the frames are
// what the customer sees; the container's duration also covers the audio,
// whose AAC encoder priming and padding (up to a frame of 1024 samples at each
// end) can make a 60.000 s video report 60.02 s and be billed a second minute.
// Without video it is the audio stream's duration, and without either the
// container's.
func (p *Probe) BilledDuration() time.Duration {
	d := p.Duration
	switch {
	case p.Video != nil && p.Video.Duration > 0:
		d = p.Video.Duration
	case p.Audio != nil && p.Audio.Duration > 0:
		d = p.Audio.Duration
	}
	if d <= 0 || math.IsNaN(d) || math.IsInf(d, 0) {
		return 0
	}
	return time.Duration(math.Round(d*1000)) * time.Millisecond
}

// Probe runs ffprobe on the local file at path. A file ffmpeg cannot use as a
// media source (text, empty, truncated, a still image, a playlist) is an
// EUNPROCESSABLE error whose message gives a short reason and never the path.
func (r *Runner) Probe(ctx context.Context, path string) (*Probe, error) {
	return r.probe(ctx, path, false)
}

// ProbeOutput is Probe for a file this vidjob wrote: it also reads an HLS
// playlist or DASH manifest (and through it the segments beside it, local
// files only), which a source may never be.
func (r *Runner) ProbeOutput(ctx context.Context, path string) (*Probe, error) {
	return r.probe(ctx, path, true)
}

// ProbeStream is Probe reading s over loopback HTTP while it downloads. The
// run log shows the command Probe would run on s.Path, which reads the same
// bytes and can be rerun by hand.
func (r *Runner) ProbeStream(ctx context.Context, s Stream) (*Probe, error) {
	in, err := s.inputArgs()
	if err != nil {
		return nil, err
	}
	shown := localProbeArgs(s.Path)
	return r.runProbe(ctx, probeArgs(in[:len(in)-1], in[len(in)-1]), shown, s.Path, false, streamEnv())
}

func (r *Runner) probe(ctx context.Context, path string, playlist bool) (*Probe, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("probe %s: not a regular file", path)
	}
	if fi.Size() == 0 {
		return nil, notMedia("the file is empty")
	}
	args := localProbeArgs(path)
	return r.runProbe(ctx, args, args, path, playlist, nil)
}

// localProbeArgs is ffprobe's argument list for the local file at path, the
// command a run log shows for every probe.
func localProbeArgs(path string) []string {
	return probeArgs([]string{"-protocol_whitelist", "file"}, fileURL(path))
}

// probeArgs is ffprobe's argument list for the input url, opened with the
// input options in.
func probeArgs(in []string, url string) []string {
	return slices.Concat([]string{"-v", "error"}, in,
		[]string{"-print_format", "json", "-show_format", "-show_streams", url})
}

// runProbe runs ffprobe with args, records it as shown, and parses its
// answer; env, when not nil, is the process's environment.
func (r *Runner) runProbe(ctx context.Context, args, shown []string, path string, playlist bool, env []string) (*Probe, error) {
	cmd := exec.CommandContext(ctx, r.ffprobe(), args...)
	cmd.Env = env
	killGroupOnCancel(cmd)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	err := cmd.Run()
	runlog.Record(ctx, r.ffprobe(), shown, start, err)
	r.logger().DebugContext(ctx, "ffprobe", "args", args, "elapsed", time.Since(start), "err", err)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("ffprobe: %w", context.Cause(ctx))
	}
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return nil, fmt.Errorf("run ffprobe: %w", err) // not started: a setup problem, not the source's
		}
		return nil, &vidjob.Error{
			Code:    vidjob.EUNPROCESSABLE,
			Message: "Source is not a video file ffmpeg can read: " + probeReason(strings.ReplaceAll(stderr.lastLines(3), args[len(args)-1], fileURL(path)), path),
			Err:     fmt.Errorf("ffprobe: %w: %s", err, stderr.lastLines(5)),
		}
	}
	return checkProbe(stdout.Bytes(), playlist)
}

// checkProbe parses ffprobe's JSON answer and refuses what is not a media
// file vidjob reads (an HLS playlist or DASH manifest only if playlist).
func checkProbe(answer []byte, playlist bool) (*Probe, error) {
	p, err := parseProbe(answer)
	if err != nil {
		return nil, err
	}
	if playlist && (p.FormatName == "hls" || p.FormatName == "dash") {
		return p, nil
	}
	if reason := notMediaReason(p); reason != "" {
		return nil, notMedia(reason)
	}
	return p, nil
}

func notMedia(reason string) *vidjob.Error {
	return vidjob.Errorf(vidjob.EUNPROCESSABLE, "Source is not a video file ffmpeg can read: %s", reason)
}

// ffmpegContext matches the "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55e1...] " prefix of
// ffmpeg's log lines.
var ffmpegContext = regexp.MustCompile(`\[[^\]]* @ 0x[0-9a-f]+\]\s*`)

// absPath matches an absolute path or file: URL in ffmpeg's messages.
var absPath = regexp.MustCompile(`(^|[\s'"(])(?:file:)?/[^\s'"]+`)

// probeReason turns ffprobe's last error lines into a short clause for the
// client: the path (which is the worker's temporary file) and ffmpeg's internal
// context prefixes are removed.
func probeReason(lines, path string) string {
	s := strings.ReplaceAll(lines, fileURL(path), "source")
	s = strings.ReplaceAll(s, path, "source")
	s = ffmpegContext.ReplaceAllString(s, "")
	// A hostile source (a concat list, a playlist) can make ffmpeg name other
	// local files; a message never echoes a path back.
	s = absPath.ReplaceAllString(s, "${1}<path>")
	s = strings.ReplaceAll(s, "source: ", "")
	s = strings.ReplaceAll(s, " | ", "; ")
	if s == "" {
		s = "ffprobe failed without a message"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// notMediaReason explains why a file ffprobe could open is still not a source
// vidjob transcodes, or returns "".
func notMediaReason(p *Probe) string {
	name := p.FormatName
	switch {
	case name == "image2" || strings.HasSuffix(name, "_pipe"):
		return fmt.Sprintf("it is a still image (%s)", name)
	case name == "tty":
		return "it is a text file"
	case name == "hls" || name == "dash" || name == "concat" || strings.Contains(name, "playlist"):
		// A playlist makes ffmpeg open other files; only single files are
		// accepted so that a job can only read what it fetched.
		return fmt.Sprintf("it is a playlist (%s), not a media file", name)
	case p.Video == nil && p.Audio == nil:
		return "it has no audio or video stream"
	}
	return ""
}

// ffprobe's JSON, only the parts read. Numbers arrive as strings in many fields.
type probeJSON struct {
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
	Streams []struct {
		Index        int               `json:"index"`
		CodecName    string            `json:"codec_name"`
		CodecType    string            `json:"codec_type"`
		Profile      string            `json:"profile"`
		Level        int               `json:"level"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		SAR          string            `json:"sample_aspect_ratio"`
		PixFmt       string            `json:"pix_fmt"`
		FieldOrder   string            `json:"field_order"`
		RFrameRate   string            `json:"r_frame_rate"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		Duration     string            `json:"duration"`
		StartTime    string            `json:"start_time"`
		BitRate      string            `json:"bit_rate"`
		NbFrames     string            `json:"nb_frames"`
		SampleRate   string            `json:"sample_rate"`
		Channels     int               `json:"channels"`
		SampleFmt    string            `json:"sample_fmt"`
		BitsRaw      string            `json:"bits_per_raw_sample"`
		BitsPer      int               `json:"bits_per_sample"`
		Tags         map[string]string `json:"tags"`
		Disposition  map[string]int    `json:"disposition"`
		SideDataList []json.RawMessage `json:"side_data_list"`
	} `json:"streams"`
}

// parseProbe reads ffprobe's JSON.
func parseProbe(data []byte) (*Probe, error) {
	var j probeJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("parse ffprobe output: %w", err)
	}
	p := &Probe{
		FormatName: j.Format.FormatName,
		Duration:   parseFloat(j.Format.Duration),
		Size:       parseInt(j.Format.Size),
		BitRate:    parseInt(j.Format.BitRate),
	}
	for _, s := range j.Streams {
		switch {
		case s.CodecType == "video" && p.Video == nil && s.Disposition["attached_pic"] == 0:
			v := &VideoStream{
				Index: s.Index, Codec: s.CodecName, Profile: s.Profile, Level: s.Level,
				Width: s.Width, Height: s.Height, PixFmt: s.PixFmt, FieldOrder: s.FieldOrder,
				NbFrames: parseInt(s.NbFrames), Duration: streamDuration(s.Duration, s.Tags),
				BitRate: parseInt(s.BitRate), SARNum: 1, SARDen: 1, StartTime: parseFloat(s.StartTime),
			}
			if n, d, ok := parseRatio(s.SAR, ":"); ok && n > 0 {
				v.SARNum, v.SARDen = n, d
			}
			n, d, ok := parseRatio(s.AvgFrameRate, "/")
			if !ok || n == 0 {
				n, d, ok = parseRatio(s.RFrameRate, "/")
			}
			if ok && n > 0 {
				v.FrameRateNum, v.FrameRateDen = n, d
				v.FrameRate = float64(n) / float64(d)
			}
			v.Rotation = rotation(s.Tags, s.SideDataList)
			p.Video = v
		case s.CodecType == "audio" && p.Audio == nil:
			p.Audio = &AudioStream{
				Index: s.Index, Codec: s.CodecName, Profile: s.Profile,
				SampleRate: int(parseInt(s.SampleRate)), Channels: s.Channels,
				BitRate: parseInt(s.BitRate), Duration: streamDuration(s.Duration, s.Tags),
				SampleFmt: s.SampleFmt, BitsPerSample: int(parseInt(s.BitsRaw)), StartTime: parseFloat(s.StartTime),
			}
			if p.Audio.BitsPerSample == 0 {
				p.Audio.BitsPerSample = s.BitsPer
			}
		}
	}
	return p, nil
}

// rotation returns the clockwise display rotation in [0, 360), rounded to a
// quarter turn. ffprobe reports the display matrix's angle counter-clockwise
// (a portrait phone clip says -90), while the legacy rotate tag is clockwise
// ("90"); the matrix wins because it is what players apply.
func rotation(tags map[string]string, sideData []json.RawMessage) int {
	deg, found := 0.0, false
	for _, raw := range sideData {
		var sd struct {
			Type     string   `json:"side_data_type"`
			Rotation *float64 `json:"rotation"`
		}
		if json.Unmarshal(raw, &sd) == nil && sd.Type == "Display Matrix" && sd.Rotation != nil {
			deg, found = -*sd.Rotation, true
			break
		}
	}
	if !found {
		if t, ok := tags["rotate"]; ok {
			deg, found = parseFloat(t), true
		}
	}
	if !found || math.IsNaN(deg) {
		return 0
	}
	q := int(math.Round(deg/90)) * 90
	return ((q % 360) + 360) % 360
}

// streamDuration reads a stream's duration in seconds, falling back to the
// DURATION tag ("00:01:02.500000000") that Matroska streams carry instead.
func streamDuration(s string, tags map[string]string) float64 {
	if d := parseFloat(s); d > 0 {
		return d
	}
	for k, v := range tags {
		if strings.EqualFold(k, "DURATION") {
			return parseClock(v)
		}
	}
	return 0
}

// parseClock parses "HH:MM:SS.fraction" into seconds, 0 if malformed.
func parseClock(s string) float64 {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) != 3 {
		return 0
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0
	}
	return float64(h)*3600 + float64(m)*60 + sec
}

// parseRatio parses "30000/1001" or "1:1"; ok is false for malformed or zero
// denominators ("0/0" is ffprobe's "unknown").
func parseRatio(s, sep string) (num, den int, ok bool) {
	a, b, found := strings.Cut(s, sep)
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	d, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || d <= 0 || n < 0 {
		return 0, 0, false
	}
	return n, d, true
}

// parseFloat returns 0 for ffprobe's "N/A" and anything else unparsable.
func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
