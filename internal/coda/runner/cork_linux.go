package runner

import "syscall"

// setCork sets TCP_CORK on a socket.
func setCork(fd uintptr, on bool) {
	v := 0
	if on {
		v = 1
	}
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
}
