package queue

import (
	"strings"
	"testing"

	"github.com/vidjob/vidjob/ffmpeg"
)

func TestCheckOutputDuration(t *testing.T) {
	audio := func(d float64) *ffmpeg.Probe {
		return &ffmpeg.Probe{Duration: d, Audio: &ffmpeg.AudioStream{Duration: d}}
	}
	video := func(v, a float64) *ffmpeg.Probe {
		return &ffmpeg.Probe{Duration: max(v, a), Video: &ffmpeg.VideoStream{Duration: v}, Audio: &ffmpeg.AudioStream{Duration: a}}
	}
	for _, tc := range []struct {
		name     string
		src, out *ffmpeg.Probe
		fails    bool
	}{
		{"damaged mp3", audio(4.05), audio(2.01), true},
		{"same length", audio(4.05), audio(4.07), false},
		{"short clip within a second", audio(0.9), audio(0.2), false},
		{"long source, 5 % short", video(600, 600), video(570, 570), false},
		{"long source, 20 % short", video(600, 600), video(480, 480), true},
		{"video judged by the video stream", video(10, 30), video(10, 10), false},
		{"audio-only output of a video source", video(30, 10), audio(10), false},
		{"no source probe (accelerated)", nil, audio(1), false},
		{"source without a duration", &ffmpeg.Probe{}, audio(1), false},
	} {
		err := checkOutputDuration(tc.src, tc.out)
		if (err != nil) != tc.fails {
			t.Errorf("%s: err = %v, want failure %v", tc.name, err, tc.fails)
		}
		if err != nil && !strings.Contains(err.Error(), "s long but the source is") {
			t.Errorf("%s: message %q lacks the durations", tc.name, err)
		}
	}
}
