package containerdruntime

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openForWriting reports whether any process, in any namespace, holds
// f's file open for writing. The kernel grants a read lease only when
// none does (fcntl(2), F_SETLEASE), so taking one and dropping it at once
// asks without waiting. It needs f open read-only and owned by the caller
// (or CAP_LEASE); otherwise the error says why it cannot tell.
func openForWriting(f *os.File) (bool, error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	if err := conn.Control(func(fd uintptr) {
		if _, lerr = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_RDLCK); lerr != nil {
			return
		}
		_, lerr = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK)
	}); err != nil {
		return false, err
	}
	if errors.Is(lerr, unix.EAGAIN) {
		return true, nil
	}
	return false, lerr
}
