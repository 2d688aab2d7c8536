//go:build unix

package runner

import (
	"os"
	"syscall"
	"unsafe"

	"github.com/creack/pty"
)

// rawWrite is one write(2) on a descriptor.
func rawWrite(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }

// nonblocking puts the PTY's controller back in non-blocking mode and
// reports whether it is. creack/pty reaches the descriptor through
// os.File.Fd for its ioctls, which switches it to blocking mode: reads
// then ignore deadlines and a write to a full input buffer blocks. Go's
// poller still owns the descriptor, so once it is non-blocking again
// reads and writes wait in the poller, and deadlines work.
func nonblocking(f *os.File) bool {
	raw, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = raw.Control(func(fd uintptr) { ok = syscall.SetNonblock(int(fd), true) == nil })
	return ok
}

// setsize sets the PTY's window size without os.File.Fd (see nonblocking).
func setsize(f *os.File, cols, rows int) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	ws := pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)}
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TIOCSWINSZ), uintptr(unsafe.Pointer(&ws)))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
