package localdisk

import (
	"fmt"
	"sync"
	"time"

	"github.com/vidjob/vidjob"
)

// Dir is a directory vidjob writes to, with what it holds, which is how
// messages name it (never by its path).
type Dir struct {
	Role string // e.g. "data directory"
	Path string
}

// Space checks that each directory's file system has at least Min bytes
// available. POST /job and GET /healthz ask the same Space, so the server
// reports itself unhealthy exactly when it refuses jobs for lack of room.
type Space struct {
	Dirs []Dir
	Min  uint64

	mu      sync.Mutex
	checked time.Time
	last    error
}

// recheck is how long a result stands: statfs is cheap, but a burst of
// submissions needs one answer, not one each.
const recheck = time.Second

// Check returns nil when every directory has room, and otherwise an
// EUNAVAILABLE error naming the first that has not. A directory whose free
// space cannot be read is taken to have room: the check keeps the server
// off a full disk; it must not stop it on a platform without statfs.
func (s *Space) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) < recheck {
		return s.last
	}
	s.checked, s.last = time.Now(), nil
	for _, d := range s.Dirs {
		free, err := Free(d.Path)
		if err != nil || free >= s.Min {
			continue
		}
		s.last = vidjob.Errorf(vidjob.EUNAVAILABLE,
			"The server is short of disk space: its %s has %s free, below the %s it keeps free; try again later.",
			d.Role, Size(free), Size(s.Min))
		break
	}
	return s.last
}

// Size writes n bytes for people: 1.5 MiB, 300 GiB.
func Size(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
