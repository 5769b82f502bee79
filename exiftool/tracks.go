package exiftool

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// readOptions make exiftool print every tag once per place it was found,
// named "Group:Tag" or "Group:CopyN:Tag". The family 1 group says which track
// a tag came from ("Track1", "Track2", or "QuickTime" for the movie as a
// whole); the family 4 group "CopyN" marks the duplicates that exiftool's plain
// -j output would have left out, so the tags without it are exactly that plain
// output. One run thus gives both views, and flatten picks from them.
var readOptions = []string{"-a", "-G1:4"}

// videoTrackMarks are the tags, with exiftool's printed value, that say a
// track holds pictures. Each format names its tracks' kind in its own tag.
var videoTrackMarks = []struct{ tag, value string }{
	// MP4, MOV, M4V and fragmented MP4: the media handler type 'vide'.
	{"HandlerType", "Video Track"},
	// Matroska and WebM.
	{"TrackType", "Video"},
	// MXF.
	{"ComponentDataDefinition", "Picture Essence Track"},
}

// trackGroup matches the family 1 group exiftool gives each track of a
// QuickTime, Matroska or MXF file.
var trackGroup = regexp.MustCompile(`^Track(\d+)$`)

// groupedKey is one key of exiftool's -a -G1:4 output taken apart.
type groupedKey struct {
	group string // family 1 group; "" for SourceFile
	copy  int    // 0 for the tag exiftool's plain output keeps, N for "CopyN"
	tag   string
}

func splitKey(k string) groupedKey {
	parts := strings.Split(k, ":")
	switch len(parts) {
	case 1:
		return groupedKey{tag: k}
	case 2:
		return groupedKey{group: parts[0], tag: parts[1]}
	default:
		n, err := strconv.Atoi(strings.TrimPrefix(parts[1], "Copy"))
		if err != nil || !strings.HasPrefix(parts[1], "Copy") {
			n = 0
		}
		return groupedKey{group: parts[0], copy: n, tag: parts[len(parts)-1]}
	}
}

// flatten turns one file's grouped exiftool object (see readOptions) into the
// flat object of exiftool's plain -j output, except that a tag which exiftool
// took from a track takes the video track's value when the file has a video
// track and that track has the tag.
//
// exiftool's plain output keeps, of a tag found once per track, whichever
// copy its priority rules prefer: the first track's for the track header
// (TrackID, TrackVolume, ...), the last track's for the media header and
// handler (MediaTimeScale, HandlerDescription, ...). ffmpeg stores the audio
// track after the video track, so a video's meta mixed both tracks and said
// "SoundHandler". Blitline's documented example describes the video track, so
// the video track wins here. Tags that also exist for the movie as a whole
// (the QuickTime group, such as HandlerType "Metadata" from the movie's own
// metadata handler) keep the movie's value, as in that example; tags only an
// audio track has (AudioChannels, Balance, ...) stay; a file without a video
// track keeps exiftool's choice.
func flatten(grouped map[string]any) map[string]any {
	flat := make(map[string]any, len(grouped))
	from := make(map[string]string, len(grouped)) // tag -> group of the kept copy
	for k, v := range grouped {
		key := splitKey(k)
		if key.copy == 0 {
			flat[key.tag] = v
			from[key.tag] = key.group
		}
	}
	video, markCopy, ok := videoTrack(grouped)
	if !ok {
		return flat
	}
	// The video track's copies of each tag, by copy number.
	own := make(map[string]map[int]any)
	for k, v := range grouped {
		key := splitKey(k)
		if key.group != video {
			continue
		}
		if own[key.tag] == nil {
			own[key.tag] = make(map[int]any)
		}
		own[key.tag][key.copy] = v
	}
	for tag, copies := range own {
		if !trackGroup.MatchString(from[tag]) {
			continue
		}
		flat[tag] = pickCopy(copies, markCopy)
	}
	return flat
}

// videoTrack names the group of the lowest-numbered track that a
// videoTrackMarks tag marks as video, and the copy number of that mark: a
// MOV track has two handlers (media and data), and the mark's copy number
// tells which of the track's handler tags belong to the media handler.
func videoTrack(grouped map[string]any) (group string, markCopy int, ok bool) {
	best := -1
	for k, v := range grouped {
		key := splitKey(k)
		m := trackGroup.FindStringSubmatch(key.group)
		if m == nil {
			continue
		}
		s, _ := v.(string)
		if !isVideoMark(key.tag, s) {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if best < 0 || n < best || (n == best && key.copy < markCopy) {
			best, group, markCopy, ok = n, key.group, key.copy, true
		}
	}
	return group, markCopy, ok
}

func isVideoMark(tag, value string) bool {
	for _, m := range videoTrackMarks {
		if m.tag == tag && m.value == value {
			return true
		}
	}
	return false
}

// pickCopy chooses among one track's copies of a tag: the copy that came with
// the track's video mark, else the one exiftool's plain output keeps, else
// the lowest-numbered copy.
func pickCopy(copies map[int]any, markCopy int) any {
	if v, ok := copies[markCopy]; ok {
		return v
	}
	nums := make([]int, 0, len(copies))
	for n := range copies {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	return copies[nums[0]]
}
