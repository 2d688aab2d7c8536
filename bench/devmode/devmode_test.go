// Package devmode measures the DevMode relay against floors measured in
// the same run: keystroke echo through the relay against a direct
// WebSocket<->PTY bridge (alone and while another terminal floods), bulk
// output through the relay against a local PTY read, and the relay's
// memory per idle runner+browser pair. Run:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/devmode/
//	PAIRS=1000 go test -run TestIdleMemory -v ./bench/devmode/
//	PAIRS=1000 TYPE=1 GCS=4 go test -run TestIdleMemory -v ./bench/devmode/
//
// (TYPE: each terminal gets a keystroke and a resize before it idles;
// GCS: collections before reading the RSS, see relayChild; HEAP_PROFILE:
// a file for the relay's heap profile; BULK_MB: the bulk output's size,
// 50 by default; WINDOW: the credit window in bytes.)
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
	"bytes"
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

// Echo: keystrokes per path. They alternate between the floor and the
// relay (while flooding, in blocks, each with its own flood) so that the
// machine's drift falls on both alike.
const (
	keystrokes = 2000
	blocks     = 8
)

// percentiles returns p50 and p99 of ds.
func percentiles(ds []time.Duration) (time.Duration, time.Duration) {
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100]
}

// BenchmarkEcho measures keystroke echo (write a byte, read it back from
// cat in raw mode) through the relay and runner against the floor, the
// direct WebSocket<->PTY bridge: alone, and while another terminal (of the
// same runner, of the same bridge) floods. It prints the figures as ratios
// to the floor measured in the same run.
func BenchmarkEcho(b *testing.B) {
	for range b.N {
		e := relaytest.Start(b, relay.Options{Window: benchWindow()})
		e.StartRunner("r1")
		br := startBridge(b)
		rt, ft := dialRelay(b, e, "r1"), dialBridge(b, br)
		rt.startCat(b)
		ft.startCat(b)
		// Alone: keystrokes alternate between the floor and the relay.
		var relayEcho, floorEcho []time.Duration
		for range keystrokes {
			floorEcho = append(floorEcho, ft.echo(b, 1)...)
			relayEcho = append(relayEcho, rt.echo(b, 1)...)
		}

		floodRunner := "r1"
		if os.Getenv("FLOOD_RUNNER") != "" {
			floodRunner = os.Getenv("FLOOD_RUNNER")
			e.StartRunner(floodRunner)
		}
		rf, ff := dialRelay(b, e, floodRunner), dialBridge(b, br)
		var relayFlood, floorFlood []time.Duration
		for range blocks {
			ff.flood(b)
			floorFlood = append(floorFlood, ft.echo(b, keystrokes/blocks)...)
			ff.stopFlood(b)
			rf.flood(b)
			relayFlood = append(relayFlood, rt.echo(b, keystrokes/blocks)...)
			rf.stopFlood(b)
		}

		fp50, fp99 := percentiles(floorEcho)
		rp50, rp99 := percentiles(relayEcho)
		ffp50, ffp99 := percentiles(floorFlood)
		rfp50, rfp99 := percentiles(relayFlood)
		fmt.Printf("\n| keystroke echo (%d per path) | floor: direct WebSocket-PTY bridge | relay | ratio | goal |\n|---|---|---|---|---|\n", keystrokes)
		row := func(what string, floor, rel time.Duration, goal string) {
			fmt.Printf("| %s | %s | %s | %.2fx | %s |\n", what, us(floor), us(rel), float64(rel)/float64(floor), goal)
		}
		row("p50", fp50, rp50, "≤ 1.5x")
		row("p99", fp99, rp99, "")
		row("p50, another terminal flooding", ffp50, rfp50, "")
		row("p99, another terminal flooding", ffp99, rfp99, "≤ 2x")
		fmt.Printf("| added to p99 while flooding | | %s | | ≤ 1 ms |\n\n", us(rfp99-ffp99))

		b.ReportMetric(float64(rp50)/float64(fp50), "p50-x-floor")
		b.ReportMetric(float64(rfp99)/float64(ffp99), "flood-p99-x-floor")
		b.ReportMetric(float64(fp50.Microseconds()), "floor-p50-µs")
		b.ReportMetric(float64(rp50.Microseconds()), "relay-p50-µs")
		b.ReportMetric(float64(ffp99.Microseconds()), "floor-flood-p99-µs")
		b.ReportMetric(float64(rfp99.Microseconds()), "relay-flood-p99-µs")
	}
}

// us formats d in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

// localRead returns the rate in MB/s at which this process reads size
// bytes of zeros that head writes into a local PTY in raw mode, and the
// CPU time it spent per MB.
func localRead(b *testing.B, size int) (float64, time.Duration) {
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf("stty raw; head -c %d /dev/zero", size))
	f, err := pty.Start(cmd)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { f.Close(); cmd.Wait() }()
	buf := make([]byte, 64<<10)
	got := 0
	var t0 time.Time
	cpu0 := cpuTime()
	for got < size {
		n, err := f.Read(buf)
		if t0.IsZero() {
			t0 = time.Now()
		}
		got += bytes.Count(buf[:n], []byte{0})
		if err != nil {
			break
		}
	}
	return float64(got) / time.Since(t0).Seconds() / 1e6, (cpuTime() - cpu0) * 1e6 / time.Duration(max(got, 1))
}

// BenchmarkThroughput streams bulk output (zeros from head) through the
// relay, and the same from the bridge, against the rate at which this
// process reads a local PTY (the floor), in rounds of one of each; each
// round's ratio is to the floor read just before it, and the figure is
// the median ratio over the rounds.
func BenchmarkThroughput(b *testing.B) {
	size := 50 << 20
	if n, _ := strconv.Atoi(os.Getenv("BULK_MB")); n > 0 {
		size = n << 20
	}
	const rounds = 5
	for range b.N {
		e := relaytest.Start(b, relay.Options{Window: benchWindow()})
		e.StartRunner("r1")
		br := startBridge(b)
		var local, bridged, relayed, ratio []float64
		var localCPU, bridgeCPU, relayCPU []time.Duration
		var relayFrames, bridgeFrames int
		for range rounds {
			l, lc := localRead(b, size)
			rt, ft := dialRelay(b, e, "r1"), dialBridge(b, br)
			r, rc := rt.bulk(b, size)
			f, fc := ft.bulk(b, size)
			relayFrames, bridgeFrames = relayFrames+rt.frames, bridgeFrames+ft.frames
			local, relayed, bridged, ratio = append(local, l), append(relayed, r), append(bridged, f), append(ratio, r/l)
			localCPU, relayCPU, bridgeCPU = append(localCPU, lc), append(relayCPU, rc), append(bridgeCPU, fc)
		}
		l, f, r := median(local), median(bridged), median(relayed)
		fmt.Printf("\n| bulk output (%d MB, median of %d rounds) | floor: local PTY read | bridge | relay | relay/floor (spread) | goal |\n|---|---|---|---|---|---|\n", size>>20, rounds)
		fmt.Printf("| MB/s | %.0f | %.0f | %.0f | %.2fx (%.2f–%.2f) | ≥ 0.8x (and ≥ 100 MB/s) |\n", l, f, r, median(ratio), ratio[0], ratio[len(ratio)-1])
		lc, fc, rc := medianDuration(localCPU), medianDuration(bridgeCPU), medianDuration(relayCPU)
		fmt.Printf("| CPU of this process per MB (readers, runner, relay; not head) | %s | %s | %s | %.2fx | |\n", us(lc), us(fc), us(rc), float64(rc)/float64(lc))
		fmt.Printf("| bytes per frame at the browser | | %d | %d | | |\n\n", rounds*size/max(bridgeFrames, 1), rounds*size/max(relayFrames, 1))
		b.ReportMetric(median(ratio), "relay-x-local")
		b.ReportMetric(l, "local-MB/s")
		b.ReportMetric(f, "bridge-MB/s")
		b.ReportMetric(r, "relay-MB/s")
	}
}

// medianDuration returns the median of ds, which it sorts.
func medianDuration(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// median returns the median of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
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
