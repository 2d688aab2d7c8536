//go:build !linux

package runner

import (
	"os"

	"github.com/creack/pty"
)

// setsize sets the PTY's window size with pty.Setsize, which makes the
// descriptor blocking (it goes through os.File.Fd), and then makes it
// non-blocking again where that is possible (see nonblocking).
func setsize(f *os.File, cols, rows int) error {
	err := pty.Setsize(f, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	nonblocking(f)
	return err
}
