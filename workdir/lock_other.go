//go:build !unix

package workdir

import (
	"errors"
	"os"
)

// locking says whether tryLock can lock at all.
const locking = false

// tryLock has no flock to use here: a worker's own directory is still its
// own, but no sweep can tell a dead worker's directory from a live one, so
// none is removed.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("file locks are not supported on this system")
}
