package scripts

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakes writes stand-ins for the two servers: each runs until SIGTERM
// (and says so), except the ones named in failing, which exit 1 at once
// as a server whose port is taken does. A running one leaves NAME.ready
// beside itself once its TERM trap is set (before that, a signal kills
// its bash without a word, so a test must not signal earlier).
func fakes(t *testing.T, failing ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"coda", "voyager"} {
		body := "#!/bin/bash\ntrap 'echo " + name + " stopped; exit 0' TERM\ntouch \"$(dirname \"$0\")/" + name + ".ready\"\nwhile true; do sleep 0.05; done\n"
		for _, f := range failing {
			if f == name {
				// As a real server does, it fails after starting up, by which
				// time the other has its TERM trap (a bash killed before its
				// trap line runs dies without a word).
				body = "#!/bin/bash\nsleep 0.3\necho '" + name + ": listen on :3001: address already in use' >&2\nexit 1\n"
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func start(t *testing.T, bin string) (*exec.Cmd, *bytes.Buffer, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "bash", "run.sh", bin)
	cmd.Env = append(os.Environ(), "DATA_DIR="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, &out, done
}

// TestRunStopsBothOnCtrlC: Ctrl-C (SIGINT) stops both servers gracefully
// and exits 0, without the old recipe's recursion (a segmentation fault).
func TestRunStopsBothOnCtrlC(t *testing.T) {
	t.Parallel()
	bin := fakes(t)
	cmd, out, done := start(t, bin)
	deadline := time.Now().Add(10 * time.Second)
	for !ready(bin, "coda") || !ready(bin, "voyager") {
		if time.Now().After(deadline) {
			t.Fatalf("servers did not start: %q", psOf(cmd.Process.Pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run.sh after Ctrl-C: %v\n%s", err, out)
	}
	for _, want := range []string{"coda stopped", "voyager stopped", "stopping coda and voyager"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "Segmentation") {
		t.Errorf("crashed:\n%s", out)
	}
}

// TestRunStopsBothWhenOneCannotStart: voyager cannot start, so coda is
// stopped too and the script exits non-zero naming voyager.
func TestRunStopsBothWhenOneCannotStart(t *testing.T) {
	t.Parallel()
	_, out, done := start(t, fakes(t, "voyager"))
	err := <-done
	if err == nil {
		t.Fatalf("run.sh exited 0 though voyager failed:\n%s", out)
	}
	for _, want := range []string{"address already in use", "voyager exited with status 1", "stopping coda", "coda stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// ready tells whether the fake server name in bin has set its TERM trap.
func ready(bin, name string) bool {
	_, err := os.Stat(filepath.Join(bin, name+".ready"))
	return err == nil
}

// psOf lists the commands of pid's children.
func psOf(pid int) string {
	b, _ := exec.Command("ps", "-o", "args=", "--ppid", itoa(pid)).Output()
	return string(b)
}

func itoa(n int) string { return strconv.Itoa(n) }
