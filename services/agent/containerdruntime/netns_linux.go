//go:build linux

package containerdruntime

import (
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
)

// processHolder is an inert process in a network namespace of its own:
// cat on a pipe from the agent, without any capability, so that runc on
// the node, which holds fewer capabilities than the agent, may open its
// namespace (the kernel lets a process open another's namespace only if
// the other's capabilities are a subset of its own). It ends when the
// pipe closes: at Release, or when the agent dies, whatever way it dies.
type processHolder struct {
	cmd   *exec.Cmd
	stdin io.Closer
	ino   uint64 // the namespace's inode
	once  sync.Once
}

func holdNetns() (holder, error) {
	cmd := exec.Command("setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", "cat")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start netns holder: %w", err)
	}
	h := &processHolder{cmd: cmd, stdin: stdin}
	ino, err := nsInode(h.Path())
	if err != nil {
		h.Release()
		return nil, fmt.Errorf("netns holder: %w", err)
	}
	h.ino = ino
	return h, nil
}

func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Holds implements holder.
func (h *processHolder) Holds() bool {
	ino, err := nsInode(h.Path())
	return err == nil && ino == h.ino
}

// Path implements holder. The agent shares the node's PID namespace, so
// the path is the same for runc.
func (h *processHolder) Path() string { return fmt.Sprintf("/proc/%d/ns/net", h.cmd.Process.Pid) }

// Release implements holder.
func (h *processHolder) Release() {
	h.once.Do(func() {
		_ = h.stdin.Close()
		go func() { _ = h.cmd.Wait() }()
	})
}
