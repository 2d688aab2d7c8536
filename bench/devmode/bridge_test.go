package devmode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"

	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/relay/relaytest"
)

// bridge is the floor the relay is measured against: a WebSocket server
// that owns its PTYs directly, as gotty does, with no relay hop and no
// runner. It uses the same WebSocket library as the relay and the same
// framing as the relay's browser side (terminal bytes in binary frames,
// one PTY read per frame), so the difference is what the relay adds.
type bridge struct {
	srv *httptest.Server
}

// startBridge serves bridge terminals on loopback until the test ends.
func startBridge(tb testing.TB) *bridge {
	br := &bridge{}
	br.srv = httptest.NewServer(http.HandlerFunc(br.serve))
	tb.Cleanup(br.srv.Close)
	return br
}

// serve runs one terminal: a shell in a PTY, its output to the WebSocket
// and the WebSocket's binary messages to its input.
func (br *bridge) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(64 << 10)
	cmd := exec.Command("/bin/sh")
	cmd.Env = []string{"PS1=$ ", "ENV=", "TERM=xterm-256color", "PATH=/usr/bin:/bin"}
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 24})
	if err != nil {
		return
	}
	defer func() { f.Close(); cmd.Process.Kill(); cmd.Wait() }()
	ctx := context.Background()
	go func() {
		buf := make([]byte, relay.MaxChunk)
		for {
			n, err := f.Read(buf)
			if n > 0 && ws.Write(ctx, websocket.MessageBinary, buf[:n]) != nil {
				break
			}
			if err != nil {
				break
			}
		}
		ws.Close(websocket.StatusNormalClosure, "")
	}()
	for {
		typ, p, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			if _, err := f.Write(p); err != nil {
				return
			}
		}
	}
}

// client is a browser's connection to one terminal, on the bridge or
// through the relay: the same code reads both, so the client's own cost
// is the same on either side of a ratio.
type client struct {
	ws   *websocket.Conn
	tail []byte // the last bytes read, for matches across frames
	// While draining, a goroutine reads and drops everything; stopped is
	// closed once the output after want contains the prompt.
	want    atomic.Bool
	stopped chan struct{}
	got     atomic.Int64
	typed   int // keystrokes so far
	frames  int // binary frames read by bulk
}

// dialBridge opens a terminal on the bridge.
func dialBridge(tb testing.TB, br *bridge) *client {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(br.srv.URL, "http"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	tb.Cleanup(func() { ws.CloseNow() })
	return &client{ws: ws}
}

// dialRelay opens a terminal on runnerID through the relay, as a browser
// does: an auth message with a ticket, then the relay's open.
func dialRelay(tb testing.TB, e *relaytest.Env, runnerID string) *client {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.URL("/terminal"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	tb.Cleanup(func() { ws.CloseNow() })
	auth, _ := json.Marshal(relay.Message{Type: relay.TypeAuth, Ticket: e.Auth.Ticket(runnerID), Cols: 80, Rows: 24})
	if err := ws.Write(ctx, websocket.MessageText, auth); err != nil {
		tb.Fatal(err)
	}
	typ, p, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageText || !bytes.Contains(p, []byte(`"open"`)) {
		tb.Fatalf("relay answered %s (%v)", p, err)
	}
	return &client{ws: ws}
}

func (c *client) send(tb testing.TB, s string) {
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		tb.Fatal(err)
	}
}

// waitFor reads output until it contains s.
func (c *client) waitFor(tb testing.TB, s string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		typ, p, err := c.ws.Read(ctx)
		if err != nil {
			tb.Fatalf("waiting for %q: %v", s, err)
		}
		if typ != websocket.MessageBinary {
			continue
		}
		c.tail = append(c.tail, p...)
		found := bytes.Contains(c.tail, []byte(s))
		c.tail = c.tail[max(0, len(c.tail)-len(s)):]
		if found {
			c.tail = c.tail[:0]
			return
		}
	}
}

// startCat leaves the terminal running cat in raw mode, ready to echo.
func (c *client) startCat(tb testing.TB) {
	c.send(tb, "stty raw -echo; echo rea''dy; exec cat\r")
	c.waitFor(tb, "ready")
}

// echo types n keystrokes, one at a time, and returns each one's time
// from the write to the byte coming back.
func (c *client) echo(tb testing.TB, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	for range n {
		s := string(rune('a' + c.typed%26))
		c.typed++
		start := time.Now()
		c.send(tb, s)
		c.waitFor(tb, s)
		out = append(out, time.Since(start))
	}
	return out
}

// flood makes the terminal print without end and reads (and drops) its
// output on a goroutine until stopFlood.
func (c *client) flood(tb testing.TB) {
	c.stopped = make(chan struct{})
	c.got.Store(0)
	c.want.Store(false)
	c.send(tb, "yes flooding-the-relay\r")
	go func() {
		var once sync.Once
		var tail []byte
		// One buffer for every frame: the flood's reader makes no garbage
		// that would slow down the echo it is meant to disturb only by
		// its traffic.
		buf := make([]byte, 64<<10)
		for {
			typ, rd, err := c.ws.Reader(context.Background())
			if err != nil {
				once.Do(func() { close(c.stopped) })
				return
			}
			n, _ := io.ReadFull(rd, buf)
			p := buf[:n]
			if typ != websocket.MessageBinary {
				continue
			}
			c.got.Add(int64(len(p)))
			if c.want.Load() {
				tail = append(tail, p...)
				if bytes.Contains(tail, []byte("$ ")) {
					once.Do(func() { close(c.stopped) })
					return
				}
				tail = tail[max(0, len(tail)-1):]
			}
		}
	}()
	relaytest.Wait(tb, "flood", func() bool { return c.got.Load() > 1<<20 })
}

// stopFlood interrupts the flood and waits for the shell's prompt.
func (c *client) stopFlood(tb testing.TB) {
	c.want.Store(true)
	c.send(tb, "\x03")
	select {
	case <-c.stopped:
	case <-time.After(20 * time.Second):
		tb.Fatal("the flood did not stop")
	}
}

// cpuTime is the CPU time this process (clients, relay, runner, bridge:
// not the shells) has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bulk has the terminal print size bytes of zeros and exit, and returns
// the rate in MB/s at the client from the first byte to the last, and the
// CPU time this process spent per MB (c.frames counts the frames).
func (c *client) bulk(tb testing.TB, size int) (float64, time.Duration) {
	c.send(tb, fmt.Sprintf("stty raw -echo; head -c %d /dev/zero; exit\r", size))
	ctx := context.Background()
	got := 0
	var t0 time.Time
	cpu0 := cpuTime()
	// Frames are read into one buffer (ws.Read would allocate each), so
	// that the client costs little beside what it measures.
	buf := make([]byte, 64<<10)
	for got < size {
		typ, rd, err := c.ws.Reader(ctx)
		if err != nil || typ == websocket.MessageText {
			break
		}
		if t0.IsZero() {
			t0 = time.Now()
		}
		c.frames++
		for {
			n, err := rd.Read(buf)
			got += bytes.Count(buf[:n], []byte{0})
			if err != nil {
				break
			}
		}
	}
	return float64(got) / time.Since(t0).Seconds() / 1e6, (cpuTime() - cpu0) * 1e6 / time.Duration(max(got, 1))
}
