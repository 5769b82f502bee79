package vidjob

// containerFormats maps an Elastic Transcoder container name to the output
// file's extension and media type. Segmented containers (ts for HLS, fmp4 for
// DASH and Smooth) name their playlist or manifest here.
var containerFormats = map[string]struct{ ext, mime string }{
	"mp4":  {".mp4", "video/mp4"},
	"ts":   {".m3u8", "application/vnd.apple.mpegurl"},
	"fmp4": {".mpd", "application/dash+xml"},
	"webm": {".webm", "video/webm"},
	"gif":  {".gif", "image/gif"},
	"flv":  {".flv", "video/x-flv"},
	"mpg":  {".mpg", "video/mpeg"},
	"mxf":  {".mxf", "application/mxf"},
	"mp3":  {".mp3", "audio/mpeg"},
	"flac": {".flac", "audio/flac"},
	"wav":  {".wav", "audio/wav"},
	"oga":  {".oga", "audio/ogg"},
	"ogg":  {".ogg", "audio/ogg"},
}

// ContainerExtension is the file extension of an output in the given ET
// container, ".mp4" when the container is unknown.
func ContainerExtension(container string) string {
	if f, ok := containerFormats[container]; ok {
		return f.ext
	}
	return ".mp4"
}

// ContainerContentType is the media type of an output in the given ET container.
func ContainerContentType(container string) string {
	if f, ok := containerFormats[container]; ok {
		return f.mime
	}
	return "application/octet-stream"
}
