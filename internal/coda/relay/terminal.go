package relay

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// item is one entry of a terminal's output queue: bytes, or the exit.
type item struct {
	data []byte
	buf  *[]byte // from frameBufs, returned once data was delivered
	exit *int
	msg  string
}

// release returns the item's buffer to frameBufs.
func (it item) release() {
	if it.buf != nil {
		frameBufs.Put(it.buf)
	}
}

// terminal is one shell on a runner, with at most one browser attached.
type terminal struct {
	rc    *runnerConn
	id    uint32
	key   string // the resume key, known only to the browser that opened it
	limit int    // most bytes queued before the runner broke the window

	mu      sync.Mutex
	queue   []item
	queued  int
	ring    ring
	browser *browserConn // attached browser, or nil while detached
	pending *browserConn // a browser waiting to be attached by the pump
	timer   *time.Timer  // grace timer while detached
	closing bool         // a close was sent to the runner; no resume
	owed    int          // credit delivered but not yet acked (only the pump uses it)
	ended   bool
	pumping bool // a pump goroutine is running
}

// push queues output or the exit; it never blocks. It reports false if the
// runner sent more than its credit allows.
func (t *terminal) push(it item) bool {
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return true
	}
	t.queue = append(t.queue, it)
	t.queued += len(it.data)
	over := t.queued > t.limit
	start := t.startPump()
	t.mu.Unlock()
	if start {
		t.rc.r.goBusy(t.pump)
	}
	return !over
}

// startPump reports whether a pump must be started (t.mu held): one runs
// only while there is something to deliver, so an idle terminal costs no
// goroutine.
func (t *terminal) startPump() bool {
	if t.pumping {
		return false
	}
	t.pumping = true
	return true
}

// idleAck is the least credit an ack returns when a terminal's queue
// runs dry; less waits for the next output (see pump).
const idleAck = 4 << 10

// pump delivers queued output in order to the attached browser (or only to
// the scrollback while detached) and returns the credit to the runner
// once each chunk is delivered. It returns when the queue is empty.
func (t *terminal) pump() {
	// Credit goes back in batches (a quarter of the window, or when the
	// queue runs dry), not one ack per frame. Credit of less than
	// idleAck when the queue runs dry stays owed (t.owed) until more
	// output makes it worth a message: a keystroke's echo then costs no
	// ack of its own, and the runner is never short of more than idleAck.
	owed := t.owed                        // set by the previous pump under t.mu, before this one started
	batch := max((t.limit-MaxChunk)/4, 1) // a quarter of the window
	for {
		t.mu.Lock()
		if t.pending != nil {
			b, old := t.pending, t.browser
			t.pending, t.browser = nil, b
			snap := t.ring.bytes()
			t.mu.Unlock()
			if old != nil {
				go old.ws.Close(websocket.StatusNormalClosure, "another browser took this terminal")
			}
			// The browser learns its resume key first, then gets the
			// scrollback (for a new terminal, what the shell printed
			// before it attached).
			err := writeJSON(b.ctx, b.ws, Message{Type: TypeOpen, Terminal: t.key, Resumed: b.resumed})
			if err == nil && len(snap) > 0 {
				err = b.write(snap)
			}
			if err != nil {
				t.detach(b)
			}
			continue
		}
		if len(t.queue) == 0 && owed >= min(idleAck, batch) {
			t.mu.Unlock()
			t.rc.ack(t.id, owed)
			owed = 0
			continue
		}
		if len(t.queue) == 0 {
			t.owed, owed = owed, 0
			t.pumping = false
			t.queue = nil // let an idle terminal's queue go
			t.mu.Unlock()
			return
		}
		it := t.queue[0]
		t.queue[0] = item{}
		t.queue = t.queue[1:]
		t.queued -= len(it.data)
		if it.data != nil {
			t.ring.write(it.data)
		}
		b := t.browser
		t.mu.Unlock()
		if it.exit != nil {
			owed = 0 // no credit for a terminal that ended
			t.end(b, *it.exit, it.msg)
			return
		}
		if b != nil && b.write(it.data) != nil {
			t.detach(b)
		}
		it.release()
		owed += len(it.data)
		if owed >= batch {
			t.rc.ack(t.id, owed)
			owed = 0
		}
	}
}

// end delivers the exit to the browser and forgets the terminal.
func (t *terminal) end(b *browserConn, code int, msg string) {
	t.mu.Lock()
	t.ended = true
	if t.timer != nil {
		t.timer.Stop()
	}
	t.queue = nil
	t.mu.Unlock()
	if b != nil {
		_ = writeJSON(b.ctx, b.ws, Message{Type: TypeExit, Code: &code, Message: msg})
		b.ws.Close(websocket.StatusNormalClosure, "terminal ended")
	}
	rc := t.rc
	rc.mu.Lock()
	delete(rc.terms, t.id)
	rc.mu.Unlock()
	rc.r.mu.Lock()
	if rc.r.terms[t.key] == t {
		delete(rc.r.terms, t.key)
	}
	rc.r.mu.Unlock()
	rc.r.o.Auth.Event(context.WithoutCancel(rc.ctx), Event{Action: "devmode.terminal.close", Identity: rc.id, Terminal: t.key})
}

// suspend forgets the terminal without ending it (its runner went away
// and keeps the shell) and returns the browsers to tell.
func (t *terminal) suspend() []*browserConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil
	}
	t.ended = true
	if t.timer != nil {
		t.timer.Stop()
	}
	for _, it := range t.queue {
		it.release()
	}
	t.queue, t.queued = nil, 0
	var bs []*browserConn
	for _, b := range []*browserConn{t.browser, t.pending} {
		if b != nil {
			bs = append(bs, b)
		}
	}
	t.browser, t.pending = nil, nil
	return bs
}

// detach lets browser b go; the shell stays for the grace period.
func (t *terminal) detach(b *browserConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.browser != b || t.ended {
		return
	}
	t.browser = nil
	b.ws.CloseNow()
	t.timer = time.AfterFunc(t.rc.r.o.Grace, t.expire)
}

// expire closes a terminal whose browser did not come back in time.
func (t *terminal) expire() {
	t.mu.Lock()
	if t.browser != nil || t.pending != nil || t.ended {
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.close()
}

// close asks the runner to end the shell; its exit ends the terminal.
func (t *terminal) close() {
	t.mu.Lock()
	already := t.closing
	t.closing = true
	t.mu.Unlock()
	if !already {
		if err := t.rc.send(Message{Type: TypeClose, ID: t.id}); err != nil {
			t.push(item{exit: IntPtr(-1), msg: "closed"})
		}
	}
}

// attach hands the terminal to browser b (a resume); false if it ended.
func (t *terminal) attach(b *browserConn) bool {
	t.mu.Lock()
	if t.ended || t.closing {
		t.mu.Unlock()
		return false
	}
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.pending = b
	start := t.startPump()
	t.mu.Unlock()
	if start {
		t.rc.r.goBusy(t.pump)
	}
	return true
}

// browserConn is one browser's WebSocket to one terminal.
type browserConn struct {
	ws      *websocket.Conn
	ctx     context.Context
	resumed bool
}

// write sends terminal bytes. It blocks while the browser is slow (that is
// the backpressure) but gives up on a browser stuck for 30 s.
func (b *browserConn) write(p []byte) error {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	return b.ws.Write(ctx, websocket.MessageBinary, p)
}

// HandleTerminal serves a browser's WebSocket to one terminal. The first
// message must be an auth message with a ticket (kept out of URLs and so
// out of logs); with a resume key of a terminal of the same runner still
// in its grace period, the browser gets that shell and its scrollback.
func (r *Relay) HandleTerminal(w http.ResponseWriter, req *http.Request) {
	ws, err := websocket.Accept(upgradable(w), req, &websocket.AcceptOptions{
		OriginPatterns:  r.o.OriginPatterns,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept answered (403 for a foreign origin)
	}
	ws.SetReadLimit(64 << 10)
	ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
	// As for runners, the connection outlives the handler (in a goroutine
	// of its own that runs only its read loop) so that net/http lets go
	// of its per-connection state.
	handedOff := false
	defer func() {
		if !handedOff {
			cancel()
			ws.CloseNow()
		}
	}()

	// A read whose context ends closes the connection at once, without a
	// close frame; the timer instead closes it with 1008 and a reason,
	// which ends the read.
	timer := time.AfterFunc(r.o.AuthTimeout, func() { ws.Close(websocket.StatusPolicyViolation, "auth timeout") })
	typ, raw, err := ws.Read(ctx)
	if !timer.Stop() {
		return // closed by the timer
	}
	var auth Message
	if err != nil || typ != websocket.MessageText || json.Unmarshal(raw, &auth) != nil || auth.Type != TypeAuth {
		ws.Close(websocket.StatusPolicyViolation, "expected an auth message")
		return
	}
	var id Identity
	forwarded := strings.HasPrefix(auth.Ticket, forwardPrefix)
	if forwarded {
		id, err = r.checkForward(auth.Ticket)
	} else {
		id, err = r.o.Auth.RedeemTicket(ctx, auth.Ticket)
	}
	if err != nil {
		_ = writeJSON(ctx, ws, Message{Type: TypeError, Message: "The terminal ticket was refused (expired, used, or not yours)."})
		ws.Close(CloseRefused, "ticket refused")
		return
	}
	b := &browserConn{ws: ws, ctx: ctx}

	var t *terminal
	resumed := false
	if auth.Terminal != "" {
		r.mu.Lock()
		old := r.terms[auth.Terminal]
		r.mu.Unlock()
		if old != nil && old.rc.id == id {
			rb := &browserConn{ws: ws, ctx: ctx, resumed: true}
			if old.attach(rb) {
				t, b, resumed = old, rb, true
			}
		}
	}
	if t == nil {
		r.mu.Lock()
		rc := r.runners[id.RunnerID]
		r.mu.Unlock()
		if rc == nil && !forwarded {
			if node := r.holder(ctx, id.RunnerID); node != "" {
				if !r.track() {
					ws.Close(websocket.StatusGoingAway, "relay shutting down")
					return
				}
				handedOff = true
				go func() {
					defer r.busy.done()
					defer ws.CloseNow()
					defer cancel()
					r.forward(ctx, ws, node, id, auth)
				}()
				return
			}
		}
		if rc == nil || rc.id.UserID != id.UserID {
			_ = writeJSON(ctx, ws, Message{Type: TypeError, Message: "The runner is offline. Start coda-runner on that machine."})
			ws.Close(CloseOffline, "runner offline")
			return
		}
		cols, rows := clampSize(auth.Cols, auth.Rows)
		nt, err := rc.openTerminal(cols, rows)
		if err != nil {
			_ = writeJSON(ctx, ws, Message{Type: TypeError, Message: "The runner did not answer."})
			ws.Close(CloseOffline, "runner offline")
			return
		}
		nt.attach(b)
		t = nt
	}
	if resumed && auth.Cols > 0 {
		cols, rows := clampSize(auth.Cols, auth.Rows)
		_ = t.rc.send(Message{Type: TypeResize, ID: t.id, Cols: cols, Rows: rows})
	}
	if !r.track() {
		t.detach(b)
		ws.Close(websocket.StatusGoingAway, "relay shutting down")
		return
	}
	handedOff = true
	go func() {
		defer r.busy.done()
		r.browserLoop(ctx, cancel, t, b)
	}()
}

// browserLoop carries a browser's input to its terminal until either ends.
// Only the reading happens on its goroutine, which lives as long as the
// connection; what a message leads to runs on its own stack (onOwnStack).
func (r *Relay) browserLoop(ctx context.Context, cancel context.CancelFunc, t *terminal, b *browserConn) {
	ws := b.ws
	defer ws.CloseNow()
	defer cancel()
	defer r.watch(ws)()
	for {
		// No context for the read (see runnerConn.readLoop): ctx is
		// cancelled only here, and the connection is closed with it.
		typ, p, err := ws.Read(context.Background())
		if err != nil {
			t.detach(b)
			return
		}
		if typ == websocket.MessageBinary {
			// Keystrokes go on from here, the shortest way to the runner:
			// a write needs no more stack than the read that preceded it.
			if t.rc.input(t.id, p) != nil {
				return
			}
			continue
		}
		if onOwnStack(func() error { return r.browserMessage(ctx, t, ws, p) }) != nil {
			return
		}
	}
}

// browserMessage handles one control message from a terminal's browser.
func (r *Relay) browserMessage(ctx context.Context, t *terminal, ws *websocket.Conn, p []byte) error {
	var m Message
	if json.Unmarshal(p, &m) != nil {
		return nil
	}
	switch m.Type {
	case TypeResize:
		cols, rows := clampSize(m.Cols, m.Rows)
		_ = t.rc.send(Message{Type: TypeResize, ID: t.id, Cols: cols, Rows: rows})
	case TypePing:
		_ = writeJSON(ctx, ws, Message{Type: TypePong})
	case TypeClose:
		t.close()
	}
	return nil
}

func clampSize(cols, rows int) (int, int) {
	if cols <= 0 || rows <= 0 {
		return 80, 24
	}
	return min(max(cols, 2), 1000), min(max(rows, 2), 500)
}

// ring keeps the last max bytes written, growing only as output arrives.
type ring struct {
	max  int
	buf  []byte
	full bool
	pos  int
}

func (g *ring) write(p []byte) {
	if len(p) >= g.max {
		g.buf = append(g.buf[:0], p[len(p)-g.max:]...)
		g.full, g.pos = true, 0
		return
	}
	if !g.full {
		if len(g.buf)+len(p) <= g.max {
			g.buf = append(g.buf, p...)
			return
		}
		// Grow to max once, then wrap.
		nb := make([]byte, g.max)
		copy(nb, g.buf)
		g.pos = len(g.buf)
		g.buf = nb
		g.full = true
	}
	n := copy(g.buf[g.pos:], p)
	if n < len(p) {
		copy(g.buf, p[n:])
	}
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
