// Command voyager measures Voyager's chat on a real voyager binary over a
// fake Anthropic server (internal/voyager/ai/aitest) with a fixed delay
// before its first token, next to a floor measured in the same run: a bare
// reverse proxy (httputil.ReverseProxy flushing at once) in a process of
// its own (this program, run again) in front of the same fake; the same
// proxy inside the bench's process is measured too, for reference.
//
//   - time to first token added, for 1 and for C (default 100) concurrent
//     conversations: each request's first-token time minus the fake's own
//     time to its first piece for that request, straight to the fake, through
//     the bare proxy and through Voyager (POST the message asking for the
//     answer's SSE events in the response; the two-request path, POST then
//     GET the stream, is measured too and labelled); "added" is the percentile through the proxy or Voyager
//     minus the percentile straight to the fake, and the figure is Voyager's
//     added time over the proxy's;
//   - N concurrent streams (default 500) started at once: first-token and
//     whole-answer latency straight to the fake, through the proxy and
//     through Voyager, the ratio of Voyager's first-token p99 to the
//     direct one, and the server's RSS;
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
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
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
	"sync/atomic"
	"time"

	"github.com/relaywork/suite/bench/loadgen"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the voyager binary")
	delay := flag.Duration("delay", 200*time.Millisecond, "the fake provider's delay before its first token")
	samples := flag.Int("samples", 50, "sequential sends (one conversation) for the first-token measurement")
	conc := flag.Int("conc", 100, "concurrent conversations for the second first-token measurement")
	rounds := flag.Int("rounds", 5, "sends per conversation at -conc (each round: straight, proxy, Voyager)")
	streams := flag.Int("streams", 500, "concurrent streams started at once")
	bursts := flag.Int("bursts", 2, "bursts of -streams (each: straight, proxy, Voyager)")
	rate := flag.Int("rate", 1000, "community page requests per second (0: skip the page load)")
	dur := flag.Duration("duration", 10*time.Second, "how long the page load runs")
	flag.Parse()
	if t := os.Getenv(proxyEnv); t != "" {
		serveProxy(t, os.Getenv(proxyListenEnv)) // the floor's own process
		return
	}

	chunks := make([]string, 20)
	for i := range chunks {
		chunks[i] = "word" + strconv.Itoa(i) + " "
	}
	fake := aitest.Anthropic(aitest.Script{Delay: *delay, Chunks: chunks, Input: 500, Output: 20, CacheRead: 400})
	defer fake.Close()
	// The floor: the bare proxy in a process of its own, as Voyager is
	// (the bench re-runs itself). The same proxy inside the bench's
	// process, next to the client and the fake, is measured too: it
	// shares their warm threads, which a separate server cannot.
	proxy, proxyPID, stopProxy := startProxy(fake.URL)
	defer stopProxy()
	inproc := bareProxy(fake.URL)
	defer inproc.Close()

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

	// One client transport for all three paths, so they differ only in
	// what is between the client and the fake.
	tr := &http.Transport{MaxIdleConnsPerHost: 2000, MaxConnsPerHost: 0}
	raw := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	c := signIn(path, env, base, tr, "bench@example.com")
	post(c, base+"/c/bench/join", nil)
	b := &bench{fake: fake, raw: raw, c: c, base: base}

	fmt.Printf("## Voyager chat (%d cores, fake Anthropic, %v before the first token, %d pieces)\n\n", runtime.NumCPU(), *delay, len(chunks))
	fmt.Printf("Floor: a bare `httputil.ReverseProxy` (FlushInterval -1) in the bench process in front of the same fake. ")
	fmt.Printf("Overhead of a request = its first-token time minus the fake's own time to its first piece; ")
	fmt.Printf("added = overhead percentile through the proxy or Voyager minus the same percentile straight to the fake.\n\n")

	// 1. Time to first token, one conversation: the three paths take turns.
	var direct, floor, near, ours, two []sample
	// CPU time of the floor's process over its requests and of Voyager's
	// over its sends (one request each), to tell work from waiting.
	var floorCPU, oursCPU cpuMeter
	conv := newConv(c, base)
	for i := 0; i < *samples; i++ {
		direct = append(direct, b.raw1(fake.URL))
		floorCPU.around(proxyPID, func() { floor = append(floor, b.raw1(proxy)) })
		near = append(near, b.raw1(inproc.URL))
		oursCPU.around(srv.Process.Pid, func() { ours = append(ours, b.voyager1(conv)) })
		two = append(two, b.voyager2(conv))
		if i%5 == 4 {
			conv = newConv(c, base) // keep the history short, as in a new conversation
		}
	}
	b.match(direct, floor, near, ours, two)
	var before, relay []time.Duration
	for _, s := range ours {
		if s.ok {
			before = append(before, s.call.Received.Sub(s.t0))
			relay = append(relay, s.t0.Add(s.ttft).Sub(s.call.FirstChunk))
		}
	}
	var rows []row
	rows = append(rows, addedRows("1 conversation, sequential", direct, floor, ours)...)
	rows = append(rows, addedRows("1 conversation, two requests (POST, then GET stream)", direct, floor, two)...)
	rows = append(rows, addedRows("1 conversation, against the proxy inside the bench's process", direct, near, ours)...)
	cpuRows := []string{cpuRow("1 conversation, sequential", oursCPU, floorCPU, len(ours))}

	// 2. Time to first token, -conc conversations at once.
	convs := make([]string, *conc)
	for i := range convs {
		convs[i] = newConv(c, base)
	}
	direct, floor, near, ours, two = nil, nil, nil, nil, nil
	floorCPU, oursCPU = cpuMeter{}, cpuMeter{}
	for r := 0; r < *rounds; r++ {
		direct = append(direct, b.burst(*conc, func(int) sample { return b.raw1(fake.URL) })...)
		floorCPU.around(proxyPID, func() { floor = append(floor, b.burst(*conc, func(int) sample { return b.raw1(proxy) })...) })
		near = append(near, b.burst(*conc, func(int) sample { return b.raw1(inproc.URL) })...)
		oursCPU.around(srv.Process.Pid, func() { ours = append(ours, b.burst(*conc, func(i int) sample { return b.voyager1(convs[i]) })...) })
		two = append(two, b.burst(*conc, func(i int) sample { return b.voyager2(convs[i]) })...)
	}
	b.match(direct, floor, near, ours, two)
	rows = append(rows, addedRows(fmt.Sprintf("%d concurrent conversations", *conc), direct, floor, ours)...)
	rows = append(rows, addedRows(fmt.Sprintf("%d concurrent conversations, two requests", *conc), direct, floor, two)...)
	rows = append(rows, addedRows(fmt.Sprintf("%d concurrent conversations, against the proxy inside the bench's process", *conc), direct, near, ours)...)
	cpuRows = append(cpuRows, cpuRow(fmt.Sprintf("%d concurrent conversations", *conc), oursCPU, floorCPU, len(ours)))

	fmt.Println("| time to first token | straight to the fake | bare proxy, own process (floor) | Voyager | added by the proxy | added by Voyager | Voyager / floor | goal |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Printf("\nOne conversation, where Voyager's time goes: send → provider request (session, membership, reads, context, SDK) p50 %v p99 %v; "+
		"provider's first piece → member's SSE event (SDK, hub, SSE) p50 %v p99 %v\n\n",
		pct(before, 50), pct(before, 99), pct(relay, 50), pct(relay, 99))
	fmt.Printf("| CPU per request, whole answer (%d cores) | floor's process | Voyager's process | Voyager / floor |\n|---|---|---|---|\n", runtime.NumCPU())
	for _, r := range cpuRows {
		fmt.Println(r)
	}
	fmt.Println()

	// 3. Concurrent streams started at once.
	convs = make([]string, *streams)
	for i := range convs {
		convs[i] = newConv(c, base)
	}
	rssBefore := rss(srv.Process.Pid)
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if r := rss(srv.Process.Pid); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	direct, floor, near, ours = nil, nil, nil, nil
	for r := 0; r < *bursts; r++ {
		direct = append(direct, b.burst(*streams, func(int) sample { return b.raw1(fake.URL) })...)
		floor = append(floor, b.burst(*streams, func(int) sample { return b.raw1(proxy) })...)
		near = append(near, b.burst(*streams, func(int) sample { return b.raw1(inproc.URL) })...)
		ours = append(ours, b.burst(*streams, func(i int) sample { return b.voyager1(convs[i]) })...)
	}
	close(stop)
	fmt.Printf("| %d streams at once (%d bursts) | complete | first token p50 | first token p99 | whole answer p50 | whole answer p99 | first-token p99 / direct | goal |\n", *streams, *bursts)
	fmt.Println("|---|---|---|---|---|---|---|---|")
	dp99 := pct(ttfts(direct), 99)
	for _, p := range []struct {
		name string
		s    []sample
		goal string
	}{{"straight to the fake", direct, ""}, {"bare proxy, own process (floor)", floor, ""}, {"bare proxy inside the bench's process", near, ""}, {"Voyager", ours, "≤ 1.3"}} {
		t := ttfts(p.s)
		fmt.Printf("| %s | %d/%d | %v | %v | %v | %v | %s | %s |\n", p.name, len(t), len(p.s), pct(t, 50), pct(t, 99),
			pct(totals(p.s), 50), pct(totals(p.s), 99), ratio(pct(t, 99), dp99), p.goal)
	}
	fmt.Printf("\nServer RSS: %.1f MB before the bursts, peak %.1f MB during (%.1f KB per stream)\n\n",
		mb(rssBefore), mb(peak.Load()), float64(peak.Load()-rssBefore)/1024/float64(*streams))

	// 4. Community page at a constant rate.
	if *rate > 0 {
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
	}
	fmt.Printf("\nServer peak RSS overall (VmHWM): %.1f MB\n", mb(hwm(srv.Process.Pid)))
}

// bareProxy is the bare proxy inside the bench's process (the reference
// beside the floor, which is the same proxy in a process of its own).
func bareProxy(target string) *httptest.Server {
	return httptest.NewServer(proxyHandler(target))
}

// proxyHandler is the floor: the standard library's reverse proxy,
// flushing each write at once, in front of target.
func proxyHandler(target string) http.Handler {
	u, _ := url.Parse(target)
	return &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		FlushInterval: -1,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 2000},
	}
}

// The floor's own process: the bench runs itself with these set.
const (
	proxyEnv       = "VOYAGER_BENCH_PROXY_TARGET"
	proxyListenEnv = "VOYAGER_BENCH_PROXY_LISTEN"
)

// serveProxy is the floor's process; it ends when the bench does (its
// standard input, a pipe from the bench, closes).
func serveProxy(target, addr string) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	srv := &http.Server{Addr: addr, Handler: proxyHandler(target)}
	if err := srv.ListenAndServe(); err != nil {
		fail("proxy: %v", err)
	}
}

// startProxy runs the bare proxy in front of target in a child process
// (this program, run again) and returns its URL.
func startProxy(target string) (string, int, func()) {
	self, err := os.Executable()
	if err != nil {
		fail("proxy: %v", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(loadgen.FreePort())
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), proxyEnv+"="+target, proxyListenEnv+"="+addr)
	cmd.Stderr = os.Stderr
	alive, err := cmd.StdinPipe() // closed when the bench exits, however it exits
	if err != nil {
		fail("proxy: %v", err)
	}
	if err := cmd.Start(); err != nil {
		fail("proxy: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			fail("proxy did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "http://" + addr, cmd.Process.Pid, func() { alive.Close(); cmd.Process.Kill(); cmd.Wait() }
}

// cpuMeter adds up a process's CPU time over the calls it is around.
type cpuMeter struct{ total time.Duration }

func (m *cpuMeter) around(pid int, f func()) {
	t0 := loadgen.ProcCPU(pid)
	f()
	m.total += loadgen.ProcCPU(pid) - t0
}

// cpuRow prints the CPU each request cost the floor's process and
// Voyager's, over n requests each (Voyager's includes saving the turn and
// the answer, which the proxy does not do).
func cpuRow(what string, ours, floor cpuMeter, n int) string {
	if n == 0 {
		return "| " + what + " | | | |"
	}
	per := func(m cpuMeter) time.Duration { return (m.total / time.Duration(n)).Round(time.Microsecond) }
	return fmt.Sprintf("| %s (n=%d) | %v | %v | %s |", what, n, per(floor), per(ours), ratio(per(ours), per(floor)))
}

// sample is one request's first token.
type sample struct {
	tag   string
	t0    time.Time
	ttft  time.Duration // send → first piece of text at the client
	total time.Duration // send → end of the answer
	ok    bool
	call  *aitest.Call // the fake's record of the request (after match)
}

// overhead is the request's first-token time less the fake's own time
// from receiving it to writing its first piece.
func (s sample) overhead() time.Duration {
	return s.ttft - s.call.FirstChunk.Sub(s.call.Received)
}

type bench struct {
	fake *aitest.Server
	raw  *http.Client
	c    *http.Client
	base string
	n    atomic.Int64
}

func (b *bench) tag() string { return "#t" + strconv.FormatInt(b.n.Add(1), 10) + "#" }

var tagRE = regexp.MustCompile(`#t\d+#`)

// match finds each sample's request among the fake's calls by its tag
// (the last one in the body: a conversation's history holds earlier ones).
func (b *bench) match(sets ...[]sample) {
	calls := b.fake.Calls()
	byTag := make(map[string]*aitest.Call, len(calls))
	for i := range calls {
		body, _ := json.Marshal(calls[i].Body["messages"])
		if m := tagRE.FindAll(body, -1); m != nil {
			byTag[string(m[len(m)-1])] = &calls[i]
		}
	}
	for _, set := range sets {
		for i := range set {
			if c := byTag[set[i].tag]; c != nil && !c.FirstChunk.IsZero() {
				set[i].call = c
			} else {
				set[i].ok = false
			}
		}
	}
}

// burst runs n requests at once and returns their samples.
func (b *bench) burst(n int, f func(i int) sample) []sample {
	out := make([]sample, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// raw1 asks u (the fake, or the proxy in front of it) for a streamed
// answer with raw HTTP, as a client that reads SSE would.
func (b *bench) raw1(u string) sample {
	s := sample{tag: b.tag(), t0: time.Now()}
	body := `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"How do I ask for a raise? ` + s.tag + `"}]}`
	req, _ := http.NewRequest("POST", u+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "sk-ant-bench")
	resp, err := b.raw.Do(req)
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if s.ttft == 0 && strings.Contains(sc.Text(), "text_delta") {
			s.ttft = time.Since(s.t0)
		}
	}
	s.total, s.ok = time.Since(s.t0), s.ttft > 0 && sc.Err() == nil
	return s
}

// voyager1 sends a message in conv and reads the answer's events from
// the send's own response (one request: Accept: text/event-stream).
func (b *bench) voyager1(conv string) sample {
	s := sample{tag: b.tag(), t0: time.Now()}
	s.ttft, s.ok = sendStreaming(b.c, b.base, conv, "How do I ask for a raise? "+s.tag)
	s.total = time.Since(s.t0)
	return s
}

// voyager2 sends a message in conv, then follows the answer's stream
// with a second request (the API's JSON send, then GET stream_url).
func (b *bench) voyager2(conv string) sample {
	s := sample{tag: b.tag(), t0: time.Now()}
	s.ttft, s.ok = sendAndFollow(b.c, b.base, conv, "How do I ask for a raise? "+s.tag)
	s.total = time.Since(s.t0)
	return s
}

// row is one line of the first-token table.
type row struct {
	what, direct, floor, ours, addFloor, addOurs, ratio, goal string
}

func (r row) String() string {
	return "| " + strings.Join([]string{r.what, r.direct, r.floor, r.ours, r.addFloor, r.addOurs, r.ratio, r.goal}, " | ") + " |"
}

// addedRows compares the three paths at p50 and p99.
func addedRows(what string, direct, floor, ours []sample) []row {
	var rows []row
	for _, p := range []struct {
		p    float64
		goal string
	}{{50, "≤ 2"}, {99, "≤ 3"}} {
		d, f, o := pct(overheads(direct), p.p), pct(overheads(floor), p.p), pct(overheads(ours), p.p)
		rows = append(rows, row{
			what:     fmt.Sprintf("%s, p%v (n=%d/%d/%d)", what, p.p, count(direct), count(floor), count(ours)),
			direct:   pct(ttfts(direct), p.p).String(),
			floor:    pct(ttfts(floor), p.p).String(),
			ours:     pct(ttfts(ours), p.p).String(),
			addFloor: (f - d).String(),
			addOurs:  (o - d).String(),
			ratio:    ratio(o-d, f-d),
			goal:     p.goal,
		})
	}
	return rows
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func count(s []sample) int {
	n := 0
	for _, x := range s {
		if x.ok {
			n++
		}
	}
	return n
}

func overheads(s []sample) []time.Duration {
	var d []time.Duration
	for _, x := range s {
		if x.ok && x.call != nil {
			d = append(d, x.overhead())
		}
	}
	return d
}

func ttfts(s []sample) []time.Duration {
	var d []time.Duration
	for _, x := range s {
		if x.ok {
			d = append(d, x.ttft)
		}
	}
	return d
}

func totals(s []sample) []time.Duration {
	var d []time.Duration
	for _, x := range s {
		if x.ok {
			d = append(d, x.total)
		}
	}
	return d
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
func sendAndFollow(c *http.Client, base, conv, content string) (time.Duration, bool) {
	t0 := time.Now()
	b := post(c, base+"/api/c/bench/conversations/"+conv+"/messages", map[string]string{"content": content})
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
	return readEvents(resp.Body, t0)
}

// sendStreaming sends a message asking for the answer's events in the
// response; it returns the time from the send to the first piece of text.
func sendStreaming(c *http.Client, base, conv, content string) (time.Duration, bool) {
	t0 := time.Now()
	body, _ := json.Marshal(map[string]string{"content": content})
	req, _ := http.NewRequest("POST", base+"/api/c/bench/conversations/"+conv+"/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(os.Stderr, "send: %d %s\n", resp.StatusCode, b)
		return 0, false
	}
	return readEvents(resp.Body, t0)
}

// readEvents reads an answer's SSE events until "done"; it returns the
// time from t0 to the first piece of text.
func readEvents(r io.Reader, t0 time.Time) (time.Duration, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
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
			// Read on to the end of the body, as the straight and proxy
			// paths do: a response closed before its end closes the
			// connection, and the next send would dial a new one.
			_, err := io.Copy(io.Discard, r)
			return first, first > 0 && err == nil
		}
	}
	return first, false
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
