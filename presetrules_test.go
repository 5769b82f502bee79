package vidjob

import (
	"strings"
	"testing"
)

// validPreset is an H.264/AAC preset inside every ET range, with
// thumbnails and a watermark; each case below changes one setting.
func validPreset() *Preset {
	return &Preset{
		ID: "p", Name: "P", Container: "mp4", Status: PresetCurrent,
		Video: &VideoSettings{Codec: "H.264", Profile: "main", Level: "3.1", BitRate: "2200", MaxWidth: "1280", MaxHeight: "720",
			FrameRate: "auto", MaxFrameRate: "30", SizingPolicy: "ShrinkToFit", PaddingPolicy: "NoPad", KeyframesMaxDist: "90",
			FixedGOP: "false", MaxReferenceFrames: "3", DisplayAspectRatio: "auto", InterlacedMode: "Progressive",
			ColorSpaceConversionMode: "None", MaxBitRate: "3000", BufferSize: "6000", ChromaSubsampling: "yuv420p"},
		Audio:      &AudioSettings{Codec: "AAC", Profile: "AAC-LC", SampleRate: "44100", BitRate: "128", Channels: "2", AudioPackingMode: "SingleTrack"},
		Thumbnails: &ThumbnailSettings{Format: "png", Interval: "60", MaxWidth: "192", MaxHeight: "108", SizingPolicy: "ShrinkToFit", PaddingPolicy: "NoPad"},
		Watermarks: []Watermark{{ID: "logo", MaxWidth: "20%", MaxHeight: "64px", SizingPolicy: "ShrinkToFit", HorizontalAlign: "Right",
			HorizontalOffset: "10px", VerticalAlign: "Bottom", VerticalOffset: "5.5%", Opacity: "55.5", Target: "Content"}},
	}
}

// TestPresetValidateRefusesValuesOutsideETRanges: one case per rule of the
// table, each with the exact sentence a client reads.
func TestPresetValidateRefusesValuesOutsideETRanges(t *testing.T) {
	if err := validPreset().Validate(); err != nil {
		t.Fatalf("the valid preset: %v", err)
	}
	cases := []struct {
		name   string
		change func(p *Preset)
		want   string
	}{
		{"container", func(p *Preset) { p.Container = "mkv" }, `Container must be one of mp4, ts, webm, mp3, flac, oga, ogg, fmp4, mpg, flv, gif, mxf, wav, mp2 (got "mkv").`},
		{"audio codec", func(p *Preset) { p.Audio.Codec = "aac-he" }, `Audio.Codec must be one of AAC, vorbis, mp3, mp2, pcm, flac, opus (got "aac-he").`},
		{"sample rate", func(p *Preset) { p.Audio.SampleRate = "1" }, `Audio.SampleRate must be one of auto, 22050, 32000, 44100, 48000, 96000 (got "1").`},
		{"mp3 at 96 kHz", func(p *Preset) { p.Audio.Codec, p.Audio.Profile, p.Audio.SampleRate = "mp3", "", "96000" }, `Audio.SampleRate 96000 is allowed by Elastic Transcoder, but ffmpeg's MP3 and MP2 encoders stop at 48000 Hz.`},
		{"opus at 44.1 kHz", func(p *Preset) { p.Audio.Codec, p.Audio.Profile = "opus", "" }, `Audio.SampleRate 44100 is allowed by Elastic Transcoder, but Opus encodes at 48000 Hz.`},
		{"audio bit rate low", func(p *Preset) { p.Audio.BitRate = "63" }, `Audio.BitRate must be a whole number from 64 to 320 (got "63").`},
		{"audio bit rate high", func(p *Preset) { p.Audio.BitRate = "321" }, `Audio.BitRate must be a whole number from 64 to 320 (got "321").`},
		{"audio bit rate not a number", func(p *Preset) { p.Audio.BitRate = "1e2" }, `Audio.BitRate must be a whole number from 64 to 320 (got "1e2").`},
		{"mp2 bit rate", func(p *Preset) {
			p.Audio.Codec, p.Audio.Profile, p.Audio.SampleRate, p.Audio.BitRate = "mp2", "", "48000", "100"
		}, `Audio.BitRate must be one of 64, 80, 96, 112, 128, 160, 192, 224, 256, 320 (got "100"): Elastic Transcoder allowed any whole number from 64 to 320, but ffmpeg's MP2 encoder takes only MPEG-1 Layer II rates.`},
		{"channels", func(p *Preset) { p.Audio.Channels = "64" }, `Audio.Channels must be one of auto, 0, 1, 2 (got "64").`},
		{"channels 0", func(p *Preset) { p.Audio.Channels = "0" }, `Audio.Channels 0 is allowed by Elastic Transcoder, but vidjob has no audio-less variant`},
		{"packing", func(p *Preset) { p.Audio.AudioPackingMode = "Stereo" }, `Audio.AudioPackingMode must be one of SingleTrack, OneChannelPerTrack, OneChannelPerTrackWithMosTo8Tracks (got "Stereo").`},
		{"packing per track", func(p *Preset) { p.Audio.AudioPackingMode = "OneChannelPerTrack" }, `Audio.AudioPackingMode OneChannelPerTrack is allowed by Elastic Transcoder, but vidjob writes all channels in one track.`},
		{"aac profile", func(p *Preset) { p.Audio.Profile = "LC" }, `Audio.CodecOptions.Profile must be one of auto, AAC-LC, HE-AAC, HE-AACv2 (got "LC").`},
		{"he-aac", func(p *Preset) { p.Audio.Profile = "HE-AAC" }, `Audio.CodecOptions.Profile HE-AAC is allowed by Elastic Transcoder, but ffmpeg's AAC encoder makes AAC-LC only.`},
		{"flac depth", func(p *Preset) { p.Container, p.Video, p.Audio.Codec, p.Audio.BitDepth = "flac", nil, "flac", "8" }, `Audio.CodecOptions.BitDepth must be one of 16, 24 (got "8").`},
		{"pcm depth", func(p *Preset) { p.Audio.Codec, p.Audio.BitDepth = "pcm", "12" }, `Audio.CodecOptions.BitDepth must be one of 8, 16, 24, 32 (got "12").`},
		{"pcm 32-bit", func(p *Preset) { p.Audio.Codec, p.Audio.BitDepth = "pcm", "32" }, `Audio.CodecOptions.BitDepth 32 is allowed by Elastic Transcoder, but vidjob writes PCM`},
		{"bit order", func(p *Preset) { p.Audio.Codec, p.Audio.BitOrder = "pcm", "BigEndian" }, `Audio.CodecOptions.BitOrder must be one of LittleEndian (got "BigEndian").`},
		{"signed", func(p *Preset) { p.Audio.Codec, p.Audio.Signed = "pcm", "yes" }, `Audio.CodecOptions.Signed must be one of Signed, Unsigned (got "yes").`},
		{"video codec", func(p *Preset) { p.Video.Codec = "h264" }, `Video.Codec must be one of H.264, vp8, vp9, mpeg2, gif (got "h264").`},
		{"h264 profile", func(p *Preset) { p.Video.Profile = "high10" }, `Video.CodecOptions.Profile must be one of baseline, main, high (got "high10").`},
		{"vp8 profile", func(p *Preset) {
			p.Container, p.Video.Codec, p.Video.Profile, p.Audio.Codec, p.Audio.Profile = "webm", "vp8", "4", "vorbis", ""
		}, `Video.CodecOptions.Profile must be one of 0, 1, 2, 3 (got "4").`},
		{"level", func(p *Preset) { p.Video.Level = "5.1" }, `Video.CodecOptions.Level must be one of 1, 1b, 1.1, 1.2, 1.3, 2, 2.1, 2.2, 3, 3.1, 3.2, 4, 4.1 (got "5.1").`},
		{"level 1b", func(p *Preset) { p.Video.Level = "1b" }, `Video.CodecOptions.Level 1b is allowed by Elastic Transcoder, but vidjob does not encode H.264 level 1b; use 1.1.`},
		{"reference frames", func(p *Preset) { p.Video.MaxReferenceFrames = "17" }, `Video.CodecOptions.MaxReferenceFrames must be a whole number from 0 to 16 (got "17").`},
		{"reference frames 0", func(p *Preset) { p.Video.MaxReferenceFrames = "0" }, `Video.CodecOptions.MaxReferenceFrames 0 is allowed by Elastic Transcoder, but x264 needs at least one reference frame.`},
		{"max bit rate", func(p *Preset) { p.Video.MaxBitRate = "62501" }, `Video.CodecOptions.MaxBitRate must be a whole number from 16 to 62500 (got "62501").`},
		{"buffer size", func(p *Preset) { p.Video.BufferSize = "0" }, `Video.CodecOptions.BufferSize must be a whole number from 1 to 625000 (got "0").`},
		{"buffer size huge", func(p *Preset) { p.Video.BufferSize = "99999999999" }, `Video.CodecOptions.BufferSize must be a whole number from 1 to 625000 (got "99999999999").`},
		{"interlaced", func(p *Preset) { p.Video.InterlacedMode = "Interlaced" }, `Video.CodecOptions.InterlacedMode must be one of Progressive, TopFirst, BottomFirst, Auto (got "Interlaced").`},
		{"bottom first", func(p *Preset) { p.Video.InterlacedMode = "BottomFirst" }, `Video.CodecOptions.InterlacedMode BottomFirst is allowed by Elastic Transcoder, but vidjob interlaces top field first only.`},
		{"color space", func(p *Preset) { p.Video.ColorSpaceConversionMode = "bt709" }, `Video.CodecOptions.ColorSpaceConversionMode must be one of None, Bt709toBt601, Bt601toBt709, Auto (got "bt709").`},
		{"chroma", func(p *Preset) { p.Video.ChromaSubsampling = "yuv444p" }, `Video.CodecOptions.ChromaSubsampling must be one of yuv420p, yuv422p (got "yuv444p").`},
		{"loop count", func(p *Preset) {
			p.Container, p.Audio, p.Video.Codec, p.Video.LoopCount = "gif", nil, "gif", "101"
		}, `Video.CodecOptions.LoopCount must be Infinite or a whole number from 0 to 100 (got "101").`},
		{"keyframes", func(p *Preset) { p.Video.KeyframesMaxDist = "99999999999" }, `Video.KeyframesMaxDist must be a whole number from 1 to 100000 (got "99999999999").`},
		{"keyframes 0", func(p *Preset) { p.Video.KeyframesMaxDist = "0" }, `Video.KeyframesMaxDist must be a whole number from 1 to 100000 (got "0").`},
		{"fixed gop", func(p *Preset) { p.Video.FixedGOP = "yes" }, `Video.FixedGOP must be one of true, false (got "yes").`},
		{"bit rate", func(p *Preset) { p.Video.BitRate = "62501" }, `Video.BitRate must be auto or a whole number from 16 to 62500 (got "62501").`},
		{"bit rate negative", func(p *Preset) { p.Video.BitRate = "-5" }, `Video.BitRate must be auto or a whole number from 16 to 62500 (got "-5").`},
		{"bit rate auto", func(p *Preset) { p.Video.BitRate = "auto" }, `Video.BitRate auto is allowed by Elastic Transcoder, but vidjob encodes to a target bit rate; give one in kb/s.`},
		{"frame rate", func(p *Preset) { p.Video.FrameRate = "120" }, `Video.FrameRate must be one of auto, 10, 15, 23.97, 24, 25, 29.97, 30, 50, 60 (got "120").`},
		{"max frame rate", func(p *Preset) { p.Video.MaxFrameRate = "auto" }, `Video.MaxFrameRate must be one of 10, 15, 23.97, 24, 25, 29.97, 30, 50, 60 (got "auto").`},
		{"width odd", func(p *Preset) { p.Video.MaxWidth = "641" }, `Video.MaxWidth must be auto or an even whole number from 128 to 4096 (got "641").`},
		{"width large", func(p *Preset) { p.Video.MaxWidth = "8192" }, `Video.MaxWidth must be auto or an even whole number from 128 to 4096 (got "8192").`},
		{"height small", func(p *Preset) { p.Video.MaxHeight = "94" }, `Video.MaxHeight must be auto or an even whole number from 96 to 3072 (got "94").`},
		{"aspect", func(p *Preset) { p.Video.DisplayAspectRatio = "21:9" }, `Video.DisplayAspectRatio must be one of auto, 1:1, 4:3, 3:2, 16:9 (got "21:9").`},
		{"sizing", func(p *Preset) { p.Video.SizingPolicy = "fit" }, `Video.SizingPolicy must be one of Fit, Fill, Stretch, Keep, ShrinkToFit, ShrinkToFill (got "fit").`},
		{"padding", func(p *Preset) { p.Video.PaddingPolicy = "None" }, `Video.PaddingPolicy must be one of Pad, NoPad (got "None").`},
		{"thumbnail format", func(p *Preset) { p.Thumbnails.Format = "gif" }, `Thumbnails.Format must be one of jpg, png (got "gif").`},
		{"thumbnail interval", func(p *Preset) { p.Thumbnails.Interval = "0" }, `Thumbnails.Interval must be a whole number from 1 to 99999 (got "0").`},
		{"thumbnail width", func(p *Preset) { p.Thumbnails.MaxWidth = "30" }, `Thumbnails.MaxWidth must be auto or an even whole number from 32 to 4096 (got "30").`},
		{"thumbnail height", func(p *Preset) { p.Thumbnails.MaxHeight = "3074" }, `Thumbnails.MaxHeight must be auto or an even whole number from 32 to 3072 (got "3074").`},
		{"thumbnail sizing", func(p *Preset) { p.Thumbnails.SizingPolicy = "Crop" }, `Thumbnails.SizingPolicy must be one of Fit, Fill, Stretch, Keep, ShrinkToFit, ShrinkToFill (got "Crop").`},
		{"thumbnail padding", func(p *Preset) { p.Thumbnails.PaddingPolicy = "pad" }, `Thumbnails.PaddingPolicy must be one of Pad, NoPad (got "pad").`},
		{"watermarks", func(p *Preset) {
			p.Watermarks = append(p.Watermarks, p.Watermarks[0], p.Watermarks[0], p.Watermarks[0], p.Watermarks[0])
		}, `Video.Watermarks may hold at most 4 watermarks (got 5).`},
		{"watermark id", func(p *Preset) { p.Watermarks[0].ID = "" }, `Video.Watermarks[0].Id is required.`},
		{"watermark id long", func(p *Preset) { p.Watermarks[0].ID = strings.Repeat("w", 41) }, `Video.Watermarks[0].Id must be at most 40 characters (got "` + strings.Repeat("w", 41) + `").`},
		{"watermark width", func(p *Preset) { p.Watermarks[0].MaxWidth = "8px" }, `Video.Watermarks[0].MaxWidth must be 16px to 4096px or 0% to 100% (got "8px").`},
		{"watermark height", func(p *Preset) { p.Watermarks[0].MaxHeight = "101%" }, `Video.Watermarks[0].MaxHeight must be 16px to 3072px or 0% to 100% (got "101%").`},
		{"watermark sizing", func(p *Preset) { p.Watermarks[0].SizingPolicy = "Fill" }, `Video.Watermarks[0].SizingPolicy must be one of Fit, Stretch, ShrinkToFit (got "Fill").`},
		{"watermark align", func(p *Preset) { p.Watermarks[0].HorizontalAlign = "Middle" }, `Video.Watermarks[0].HorizontalAlign must be one of Left, Right, Center (got "Middle").`},
		{"watermark offset", func(p *Preset) { p.Watermarks[0].HorizontalOffset = "10" }, `Video.Watermarks[0].HorizontalOffset must be 0px to 4096px or 0% to 100% (got "10").`},
		{"watermark valign", func(p *Preset) { p.Watermarks[0].VerticalAlign = "Left" }, `Video.Watermarks[0].VerticalAlign must be one of Top, Bottom, Center (got "Left").`},
		{"watermark voffset", func(p *Preset) { p.Watermarks[0].VerticalOffset = "-1px" }, `Video.Watermarks[0].VerticalOffset must be 0px to 3072px or 0% to 100% (got "-1px").`},
		{"watermark opacity", func(p *Preset) { p.Watermarks[0].Opacity = "100.5" }, `Video.Watermarks[0].Opacity must be a number from 0 to 100 (got "100.5").`},
		{"watermark target", func(p *Preset) { p.Watermarks[0].Target = "Video" }, `Video.Watermarks[0].Target must be one of Content, Frame (got "Video").`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := validPreset()
			c.change(p)
			err := p.Validate()
			if ErrorCode(err) != EINVALID || !strings.HasPrefix(ErrorMessage(err), c.want) {
				t.Errorf("Validate() = %v, want EINVALID %q", err, c.want)
			}
		})
	}
}

// TestPresetValidateAcceptsETsValues: values at the edges of ET's ranges,
// and settings left out, pass.
func TestPresetValidateAcceptsETsValues(t *testing.T) {
	for name, change := range map[string]func(p *Preset){
		"edges": func(p *Preset) {
			p.Video.MaxWidth, p.Video.MaxHeight, p.Video.KeyframesMaxDist, p.Video.BitRate = "4096", "96", "100000", "16"
			p.Audio.BitRate, p.Audio.SampleRate, p.Audio.Channels = "320", "96000", "auto"
			p.Thumbnails.MaxWidth, p.Thumbnails.MaxHeight = "auto", "32"
		},
		"left out": func(p *Preset) {
			*p.Video = VideoSettings{Codec: "H.264"}
			*p.Audio = AudioSettings{Codec: "AAC"}
			p.Thumbnails, p.Watermarks = nil, nil
		},
		"gif forever": func(p *Preset) {
			p.Container, p.Audio, p.Video.Codec, p.Video.LoopCount, p.Video.Profile = "gif", nil, "gif", "Infinite", ""
		},
		"pcm": func(p *Preset) {
			p.Container, p.Video, p.Watermarks = "wav", nil, nil
			*p.Audio = AudioSettings{Codec: "pcm", SampleRate: "48000", Channels: "2", BitDepth: "8", Signed: "Unsigned", BitOrder: "LittleEndian"}
		},
	} {
		p := validPreset()
		change(p)
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
