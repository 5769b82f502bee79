//go:build !(linux || darwin)

package localdisk

import "errors"

// Free cannot read the free space here; Space.Check then lets everything
// through.
func Free(path string) (uint64, error) {
	return 0, errors.New("free space is not known on this system")
}
