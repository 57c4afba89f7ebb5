// Package cgroupmem reads a Docker container's peak memory straight from
// the host's cgroup filesystem.
//
// REPORT's "Max Memory Used" needs one read per invocation. Through the
// Engine API that read is a stats call, which dockerd answers by asking
// containerd and the container's shim for every statistic of the
// container; it took up to a second, so the REPORT line came up to 2 s
// after the answer, and on cgroup v2 hosts Docker reports no peak at all.
// The peak is one small file, read in microseconds.
package cgroupmem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// ErrNotFound is returned when no cgroup of the container is found under
// the root, or when it has no peak file (a cgroup v2 kernel before 5.19).
var ErrNotFound = errors.New("no memory cgroup of the container")

// layout is where one kind of Docker set-up keeps a container's memory
// cgroup, relative to the cgroup root, and the file of its peak.
type layout struct {
	dir  string // with %s for the container's full id
	peak string
}

// Docker's cgroupfs driver puts containers under /docker, its systemd
// driver under system.slice as docker-<id>.scope; cgroup v1 keeps memory
// in its own hierarchy.
var (
	layoutsV1 = []layout{
		{"memory/docker/%s", "memory.max_usage_in_bytes"},
		{"memory/system.slice/docker-%s.scope", "memory.max_usage_in_bytes"},
	}
	layoutsV2 = []layout{
		{"docker/%s", "memory.peak"},
		{"system.slice/docker-%s.scope", "memory.peak"},
	}
)

// Reader reads peaks under one cgroup root (the host's /sys/fs/cgroup,
// mounted read-only into the agent). It is safe for concurrent use.
type Reader struct {
	root    string
	layouts []layout
	// found is the index of the layout that last matched, tried first.
	found atomic.Int32
}

// New returns a Reader of the cgroup filesystem mounted at root. Parents
// are the cgroup parents (cgroupfs paths, such as /esb) containers may be
// created under besides Docker's own; they are tried first.
func New(root string, parents ...string) (*Reader, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("cgroup root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("cgroup root %s: not a directory", root)
	}
	// cgroup v2 has one hierarchy, whose root lists its controllers.
	_, err = os.Stat(filepath.Join(root, "cgroup.controllers"))
	v2 := err == nil
	r := &Reader{root: root}
	for _, p := range parents {
		dir := strings.ReplaceAll(strings.Trim(filepath.Clean("/"+p), "/"), "%", "%%")
		if dir == "" {
			continue
		}
		if v2 {
			r.layouts = append(r.layouts, layout{dir + "/%s", "memory.peak"})
		} else {
			r.layouts = append(r.layouts, layout{"memory/" + dir + "/%s", "memory.max_usage_in_bytes"})
		}
	}
	if v2 {
		r.layouts = append(r.layouts, layoutsV2...)
	} else {
		r.layouts = append(r.layouts, layoutsV1...)
	}
	return r, nil
}

// Peak returns the most memory container id's processes have used at
// once, in bytes. id must be the full 64-hex id.
func (r *Reader) Peak(id string) (int64, error) {
	if !validID(id) {
		return 0, fmt.Errorf("peak memory: container id %q is not a full id", id)
	}
	first := int(r.found.Load())
	for n := range r.layouts {
		i := (first + n) % len(r.layouts)
		l := r.layouts[i]
		b, err := os.ReadFile(filepath.Join(r.root, fmt.Sprintf(l.dir, id), l.peak))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("peak memory of container %s: %w", id, err)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("peak memory of container %s: %s: %w", id, l.peak, err)
		}
		r.found.Store(int32(i))
		return v, nil
	}
	return 0, fmt.Errorf("peak memory of container %s: %w under %s", id, ErrNotFound, r.root)
}

// validID reports whether id is a full container id, so that it cannot
// name any other path.
func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
