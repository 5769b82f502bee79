package ffmpeg

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Stream is a source that ffprobe and ffmpeg read over loopback HTTP while
// the worker is still downloading it to Path (package livefile serves it).
//
// Letting ffmpeg speak HTTP at all needs two guards, since a source that
// names other URLs (a playlist, a concat list, a reference movie) could
// otherwise make ffmpeg fetch them past the worker's address checks: the
// demuxer is fixed in advance to one that never opens another resource
// (-format_whitelist, chosen by StreamFormat from the file's first bytes),
// and the only protocols are http and tcp, so nothing else local is read
// either. The environment's http_proxy is dropped, so the request goes to the
// loopback address and nowhere else.
type Stream struct {
	// Path is the local file being downloaded; commands are recorded as if
	// they read it, which they can once the download is whole.
	Path string
	// URL serves Path as it grows.
	URL string
	// Format is the one demuxer allowed, as StreamFormat named it.
	Format string
}

// Demuxers that can read a source while it downloads: containers that hold
// their media and never refer to other files or URLs.
const (
	// FormatMOV reads MP4, MOV and their relatives (an 'ftyp' box first).
	// Its external data references are what could name other resources; they
	// are off by default in ffmpeg, and the input options turn them off
	// explicitly (-enable_drefs 0).
	FormatMOV = "mov"
	// FormatMatroska reads Matroska and WebM (an EBML header first).
	FormatMatroska = "matroska"
	// FormatMPEGTS reads MPEG transport streams of 188-byte packets.
	FormatMPEGTS = "mpegts"
)

// StreamHead is how many first bytes StreamFormat needs to decide.
const StreamHead = 3*188 + 1

// StreamFormat names the demuxer for a source whose first bytes are head, if
// it is one that may be read while it downloads, or "" (then the source is
// read only once it is whole, from the local file, as any other). The check
// is deliberately narrow: anything that is not plainly one of these
// containers waits, and ffmpeg then refuses to read the stream as anything
// but the named format.
func StreamFormat(head []byte) string {
	switch {
	case len(head) >= 8 && bytes.Equal(head[4:8], []byte("ftyp")):
		return FormatMOV
	case len(head) >= 4 && bytes.Equal(head[:4], []byte{0x1a, 0x45, 0xdf, 0xa3}):
		return FormatMatroska
	case len(head) >= 2*188+1 && head[0] == 0x47 && head[188] == 0x47 && head[2*188] == 0x47:
		return FormatMPEGTS
	}
	return ""
}

// inputArgs are the input options and URL (last) that read the stream.
func (s Stream) inputArgs() ([]string, error) {
	in := []string{"-protocol_whitelist", "http,tcp", "-format_whitelist", s.Format}
	switch s.Format {
	case FormatMOV:
		in = append(in, "-enable_drefs", "0")
	case FormatMatroska, FormatMPEGTS:
	default:
		return nil, fmt.Errorf("ffmpeg: %q is not a format read while downloading", s.Format)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		return nil, fmt.Errorf("ffmpeg: a stream is read only from the loopback address, not %q", s.URL)
	}
	return append(in, s.URL), nil
}

// replaceInput turns args that read s.Path (as BuildArgs writes its input)
// into args that read the stream.
func (s Stream) replaceInput(args []string) ([]string, error) {
	in, err := s.inputArgs()
	if err != nil {
		return nil, err
	}
	local := []string{"-protocol_whitelist", "file", "-i", fileURL(s.Path)}
	at := -1
	for i := range args {
		if slices.Equal(args[i:min(i+len(local), len(args))], local) {
			if at >= 0 {
				return nil, fmt.Errorf("ffmpeg: the source is read twice in %q", args)
			}
			at = i
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("ffmpeg: arguments do not read %s", fileURL(s.Path))
	}
	url := in[len(in)-1]
	return slices.Concat(args[:at], in[:len(in)-1], []string{"-i", url}, args[at+len(local):]), nil
}

// streamEnv is the environment of a program reading a stream: the worker's,
// without the proxy settings that ffmpeg's HTTP client would follow.
func streamEnv() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(name) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy":
			return true
		}
		return false
	})
}
