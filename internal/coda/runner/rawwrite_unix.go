//go:build unix

package runner

import "syscall"

// rawWrite is one write(2) on a descriptor.
func rawWrite(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }
