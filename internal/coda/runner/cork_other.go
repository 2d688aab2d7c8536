//go:build !linux

package runner

// setCork does nothing where there is no TCP_CORK.
func setCork(uintptr, bool) {}
