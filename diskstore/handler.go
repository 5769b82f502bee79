package diskstore

import (
	"net/http"
	"path"
	"strings"

	"github.com/vidjob/vidjob"
)

// Prefix is the URL path under which Handler serves objects.
const Prefix = "/objects/"

// contentTypes maps extensions to the media types players expect. It is fixed
// here rather than taken from mime.TypeByExtension because that reads the
// system's mime.types, which on some systems calls .ts a Qt translation file.
var contentTypes = map[string]string{
	".mp4":  "video/mp4",
	".m4v":  "video/mp4",
	".m4a":  "audio/mp4",
	".m4s":  "video/iso.segment",
	".mov":  "video/quicktime",
	".webm": "video/webm",
	".mkv":  "video/x-matroska",
	".ogv":  "video/ogg",
	".ogg":  "audio/ogg",
	".flv":  "video/x-flv",
	".ts":   "video/mp2t",
	".m3u8": "application/vnd.apple.mpegurl",
	".mpd":  "application/dash+xml",
	".mp3":  "audio/mpeg",
	".aac":  "audio/aac",
	".vtt":  "text/vtt",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".png":  "image/png",
	".gif":  "image/gif",
	".webp": "image/webp",
	".json": "application/json",
}

// ContentType returns the media type served for key, from its extension
// (case-insensitive); unknown extensions are application/octet-stream.
func ContentType(key string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return ct
	}
	return "application/octet-stream"
}

// Handler serves GET and HEAD /objects/{bucket}/{key...} read-only, with Range
// and conditional requests (http.ServeContent). Missing objects, directories
// and temporary files are 404; invalid names are 400; other methods are 405.
// Mount it at Prefix with the full request path intact.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

func (s *Store) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// r.URL.Path is already percent-decoded, so "%2e%2e" arrives as ".." and is
	// refused by the same validation as a literal "..".
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	bucket, key, ok := strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		http.NotFound(w, r)
		return
	}
	if strings.HasPrefix(path.Base(key), tmpPrefix) {
		http.NotFound(w, r)
		return
	}
	f, fi, err := s.open(bucket, key)
	if vidjob.ErrorCode(err) == vidjob.EINVALID {
		http.Error(w, "invalid object name", http.StatusBadRequest)
		return
	}
	if err != nil {
		// Missing, unreadable, or refused by os.Root because a symbolic link
		// leads out of the root: as far as clients know, it does not exist.
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", ContentType(key))
	// Never let a browser guess a type (e.g. HTML) from an object's bytes.
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}
