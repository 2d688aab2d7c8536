// Command platform measures the foundation's budgets on real binaries:
// start-to-ready time, idle memory, and the latency of /healthz and the home
// page under a constant request rate. It only talks to 127.0.0.1.
//
//	go run ./bench/platform -bin bin -rate 1000 -duration 30s
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/relaywork/suite/bench/loadgen"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the coda and voyager binaries")
	rate := flag.Int("rate", 1000, "requests per second")
	dur := flag.Duration("duration", 30*time.Second, "how long each load step runs")
	starts := flag.Int("starts", 5, "how many cold starts to time per server")
	flag.Parse()
	fmt.Printf("| server | start→ready (median of %d) | idle RSS | route | rate | p50 | p99 | max | errors |\n", *starts)
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	for _, name := range []string{"coda", "voyager"} {
		if err := measure(filepath.Join(*bin, name), name, *rate, *dur, *starts); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
	}
}

type proc struct {
	cmd  *exec.Cmd
	port int
}

// start launches the binary on a fresh data dir and returns once /healthz
// answers, with the elapsed time.
func start(path, dataDir string) (*proc, time.Duration, error) {
	port := loadgen.FreePort()
	cmd := exec.Command(path, "serve")
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "DATA_DIR="+dataDir, "LOG_LEVEL=warn", "APP_ENV=development", "RATE_LIMIT_SCALE=0")
	cmd.Stdout = io.Discard
	cmd.Stderr = io.Discard
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	c := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	for time.Since(t0) < 20*time.Second {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return &proc{cmd: cmd, port: port}, time.Since(t0), nil
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	_ = cmd.Process.Kill()
	return nil, 0, fmt.Errorf("not ready within 20s")
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

func measure(path, name string, rate int, dur time.Duration, starts int) error {
	var times []time.Duration
	for i := 0; i < starts; i++ {
		dir, _ := os.MkdirTemp("", "bench-"+name)
		p, d, err := start(path, dir)
		if err != nil {
			return err
		}
		times = append(times, d)
		p.stop()
		os.RemoveAll(dir)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	ready := times[len(times)/2]

	dir, _ := os.MkdirTemp("", "bench-"+name)
	defer os.RemoveAll(dir)
	p, _, err := start(path, dir)
	if err != nil {
		return err
	}
	defer p.stop()
	base := fmt.Sprintf("http://127.0.0.1:%d", p.port)
	// Warm up, then let the process settle before reading idle memory.
	for i := 0; i < 50; i++ {
		if resp, err := http.Get(base + "/"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	time.Sleep(2 * time.Second)
	idle := loadgen.ProcBytes(p.cmd.Process.Pid, "VmRSS")
	for _, route := range []string{"/healthz", "/"} {
		r := loadgen.Run(nil, rate, dur, loadgen.Get(base+route, map[string]string{"Accept-Encoding": "gzip"}))
		fmt.Printf("| %s | %.1f ms | %.1f MB | %s | %d/s | %s |\n", name,
			float64(ready.Microseconds())/1000, float64(idle)/(1<<20), route, rate, r.Row())
	}
	// An authenticated page: every request checks the session in the database.
	cookie, err := signIn(path, dir, base)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	r := loadgen.Run(nil, rate, dur, loadgen.Get(base+"/account/sessions", map[string]string{"Accept-Encoding": "gzip", "Cookie": cookie}))
	fmt.Printf("| %s | | | %s (signed in) | %d/s | %s |\n", name, "/account/sessions", rate, r.Row())
	return nil
}

// signIn gets a session cookie the way an operator would: `admin
// login-link`, then the confirmation POST.
func signIn(path, dataDir, base string) (string, error) {
	cmd := exec.Command(path, "admin", "login-link", "bench@example.com")
	cmd.Env = append(os.Environ(), "DATA_DIR="+dataDir, "LOG_LEVEL=warn", "APP_ENV=development", "PUBLIC_URL="+base)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("admin login-link: %w", err)
	}
	link := strings.TrimSpace(string(out))
	i := strings.Index(link, "token=")
	if i < 0 {
		return "", fmt.Errorf("no token in %q", link)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/auth/email/confirm", map[string][]string{"token": {link[i+len("token="):]}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Value != "" {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", fmt.Errorf("confirm answered %s without a session cookie", resp.Status)
}
