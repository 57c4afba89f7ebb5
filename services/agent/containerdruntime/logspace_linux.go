//go:build linux

package containerdruntime

import (
	"os"

	"golang.org/x/sys/unix"
)

// punchHole frees the disk blocks of path's first n bytes without moving
// anything: the file keeps its size, so the shim appending to it and the
// reader's offset are undisturbed, and no line can be lost in between (a
// rename or a truncate would race the shim's next write).
func punchHole(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	// Closed at once: drained() takes an open writer for the shim.
	defer f.Close()
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, n)
}
