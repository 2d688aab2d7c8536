//go:build !unix

package runner

import (
	"errors"
	"os"
)

// rawWrite is not used off Unix: input always goes through the queue.
func rawWrite(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }

// nonblocking reports false off Unix: input always goes through the queue.
func nonblocking(*os.File) bool { return false }
