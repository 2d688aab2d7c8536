//go:build unix

package runner

import (
	"os"
	"syscall"
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
