// Package loadgen is what the load scenarios in bench/ share: a constant
// request rate in an open loop, percentiles, free ports and a process's
// memory from /proc.
package loadgen

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is one load step.
type Result struct {
	N, Errors     int
	P50, P99, Max time.Duration
}

// Row formats the step's percentiles as "p50 | p99 | max | errors" cells.
func (r Result) Row() string {
	return fmt.Sprintf("%s | %s | %s | %d", MS(r.P50), MS(r.P99), MS(r.Max), r.Errors)
}

// MS writes d in milliseconds with two decimals.
func MS(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// Run sends rate requests a second for dur, each made by mk, through
// client (nil: a fresh one with a large idle pool). It is an open loop:
// a request's latency counts from when it was due, not from when it was
// sent, so a server that stalls cannot hide its backlog. A transport error
// or a status of 400 or more counts as an error (its latency still counts).
func Run(client *http.Client, rate int, dur time.Duration, mk func() *http.Request) Result {
	if client == nil {
		tr := &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	interval := time.Second / time.Duration(rate)
	n := int(dur / interval)
	if n < 1 {
		n = 1
	}
	lat := make([]time.Duration, n)
	var errs int
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		due := t0.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Do(mk())
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
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return Result{N: n, P50: lat[n/2], P99: lat[n*99/100], Max: lat[n-1], Errors: errs}
}

// Get returns a request maker for GET url with the given headers.
func Get(url string, header map[string]string) func() *http.Request {
	return func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return req
	}
}

// Percentile returns the p-th percentile (0–100) of d, which it sorts.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p/100)]
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ProcBytes reads a size field of /proc/PID/status ("VmRSS", "VmHWM") in
// bytes; -1 when it cannot.
func ProcBytes(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			if len(f) < 2 {
				return -1
			}
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n * 1024
		}
	}
	return -1
}

// ProcCPU is the CPU time all of pid's threads have run so far, from
// /proc/<pid>/task/*/schedstat (nanoseconds; 0 when unreadable). Threads
// that have exited are not counted: take it around a phase of a process
// whose threads live long (a Go server's do).
func ProcCPU(pid int) time.Duration {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(n)
		}
	}
	return total
}
