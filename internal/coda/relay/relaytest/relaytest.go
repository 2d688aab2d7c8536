// Package relaytest runs a relay and real runners in process, over real
// WebSockets and real PTYs, with an in-memory Auth standing in for Coda's
// database. The relay tests and bench/devmode use it.
package relaytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/runner"
)

// Auth is an in-memory relay.Auth: credential "cred-RUNNER" is runner
// RUNNER of user "user"; tickets are minted by Ticket and spent once.
type Auth struct {
	mu      sync.Mutex
	tickets map[string]relay.Identity
	n       int
	seen    map[string][]relay.Hello
}

// AuthenticateRunner implements relay.Auth.
func (a *Auth) AuthenticateRunner(_ context.Context, cred string) (relay.Identity, error) {
	id, ok := strings.CutPrefix(cred, "cred-")
	if !ok {
		return relay.Identity{}, errors.New("bad credential")
	}
	return relay.Identity{UserID: "user", RunnerID: id}, nil
}

// RedeemTicket implements relay.Auth.
func (a *Auth) RedeemTicket(_ context.Context, t string) (relay.Identity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.tickets[t]
	if !ok {
		return relay.Identity{}, errors.New("bad ticket")
	}
	delete(a.tickets, t)
	return id, nil
}

// RunnerSeen implements relay.Auth; Seen returns what it recorded.
func (a *Auth) RunnerSeen(_ context.Context, runnerID string, h relay.Hello) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen = map[string][]relay.Hello{}
	}
	a.seen[runnerID] = append(a.seen[runnerID], h)
}

// Seen returns the RunnerSeen calls for runnerID so far, in order.
func (a *Auth) Seen(runnerID string) []relay.Hello {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]relay.Hello(nil), a.seen[runnerID]...)
}

// Event implements relay.Auth.
func (a *Auth) Event(context.Context, relay.Event) {}

// Ticket mints a single-use ticket for runnerID.
func (a *Auth) Ticket(runnerID string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tickets == nil {
		a.tickets = map[string]relay.Identity{}
	}
	a.n++
	t := fmt.Sprintf("ticket-%d", a.n)
	a.tickets[t] = relay.Identity{UserID: "user", RunnerID: runnerID}
	return t
}

// Env is a relay on a loopback HTTP server.
type Env struct {
	TB     testing.TB
	Relay  *relay.Relay // the current relay (Restart replaces it)
	Auth   *Auth
	Server *httptest.Server

	o  relay.Options
	mu sync.Mutex
}

// Start starts a relay with o (Auth is filled in).
func Start(tb testing.TB, o relay.Options) *Env {
	a := &Auth{}
	o.Auth = a
	e := &Env{TB: tb, Auth: a, o: o, Relay: relay.New(o)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /runner", func(w http.ResponseWriter, r *http.Request) { e.current().HandleRunner(w, r) })
	mux.HandleFunc("GET /terminal", func(w http.ResponseWriter, r *http.Request) { e.current().HandleTerminal(w, r) })
	e.Server = httptest.NewServer(mux)
	tb.Cleanup(func() { e.current().Close(); e.Server.Close() })
	return e
}

func (e *Env) current() *relay.Relay {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Relay
}

// Restart closes the relay, as a graceful shutdown does, and puts a new
// one with the same options at the same address: a relay restart.
func (e *Env) Restart() {
	e.mu.Lock()
	old := e.Relay
	e.mu.Unlock()
	old.Close()
	e.mu.Lock()
	e.Relay = relay.New(e.o)
	e.mu.Unlock()
}

// URL is the WebSocket URL of path ("/runner", "/terminal").
func (e *Env) URL(path string) string { return e.wsURL(path) }

func (e *Env) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(e.Server.URL, "http") + path
}

// StartRunner runs a runner with id until the test ends and waits until
// the relay sees it.
func (e *Env) StartRunner(id string) { e.StartRunnerWith(id, nil) }

// StartRunnerWith is StartRunner with options changed by edit (if not nil).
func (e *Env) StartRunnerWith(id string, edit func(*runner.Options)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	o := runner.Options{
		Config: runner.Config{RelayURL: e.wsURL("/runner"), Credential: "cred-" + id},
		Name:   id, Shell: "/bin/sh", Env: []string{"PS1=$ ", "ENV="},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	if edit != nil {
		edit(&o)
	}
	go func() {
		defer close(done)
		_ = runner.Run(ctx, o)
	}()
	e.TB.Cleanup(func() { cancel(); <-done })
	Wait(e.TB, "runner "+id+" online", func() bool { return e.Relay.Online(id) })
}

// Wait polls cond until it holds or 20 s pass.
func Wait(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Term is a browser's connection to one terminal. Unless Paused, a
// goroutine reads everything into Output.
type Term struct {
	WS  *websocket.Conn
	Key string

	mu      sync.Mutex
	out     []byte
	exit    *relay.Message
	done    chan struct{}
	notify  chan struct{}
	noRead  bool
	started bool
	closed  error // why the connection ended, once done is closed
	open    relay.Message
}

// Opened is the relay's open message (Resumed tells a resume).
func (t *Term) Opened() relay.Message { return t.open }

// Done is closed when the connection has ended.
func (t *Term) Done() <-chan struct{} { return t.done }

// CloseStatus is the close code the relay ended the connection with
// (once Done is closed), or -1.
func (t *Term) CloseStatus() websocket.StatusCode {
	t.mu.Lock()
	defer t.mu.Unlock()
	return websocket.CloseStatus(t.closed)
}

// Open connects a browser to a new terminal on runnerID. With read false
// nothing is read until Read is called: a stalled browser.
func (e *Env) Open(runnerID string, read bool) (*Term, error) {
	return e.Resume(runnerID, "", read)
}

// Resume connects a browser to terminal key (its resume key) on runnerID,
// or to a new terminal when key is "" or no longer known.
func (e *Env) Resume(runnerID, key string, read bool) (*Term, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.wsURL("/terminal"), nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	auth, _ := json.Marshal(relay.Message{Type: relay.TypeAuth, Ticket: e.Auth.Ticket(runnerID), Terminal: key, Cols: 80, Rows: 24})
	if err := ws.Write(ctx, websocket.MessageText, auth); err != nil {
		return nil, err
	}
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m relay.Message
	if typ != websocket.MessageText || json.Unmarshal(b, &m) != nil || m.Type != relay.TypeOpen {
		return nil, fmt.Errorf("relay answered %s", b)
	}
	t := &Term{WS: ws, Key: m.Terminal, open: m, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	e.TB.Cleanup(func() { ws.CloseNow() })
	if read {
		t.Read()
	}
	return t, nil
}

// Read starts reading (for a terminal opened without).
func (t *Term) Read() {
	t.mu.Lock()
	if t.started {
		t.mu.Unlock()
		return
	}
	t.started = true
	t.mu.Unlock()
	go func() {
		defer close(t.done)
		for {
			typ, p, err := t.WS.Read(context.Background())
			if err != nil {
				t.mu.Lock()
				t.closed = err
				t.mu.Unlock()
				return
			}
			t.mu.Lock()
			if typ == websocket.MessageBinary {
				t.out = append(t.out, p...)
			} else {
				var m relay.Message
				if json.Unmarshal(p, &m) == nil && m.Type == relay.TypeExit {
					t.exit = &m
				}
			}
			t.mu.Unlock()
			select {
			case t.notify <- struct{}{}:
			default:
			}
		}
	}()
}

// Send types s.
func (t *Term) Send(s string) error {
	return t.WS.Write(context.Background(), websocket.MessageBinary, []byte(s))
}

// Resize sends a resize.
func (t *Term) Resize(cols, rows int) error {
	b, _ := json.Marshal(relay.Message{Type: relay.TypeResize, Cols: cols, Rows: rows})
	return t.WS.Write(context.Background(), websocket.MessageText, b)
}

// Len is how many output bytes arrived so far.
func (t *Term) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.out)
}

// Output returns all output so far.
func (t *Term) Output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.out)
}

// Reset forgets the output so far.
func (t *Term) Reset() {
	t.mu.Lock()
	t.out = t.out[:0]
	t.mu.Unlock()
}

// WaitFor waits until the output after byte from contains s and returns
// the output length at that point.
func (t *Term) WaitFor(from int, s string, timeout time.Duration) (int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		if from > len(t.out) {
			from = len(t.out)
		}
		if i := strings.Index(string(t.out[from:]), s); i >= 0 {
			n := from + i + len(s)
			t.mu.Unlock()
			return n, nil
		}
		from = max(from, len(t.out)-len(s)+1) // don't scan a flood twice
		t.mu.Unlock()
		select {
		case <-t.notify:
		case <-t.done:
			return 0, fmt.Errorf("connection closed before %q", s)
		case <-deadline.C:
			return 0, fmt.Errorf("timed out waiting for %q", s)
		}
	}
}
