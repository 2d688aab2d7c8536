// Package devmode measures the DevMode relay: keystroke echo round trip
// through the relay against the same on a local PTY (alone and while
// another terminal floods), bulk output throughput, and the relay's memory
// per idle runner+browser pair. Run:
//
//	go test -run XXX -bench . -benchtime 1x ./bench/devmode/
//	PAIRS=1000 go test -run TestIdleMemory -v ./bench/devmode/
//	PAIRS=1000 TYPE=1 GCS=4 go test -run TestIdleMemory -v ./bench/devmode/
//
// (TYPE: each terminal gets a keystroke and a resize before it idles;
// GCS: collections before reading the RSS, see relayChild.)
//
//	FLOOD_RUNNER=r2 go test -run '^$' -bench Echo -benchtime 1x ./bench/devmode/
//
// runs the flooding terminal on a second runner (its own connection)
// instead of the echoing terminal's: a control for the flood measurement,
// telling queueing on the shared runner connection from CPU contention.
//
// Everything is real: runners with PTYs and /bin/sh, WebSockets over
// loopback TCP. The memory test runs the relay in a child process and
// reads its RSS, so the clients' memory is not counted.
package devmode

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"

	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/relay/relaytest"
)

const keystrokes = 2000

// percentiles returns p50 and p99 of ds.
func percentiles(ds []time.Duration) (time.Duration, time.Duration) {
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100]
}

// echoLocal measures keystroke echo on a PTY of this process: write one
// byte to the controller, read it back from `cat` in raw mode.
func echoLocal(b *testing.B) []time.Duration {
	cmd := exec.Command("/bin/sh", "-c", "stty raw -echo; echo ready; exec cat")
	f, err := pty.Start(cmd)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { f.Close(); cmd.Process.Kill(); cmd.Wait() }()
	r := bufio.NewReader(f)
	if _, err := r.ReadString('y'); err != nil {
		b.Fatal(err)
	}
	r.ReadString('\n')
	out := make([]time.Duration, 0, keystrokes)
	for i := range keystrokes {
		c := byte('a' + i%26)
		start := time.Now()
		f.Write([]byte{c})
		for {
			got, err := r.ReadByte()
			if err != nil {
				b.Fatal(err)
			}
			if got == c {
				break
			}
		}
		out = append(out, time.Since(start))
	}
	return out
}

// echoRelay measures the same through relay and runner.
func echoRelay(b *testing.B, e *relaytest.Env) []time.Duration {
	term, err := e.Open("r1", true)
	if err != nil {
		b.Fatal(err)
	}
	term.Send("stty raw -echo; echo rea''dy; exec cat\r")
	pos, err := term.WaitFor(0, "ready", 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]time.Duration, 0, keystrokes)
	for i := range keystrokes {
		c := string(rune('a' + i%26))
		start := time.Now()
		term.Send(c)
		n, err := term.WaitFor(pos, c, 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		pos = n
		out = append(out, time.Since(start))
	}
	return out
}

// BenchmarkEcho reports keystroke echo p50/p99 locally, through the relay,
// and through the relay while another terminal of the same runner floods.
func BenchmarkEcho(b *testing.B) {
	for range b.N {
		lp50, lp99 := percentiles(echoLocal(b))
		e := relaytest.Start(b, relay.Options{Window: benchWindow()})
		e.StartRunner("r1")
		rp50, rp99 := percentiles(echoRelay(b, e))

		floodRunner := "r1"
		if os.Getenv("FLOOD_RUNNER") != "" {
			floodRunner = os.Getenv("FLOOD_RUNNER")
			e.StartRunner(floodRunner)
		}
		flood, err := e.Open(floodRunner, true)
		if err != nil {
			b.Fatal(err)
		}
		flood.Send("yes flooding-the-relay\r")
		relaytest.Wait(b, "flood", func() bool { return flood.Len() > 1<<20 })
		// The reader keeps up with the flood but its buffer is dropped.
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					flood.Reset()
				}
			}
		}()
		fp50, fp99 := percentiles(echoRelay(b, e))
		close(stop)

		b.ReportMetric(float64(lp50.Microseconds()), "local-p50-µs")
		b.ReportMetric(float64(lp99.Microseconds()), "local-p99-µs")
		b.ReportMetric(float64(rp50.Microseconds()), "relay-p50-µs")
		b.ReportMetric(float64(rp99.Microseconds()), "relay-p99-µs")
		b.ReportMetric(float64(fp50.Microseconds()), "flood-p50-µs")
		b.ReportMetric(float64(fp99.Microseconds()), "flood-p99-µs")
	}
}

// BenchmarkThroughput streams bulk output (zeros from head) through the
// relay and reports MB/s at the browser; and the same read from a local PTY.
func BenchmarkThroughput(b *testing.B) {
	const size = 200 << 20
	for range b.N {
		cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf("stty raw; head -c %d /dev/zero", size))
		f, err := pty.Start(cmd)
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 64<<10)
		start := time.Now()
		total := 0
		for total < size {
			n, err := f.Read(buf)
			total += n
			if err != nil {
				break
			}
		}
		local := float64(total) / time.Since(start).Seconds() / 1e6
		f.Close()
		cmd.Wait()

		e := relaytest.Start(b, relay.Options{Window: benchWindow()})
		e.StartRunner("r1")
		ctx := context.Background()
		ws, _, err := websocket.Dial(ctx, strings.Replace(e.Server.URL, "http", "ws", 1)+"/terminal", nil)
		if err != nil {
			b.Fatal(err)
		}
		ws.SetReadLimit(1 << 20)
		auth, _ := json.Marshal(relay.Message{Type: relay.TypeAuth, Ticket: e.Auth.Ticket("r1"), Cols: 80, Rows: 24})
		ws.Write(ctx, websocket.MessageText, auth)
		ws.Read(ctx) // open
		ws.Write(ctx, websocket.MessageBinary, []byte(fmt.Sprintf("stty raw -echo; head -c %d /dev/zero; exit\r", size)))
		got, frames := 0, 0
		var t0 time.Time
		for {
			typ, p, err := ws.Read(ctx)
			if err != nil || typ == websocket.MessageText {
				break
			}
			if t0.IsZero() {
				t0 = time.Now()
			}
			got += len(p)
			frames++
		}
		relayed := float64(got) / time.Since(t0).Seconds() / 1e6
		ws.CloseNow()
		b.ReportMetric(local, "local-MB/s")
		b.ReportMetric(relayed, "relay-MB/s")
		b.ReportMetric(float64(got)/float64(max(frames, 1)), "bytes/frame")
	}
}

// TestIdleMemory connects PAIRS idle runners (protocol-level clients, no
// shells) each with one open terminal and its browser to a relay in a
// child process, and reports the relay's RSS per pair.
func TestIdleMemory(t *testing.T) {
	if os.Getenv("RELAY_CHILD") != "" {
		relayChild()
		return
	}
	pairs, _ := strconv.Atoi(os.Getenv("PAIRS"))
	if pairs == 0 {
		t.Skip("set PAIRS=1000 (or 10000) to measure")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleMemory$")
	cmd.Env = append(os.Environ(), "RELAY_CHILD=1")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	sc.Scan()
	base := strings.TrimSpace(sc.Text()) // the relay's URL
	rss := func() int {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "VmRSS:" {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
		return 0
	}
	before := rss()
	ctx := context.Background()
	var conns []*websocket.Conn
	for i := range pairs {
		id := fmt.Sprint("r", i)
		rws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/runner",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer cred-" + id}}})
		if err != nil {
			t.Fatalf("runner %d: %v", i, err)
		}
		hello, _ := json.Marshal(relay.Message{Type: relay.TypeHello, Name: id})
		rws.Write(ctx, websocket.MessageText, hello)
		// An idle runner reads (and ignores) what the relay sends.
		go func() {
			for {
				if _, _, err := rws.Read(ctx); err != nil {
					return
				}
			}
		}()
		var bws *websocket.Conn
		for attempt := 0; ; attempt++ {
			resp, err := http.Post(base+"/ticket?runner="+id, "text/plain", nil)
			if err != nil {
				t.Fatal(err)
			}
			var tk string
			fmt.Fscan(resp.Body, &tk)
			resp.Body.Close()
			bws, _, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/terminal", nil)
			if err != nil {
				t.Fatal(err)
			}
			auth, _ := json.Marshal(relay.Message{Type: relay.TypeAuth, Ticket: tk})
			bws.Write(ctx, websocket.MessageText, auth)
			_, p, err := bws.Read(ctx)
			if err == nil && strings.Contains(string(p), `"open"`) {
				break
			}
			bws.CloseNow()
			if attempt > 100 {
				t.Fatalf("terminal %d did not open: %s %v", i, p, err)
			}
		}
		if os.Getenv("TYPE") != "" {
			// A terminal that was used before it went idle: a keystroke
			// and a resize pass through the relay.
			bws.Write(ctx, websocket.MessageBinary, []byte("x"))
			resize, _ := json.Marshal(relay.Message{Type: relay.TypeResize, Cols: 100, Rows: 30})
			bws.Write(ctx, websocket.MessageText, resize)
		}
		go func() {
			for {
				if _, _, err := bws.Read(ctx); err != nil {
					return
				}
			}
		}()
		conns = append(conns, rws, bws)
	}
	// Let the relay settle, then read its RSS after a GC in the child.
	var detail string
	if resp, err := http.Post(base+"/gc", "text/plain", nil); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		detail = string(b)
	}
	after := rss()
	t.Logf("relay %s", detail)
	t.Logf("relay RSS: %d KB idle, %d KB with %d runner+browser pairs: %.1f KB per pair", before, after, pairs, float64(after-before)/float64(pairs))
	for _, c := range conns {
		c.CloseNow()
	}
}

// relayChild serves a relay on loopback, with a ticket minting and a GC
// endpoint for the parent, and prints its URL.
func relayChild() {
	a := &relaytest.Auth{}
	r := relay.New(relay.Options{Auth: a})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /runner", r.HandleRunner)
	mux.HandleFunc("GET /terminal", r.HandleTerminal)
	mux.HandleFunc("POST /ticket", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprint(w, a.Ticket(req.URL.Query().Get("runner")))
	})
	mux.HandleFunc("POST /gc", func(w http.ResponseWriter, req *http.Request) {
		// The runtime collects at least every two minutes even when idle,
		// and each collection halves goroutine stacks that use less than a
		// quarter of theirs: GCS collections show where a relay idle for
		// GCS×2 minutes settles (1 by default: right after connecting).
		gcs, _ := strconv.Atoi(os.Getenv("GCS"))
		for range max(gcs, 1) {
			runtime.GC()
		}
		debug.FreeOSMemory()
		if p := os.Getenv("HEAP_PROFILE"); p != "" {
			if f, err := os.Create(p); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, "heap-inuse=%dKB stack-inuse=%dKB goroutines=%d", ms.HeapInuse>>10, ms.StackInuse>>10, runtime.NumGoroutine())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println("http://" + ln.Addr().String())
	_ = http.Serve(ln, mux)
}

// benchWindow is the credit window under test: WINDOW bytes, else the default.
func benchWindow() int {
	n, _ := strconv.Atoi(os.Getenv("WINDOW"))
	return n
}
