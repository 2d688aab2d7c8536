//go:build unix

package browsertest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killLeftovers kills Chromium helper processes still using dataDir after the
// browser exited, so that removing the test's temporary directory does not
// race with them. Chromium passes --user-data-dir to every helper and the
// directory is unique to the test, so only this test's processes match. It
// is best effort and needs /proc.
func killLeftovers(dataDir string) {
	want := "--user-data-dir=" + dataDir + "\x00"
	deadline := time.Now().Add(3 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		found := 0
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !strings.Contains(string(cmdline), want) {
				continue
			}
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				found++
			}
		}
		if found == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}
