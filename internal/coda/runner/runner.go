// Package runner is the DevMode runner: the program a Coda user runs on
// their own machine. It pairs with Coda (a device authorization flow), then
// keeps one WebSocket to the relay and serves terminals on it, one PTY with
// the user's login shell per terminal the browser asks for. It never
// listens: it only dials out, with its own credential.
package runner

import (
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
	"sync"
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
	// OnConnect, if set, is called each time a connection is established.
	OnConnect func()
}

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
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if o.Config.RelayURL == "" || o.Config.Credential == "" {
		return errors.New("runner: not paired; run `coda-runner pair --server URL` first")
	}
	backoff := o.MinBackoff
	for {
		connected, err := session(ctx, o)
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

// conn is one connection to the relay and its terminals.
type conn struct {
	o     Options
	ws    *websocket.Conn
	ctx   context.Context
	mu    sync.Mutex
	terms map[uint32]*term
}

// session runs one connection; connected reports whether it got through.
func session(ctx context.Context, o Options) (connected bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	ws, resp, err := websocket.Dial(dctx, o.Config.RelayURL, &websocket.DialOptions{
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
	c := &conn{o: o, ws: ws, ctx: cctx, terms: map[uint32]*term{}}
	defer c.closeAll()
	if err := c.send(relay.Message{Type: relay.TypeHello, Name: o.Name, OS: runtime.GOOS, Arch: runtime.GOARCH, Version: o.Version}); err != nil {
		return false, err
	}
	o.Logger.Info("connected to the relay", "relay", o.Config.RelayURL)
	if o.OnConnect != nil {
		o.OnConnect()
	}
	for {
		typ, b, err := ws.Read(cctx)
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
			if t := c.term(id); t != nil {
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
			if t := c.term(m.ID); t != nil {
				_ = pty.Setsize(t.pty, &pty.Winsize{Cols: uint16(m.Cols), Rows: uint16(m.Rows)})
			}
		case relay.TypeClose:
			if t := c.term(m.ID); t != nil {
				t.kill()
			}
		case relay.TypeAck:
			if t := c.term(m.ID); t != nil {
				t.credit(m.N)
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

func (c *conn) term(id uint32) *term {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.terms[id]
}

func (c *conn) closeAll() {
	c.mu.Lock()
	ts := make([]*term, 0, len(c.terms))
	for _, t := range c.terms {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	for _, t := range ts {
		t.kill()
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
	t := &term{c: c, id: m.ID, pty: f, cmd: cmd, avail: window, in: make(chan []byte, 256), done: make(chan struct{})}
	t.cond = sync.NewCond(&t.mu)
	c.mu.Lock()
	c.terms[m.ID] = t
	c.mu.Unlock()
	go t.writeInput()
	go t.readOutput()
}

// term is one shell.
type term struct {
	c    *conn
	id   uint32
	pty  *os.File
	cmd  *exec.Cmd
	in   chan []byte
	done chan struct{}

	mu     sync.Mutex
	cond   *sync.Cond
	avail  int // credit: bytes the relay will accept
	killed bool
	once   sync.Once
}

// credit returns n bytes of window.
func (t *term) credit(n int) {
	t.mu.Lock()
	t.avail += n
	t.mu.Unlock()
	t.cond.Signal()
}

// input queues keystrokes for the PTY without blocking the connection; a
// program that stops reading its input while more than the queue holds is
// pasted loses the excess.
func (t *term) input(p []byte) {
	select {
	case t.in <- p:
	case <-t.done:
	default:
		t.c.o.Logger.Warn("terminal input overflow; dropped", "terminal", t.id, "bytes", len(p))
	}
}

func (t *term) writeInput() {
	for {
		select {
		case p := <-t.in:
			if _, err := t.pty.Write(p); err != nil {
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
// only a few KiB).
func (t *term) readOutput() {
	const inFlight = 2 // frames read ahead of the one being sent
	free := make(chan []byte, inFlight+1)
	for range inFlight + 1 {
		free <- make([]byte, relay.HeaderLen+relay.MaxChunk)
	}
	frames := make(chan []byte, inFlight)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		failed := false
		for f := range frames {
			if !failed && t.c.ws.Write(t.c.ctx, websocket.MessageBinary, f) != nil {
				failed = true
				t.kill() // the reader's next read fails
			}
			free <- f[:cap(f)]
		}
	}()
	for {
		t.mu.Lock()
		for t.avail <= 0 && !t.killed && t.c.ctx.Err() == nil {
			t.cond.Wait()
		}
		n := min(t.avail, relay.MaxChunk)
		stop := t.killed || t.c.ctx.Err() != nil
		t.mu.Unlock()
		if stop {
			break
		}
		frame := <-free
		relay.PutFrameID(frame, t.id)
		buf := frame[relay.HeaderLen:]
		// Only as much as the window allows is read; the rest waits in the
		// kernel's PTY buffer, which blocks the program when full.
		k, err := t.pty.Read(buf[:n])
		if err == nil && k >= bulkRead && k < n {
			k, err = t.coalesce(buf[:n], k)
		}
		if k > 0 {
			t.mu.Lock()
			t.avail -= k
			t.mu.Unlock()
			frames <- frame[:relay.HeaderLen+k]
		} else {
			free <- frame
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
	t.c.mu.Lock()
	delete(t.c.terms, t.id)
	t.c.mu.Unlock()
	_ = t.c.send(relay.Message{Type: relay.TypeExit, ID: t.id, Code: &code})
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
