// Package runner is the DevMode runner: the program a Coda user runs on
// their own machine. It pairs with Coda (a device authorization flow), then
// keeps one WebSocket to the relay and serves terminals on it, one PTY with
// the user's login shell per terminal the browser asks for. It never
// listens: it only dials out, with its own credential.
package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"

	"github.com/relaywork/suite/internal/coda/relay"
)

// ErrRevoked means the server refused the credential: the runner was
// revoked (or its user deleted) and must be paired again.
var ErrRevoked = errors.New("the server refused this runner's credential (revoked?); run `coda-runner pair` again")

// Options configures Run.
type Options struct {
	Config Config // from pairing
	Name   string // announced name; the host name when empty
	// Version is announced to the server (the hello message's version and
	// the User-Agent), which shows a banner when it is older than the
	// latest runner release.
	Version string
	// Shell and ShellArgs start each terminal; default: $SHELL (else
	// /bin/sh) as a login shell.
	Shell     string
	ShellArgs []string
	Env       []string // extra environment for shells
	Logger    *slog.Logger
	// MinBackoff and MaxBackoff bound the reconnect delay (with jitter);
	// defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Grace is how long a shell stays open while the runner has no
	// connection to the relay (a relay restart, a network drop): when the
	// runner is back in time it hands the shell, with its recent output,
	// to the relay again (DefaultGrace if 0).
	Grace time.Duration
	// OnConnect, if set, is called each time a connection is established.
	OnConnect func()
}

// DefaultGrace is how long shells outlive the runner's connection.
const DefaultGrace = 5 * time.Minute

// scrollback is how much recent output the runner keeps per shell, to
// hand the relay again after a reconnect (the relay's own scrollback).
const scrollback = relay.DefaultScrollback

// Run serves terminals until ctx ends, reconnecting with backoff and
// jitter whenever the relay goes away. It returns ErrRevoked if the
// credential is refused.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if o.Config.RelayURL == "" || o.Config.Credential == "" {
		return errors.New("runner: not paired; run `coda-runner pair --server URL` first")
	}
	sh := &shells{o: o, terms: map[uint32]*term{}}
	// The shells end with Run, whatever the connection.
	defer sh.killAll()
	backoff := o.MinBackoff
	for {
		connected, err := sh.session(ctx)
		if errors.Is(err, ErrRevoked) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			backoff = o.MinBackoff
		}
		// Full jitter: a fleet of runners does not reconnect in lockstep.
		wait := time.Duration(rand.Int64N(int64(backoff)) + int64(backoff)/2)
		o.Logger.Info("relay connection lost; reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, o.MaxBackoff)
	}
}

// shells are the runner's terminals, which outlive a connection.
type shells struct {
	o     Options
	mu    sync.Mutex
	terms map[uint32]*term
}

// conn is one connection to the relay.
type conn struct {
	sh    *shells
	o     Options
	ws    *websocket.Conn
	tcp   *corker // the connection under ws
	ctx   context.Context
	start time.Time
}

// steadyConn is how long a connection must last for its end to start a
// shell's grace period afresh; a relay that takes the runner and drops it
// at once (a node shutting down) does not keep shells alive forever.
const steadyConn = 10 * time.Second

// session runs one connection; connected reports whether it got through.
// The shells kept from an earlier connection are announced in the hello
// and re-attached to this one; when it ends they are detached again and
// wait (for Options.Grace) for the next.
func (sh *shells) session(ctx context.Context) (connected bool, err error) {
	o := sh.o
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	tcp := &corker{}
	ws, resp, err := websocket.Dial(dctx, o.Config.RelayURL, &websocket.DialOptions{
		HTTPClient:      tcp.client(),
		HTTPHeader:      http.Header{"Authorization": {"Bearer " + o.Config.Credential}, "User-Agent": {userAgent(o.Version)}},
		CompressionMode: websocket.CompressionDisabled,
	})
	cancel()
	if resp != nil && resp.StatusCode == http.StatusUnauthorized {
		return false, ErrRevoked
	}
	if err != nil {
		return false, err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	c := &conn{sh: sh, o: o, ws: ws, tcp: tcp, ctx: cctx, start: time.Now()}
	kept := sh.live()
	hello := relay.Message{Type: relay.TypeHello, Name: o.Name, OS: runtime.GOOS, Arch: runtime.GOARCH, Version: o.Version}
	for _, t := range kept {
		hello.Terminals = append(hello.Terminals, t.kept())
	}
	if err := c.send(hello); err != nil {
		return false, err
	}
	for _, t := range kept {
		t.attach(c)
	}
	defer func() {
		if errors.Is(err, ErrRevoked) {
			sh.killAll()
			return
		}
		sh.detach(c)
	}()
	o.Logger.Info("connected to the relay", "relay", o.Config.RelayURL, "kept_terminals", len(kept))
	if o.OnConnect != nil {
		o.OnConnect()
	}
	// Reads take no context (one would cost a context.AfterFunc per
	// message): the connection is closed when cctx ends instead.
	stop := context.AfterFunc(cctx, func() { ws.CloseNow() })
	defer stop()
	for {
		typ, b, err := ws.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) == relay.CloseRevoked {
				return true, ErrRevoked
			}
			return true, err
		}
		if typ == websocket.MessageBinary {
			id, p, err := relay.DecodeFrame(b)
			if err != nil {
				return true, err
			}
			if t := sh.term(id); t != nil {
				t.input(p)
			}
			continue
		}
		var m relay.Message
		if err := json.Unmarshal(b, &m); err != nil {
			return true, fmt.Errorf("bad control message: %w", err)
		}
		switch m.Type {
		case relay.TypeOpen:
			c.open(m)
		case relay.TypeResize:
			if t := sh.term(m.ID); t != nil {
				t.resize(m.Cols, m.Rows)
			}
		case relay.TypeClose:
			if t := sh.term(m.ID); t != nil {
				t.kill()
			}
		case relay.TypeAck:
			if t := sh.term(m.ID); t != nil {
				t.credit(c, m.N)
			}
		case relay.TypePing:
			_ = c.send(relay.Message{Type: relay.TypePong})
		}
	}
}

func (c *conn) send(m relay.Message) error {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

func (sh *shells) term(id uint32) *term {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.terms[id]
}

// live returns the shells still running, by ID.
func (sh *shells) live() []*term {
	sh.mu.Lock()
	ts := make([]*term, 0, len(sh.terms))
	for _, t := range sh.terms {
		ts = append(ts, t)
	}
	sh.mu.Unlock()
	slices.SortFunc(ts, func(a, b *term) int { return cmp.Compare(a.id, b.id) })
	return ts
}

func (sh *shells) killAll() {
	for _, t := range sh.live() {
		t.kill()
	}
}

// detach lets every shell attached to c wait for the next connection.
func (sh *shells) detach(c *conn) {
	for _, t := range sh.live() {
		t.detach(c)
	}
}

// shellCommand builds the login shell for a terminal.
func (o Options) shellCommand() *exec.Cmd {
	sh, args := o.Shell, o.ShellArgs
	login := false
	if sh == "" {
		sh = os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		login = true
	}
	cmd := exec.Command(sh, args...)
	if login {
		// A leading dash in argv[0] makes it a login shell, as login(1) does.
		cmd.Args[0] = "-" + filepath.Base(sh)
	}
	if home, err := os.UserHomeDir(); err == nil {
		cmd.Dir = home
	}
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "COLORTERM=truecolor")
	cmd.Env = append(cmd.Env, o.Env...)
	return cmd
}

// open starts a shell in a PTY for terminal m.ID.
func (c *conn) open(m relay.Message) {
	if c.sh.term(m.ID) != nil {
		return // the relay reuses no ID; a duplicate open is ignored
	}
	window := m.Window
	if window <= 0 {
		window = relay.DefaultWindow
	}
	cmd := c.o.shellCommand()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(max(m.Cols, 2)), Rows: uint16(max(m.Rows, 2))})
	if err != nil {
		c.o.Logger.Warn("cannot start a shell", "err", err)
		_ = c.ws.Write(c.ctx, websocket.MessageBinary, relay.EncodeFrame(m.ID, []byte("coda-runner: cannot start a shell: "+err.Error()+"\r\n")))
		_ = c.send(relay.Message{Type: relay.TypeExit, ID: m.ID, Code: relay.IntPtr(-1), Message: "cannot start a shell"})
		return
	}
	t := &term{sh: c.sh, c: c, id: m.ID, key: m.Terminal, pty: f, cmd: cmd, window: window, avail: window,
		cols: m.Cols, rows: m.Rows, ring: ring{max: scrollback},
		in: make(chan []byte, 256), done: make(chan struct{})}
	t.cond = sync.NewCond(&t.mu)
	if nonblocking(f) && f.SetWriteDeadline(time.Time{}) == nil { // in the poller and non-blocking
		t.raw, _ = f.SyscallConn()
	}
	c.sh.mu.Lock()
	c.sh.terms[m.ID] = t
	c.sh.mu.Unlock()
	go t.writeInput()
	go t.readOutput()
}

// term is one shell.
type term struct {
	sh     *shells
	id     uint32
	key    string // the relay's resume key, announced again on reconnect
	pty    *os.File
	cmd    *exec.Cmd
	window int
	in     chan []byte
	done   chan struct{}
	// raw writes the PTY's descriptor directly (nil if it is not
	// non-blocking); inQueued counts input in t.in or being written from
	// it, so that input written at once never overtakes queued input.
	raw      syscall.RawConn
	inMu     sync.Mutex
	inQueued int

	mu         sync.Mutex
	cond       *sync.Cond
	c          *conn // the connection output goes to; nil while detached
	avail      int   // credit: bytes the relay will accept on c
	cols, rows int
	ring       ring   // recent output, handed to the relay after a reconnect
	replay     []byte // what of the ring is still to send on c
	replaying  bool   // sendReplay runs; new output waits for it
	grace      *time.Timer
	lostAt     time.Time // when the grace period began
	killed     bool
	once       sync.Once
}

// credit returns n bytes of window on connection c.
func (t *term) credit(c *conn, n int) {
	t.mu.Lock()
	if t.c == c {
		t.avail += n
	}
	t.mu.Unlock()
	t.cond.Broadcast() // the output loop, and a replay in progress
}

func (t *term) resize(cols, rows int) {
	t.mu.Lock()
	t.cols, t.rows = cols, rows
	t.mu.Unlock()
	_ = setsize(t.pty, cols, rows)
}

// kept describes the shell for a hello.
func (t *term) kept() relay.Kept {
	t.mu.Lock()
	defer t.mu.Unlock()
	return relay.Kept{ID: t.id, Terminal: t.key, Cols: t.cols, Rows: t.rows}
}

// attach sends the shell's output to c from now on, starting with its
// recent output (the new relay connection's scrollback) and a full window.
func (t *term) attach(c *conn) {
	t.mu.Lock()
	if t.grace != nil {
		t.grace.Stop()
		t.grace = nil
	}
	t.c, t.avail, t.replay = c, t.window, nil
	t.queueReplay(t.ring.bytes())
	t.mu.Unlock()
	t.cond.Broadcast()
}

// queueReplay adds p to what goes to t.c before any new output, and
// starts sending it (t.mu held). It does not wait for the output loop,
// which may sit in a read of an idle shell.
func (t *term) queueReplay(p []byte) {
	if len(p) == 0 {
		return
	}
	t.replay = append(t.replay, p...)
	if !t.replaying {
		t.replaying = true
		go t.sendReplay(t.c)
	}
}

// sendReplay sends the queued replay on c within the credit window; the
// output loop holds new output back until it is done.
func (t *term) sendReplay(c *conn) {
	frame := make([]byte, relay.HeaderLen+relay.MaxChunk)
	relay.PutFrameID(frame, t.id)
	for {
		t.mu.Lock()
		for t.c == c && t.avail <= 0 && !t.killed {
			t.cond.Wait()
		}
		if t.c != c || t.killed || len(t.replay) == 0 {
			if t.c == c {
				t.replay = nil
			}
			t.replaying = false
			t.mu.Unlock()
			t.cond.Broadcast()
			return
		}
		k := copy(frame[relay.HeaderLen:relay.HeaderLen+min(t.avail, relay.MaxChunk)], t.replay)
		t.replay = t.replay[k:]
		t.avail -= k
		t.mu.Unlock()
		if c.ws.Write(c.ctx, websocket.MessageBinary, frame[:relay.HeaderLen+k]) != nil {
			t.mu.Lock()
			t.replaying = false
			t.mu.Unlock()
			t.cond.Broadcast()
			return
		}
	}
}

// detach stops output to c (its connection ended); the shell waits for
// the next connection for the grace period, then is hung up.
func (t *term) detach(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c != c || t.killed {
		return
	}
	t.c, t.avail, t.replay = nil, 0, nil
	t.cond.Broadcast() // a replay in progress stops
	if t.lostAt.IsZero() || time.Since(c.start) >= steadyConn {
		t.lostAt = time.Now()
	}
	t.grace = time.AfterFunc(t.sh.o.Grace-time.Since(t.lostAt), func() {
		t.mu.Lock()
		gone := t.c == nil
		t.mu.Unlock()
		if gone {
			t.sh.o.Logger.Info("shell hung up: the relay did not come back in time", "terminal", t.id)
			t.kill()
		}
	})
}

// input hands keystrokes to the PTY without blocking the connection.
// When nothing is queued before them they are written at once, on the
// connection's goroutine, as far as the PTY takes them without waiting
// (a keystroke's shortest way to the shell); the rest is queued for
// writeInput. A program that stops reading its input while more than the
// queue holds is pasted loses the excess.
func (t *term) input(p []byte) {
	t.inMu.Lock()
	defer t.inMu.Unlock()
	if t.inQueued == 0 && t.raw != nil {
		p = p[t.writeNow(p):]
		if len(p) == 0 {
			return
		}
	}
	select {
	case t.in <- p:
		t.inQueued++
	case <-t.done:
	default:
		t.sh.o.Logger.Warn("terminal input overflow; dropped", "terminal", t.id, "bytes", len(p))
	}
}

// writeNow writes what of p the PTY takes without blocking, and returns
// how much that was. The PTY's descriptor is non-blocking (it is in Go's
// poller), so a full input buffer answers EAGAIN at once.
func (t *term) writeNow(p []byte) int {
	n := 0
	_ = t.raw.Write(func(fd uintptr) bool {
		k, err := rawWrite(fd, p)
		if err == nil && k > 0 {
			n = k
		}
		return true // never wait: what is left goes to the queue
	})
	return n
}

func (t *term) writeInput() {
	for {
		select {
		case p := <-t.in:
			_, err := t.pty.Write(p)
			t.inMu.Lock()
			t.inQueued--
			t.inMu.Unlock()
			if err != nil {
				return
			}
		case <-t.done:
			return
		}
	}
}

// readOutput streams PTY output within the credit window, then reports
// the exit status. Reading the PTY and writing the connection overlap: while
// one frame is being sent, the next is read, so the program writing the
// output is not held up by the connection (the PTY's kernel buffer is
// only a few KiB). While the shell has no connection nothing is read: the
// program blocks on a full PTY buffer until the runner is back.
func (t *term) readOutput() {
	const inFlight = 2 // frames read ahead of the one being sent
	type frame struct {
		c *conn
		b []byte
	}
	free := make(chan []byte, inFlight+1)
	for range inFlight + 1 {
		free <- make([]byte, relay.HeaderLen+relay.MaxChunk)
	}
	frames := make(chan frame, inFlight)
	sent := make(chan struct{})
	var sending atomic.Int32 // frames handed to the sender and not yet written
	go func() {
		defer close(sent)
		for f := range frames {
			// A failed write means the connection is gone: the session
			// detaches the shell, and the bytes are in the ring, which
			// goes to the next connection.
			big := len(f.b) > relay.HeaderLen+bulkRead
			if big {
				f.c.tcp.cork(true)
			}
			_ = f.c.ws.Write(f.c.ctx, websocket.MessageBinary, f.b)
			if big {
				f.c.tcp.cork(false)
			}
			sending.Add(-1)
			free <- f.b[:cap(f.b)]
		}
	}()
	for {
		buf := <-free
		t.mu.Lock()
		for (t.c == nil || t.avail <= 0 || t.replaying) && !t.killed {
			t.cond.Wait()
		}
		if t.killed {
			t.mu.Unlock()
			free <- buf
			break
		}
		c, n := t.c, min(t.avail, relay.MaxChunk)
		t.mu.Unlock()
		relay.PutFrameID(buf, t.id)
		out := buf[relay.HeaderLen:]
		// Only as much as the window allows is read; the rest waits in the
		// kernel's PTY buffer, which blocks the program when full.
		k, err := t.pty.Read(out[:n])
		if err == nil && k >= bulkRead && k < n {
			k, err = t.coalesce(out[:n], k)
		}
		send := false
		if k > 0 {
			t.mu.Lock()
			t.ring.write(out[:k])
			switch {
			case t.c == c && !t.replaying:
				t.avail -= k
				send = true
			case t.c != nil:
				// The connection changed during the read: the new one
				// gets these bytes after the replay it is owed.
				t.queueReplay(out[:k])
			}
			t.mu.Unlock()
		}
		switch {
		case send && k < bulkRead && sending.Load() == 0:
			// Interactive output (an echo) with nothing ahead of it is
			// written here, without the hop to the sender.
			_ = c.ws.Write(c.ctx, websocket.MessageBinary, buf[:relay.HeaderLen+k])
			free <- buf
		case send:
			sending.Add(1)
			frames <- frame{c, buf[:relay.HeaderLen+k]}
		default:
			free <- buf
		}
		if err != nil {
			break // EIO once the shell and its children closed the terminal
		}
	}
	close(frames)
	<-sent // all output goes before the exit
	t.kill()
	waited := make(chan struct{})
	go func() {
		// A shell that ignores the hang-up is killed.
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			_ = t.cmd.Process.Kill()
		}
	}()
	code := -1
	err := t.cmd.Wait()
	close(waited)
	if err == nil {
		code = 0
	} else if ee, ok := errors.AsType[*exec.ExitError](err); ok && ee.ExitCode() >= 0 {
		code = ee.ExitCode()
	}
	close(t.done)
	t.sh.mu.Lock()
	delete(t.sh.terms, t.id)
	t.sh.mu.Unlock()
	t.mu.Lock()
	c := t.c
	t.mu.Unlock()
	if c != nil {
		_ = c.send(relay.Message{Type: relay.TypeExit, ID: t.id, Code: &code})
	}
}

// bulkRead is a PTY read size that means output is streaming: the kernel
// hands out at most about 4 KiB per read.
const bulkRead = 4000

// coalesce reads what else is already waiting (briefly) after a full read,
// so that streaming output travels in frames of up to 32 KiB instead of
// 4 KiB: far fewer syscalls and frames per megabyte. Interactive output
// (small reads) is sent at once.
func (t *term) coalesce(buf []byte, k int) (int, error) {
	if t.pty.SetReadDeadline(time.Now().Add(200*time.Microsecond)) != nil {
		return k, nil // not pollable: no deadlines, no coalescing
	}
	defer t.pty.SetReadDeadline(time.Time{})
	for k < len(buf) {
		m, err := t.pty.Read(buf[k:])
		k += m
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return k, nil
			}
			return k, err
		}
		if m < bulkRead {
			break
		}
	}
	return k, nil
}

// kill hangs the terminal up: closing the PTY's controller sends SIGHUP
// to the shell's session.
func (t *term) kill() {
	t.once.Do(func() {
		t.mu.Lock()
		t.killed = true
		if t.grace != nil {
			t.grace.Stop()
		}
		t.mu.Unlock()
		t.cond.Broadcast()
		_ = t.pty.Close()
		if t.cmd.Process != nil {
			_ = t.cmd.Process.Signal(os.Interrupt)
		}
	})
}

// userAgent is the runner's User-Agent on every request: coda-runner/VERSION
// (GOOS/GOARCH), so the server's logs show which builds connect.
func userAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "coda-runner/" + version + " (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
}

// ring keeps the last max bytes of a shell's output.
type ring struct {
	max  int
	buf  []byte
	pos  int
	full bool
}

func (g *ring) write(p []byte) {
	if len(p) >= g.max {
		g.buf = append(g.buf[:0], p[len(p)-g.max:]...)
		g.pos, g.full = 0, true
		return
	}
	if !g.full {
		if len(g.buf)+len(p) <= g.max {
			g.buf = append(g.buf, p...)
			return
		}
		nb := make([]byte, g.max)
		copy(nb, g.buf)
		g.pos, g.buf, g.full = len(g.buf), nb, true
	}
	n := copy(g.buf[g.pos:], p)
	copy(g.buf, p[n:])
	g.pos = (g.pos + len(p)) % g.max
}

func (g *ring) bytes() []byte {
	if !g.full {
		return append([]byte(nil), g.buf...)
	}
	out := make([]byte, 0, g.max)
	out = append(out, g.buf[g.pos:]...)
	return append(out, g.buf[:g.pos]...)
}
