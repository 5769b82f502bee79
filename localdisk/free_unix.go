//go:build linux || darwin

package localdisk

import "syscall"

// Free returns the bytes of the file system holding path that an
// unprivileged process may still write (statfs's available blocks, not its
// free ones, which include the root-reserved part).
func Free(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
