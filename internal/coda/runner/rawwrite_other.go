//go:build !unix

package runner

import (
	"errors"
	"os"

	"github.com/creack/pty"
)

// rawWrite is not used off Unix: input always goes through the queue.
func rawWrite(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }

// nonblocking reports false off Unix: input always goes through the queue.
func nonblocking(*os.File) bool { return false }

// setsize sets the PTY's window size.
func setsize(f *os.File, cols, rows int) error {
	return pty.Setsize(f, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}
