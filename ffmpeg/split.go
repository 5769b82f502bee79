package ffmpeg

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vidjob/vidjob"
)

// Segment-parallel ("accelerated") encoding: a long source is cut by stream
// copy at its own keyframes into pieces, each piece is encoded on its own
// (possibly on another machine) with the preset's video settings, and the
// encoded parts are joined by stream copy and muxed with the audio, which is
// encoded once over the whole source so that no join can leave a gap or a
// click in it.
//
// The joined output must not be told apart from a single pass: the same frame
// count, the same duration, the same container and codec parameters. That
// holds when every source frame becomes exactly one output frame, so that the
// pieces partition the output's frames as they partition the source's. Hence
// the limits that Accelerable checks and that PlanSplit checks on the
// packets:
//   - the output frame rate equals the source's (no fps conversion: the fps
//     filter chooses which frames to drop or repeat from the timeline as a
//     whole, so a piece on its own would choose differently at its edges);
//   - the source is constant frame rate and cut only at keyframes that close
//     their GOP (no frame after the cut refers to one before it), so each
//     piece decodes fully on its own;
//   - progressive, unrotated video (deinterlacing looks at the neighbouring
//     frame across a cut; rotation metadata does not survive the piece's
//     container);
//   - a single-file MP4 with H.264: concatenation by stream copy is sound for
//     it (one avcC for identical encoder settings, timestamps rebuilt by the
//     concat demuxer from each part's duration). Segmented outputs (HLS,
//     DASH, Smooth) are already cut into segments by the muxer, GIF builds one
//     palette over the whole clip, MPEG-2/XDCAM presets are interlaced or CBR
//     program streams whose VBV state would restart at each join, and
//     WebM/FLV have not been verified frame-exact, so they all run single
//     pass.

// Accelerable says whether a source may be encoded in segments with preset p,
// or why not.
func Accelerable(p *vidjob.Preset, src *Probe) (bool, string) {
	switch {
	case p == nil || src == nil:
		return false, "no preset or probe"
	case p.Segmented() || p.Packaging != "":
		return false, "the preset's output is already segmented"
	case !strings.EqualFold(p.Container, "mp4") || !p.WantsVideo() || !strings.EqualFold(p.Video.Codec, "H.264"):
		return false, "only single-file MP4 with H.264 is joined by stream copy"
	case src.Video == nil:
		return false, "the source has no video"
	case p.Video.InterlacedMode != "" && p.Video.InterlacedMode != "Progressive":
		return false, "the preset is interlaced"
	case src.Video.Interlaced():
		return false, "the source is interlaced"
	case src.Video.Rotation != 0:
		return false, "the source is rotated"
	case src.Video.FrameRateNum <= 0 || src.Video.FrameRateDen <= 0:
		return false, "the source's frame rate is unknown"
	}
	n, d, err := outputRate(p.Video, src.Video)
	if err != nil {
		return false, err.Error()
	}
	if n*src.Video.FrameRateDen != d*src.Video.FrameRateNum {
		return false, fmt.Sprintf("the preset changes the frame rate (%d/%d to %d/%d)", src.Video.FrameRateNum, src.Video.FrameRateDen, n, d)
	}
	// The parts and the separately encoded audio both start at zero; a
	// source whose audio starts apart from its video would lose that offset.
	frame := float64(d) / float64(n)
	if a := src.Audio; a != nil && p.WantsAudio() && math.Abs(a.StartTime-src.Video.StartTime) > frame/2 {
		return false, fmt.Sprintf("the source's audio starts %.3f s from its video", a.StartTime-src.Video.StartTime)
	}
	return true, ""
}

// outputRate is the exact output frame rate that rateFilter chooses.
func outputRate(v *vidjob.VideoSettings, sv *VideoStream) (int, int, error) {
	keep := func() (int, int, error) { return sv.FrameRateNum, sv.FrameRateDen, nil }
	if !v.FrameRate.IsSet() {
		return keep()
	}
	if !v.FrameRate.IsAuto() {
		return v.FrameRate.Rate()
	}
	if !v.MaxFrameRate.IsSet() || v.MaxFrameRate.IsAuto() {
		return keep()
	}
	n, d, err := v.MaxFrameRate.Rate()
	if err != nil {
		return 0, 0, err
	}
	if sv.FrameRateNum*d > n*sv.FrameRateDen {
		return n, d, nil
	}
	return keep()
}

// FixedGOP returns the preset's keyframe distance in frames when its GOP is
// fixed, so that cuts fall on its keyframes, and 0 otherwise.
func FixedGOP(p *vidjob.Preset) int {
	if !p.WantsVideo() {
		return 0
	}
	keyint, fixed, err := gop(p.Video)
	if err != nil || !fixed {
		return 0
	}
	return keyint
}

// Packet is one video packet of a source, in decode order.
type Packet struct {
	PTS float64 // presentation time in seconds
	Key bool
}

// VideoPackets lists the packets of the video stream at index, in decode
// order, without decoding them (a pass over the file's index and headers).
func (r *Runner) VideoPackets(ctx context.Context, path string, index int) ([]Packet, error) {
	args := []string{"-v", "error", "-protocol_whitelist", "file", "-select_streams", strconv.Itoa(index),
		"-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", fileURL(path)}
	cmd := exec.CommandContext(ctx, r.ffprobe(), args...)
	killGroupOnCancel(cmd)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 2048}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ffprobe packets: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("ffprobe packets: %w: %s", err, stderr.lastLines(3))
	}
	var pkts []Packet
	for _, line := range strings.Split(stdout.String(), "\n") {
		ts, flags, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok {
			continue
		}
		pts, err := strconv.ParseFloat(ts, 64)
		if err != nil {
			return nil, fmt.Errorf("ffprobe packets: a packet without a timestamp (%q)", line)
		}
		pkts = append(pkts, Packet{PTS: pts, Key: strings.HasPrefix(flags, "K")})
	}
	return pkts, nil
}

// Cut is where one piece ends and the next begins: the keyframe at output
// frame Frame (counted from 0 in presentation order), shown at PTS seconds.
type Cut struct {
	Frame int
	PTS   float64
}

// SplitPlan is how a source is cut: Frames in all, pieces between the cuts.
type SplitPlan struct {
	Frames int
	Cuts   []Cut
}

// PieceFrames returns how many frames each piece holds.
func (s SplitPlan) PieceFrames() []int {
	var out []int
	prev := 0
	for _, c := range s.Cuts {
		out = append(out, c.Frame-prev)
		prev = c.Frame
	}
	return append(out, s.Frames-prev)
}

// PlanSplit chooses cuts about every segment seconds at keyframes of pkts
// (the video's packets in decode order, at rate num/den frames a second)
// after which no packet refers back across the cut, so that each piece
// decodes alone. With keyint > 0 only keyframes at multiples of keyint frames
// qualify, so a fixed GOP stays fixed across joins. No piece is shorter than
// half a segment. It returns no cuts, with a reason, when the source cannot
// be split so.
func PlanSplit(pkts []Packet, num, den int, segment float64, keyint int) (SplitPlan, string) {
	plan := SplitPlan{Frames: len(pkts)}
	if len(pkts) < 2 || num <= 0 || den <= 0 || segment <= 0 {
		return plan, "too few frames"
	}
	frame := float64(den) / float64(num)
	order := make([]float64, len(pkts))
	for i, p := range pkts {
		order[i] = p.PTS
	}
	slices.Sort(order)
	// Constant frame rate: each frame one frame duration after the last,
	// within a quarter frame (container timestamps are rounded).
	for i := 1; i < len(order); i++ {
		if math.Abs(order[i]-order[i-1]-frame) > frame/4 {
			return plan, fmt.Sprintf("the source's frame rate is not constant (at %.3f s)", order[i])
		}
	}
	// A keyframe closes its GOP when every packet before it in decode order
	// is shown before it and none after it is.
	suffixMin := make([]float64, len(pkts)+1)
	suffixMin[len(pkts)] = math.Inf(1)
	for i := len(pkts) - 1; i >= 0; i-- {
		suffixMin[i] = math.Min(suffixMin[i+1], pkts[i].PTS)
	}
	start, end := order[0], order[len(order)-1]+frame
	var candidates []Cut
	prefixMax := math.Inf(-1)
	for i, p := range pkts {
		if i > 0 && p.Key && prefixMax < p.PTS && suffixMin[i+1] > p.PTS {
			f := int(math.Round((p.PTS - start) / frame))
			if keyint <= 0 || f%keyint == 0 {
				candidates = append(candidates, Cut{Frame: f, PTS: p.PTS})
			}
		}
		prefixMax = math.Max(prefixMax, p.PTS)
	}
	last := start
	for target := start + segment; target < end-segment/2; target += segment {
		best := -1
		for i, c := range candidates {
			if c.PTS-last < segment/2 || end-c.PTS < segment/2 {
				continue
			}
			if best < 0 || math.Abs(c.PTS-target) < math.Abs(candidates[best].PTS-target) {
				best = i
			}
		}
		if best >= 0 && (len(plan.Cuts) == 0 || candidates[best].PTS > plan.Cuts[len(plan.Cuts)-1].PTS) {
			plan.Cuts = append(plan.Cuts, candidates[best])
			last = candidates[best].PTS
			target = last
		}
	}
	if len(plan.Cuts) == 0 {
		return plan, "no keyframe to cut at"
	}
	return plan, ""
}

// SplitArgs returns ffmpeg's arguments that copy the video stream at index of
// in into pieces dir/piece00000.mkv, dir/piece00001.mkv..., cut at the plan's
// keyframes. Timestamps are kept as they are (-copyts) so that the cut times
// are the source's own; the segment muxer cuts at the first keyframe at or
// after each time, which half a frame before the keyframe makes exact.
// Matroska holds any codec and keeps the pixel aspect ratio.
func SplitArgs(in string, index int, plan SplitPlan, frameSeconds float64, dir string) []string {
	var times []string
	for _, c := range plan.Cuts {
		times = append(times, strconv.FormatFloat(c.PTS-frameSeconds/2, 'f', 6, 64))
	}
	return []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-copyts", "-i", fileURL(in),
		"-map", "0:" + strconv.Itoa(index), "-c", "copy", "-map_metadata", "-1", "-map_chapters", "-1",
		"-f", "segment", "-segment_format", "matroska", "-segment_times", strings.Join(times, ","),
		fileURL(filepath.Join(dir, "piece%05d.mkv"))}
}

// PieceName is the file SplitArgs writes piece i to.
func PieceName(i int) string { return fmt.Sprintf("piece%05d.mkv", i) }

// PartArgs returns the arguments that encode one piece (read at in, its video
// the stream at pieceIndex) with the preset's video settings, as BuildArgs
// would for the whole source src, into the video-only MP4 part out.
func PartArgs(p *vidjob.Preset, src *Probe, pieceIndex int, in, out string, opts ArgOptions) ([]string, error) {
	if src == nil || src.Video == nil {
		return nil, fmt.Errorf("part args: no source video")
	}
	v := *src.Video
	v.Index = pieceIndex
	piece := *src
	piece.Video, piece.Audio = &v, nil
	return BuildArgs(p, &piece, in, out, opts)
}

// AudioArgs returns the arguments that encode the source's audio alone with
// the preset's audio settings into out (an MP4 audio file), or nil when the
// output has no audio.
func AudioArgs(p *vidjob.Preset, src *Probe, in, out string) ([]string, error) {
	if !p.WantsAudio() || src.Audio == nil {
		return nil, nil
	}
	a, err := audioArgs(p)
	if err != nil {
		return nil, err
	}
	args := []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-i", fileURL(in),
		"-map_metadata", "-1", "-map_chapters", "-1", "-vn", "-map", "0:" + strconv.Itoa(src.Audio.Index)}
	args = append(args, a...)
	return append(args, "-f", "mp4", fileURL(out)), nil
}

// JoinArgs writes a concat list of parts into list and returns the arguments
// that join them by stream copy with the audio file (or none when audio is
// "") into out, muxed as BuildArgs would mux the preset's output.
func JoinArgs(p *vidjob.Preset, parts []string, list, audio, out string) ([]string, error) {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for _, part := range parts {
		// Single quotes delimit the name; the concat demuxer reads '\'' as
		// a quote, as a shell would.
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(part, "'", `'\''`))
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write concat list: %w", err)
	}
	// -safe 0 lets the list name absolute paths; the list is written here and
	// names only the parts, and the whitelist still allows local files only.
	args := []string{"-nostdin", "-y", "-protocol_whitelist", "file", "-f", "concat", "-safe", "0", "-i", fileURL(list)}
	if audio != "" {
		args = append(args, "-i", fileURL(audio))
	}
	args = append(args, "-map", "0:v")
	if audio != "" {
		args = append(args, "-map", "1:a")
	}
	args = append(args, "-c", "copy", "-map_metadata", "-1", "-map_chapters", "-1")
	m, err := muxArgs(p, out, 0, ArgOptions{})
	if err != nil {
		return nil, err
	}
	return append(args, m...), nil
}
