// Command platform measures the foundation's budgets on real binaries:
// start-to-ready time and idle memory against the design's budgets
// (150 ms on SQLite; 40 MB per server), and the latency of /healthz and
// the home page under a constant request rate. It only talks to 127.0.0.1.
//
// Idle memory is read from /proc/PID/status: VmRSS, and its parts RssAnon
// (the heap, stacks and other private memory the process made) and
// RssFile (pages of the binary and other files mapped in). File-backed
// pages are shared with every other process running the same binary and
// the kernel can drop and re-read them under memory pressure, so what a
// server costs the machine is RssAnon; the budget is held to it (and
// VmRSS is printed beside it).
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
	var lat []string
	fmt.Printf("Start→ready: process start until /readyz answers 200, on a fresh DATA_DIR (so migrations run) and again\n")
	fmt.Printf("on the migrated one (a restart). Floor: `<binary> version`, exec to exit (process start and package\n")
	fmt.Printf("initialisation), in the same run; ×floor is the first start's median over it.\n\n")
	fmt.Printf("| server | first start, median of %d (min–max) | restart, median | floor | ×floor | budget | idle VmRSS | idle RssAnon | RssFile | budget (RssAnon) |\n", *starts)
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, name := range []string{"coda", "voyager"} {
		rows, err := measure(filepath.Join(*bin, name), name, *rate, *dur, *starts)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
		lat = append(lat, rows...)
	}
	fmt.Printf("\n| server | route | rate | p50 | p99 | max | errors |\n|---|---|---|---|---|---|---|\n")
	for _, r := range lat {
		fmt.Println(r)
	}
}

// Budgets from the design (DESIGN.md, "Budgets").
const (
	readyBudget  = 150 * time.Millisecond
	memoryBudget = 40 << 20
)

func verdict(ok bool) string {
	if ok {
		return "within"
	}
	return "OVER"
}

type proc struct {
	cmd  *exec.Cmd
	port int
}

// start launches the binary on a fresh data dir and returns once /readyz
// answers 200 (the database is open and migrated), with the elapsed time.
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
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
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

func measure(path, name string, rate int, dur time.Duration, starts int) ([]string, error) {
	var times []time.Duration
	for i := 0; i < starts; i++ {
		dir, _ := os.MkdirTemp("", "bench-"+name)
		p, d, err := start(path, dir)
		if err != nil {
			return nil, err
		}
		times = append(times, d)
		p.stop()
		os.RemoveAll(dir)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	ready := times[len(times)/2]

	dir, _ := os.MkdirTemp("", "bench-"+name)
	defer os.RemoveAll(dir)
	var restarts, floors []time.Duration
	for i := 0; i <= starts; i++ {
		p, d, err := start(path, dir)
		if err != nil {
			return nil, err
		}
		p.stop()
		if i > 0 { // the first one migrated the fresh directory
			restarts = append(restarts, d)
		}
		t0 := time.Now()
		if err := exec.Command(path, "version").Run(); err != nil {
			return nil, fmt.Errorf("%s version: %w", name, err)
		}
		floors = append(floors, time.Since(t0))
	}
	restart, floor := loadgen.Percentile(restarts, 50), loadgen.Percentile(floors, 50)
	p, _, err := start(path, dir)
	if err != nil {
		return nil, err
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
	pid := p.cmd.Process.Pid
	rss, anon, file := loadgen.ProcBytes(pid, "VmRSS"), loadgen.ProcBytes(pid, "RssAnon"), loadgen.ProcBytes(pid, "RssFile")
	mb := func(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
	fmt.Printf("| %s | %s (%s–%s) | %s | %s | %.1f | ≤ %s: %s | %s | %s | %s | ≤ 40 MB: %s |\n", name,
		msText(ready), msText(times[0]), msText(times[len(times)-1]), msText(restart), msText(floor), float64(ready)/float64(floor),
		msText(readyBudget), verdict(ready <= readyBudget && restart <= readyBudget),
		mb(rss), mb(anon), mb(file), verdict(anon <= memoryBudget))
	var rows []string
	for _, route := range []string{"/healthz", "/"} {
		r := loadgen.Run(nil, rate, dur, loadgen.Get(base+route, map[string]string{"Accept-Encoding": "gzip"}))
		rows = append(rows, fmt.Sprintf("| %s | %s | %d/s | %s |", name, route, rate, r.Row()))
	}
	// An authenticated page: every request checks the session in the database.
	cookie, err := signIn(path, dir, base)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	r := loadgen.Run(nil, rate, dur, loadgen.Get(base+"/account/sessions", map[string]string{"Accept-Encoding": "gzip", "Cookie": cookie}))
	rows = append(rows, fmt.Sprintf("| %s | %s (signed in) | %d/s | %s |", name, "/account/sessions", rate, r.Row()))
	return rows, nil
}

func msText(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

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
