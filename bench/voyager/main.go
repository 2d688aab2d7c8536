// Command voyager measures Voyager's chat on a real voyager binary over a
// fake Anthropic server (internal/voyager/ai/aitest) with a fixed delay
// before its first token:
//
//   - time to first token added by our server: the member's first SSE
//     piece after sending, minus the same measured straight against the
//     fake provider;
//   - N concurrent streams (default 500): first-token and whole-answer
//     latency, and the server's RSS;
//   - a community page at a constant request rate (default 1,000 req/s):
//     p50/p99/max, signed out and signed in as a member.
//
// It only talks to 127.0.0.1.
//
//	go build -o bin/voyager ./cmd/voyager && go run ./bench/voyager -bin bin
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/relaywork/suite/bench/loadgen"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the voyager binary")
	delay := flag.Duration("delay", 200*time.Millisecond, "the fake provider's delay before its first token")
	streams := flag.Int("streams", 500, "concurrent streams")
	samples := flag.Int("samples", 50, "sequential sends for the first-token measurement")
	rate := flag.Int("rate", 1000, "community page requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long the page load runs")
	flag.Parse()

	chunks := make([]string, 20)
	for i := range chunks {
		chunks[i] = "word" + strconv.Itoa(i) + " "
	}
	fake := aitest.Anthropic(aitest.Script{Delay: *delay, Chunks: chunks, Input: 500, Output: 20, CacheRead: 400})
	defer fake.Close()

	dir, _ := os.MkdirTemp("", "voyager-bench")
	defer os.RemoveAll(dir)
	cdir := filepath.Join(dir, "communities")
	os.Mkdir(cdir, 0o755)
	os.WriteFile(filepath.Join(cdir, "bench.json"), []byte(`{"id":"bench","name":"Bench","description":"Load test community.","visibility":"public",
		"coach":{"name":"B","systemPrompt":"You are a coach.","welcomeMessage":"Hi.","starterQuestions":["One?","Two?"]},"limits":{"messagesPerDay":0}}`), 0o644)
	port := loadgen.FreePort()
	env := append(os.Environ(), "PORT="+strconv.Itoa(port), "DATA_DIR="+filepath.Join(dir, "data"), "COMMUNITIES_DIR="+cdir,
		"ANTHROPIC_API_KEY=sk-ant-bench", "ANTHROPIC_BASE_URL="+fake.URL, "RATE_LIMIT_SCALE=0", "LOG_LEVEL=warn", "APP_ENV=test", "EMAIL_SERVER=stream")
	path := filepath.Join(*bin, "voyager")
	srv := exec.Command(path, "serve")
	srv.Env = env
	srv.Stdout, srv.Stderr = io.Discard, io.Discard
	if err := srv.Start(); err != nil {
		fail("start: %v", err)
	}
	defer srv.Process.Kill()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitReady(base)

	tr := &http.Transport{MaxIdleConnsPerHost: 2000, MaxConnsPerHost: 0}
	c := signIn(path, env, base, tr, "bench@example.com")
	post(c, base+"/c/bench/join", nil)

	fmt.Printf("## Voyager chat (%d cores, fake Anthropic, %v before the first token, %d pieces)\n\n", runtime.NumCPU(), *delay, len(chunks))

	// 1. Time to first token: straight to the fake vs through Voyager.
	var direct, ours, before, relay []time.Duration
	for i := 0; i < *samples; i++ {
		direct = append(direct, directTTFT(fake.URL))
		conv := newConv(c, base)
		t0 := time.Now()
		t, _ := sendAndFollow(c, base, conv)
		ours = append(ours, t)
		calls := fake.Calls()
		last := calls[len(calls)-1]
		before = append(before, last.Received.Sub(t0))
		relay = append(relay, t0.Add(t).Sub(last.FirstChunk))
	}
	dm, om := pct(direct, 50), pct(ours, 50)
	fmt.Printf("First token, %d sequential sends: straight to the fake p50 %v p99 %v; through Voyager (POST, then SSE) p50 %v p99 %v\n",
		*samples, dm, pct(direct, 99), om, pct(ours, 99))
	fmt.Printf("Added by Voyager: p50 %v, p99 %v, of which\n", om-dm, pct(ours, 99)-pct(direct, 99))
	fmt.Printf("  send → provider request (auth, membership, 1 write transaction, SDK): p50 %v p99 %v\n", pct(before, 50), pct(before, 99))
	fmt.Printf("  provider's first piece → member's SSE event (hub and SSE relay): p50 %v p99 %v\n\n", pct(relay, 50), pct(relay, 99))

	// 2. Concurrent streams.
	convs := make([]string, *streams)
	for i := range convs {
		convs[i] = newConv(c, base)
	}
	rssBefore := rss(srv.Process.Pid)
	var mu sync.Mutex
	var ttft, total []time.Duration
	var peak int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if r := rss(srv.Process.Pid); r > peak {
					peak = r
				}
			}
		}
	}()
	var wg sync.WaitGroup
	start := time.Now()
	for _, conv := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			f, ok := sendAndFollow(c, base, conv)
			mu.Lock()
			if ok {
				ttft = append(ttft, f)
				total = append(total, time.Since(t0))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	wall := time.Since(start)
	fmt.Printf("%d concurrent streams: %d complete in %v; first token p50 %v p99 %v; whole answer p50 %v p99 %v\n",
		*streams, len(total), wall.Round(time.Millisecond), pct(ttft, 50), pct(ttft, 99), pct(total, 50), pct(total, 99))
	fmt.Printf("Server RSS: %.1f MB before, peak %.1f MB during (%.1f KB per stream)\n\n",
		mb(rssBefore), mb(peak), float64(peak-rssBefore)/1024/float64(*streams))

	// 3. Community page at a constant rate.
	// A member with a realistic history (10 conversations) for the page load.
	member := signIn(path, env, base, tr, "member@example.com")
	post(member, base+"/c/bench/join", nil)
	for i := 0; i < 10; i++ {
		newConv(member, base)
	}
	for _, who := range []struct {
		name string
		c    *http.Client
	}{{"signed out", &http.Client{Transport: tr}}, {"signed-in member with 10 conversations", member}} {
		r := loadgen.Run(who.c, *rate, *dur, loadgen.Get(base+"/c/bench/", map[string]string{"Accept": "text/html"}))
		fmt.Printf("Community page, %s, %d req/s for %v (open loop): p50 %v p99 %v max %v, %d errors\n", who.name, *rate, *dur,
			r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond), r.Errors)
	}
	fmt.Printf("\nServer peak RSS overall (VmHWM): %.1f MB\n", mb(hwm(srv.Process.Pid)))
}

// signIn signs email in through an operator login link.
func signIn(path string, env []string, base string, tr http.RoundTripper, email string) *http.Client {
	cmd := exec.Command(path, "admin", "login-link", email)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`token=([A-Za-z0-9_-]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		fail("login-link: %v %s", err, out)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: tr, Timeout: 60 * time.Second}
	resp, err := c.PostForm(base+"/auth/email/confirm", url.Values{"token": {string(m[1])}})
	if err != nil || resp.StatusCode != 200 {
		fail("confirm: %v", err)
	}
	resp.Body.Close()
	return c
}

func newConv(c *http.Client, base string) string {
	b := post(c, base+"/api/c/bench/conversations", map[string]string{})
	var v struct{ ID string }
	json.Unmarshal(b, &v)
	return v.ID
}

// sendAndFollow sends a message and reads the answer's stream; it returns
// the time from the send to the first piece of text.
func sendAndFollow(c *http.Client, base, conv string) (time.Duration, bool) {
	t0 := time.Now()
	b := post(c, base+"/api/c/bench/conversations/"+conv+"/messages", map[string]string{"content": "How do I ask for a raise?"})
	var sent struct {
		StreamURL string `json:"stream_url"`
	}
	if json.Unmarshal(b, &sent) != nil || sent.StreamURL == "" {
		fmt.Fprintf(os.Stderr, "send: %s\n", b)
		return 0, false
	}
	resp, err := c.Get(base + sent.StreamURL)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var first time.Duration
	ev := ""
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "event: ") {
			ev = line[7:]
			continue
		}
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		if first == 0 && (ev == "delta" || (ev == "snapshot" && line != `data: {"text":""}`)) {
			first = time.Since(t0)
		}
		if ev == "done" {
			return first, first > 0
		}
	}
	return first, false
}

// directTTFT is the first text straight from the fake (raw HTTP, no SDK).
func directTTFT(u string) time.Duration {
	t0 := time.Now()
	resp, err := http.Post(u+"/v1/messages", "application/json", strings.NewReader(`{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		fail("direct: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "text_delta") {
			d := time.Since(t0)
			io.Copy(io.Discard, resp.Body)
			return d
		}
	}
	return time.Since(t0)
}

func post(c *http.Client, u string, body any) []byte {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest("POST", u, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i].Round(10 * time.Microsecond)
}

func rss(pid int) int64  { return loadgen.ProcBytes(pid, "VmRSS") }
func hwm(pid int) int64  { return loadgen.ProcBytes(pid, "VmHWM") }
func mb(b int64) float64 { return float64(b) / (1 << 20) }

func waitReady(base string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fail("server not ready")
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, f+"\n", a...)
	os.Exit(1)
}
