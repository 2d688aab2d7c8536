//go:build unix

package obs

import "syscall"

// diskUsage returns the used fraction of the file system holding path.
func diskUsage(path string) (float64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil || st.Blocks == 0 {
		return 0, false
	}
	// Like df: the space ordinary users can use is used + available.
	used := float64(st.Blocks-st.Bfree) * float64(st.Bsize)
	avail := float64(st.Bavail) * float64(st.Bsize)
	if used+avail == 0 {
		return 0, false
	}
	return used / (used + avail), true
}
