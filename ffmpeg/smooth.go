package ffmpeg

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// SmoothClientManifest is Smooth Streaming's client manifest (.ismc): what a
// player reads to learn the tracks, their codecs and the fragments' times.
type SmoothClientManifest struct {
	XMLName      xml.Name           `xml:"SmoothStreamingMedia"`
	MajorVersion int                `xml:"MajorVersion,attr"`
	MinorVersion int                `xml:"MinorVersion,attr"`
	Duration     int64              `xml:"Duration,attr"` // in 100 ns units
	Streams      []SmoothStreamInfo `xml:"StreamIndex"`
}

// SmoothStreamInfo is one StreamIndex of a client manifest: a track, its
// quality levels and its chunks (one per fragment of the .ismv).
type SmoothStreamInfo struct {
	Type          string        `xml:"Type,attr"`
	QualityLevels int           `xml:"QualityLevels,attr"`
	Chunks        int           `xml:"Chunks,attr"`
	URL           string        `xml:"Url,attr"`
	Qualities     []SmoothLevel `xml:"QualityLevel"`
	Chunk         []SmoothChunk `xml:"c"`
}

// SmoothLevel is one QualityLevel: a bit rate and the codec's set-up data.
type SmoothLevel struct {
	Index            int    `xml:"Index,attr"`
	Bitrate          int64  `xml:"Bitrate,attr"`
	FourCC           string `xml:"FourCC,attr"`
	MaxWidth         int    `xml:"MaxWidth,attr,omitempty"`
	MaxHeight        int    `xml:"MaxHeight,attr,omitempty"`
	SamplingRate     int    `xml:"SamplingRate,attr,omitempty"`
	Channels         int    `xml:"Channels,attr,omitempty"`
	BitsPerSample    int    `xml:"BitsPerSample,attr,omitempty"`
	PacketSize       int    `xml:"PacketSize,attr,omitempty"`
	AudioTag         int    `xml:"AudioTag,attr,omitempty"`
	CodecPrivateData string `xml:"CodecPrivateData,attr"`
}

// SmoothChunk is one chunk (<c>): its number, start time and duration in
// 100 ns units.
type SmoothChunk struct {
	N        int   `xml:"n,attr"`
	Start    int64 `xml:"t,attr"`
	Duration int64 `xml:"d,attr"`
}

// smoothServerManifest is the SMIL document IIS Media Services (and the
// origin servers that copied it) read to serve an .ismv: which file holds
// which track, at what bit rate, and where the client manifest is.
type smoothServerManifest struct {
	XMLName xml.Name      `xml:"http://www.w3.org/2001/SMIL20/Language smil"`
	Meta    smilMeta      `xml:"head>meta"`
	Tracks  []smilTrackEl `xml:"body>switch>track"`
}

type smilMeta struct {
	Name    string `xml:"name,attr"`
	Content string `xml:"content,attr"`
}

// smilTrackEl is a <video> or <audio> element; XMLName carries which.
type smilTrackEl struct {
	XMLName xml.Name
	Src     string    `xml:"src,attr"`
	Bitrate int64     `xml:"systemBitrate,attr"`
	Params  []smilArg `xml:"param"`
}

type smilArg struct {
	Name      string `xml:"name,attr"`
	Value     string `xml:"value,attr"`
	ValueType string `xml:"valuetype,attr"`
}

// SmoothManifests writes the Smooth Streaming server manifest (.ism) and
// client manifest (.ismc) for the .ismv at ismv, beside it and named after
// it, and returns their paths. published is the name the .ismv is stored
// under (the key's last element), which the server manifest names; the
// manifests are stored beside it. work is a directory for scratch files,
// which must not be the .ismv's own (everything there is uploaded).
//
// The client manifest is ffmpeg's smoothstreaming muxer's, from a stream
// copy of the .ismv cut at every keyframe as the ismv muxer cuts its
// fragments, so its chunks are the .ismv's fragments. The fragment files that
// muxer also writes are scratch and are removed.
//
// An .ismv without video gets no manifests (and SmoothManifests returns
// none): the ismv muxer cuts fragments at video keyframes only, so such a
// file is one fragment, while the smoothstreaming muxer would cut its audio
// into chunks that the file does not have.
func (r *Runner) SmoothManifests(ctx context.Context, ismv, published, work string) ([]string, error) {
	ismv, err := filepath.Abs(ismv)
	if err != nil {
		return nil, err
	}
	if pr, err := r.Probe(ctx, ismv); err != nil {
		return nil, fmt.Errorf("smooth manifests: %w", err)
	} else if pr.Video == nil {
		return nil, nil
	}
	scratch, err := os.MkdirTemp(work, "smooth-")
	if err != nil {
		return nil, fmt.Errorf("smooth manifests: %w", err)
	}
	defer os.RemoveAll(scratch)
	scratch, err = filepath.Abs(scratch)
	if err != nil {
		return nil, err
	}
	// The smoothstreaming muxer makes its output directory itself and does
	// not take a file: URL there; an absolute path is never read as another
	// protocol.
	ssDir := filepath.Join(scratch, "ss")
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
		"-protocol_whitelist", "file", "-i", fileURL(ismv),
		"-map", "0", "-c", "copy", "-min_frag_duration", "1", "-f", "smoothstreaming", ssDir}
	cmd := exec.CommandContext(ctx, r.ffmpeg(), args...)
	killGroupOnCancel(cmd)
	stderr := &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("smooth manifests: %w", context.Cause(ctx))
		}
		return nil, exitError("smooth manifests: ffmpeg", err, stderr.lastLines(8))
	}
	client, err := os.ReadFile(filepath.Join(ssDir, "Manifest"))
	if err != nil {
		return nil, fmt.Errorf("smooth manifests: %w", err)
	}
	var m SmoothClientManifest
	if err := xml.Unmarshal(client, &m); err != nil {
		return nil, fmt.Errorf("smooth manifests: client manifest: %w", err)
	}
	if len(m.Streams) == 0 {
		return nil, fmt.Errorf("smooth manifests: client manifest has no streams")
	}
	// The muxer leaves out chunk start times, which then count from 0, but a
	// stream's first fragment can start later (B-frames delay the first
	// picture): a player would ask for fragments at times the .ismv does not
	// have. The muxer names each fragment file after the start time it read
	// from the fragment, so every chunk gets that time.
	for i := range m.Streams {
		if err := setChunkStarts(&m.Streams[i], ssDir); err != nil {
			return nil, fmt.Errorf("smooth manifests: %w", err)
		}
	}
	client, err = xml.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("smooth manifests: client manifest: %w", err)
	}

	stem := strings.TrimSuffix(ismv, filepath.Ext(ismv))
	ismcPath, ismPath := stem+".ismc", stem+".ism"
	server := smoothServerManifest{Meta: smilMeta{Name: "clientManifestRelativePath", Content: filepath.Base(ismcPath)}}
	// The ismv muxer numbers tracks from 1 in stream order, and the client
	// manifest lists the streams in the same order.
	for i, s := range m.Streams {
		if len(s.Qualities) != 1 || (s.Type != "video" && s.Type != "audio") {
			return nil, fmt.Errorf("smooth manifests: unexpected stream %d (%s, %d quality levels)", i, s.Type, len(s.Qualities))
		}
		server.Tracks = append(server.Tracks, smilTrackEl{
			XMLName: xml.Name{Local: s.Type},
			Src:     published,
			Bitrate: s.Qualities[0].Bitrate,
			Params:  []smilArg{{Name: "trackID", Value: strconv.Itoa(i + 1), ValueType: "data"}},
		})
	}
	ism, err := xml.MarshalIndent(server, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("smooth manifests: server manifest: %w", err)
	}
	ism = append([]byte(xml.Header), append(ism, '\n')...)
	if err := os.WriteFile(ismPath, ism, 0o600); err != nil {
		return nil, fmt.Errorf("smooth manifests: %w", err)
	}
	client = append([]byte(xml.Header), append(client, '\n')...)
	if err := os.WriteFile(ismcPath, client, 0o600); err != nil {
		return nil, fmt.Errorf("smooth manifests: %w", err)
	}
	return []string{ismPath, ismcPath}, nil
}

// setChunkStarts sets each chunk's start time from the names of the fragment
// files the smoothstreaming muxer wrote into dir for the stream:
// QualityLevels(BITRATE)/Fragments(TYPE=START).
func setChunkStarts(s *SmoothStreamInfo, dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "QualityLevels(*)", "Fragments("+s.Type+"=*)"))
	if err != nil {
		return err
	}
	starts := make([]int64, 0, len(names))
	for _, n := range names {
		v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "Fragments("+s.Type+"="), ")")
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("fragment file %q: %w", filepath.Base(n), err)
		}
		starts = append(starts, t)
	}
	slices.Sort(starts)
	if len(starts) != len(s.Chunk) || s.Chunks != len(s.Chunk) {
		return fmt.Errorf("%s: %d fragments, %d chunks in the manifest (Chunks=%d)", s.Type, len(starts), len(s.Chunk), s.Chunks)
	}
	for i := range s.Chunk {
		s.Chunk[i].N, s.Chunk[i].Start = i, starts[i]
	}
	return nil
}
