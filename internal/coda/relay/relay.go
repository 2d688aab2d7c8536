package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// ErrRefused marks an Auth error that means the credential is no longer
// valid (as opposed to the check failing).
var ErrRefused = errors.New("credential refused")

// Identity is who a connection speaks for.
type Identity struct {
	UserID   string
	RunnerID string
}

// Hello is what a runner announces when it connects.
type Hello struct {
	Name, OS, Arch, Version string
}

// Event is a terminal being opened or closed, for the audit log. It never
// carries terminal content.
type Event struct {
	Action   string // "devmode.terminal.open" or "devmode.terminal.close"
	Identity Identity
	Terminal string
}

// Auth checks credentials for the relay. Coda's devmode.Service provides it.
type Auth interface {
	// AuthenticateRunner checks a runner credential against the runner record.
	AuthenticateRunner(ctx context.Context, credential string) (Identity, error)
	// RedeemTicket checks and spends a browser's single-use ticket.
	RedeemTicket(ctx context.Context, ticket string) (Identity, error)
	// RunnerSeen records a runner's connection and announcement.
	RunnerSeen(ctx context.Context, runnerID string, h Hello)
	// Event records a terminal event.
	Event(ctx context.Context, e Event)
}

// Options configures a Relay.
type Options struct {
	Auth   Auth
	Logger *slog.Logger
	// Window is the per-terminal credit in bytes (DefaultWindow if 0).
	Window int
	// Scrollback is how much recent output a terminal keeps for a browser
	// that reconnects (DefaultScrollback if 0).
	Scrollback int
	// Grace is how long a terminal whose browser went away stays open for
	// it to come back (DefaultGrace if 0).
	Grace time.Duration
	// PingInterval is how often connections are pinged; a ping unanswered
	// within the same interval closes the connection (DefaultPing if 0).
	PingInterval time.Duration
	// SeenEvery is how often the heartbeat reports a connected runner as
	// seen (Auth.RunnerSeen), so its "last seen" stays true while it
	// stays connected (DefaultSeenEvery if 0).
	SeenEvery time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// AuthTimeout is how long a new connection has for its first message
	// (a browser's auth, a runner's hello) before it is closed with 1008
	// (DefaultAuthTimeout if 0).
	AuthTimeout time.Duration
	// Recheck makes the heartbeat check each connected runner's credential
	// again, so a revoke made in another process (a separate relay)
	// disconnects the runner within PingInterval.
	Recheck bool
	// Redis and Advertise make this node one of several: connected runners
	// are listed in Redis under this node's Advertise URL (how other nodes
	// reach it, e.g. http://10.0.0.5:3000), and a browser whose runner is on
	// another node is forwarded there. Secret signs those forwards. With
	// Redis the relay also listens for revokes (PublishRevoke) until Close.
	Redis     redis.UniversalClient
	Advertise string
	Secret    []byte
	// OriginPatterns are extra browser origins allowed besides the relay's
	// own host (a separately run relay lists Coda's public origin).
	OriginPatterns []string
}

// Defaults.
const (
	// DefaultWindow trades bulk speed over long round trips (64 KiB per
	// RTT: 1.3 MB/s at 50 ms) for how long a keystroke waits behind a
	// flood on the runner's shared connection (see bench/devmode).
	DefaultWindow     = 64 << 10
	DefaultScrollback = 64 << 10
	DefaultGrace      = 60 * time.Second
	DefaultPing       = 20 * time.Second
	DefaultSeenEvery  = time.Minute
	// DefaultAuthTimeout bounds the wait for a connection's first message.
	DefaultAuthTimeout = 10 * time.Second
	// MaxChunk is the largest output chunk a runner sends in one frame.
	MaxChunk = 32 << 10
)

// Relay routes terminals between browsers and runners on this node.
type Relay struct {
	o Options

	hbOnce sync.Once
	done   chan struct{} // closed by Close

	// bytesOut and bytesIn count terminal bytes relayed, runner to browser
	// and browser to runner, for the admin console's traffic chart.
	bytesOut, bytesIn atomic.Uint64

	mu      sync.Mutex
	runners map[string]*runnerConn // by runner ID
	terms   map[string]*terminal   // by resume key
	watched map[*websocket.Conn]struct{}
	closed  bool
	// busy counts the goroutines serving connections (runners, browsers,
	// forwards) and delivering terminal output. Close waits for them:
	// ending a terminal writes its audit entry, which must happen before
	// the caller closes the database.
	busy busyCount
}

// closeWait bounds how long Close waits for connections to finish.
const closeWait = 10 * time.Second

// track counts one more connection goroutine for Close to wait for; false
// once the relay is closing (the caller then refuses the connection).
func (r *Relay) track() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.busy.add()
	return true
}

// busyCount is a count of running goroutines that can be waited on with a
// deadline. Unlike a sync.WaitGroup it may go up again while someone
// waits (a terminal's last output is delivered while the relay closes).
type busyCount struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0; nil unless someone waits
}

func (b *busyCount) add() {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
}

func (b *busyCount) done() {
	b.mu.Lock()
	b.n--
	if b.n == 0 && b.zero != nil {
		close(b.zero)
		b.zero = nil
	}
	b.mu.Unlock()
}

// wait returns true once the count is 0, false after d.
func (b *busyCount) wait(d time.Duration) bool {
	b.mu.Lock()
	if b.n == 0 {
		b.mu.Unlock()
		return true
	}
	if b.zero == nil {
		b.zero = make(chan struct{})
	}
	z := b.zero
	b.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-z:
		return true
	case <-t.C:
		return false
	}
}

// goBusy runs f on a goroutine that Close waits for.
func (r *Relay) goBusy(f func()) {
	r.busy.add()
	go func() {
		defer r.busy.done()
		f()
	}()
}

// New returns a Relay.
func New(o Options) *Relay {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Scrollback <= 0 {
		o.Scrollback = DefaultScrollback
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPing
	}
	if o.SeenEvery <= 0 {
		o.SeenEvery = DefaultSeenEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = DefaultAuthTimeout
	}
	r := &Relay{o: o, runners: map[string]*runnerConn{}, terms: map[string]*terminal{},
		watched: map[*websocket.Conn]struct{}{}, done: make(chan struct{})}
	if o.Redis != nil {
		// Revokes published by Coda (PublishRevoke) disconnect at once.
		ready := make(chan struct{})
		go r.subscribeRevokes(ready)
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			o.Logger.Warn("devmode relay: revoke subscription not confirmed yet")
		}
	}
	return r
}

// Online reports whether the runner is connected to this node.
func (r *Relay) Online(runnerID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.runners[runnerID]
	return ok
}

// Disconnect closes the runner's connection (after a revoke) and ends its
// terminals.
func (r *Relay) Disconnect(runnerID string) {
	r.mu.Lock()
	rc := r.runners[runnerID]
	r.mu.Unlock()
	if rc != nil {
		// The close handshake may wait on the runner: not in the caller's request.
		rc.revoked.Store(true)
		go func() {
			rc.ws.Close(CloseRevoked, "runner revoked")
			rc.cancel()
		}()
	}
}

// Close disconnects everything. Browsers and runners are told the relay
// is restarting (close code 1012) and that alone: no terminal ends. The
// runners keep their shells and bring them back when they reconnect (to
// this relay after its restart, or to another node), and the browsers
// resume them with the same resume keys.
// Close returns once the connections' goroutines are done (at most
// closeWait), so whatever they record (terminal-close audit entries) is
// written before the caller closes the store.
func (r *Relay) Close() error {
	r.mu.Lock()
	if !r.closed {
		close(r.done)
	}
	r.closed = true
	var rcs []*runnerConn
	for _, rc := range r.runners {
		rcs = append(rcs, rc)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	// Browsers first, so each hears why before its runner's connection
	// goes (which would otherwise look like the runner dropping).
	for _, rc := range rcs {
		wg.Go(func() { rc.suspend(CloseRestart, "server restarting") })
	}
	wg.Wait()
	for _, rc := range rcs {
		wg.Go(func() {
			rc.ws.Close(CloseRestart, "server restarting")
			rc.cancel()
		})
	}
	// Browsers forwarded to other nodes, and connections not yet attached.
	r.mu.Lock()
	rest := make([]*websocket.Conn, 0, len(r.watched))
	for ws := range r.watched {
		rest = append(rest, ws)
	}
	r.mu.Unlock()
	for _, ws := range rest {
		wg.Go(func() { ws.Close(CloseRestart, "server restarting") })
	}
	wg.Wait()
	// Closing the runners ends their terminals; wait for those goroutines
	// (and the browsers' loops) to finish, audit entries included.
	if !r.busy.wait(closeWait) {
		r.o.Logger.Warn("devmode relay: connections still closing after the wait", "wait", closeWait.String())
	}
	return nil
}

func newKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func writeJSON(ctx context.Context, ws *websocket.Conn, m Message) error {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}

// watch adds ws to the heartbeat: one goroutine per relay pings every
// connection each PingInterval (a goroutine per connection would cost
// more memory than the idle connection itself); a ping unanswered within
// the interval closes the connection. The returned func removes it.
func (r *Relay) watch(ws *websocket.Conn) func() {
	r.hbOnce.Do(func() { go r.heartbeat() })
	r.mu.Lock()
	r.watched[ws] = struct{}{}
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.watched, ws)
		r.mu.Unlock()
	}
}

func (r *Relay) heartbeat() {
	t := time.NewTicker(r.o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		}
		r.mu.Lock()
		conns := make([]*websocket.Conn, 0, len(r.watched))
		for ws := range r.watched {
			conns = append(conns, ws)
		}
		r.mu.Unlock()
		if r.o.Recheck {
			r.recheck()
		}
		r.announceAll()
		go r.touchSeen()
		for _, ws := range conns {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), r.o.PingInterval)
				defer cancel()
				if err := ws.Ping(ctx); err != nil && ctx.Err() != nil {
					ws.CloseNow() // unresponsive: no close handshake to wait for
				}
			}()
		}
	}
}

// recheck disconnects runners whose credential is refused now.
func (r *Relay) recheck() {
	r.mu.Lock()
	rcs := make([]*runnerConn, 0, len(r.runners))
	for _, rc := range r.runners {
		rcs = append(rcs, rc)
	}
	r.mu.Unlock()
	for _, rc := range rcs {
		go func() {
			ctx, cancel := context.WithTimeout(rc.ctx, r.o.PingInterval)
			defer cancel()
			if _, err := r.o.Auth.AuthenticateRunner(ctx, rc.cred); errors.Is(err, ErrRefused) {
				rc.revoked.Store(true)
				rc.ws.Close(CloseRevoked, "runner revoked")
				rc.cancel()
			}
		}()
	}
}

// touchSeen reports runners connected for SeenEvery since they were last
// reported as seen, one at a time (one database write each, at most once
// per SeenEvery per runner).
func (r *Relay) touchSeen() {
	now := r.o.Now()
	r.mu.Lock()
	var due []*runnerConn
	for _, rc := range r.runners {
		if now.Sub(rc.seen) >= r.o.SeenEvery {
			rc.seen = now
			due = append(due, rc)
		}
	}
	r.mu.Unlock()
	for _, rc := range due {
		if rc.ctx.Err() == nil {
			r.o.Auth.RunnerSeen(rc.ctx, rc.id.RunnerID, Hello{})
		}
	}
}

// ---- runners ----

// runnerConn is a connected runner.
type runnerConn struct {
	r      *Relay
	id     Identity
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	cred   string
	seen   time.Time // last reported to Auth.RunnerSeen (Relay.mu)
	// revoked is set before the relay closes a revoked runner's
	// connection: its terminals end, rather than wait for it to return.
	revoked atomic.Bool

	mu     sync.Mutex
	terms  map[uint32]*terminal
	nextID uint32
	done   bool
}

// HandleRunner serves a runner's WebSocket: the credential is checked
// before the upgrade, so a revoked runner gets a plain 401.
func (r *Relay) HandleRunner(w http.ResponseWriter, req *http.Request) {
	cred := bearer(req)
	id, err := r.o.Auth.AuthenticateRunner(req.Context(), cred)
	if err != nil {
		http.Error(w, "runner credential refused: pair again", http.StatusUnauthorized)
		return
	}
	ws, err := websocket.Accept(upgradable(w), req, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(MaxChunk + 1024)
	// The hello comes first. It is read here, before the runner is listed,
	// so that the shells it kept from an earlier connection are back under
	// their resume keys by the time a browser can find the runner.
	hello, err := readHello(req.Context(), ws, r.o.AuthTimeout)
	if err != nil {
		ws.Close(websocket.StatusPolicyViolation, "expected a hello message")
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
	rc := &runnerConn{r: r, id: id, ws: ws, ctx: ctx, cancel: cancel, cred: cred, terms: map[uint32]*terminal{}, seen: r.o.Now()}
	kept := rc.adopt(hello.Terminals)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		ws.Close(CloseRestart, "server restarting")
		return
	}
	r.busy.add() // done when rc.serve returns
	old := r.runners[id.RunnerID]
	r.runners[id.RunnerID] = rc
	for _, t := range kept {
		// A key held by another runner's terminal stays with it.
		if cur := r.terms[t.key]; cur == nil || cur.rc.id.RunnerID == id.RunnerID {
			r.terms[t.key] = t
		}
	}
	r.mu.Unlock()
	if old != nil {
		old.ws.Close(CloseReplaced, "runner connected again")
		old.cancel()
	}
	r.announce(ctx, id.RunnerID)
	r.o.Logger.Info("devmode runner connected", "runner", id.RunnerID, "kept_terminals", len(kept))
	r.o.Auth.RunnerSeen(ctx, id.RunnerID, Hello{Name: hello.Name, OS: hello.OS, Arch: hello.Arch, Version: hello.Version})
	// The connection is served by a goroutine of its own that runs only
	// its read loop, and the handler returns: net/http then lets go of its
	// per-connection state (buffers, request), which an idle connection
	// would otherwise keep, and the goroutine's stack stays small.
	go func() {
		defer r.busy.done()
		rc.serve(r.watch(ws))
	}()
}

// serve runs a runner's connection until it ends.
func (rc *runnerConn) serve(unwatch func()) {
	r, id, ws, cancel := rc.r, rc.id, rc.ws, rc.cancel
	err := rc.readLoop()
	unwatch()
	cancel()
	if rc.revoked.Load() {
		rc.shutdown()
	} else {
		code, reason := websocket.StatusCode(CloseRunnerLost), "runner reconnecting"
		if r.isClosed() {
			code, reason = CloseRestart, "server restarting"
		}
		rc.suspend(code, reason)
	}
	r.mu.Lock()
	last := r.runners[id.RunnerID] == rc
	if last {
		delete(r.runners, id.RunnerID)
	}
	r.mu.Unlock()
	if last {
		r.withdraw(id.RunnerID)
	}
	ws.CloseNow()
	r.o.Logger.Info("devmode runner disconnected", "runner", id.RunnerID, "reason", closeReason(err))
}

func closeReason(err error) string {
	if err == nil {
		return ""
	}
	if s := websocket.CloseStatus(err); s != -1 {
		return s.String()
	}
	return err.Error()
}

// frameBufs holds buffers for runner frames: a frame is read into one in
// a single pass (Conn.Read grows a new slice per message, reading a 32 KiB
// frame in a dozen system calls), and the buffer comes back once the
// frame was delivered to the browser.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, HeaderLen+MaxChunk+1); return &b }}

// readFrame reads the rest of a message into a buffer from frameBufs.
func readFrame(rd io.Reader) (*[]byte, []byte, error) {
	bp := frameBufs.Get().(*[]byte)
	b := (*bp)[:cap(*bp)]
	n := 0
	for {
		if n == len(b) {
			frameBufs.Put(bp)
			return nil, nil, errors.New("relay: frame larger than MaxChunk")
		}
		k, err := rd.Read(b[n:])
		n += k
		if err == io.EOF {
			return bp, b[:n], nil
		}
		if err != nil {
			frameBufs.Put(bp)
			return nil, nil, err
		}
	}
}

// readLoop reads the runner's messages until the connection ends. Its
// reads take no context: a read with one costs a context.AfterFunc per
// message, and everything that cancels rc.ctx closes the connection too,
// which ends the read.
func (rc *runnerConn) readLoop() error {
	for {
		typ, rd, err := rc.ws.Reader(context.Background())
		if err != nil {
			return err
		}
		if typ == websocket.MessageBinary {
			bp, b, err := readFrame(rd)
			if err != nil {
				return err
			}
			id, p, err := DecodeFrame(b)
			if err != nil {
				return err
			}
			t := rc.term(id)
			if t == nil {
				frameBufs.Put(bp)
				continue
			}
			rc.r.bytesOut.Add(uint64(len(p)))
			if !t.push(item{data: p, buf: bp}) {
				rc.ws.Close(websocket.StatusPolicyViolation, "credit window exceeded")
				return errors.New("runner exceeded the credit window")
			}
			continue
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			return err
		}
		if err := onOwnStack(func() error { return rc.control(b) }); err != nil {
			return err
		}
	}
}

// onOwnStack runs f on a goroutine of its own and waits for it. A
// connection's read loop lives as long as the connection, and a goroutine
// keeps the largest stack it needed while its use stays above a quarter
// of it; JSON decoding (and what a control message leads to: a database
// write, a log line) would double an idle connection's stack for good.
// Control messages are rare, so the extra goroutine costs little.
func onOwnStack(f func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	return <-errc
}

// control handles a control message from the runner.
func (rc *runnerConn) control(b []byte) error {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	switch m.Type {
	case TypeHello:
		rc.r.o.Logger.Info("devmode runner hello", "runner", rc.id.RunnerID, "version", m.Version, "os", m.OS, "arch", m.Arch)
		rc.r.o.Auth.RunnerSeen(rc.ctx, rc.id.RunnerID, Hello{Name: m.Name, OS: m.OS, Arch: m.Arch, Version: m.Version})
	case TypeExit:
		if t := rc.term(m.ID); t != nil {
			code := -1
			if m.Code != nil {
				code = *m.Code
			}
			t.push(item{exit: &code, msg: m.Message})
		}
	case TypePing:
		_ = rc.send(Message{Type: TypePong})
	}
	return nil
}

func (rc *runnerConn) term(id uint32) *terminal {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.terms[id]
}

func (rc *runnerConn) send(m Message) error { return writeJSON(rc.ctx, rc.ws, m) }

// ack returns n bytes of credit for terminal id.
func (rc *runnerConn) ack(id uint32, n int) {
	if n > 0 {
		_ = rc.send(Message{Type: TypeAck, ID: id, N: n})
	}
}

// input forwards browser keystrokes to the runner. It blocks while the
// runner's connection is congested, which stalls the browser's reads:
// input is flow controlled by TCP.
func (rc *runnerConn) input(id uint32, p []byte) error {
	rc.r.bytesIn.Add(uint64(len(p)))
	return rc.ws.Write(rc.ctx, websocket.MessageBinary, EncodeFrame(id, p))
}

// shutdown ends every terminal of a revoked runner.
func (rc *runnerConn) shutdown() {
	for _, t := range rc.stop() {
		t.push(item{exit: IntPtr(-1), msg: "the runner was revoked"})
	}
}

// stop marks the connection done and returns its terminals.
func (rc *runnerConn) stop() []*terminal {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.done = true
	terms := make([]*terminal, 0, len(rc.terms))
	for _, t := range rc.terms {
		terms = append(terms, t)
	}
	return terms
}

// suspend lets go of the terminals of a runner whose connection ended
// (or is about to, when the relay shuts down) without ending them: the
// runner keeps its shells and brings them back in the hello of its next
// connection, so the relay forgets them and closes their browsers with
// code, which tells them to reconnect and resume.
func (rc *runnerConn) suspend(code websocket.StatusCode, reason string) {
	terms := rc.stop()
	var wg sync.WaitGroup
	for _, t := range terms {
		// Forget the key before telling its browsers: one that resumes at
		// once must not find this suspended terminal (and get a new shell
		// in its place) but wait for the runner's hello to bring it back.
		rc.r.mu.Lock()
		if rc.r.terms[t.key] == t {
			delete(rc.r.terms, t.key)
		}
		rc.r.mu.Unlock()
		for _, b := range t.suspend() {
			wg.Go(func() { b.ws.Close(code, reason) })
		}
	}
	wg.Wait()
}

// adopt makes terminals for the shells a runner kept (from its hello).
func (rc *runnerConn) adopt(kept []Kept) []*terminal {
	if len(kept) > MaxKept {
		kept = kept[:MaxKept]
	}
	ts := make([]*terminal, 0, len(kept))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, k := range kept {
		if k.ID == 0 || len(k.Terminal) < 16 || len(k.Terminal) > 64 || rc.terms[k.ID] != nil {
			continue
		}
		t := &terminal{
			rc: rc, id: k.ID, key: k.Terminal,
			ring: ring{max: rc.r.o.Scrollback}, limit: rc.r.o.Window + MaxChunk,
		}
		// Detached until its browser comes back, for the grace period.
		t.timer = time.AfterFunc(rc.r.o.Grace, t.expire)
		rc.terms[t.id] = t
		rc.nextID = max(rc.nextID, t.id)
		ts = append(ts, t)
	}
	return ts
}

// readHello reads a runner's first message, which must be its hello.
func readHello(ctx context.Context, ws *websocket.Conn, timeout time.Duration) (Message, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return Message{}, err
	}
	var m Message
	if typ != websocket.MessageText || json.Unmarshal(b, &m) != nil || m.Type != TypeHello {
		return Message{}, errors.New("relay: the first message is not a hello")
	}
	return m, nil
}

func (r *Relay) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// openTerminal asks the runner for a new shell.
func (rc *runnerConn) openTerminal(cols, rows int) (*terminal, error) {
	rc.mu.Lock()
	if rc.done {
		rc.mu.Unlock()
		return nil, errors.New("runner gone")
	}
	rc.nextID++
	t := &terminal{
		rc: rc, id: rc.nextID, key: newKey(),
		ring: ring{max: rc.r.o.Scrollback}, limit: rc.r.o.Window + MaxChunk,
	}
	rc.terms[t.id] = t
	rc.mu.Unlock()
	rc.r.mu.Lock()
	rc.r.terms[t.key] = t
	rc.r.mu.Unlock()
	if err := rc.send(Message{Type: TypeOpen, ID: t.id, Terminal: t.key, Cols: cols, Rows: rows, Window: rc.r.o.Window}); err != nil {
		t.push(item{exit: IntPtr(-1), msg: "the runner did not answer"})
		return t, err
	}
	rc.r.o.Auth.Event(rc.ctx, Event{Action: "devmode.terminal.open", Identity: rc.id, Terminal: t.key})
	return t, nil
}

// hijackWriter hands WebSocket upgrades the connection of the innermost
// ResponseWriter. Middleware wrappers may claim to be a Hijacker while the
// writer they wrap is not (the platform's gzip wrapper over its status
// recorder), so the upgrade would fail; headers and status still pass
// through the wrappers, so logs see the 101.
type hijackWriter struct {
	http.ResponseWriter
	inner http.Hijacker
}

// Buffer sizes of a relay WebSocket. net/http hands a hijacker its
// connection's 4 KiB reader and writer, which the WebSocket would keep for
// its lifetime; most connections sit idle. Frames larger than a buffer
// are read and written straight from and to the socket by bufio, so small
// buffers cost no extra system calls for bulk output, and the control
// messages and keystrokes that are small fit in one.
const (
	connReadBuf  = 512
	connWriteBuf = 512
)

// Hijack returns the connection with small buffers of its own (carrying
// over whatever net/http had already read), so that net/http's buffers
// are freed with its connection state once the handler returns.
func (w hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := w.inner.Hijack()
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, connReadBuf)
	if n := brw.Reader.Buffered(); n > 0 {
		// What the client sent right behind its upgrade request must be
		// in the buffer itself: the WebSocket keeps the buffered bytes and
		// then reads the connection directly.
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(b), c), max(connReadBuf, n))
		if _, err := br.Peek(n); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return c, bufio.NewReadWriter(br, bufio.NewWriterSize(c, connWriteBuf)), nil
}

func upgradable(w http.ResponseWriter) http.ResponseWriter {
	cur := w
	for {
		u, ok := cur.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		cur = u.Unwrap()
	}
	if hj, ok := cur.(http.Hijacker); ok {
		return hijackWriter{ResponseWriter: w, inner: hj}
	}
	return w
}

// Stats is a snapshot of the relay's load, for metrics and tests.
type Stats struct {
	Runners   int // connected runners
	Terminals int // open terminals, attached or in their grace period
	Queued    int // output bytes waiting for browsers, all terminals
	MaxQueued int // the most waiting for one terminal
	// BytesOut and BytesIn are terminal bytes relayed since start, runner
	// to browser and browser to runner.
	BytesOut, BytesIn uint64
}

// Stats returns the current load.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	st := Stats{Runners: len(r.runners), Terminals: len(r.terms), BytesOut: r.bytesOut.Load(), BytesIn: r.bytesIn.Load()}
	terms := make([]*terminal, 0, len(r.terms))
	for _, t := range r.terms {
		terms = append(terms, t)
	}
	r.mu.Unlock()
	for _, t := range terms {
		t.mu.Lock()
		st.Queued += t.queued
		st.MaxQueued = max(st.MaxQueued, t.queued)
		t.mu.Unlock()
	}
	return st
}
