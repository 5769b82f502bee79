package ffmpeg

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
)

func TestSourceLimits(t *testing.T) {
	l := SourceLimits{MaxDuration: time.Hour, MaxWidth: 8192, MaxHeight: 4320}
	ok := []*Probe{
		{Duration: 3599, Video: &VideoStream{Width: 1920, Height: 1080, Duration: 3599}},
		{Duration: 10, Video: &VideoStream{Width: 4320, Height: 8192}}, // portrait
		{Duration: 10, Audio: &AudioStream{Duration: 10}},
	}
	for _, p := range ok {
		if err := l.Check(p); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	bad := map[string]*Probe{
		"longer than":     {Duration: 3601, Video: &VideoStream{Width: 320, Height: 240}},
		"longer (stream)": {Duration: 10, Video: &VideoStream{Width: 320, Height: 240, Duration: 1e7}},
		"unbounded":       {Duration: math.Inf(1)},
		"8193x100":        {Duration: 1, Video: &VideoStream{Width: 8193, Height: 100}},
		"5000x5000":       {Duration: 1, Video: &VideoStream{Width: 5000, Height: 5000}},
	}
	for want, p := range bad {
		err := l.Check(p)
		if vidjob.ErrorCode(err) != vidjob.ETOOLARGE || !strings.Contains(vidjob.ErrorMessage(err), strings.Fields(want)[0]) {
			t.Errorf("%s: %v", want, err)
		}
	}
	if err := (SourceLimits{}).Check(bad["5000x5000"]); err != nil {
		t.Errorf("zero limits refuse: %v", err)
	}
	if w, h, err := ParseResolution("8192x4320"); err != nil || w != 8192 || h != 4320 {
		t.Errorf("ParseResolution = %d %d %v", w, h, err)
	}
	for _, s := range []string{"", "8192", "0x10", "axb", "-1x5"} {
		if _, _, err := ParseResolution(s); err == nil {
			t.Errorf("ParseResolution(%q) accepted", s)
		}
	}
}
