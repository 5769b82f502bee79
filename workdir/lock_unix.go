//go:build unix

package workdir

import (
	"errors"
	"os"
	"syscall"
)

// locking says whether tryLock can lock at all.
const locking = true

// tryLock takes an exclusive flock on f without waiting. The kernel drops it
// when the process holding it dies; on NFS, Linux maps flock to the server's
// byte-range locks, which a client that died holds until its lease ends.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
