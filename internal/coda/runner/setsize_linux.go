package runner

import (
	"os"
	"syscall"
	"unsafe"

	"github.com/creack/pty"
)

// setsize sets the PTY's window size with TIOCSWINSZ on the raw
// descriptor: pty.Setsize goes through os.File.Fd, which would make the
// descriptor blocking again (see nonblocking).
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
