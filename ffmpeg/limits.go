package ffmpeg

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vidjob/vidjob"
)

// SourceLimits bound what a source may demand of the machine, judged from the
// probe before any decoding starts: a few bytes of header can declare hours of
// video or a frame larger than memory.
type SourceLimits struct {
	// MaxDuration is the longest source accepted; 0 means no limit. The larger
	// of the container's and the streams' durations counts.
	MaxDuration time.Duration
	// MaxWidth and MaxHeight bound the coded picture, in either orientation
	// (a 4320x8192 portrait frame passes a 8192x4320 limit); 0 means no limit.
	MaxWidth, MaxHeight int
}

// ParseResolution reads "WIDTHxHEIGHT", e.g. "8192x4320".
func ParseResolution(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if ok {
		w, err = strconv.Atoi(ws)
		if err == nil {
			h, err = strconv.Atoi(hs)
		}
	}
	if !ok || err != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("resolution %q: want WIDTHxHEIGHT, e.g. 8192x4320", s)
	}
	return w, h, nil
}

// Check returns an ETOOLARGE error naming the limit that p breaks, or nil.
func (l SourceLimits) Check(p *Probe) error {
	if l.MaxDuration > 0 {
		d := p.Duration
		if p.Video != nil {
			d = math.Max(d, p.Video.Duration)
		}
		if p.Audio != nil {
			d = math.Max(d, p.Audio.Duration)
		}
		if math.IsInf(d, 0) || d > l.MaxDuration.Seconds() {
			return vidjob.Errorf(vidjob.ETOOLARGE, "Source is longer than the %s limit (%s).", l.MaxDuration, formatSeconds(d))
		}
	}
	if v := p.Video; v != nil && l.MaxWidth > 0 && l.MaxHeight > 0 {
		long, short := max(v.Width, v.Height), min(v.Width, v.Height)
		if long > max(l.MaxWidth, l.MaxHeight) || short > min(l.MaxWidth, l.MaxHeight) {
			return vidjob.Errorf(vidjob.ETOOLARGE, "Source picture %dx%d is larger than the %dx%d limit.", v.Width, v.Height, l.MaxWidth, l.MaxHeight)
		}
	}
	return nil
}

func formatSeconds(s float64) string {
	if math.IsInf(s, 0) || s > 1e9 {
		return "unbounded"
	}
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}
