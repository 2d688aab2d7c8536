// Command platform measures the foundation's budgets on real binaries:
// start-to-ready time, idle memory, and the latency of /healthz and the home
// page under a constant request rate. It only talks to 127.0.0.1.
//
//	go run ./bench/platform -bin bin -rate 1000 -duration 30s
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start launches the binary on a fresh data dir and returns once /healthz
// answers, with the elapsed time.
func start(path, dataDir string) (*proc, time.Duration, error) {
	port := freePort()
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

func rssKB(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(sc.Text())[1])
			return n
		}
	}
	return -1
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
	idle := rssKB(p.cmd.Process.Pid)
	for _, route := range []string{"/healthz", "/"} {
		r := load(base+route, "", rate, dur)
		fmt.Printf("| %s | %.1f ms | %.1f MB | %s | %d/s | %s | %s | %s | %d |\n", name,
			float64(ready.Microseconds())/1000, float64(idle)/1024, route, rate, ms(r.p50), ms(r.p99), ms(r.max), r.errors)
	}
	// An authenticated page: every request checks the session in the database.
	cookie, err := signIn(path, dir, base)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	r := load(base+"/account/sessions", cookie, rate, dur)
	fmt.Printf("| %s | | | %s (signed in) | %d/s | %s | %s | %s | %d |\n", name,
		"/account/sessions", rate, ms(r.p50), ms(r.p99), ms(r.max), r.errors)
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

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

type result struct {
	p50, p99, max time.Duration
	errors        int
}

// load sends requests at a constant rate (open loop: latency counts from
// when a request was due, so a stalled server is not hidden).
func load(url, cookie string, rate int, dur time.Duration) result {
	tr := &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	interval := time.Second / time.Duration(rate)
	n := int(dur / interval)
	lat := make([]time.Duration, n)
	var errs int
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), dur+15*time.Second)
	defer cancel()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		due := t0.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			if cookie != "" {
				req.Header.Set("Cookie", cookie)
			}
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat[i] = time.Since(due)
			if err != nil || resp.StatusCode >= 400 {
				mu.Lock()
				errs++
				mu.Unlock()
			}
		}(i, due)
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{p50: lat[n/2], p99: lat[n*99/100], max: lat[n-1], errors: errs}
}
