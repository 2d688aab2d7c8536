package voyagerhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/voyager/chat"
)

const maxBody = 64 << 10

// conversation loads the {conv} of the member, logging a violation when
// it is not theirs (another member's, or another community's).
func (h *Handlers) conversation(w http.ResponseWriter, r *http.Request) (*scope, chat.Conversation, bool) {
	s, ok := h.member(w, r, true)
	if !ok {
		return nil, chat.Conversation{}, false
	}
	conv, err := h.o.Chat.Store().Conversation(r.Context(), s.c.ID, s.user.ID, r.PathValue("conv"))
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			h.violation(r, s, "conversation not theirs")
		}
		httpapi.Error(w, r, err)
		return nil, conv, false
	}
	return s, conv, true
}

// HandleConversationList handles GET /api/c/{cid}/conversations: all of
// the member's conversations, or with ?q= those whose title or messages
// contain q (each with a snippet).
func (h *Handlers) HandleConversationList(w http.ResponseWriter, r *http.Request) {
	s, ok := h.member(w, r, true)
	if !ok {
		return
	}
	var convs []chat.Conversation
	var err error
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" {
		if len(q) > 200 {
			httpapi.Error(w, r, apperr.InvalidFields("The search is too long.", map[string]string{"q": "Use at most 200 characters."}))
			return
		}
		convs, err = h.o.Chat.Store().FindConversations(r.Context(), s.c.ID, s.user.ID, q, 0)
	} else {
		convs, err = h.o.Chat.Store().Conversations(r.Context(), s.c.ID, s.user.ID)
	}
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if convs == nil {
		convs = []chat.Conversation{}
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"conversations": convs})
}

type titleInput struct {
	Title string `json:"title"`
}

// HandleConversationCreate handles POST /api/c/{cid}/conversations.
func (h *Handlers) HandleConversationCreate(w http.ResponseWriter, r *http.Request) {
	s, ok := h.member(w, r, true)
	if !ok {
		return
	}
	var in titleInput
	if r.ContentLength != 0 {
		if err := httpapi.Decode(w, r, &in, maxBody); err != nil {
			httpapi.Error(w, r, err)
			return
		}
	}
	conv, err := h.o.Chat.StartConversation(r.Context(), s.c, s.user.ID, in.Title)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusCreated, conv)
}

// HandleConversationRename handles PATCH /api/c/{cid}/conversations/{conv}.
func (h *Handlers) HandleConversationRename(w http.ResponseWriter, r *http.Request) {
	s, conv, ok := h.conversation(w, r)
	if !ok {
		return
	}
	var in titleInput
	if err := httpapi.Decode(w, r, &in, maxBody); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := h.o.Chat.Rename(r.Context(), s.c, s.user.ID, conv.ID, in.Title); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	conv, _ = h.o.Chat.Store().Conversation(r.Context(), s.c.ID, s.user.ID, conv.ID)
	httpapi.Write(w, http.StatusOK, conv)
}

// HandleConversationDelete handles DELETE /api/c/{cid}/conversations/{conv}.
func (h *Handlers) HandleConversationDelete(w http.ResponseWriter, r *http.Request) {
	s, conv, ok := h.conversation(w, r)
	if !ok {
		return
	}
	if err := h.o.Chat.Store().DeleteConversation(r.Context(), s.c.ID, s.user.ID, conv.ID); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// HandleMessageList handles GET /api/c/{cid}/conversations/{conv}/messages.
func (h *Handlers) HandleMessageList(w http.ResponseWriter, r *http.Request) {
	_, conv, ok := h.conversation(w, r)
	if !ok {
		return
	}
	msgs, err := h.o.Chat.Store().Messages(r.Context(), conv.ID, 0)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"messages": h.jsonViews(r, msgs)})
}

type messageJSON struct {
	chat.Message
	HTML string `json:"html,omitempty"`
}

func (h *Handlers) jsonViews(r *http.Request, ms []chat.Message) []messageJSON {
	out := make([]messageJSON, len(ms))
	for i, v := range h.views(r, ms) {
		out[i] = messageJSON{Message: v.Message, HTML: string(v.HTML)}
	}
	return out
}

// HandleMessageSend handles POST /api/c/{cid}/conversations/{conv}/messages:
// stores the message and starts the answer; follow it at the returned
// answer's stream URL. With Accept: text/event-stream the answer is the
// stream itself (see sendStream).
func (h *Handlers) HandleMessageSend(w http.ResponseWriter, r *http.Request) {
	s, conv, ok := h.conversation(w, r)
	if !ok {
		return
	}
	var in struct {
		Content string `json:"content"`
	}
	if err := httpapi.Decode(w, r, &in, maxBody); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if wantsStream(r) {
		h.sendStream(w, r, s, func(sink chat.Sink) (chat.Sent, error) {
			return h.o.Chat.SendTo(r.Context(), s.c, conv, in.Content, sink)
		})
		return
	}
	sent, err := h.o.Chat.Send(r.Context(), s.c, conv, in.Content)
	if err != nil {
		h.sendError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusAccepted, h.sentJSON(s, sent))
}

// wantsStream reports whether the client asked for the answer's event
// stream in the send's response.
func wantsStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			if mt, _, _ := strings.Cut(strings.TrimSpace(part), ";"); strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// directSink writes an answer's events to the member who sent it, from
// the goroutine reading the provider: each piece is one write and one
// flush. Pieces that come before the turn is committed wait in pending
// until open; after close (a refused send, a gone client) nothing is
// written.
type directSink struct {
	h       *Handlers
	w       http.ResponseWriter
	rc      *http.ResponseController
	mu      sync.Mutex
	open    bool
	closed  bool
	failed  bool // a write failed: the client is gone
	pending strings.Builder
	buf     []byte
	final   *chat.Message // Done before open (a cached answer)
	done    chan struct{}
	gone    chan struct{} // closed when a write fails
}

// directWriteTimeout bounds one write to the member who sent: the writes
// happen on the goroutine reading the provider, so a member whose
// connection takes nothing must not hold up the answer (its saving, and
// every other follower on the hub). Past it the connection is dropped and
// the page goes on with the GET stream, which the hub feeds.
const directWriteTimeout = 2 * time.Second

// event writes one SSE event and flushes it; d.mu is held.
func (d *directSink) event(name string, v any) {
	if d.failed {
		return
	}
	_ = d.rc.SetWriteDeadline(time.Now().Add(directWriteTimeout))
	b, _ := json.Marshal(v)
	d.buf = append(d.buf[:0], "event: "...)
	d.buf = append(d.buf, name...)
	d.buf = append(d.buf, "\ndata: "...)
	d.buf = append(d.buf, b...)
	d.buf = append(d.buf, "\n\n"...)
	if _, err := d.w.Write(d.buf); err != nil || d.rc.Flush() != nil {
		d.fail()
	}
}

// fail marks the member's connection gone; d.mu is held.
func (d *directSink) fail() {
	if !d.failed {
		d.failed = true
		close(d.gone)
	}
}

func (d *directSink) Piece(text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
	case !d.open:
		d.pending.WriteString(text)
	default:
		d.event("delta", map[string]string{"text": text})
	}
}

func (d *directSink) Done(m chat.Message) {
	d.mu.Lock()
	switch {
	case d.closed:
	case !d.open:
		d.final = &m
	default:
		d.event("done", messageJSON{Message: m, HTML: string(d.h.md.HTML(m.Content))})
		d.closed = true
	}
	d.mu.Unlock()
	close(d.done)
}

// sendStream answers a send (or regeneration) with the answer's events
// once the turn is committed: "sent" (the JSON a plain send answers),
// then as the GET stream does, "snapshot" (the text so far), "delta" for
// each piece and "done". A refused send answers its JSON error.
func (h *Handlers) sendStream(w http.ResponseWriter, r *http.Request, s *scope, send func(chat.Sink) (chat.Sent, error)) {
	d := &directSink{h: h, w: w, rc: http.NewResponseController(w), done: make(chan struct{}), gone: make(chan struct{})}
	// No write is left with a deadline for the connection's next request.
	defer func() { _ = d.rc.SetWriteDeadline(time.Time{}) }()
	sent, err := send(d)
	if err != nil {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		h.sendError(w, r, err)
		return
	}
	// Send returned: the turn is committed, so the answer may show.
	d.mu.Lock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	d.open = true
	d.event("sent", h.sentJSON(s, sent))
	d.event("snapshot", map[string]string{"text": d.pending.String()})
	d.pending.Reset()
	if d.final != nil {
		// Finished before Send returned (a cached answer).
		d.event("done", messageJSON{Message: *d.final, HTML: string(h.md.HTML(d.final.Content))})
		d.closed = true
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-r.Context().Done():
			d.mu.Lock()
			d.closed = true
			d.mu.Unlock()
			return
		case <-ping.C:
			d.mu.Lock()
			if !d.closed && !d.failed {
				_ = d.rc.SetWriteDeadline(time.Now().Add(directWriteTimeout))
				if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || d.rc.Flush() != nil {
					d.fail()
				}
			}
			d.mu.Unlock()
		case <-d.gone:
			// The member's connection took nothing for directWriteTimeout:
			// drop it; the answer goes on for the hub's followers.
			d.mu.Lock()
			d.closed = true
			d.mu.Unlock()
			return
		}
	}
}

func (h *Handlers) sentJSON(s *scope, sent chat.Sent) map[string]any {
	return map[string]any{"user_message": sent.User, "answer": sent.Answer, "quota": sent.Quota,
		"stream_url": fmt.Sprintf("/api/c/%s/messages/%s/stream", s.c.ID, sent.Answer.ID)}
}

// HandleRegenerate handles POST /api/c/{cid}/conversations/{conv}/regenerate.
func (h *Handlers) HandleRegenerate(w http.ResponseWriter, r *http.Request) {
	s, conv, ok := h.conversation(w, r)
	if !ok {
		return
	}
	if wantsStream(r) {
		h.sendStream(w, r, s, func(sink chat.Sink) (chat.Sent, error) {
			return h.o.Chat.RegenerateTo(r.Context(), s.c, conv, sink)
		})
		return
	}
	sent, err := h.o.Chat.Regenerate(r.Context(), s.c, conv)
	if err != nil {
		h.sendError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusAccepted, h.sentJSON(s, sent))
}

// sendError answers a refused send or regeneration. At the daily limit
// (code daily_limit_reached) Retry-After says when the allowance comes
// back: the seconds until the next midnight UTC.
func (h *Handlers) sendError(w http.ResponseWriter, r *http.Request, err error) {
	var dl *chat.DailyLimitError
	if errors.As(err, &dl) {
		secs := int(math.Ceil(dl.Resets.Sub(h.o.Now()).Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	}
	httpapi.Error(w, r, err)
}

// message loads the member's {mid}.
func (h *Handlers) message(w http.ResponseWriter, r *http.Request) (*scope, chat.Message, bool) {
	s, ok := h.member(w, r, true)
	if !ok {
		return nil, chat.Message{}, false
	}
	m, err := h.o.Chat.Store().Message(r.Context(), s.c.ID, s.user.ID, r.PathValue("mid"))
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			h.violation(r, s, "message not theirs")
		}
		httpapi.Error(w, r, err)
		return nil, m, false
	}
	return s, m, true
}

// HandleStop handles POST /api/c/{cid}/messages/{mid}/stop.
func (h *Handlers) HandleStop(w http.ResponseWriter, r *http.Request) {
	_, m, ok := h.message(w, r)
	if !ok {
		return
	}
	stopped := h.o.Chat.Stop(r.Context(), m.ID)
	httpapi.Write(w, http.StatusOK, map[string]any{"stopping": stopped})
}

// HandleStream handles GET /api/c/{cid}/messages/{mid}/stream: Server-Sent
// Events "snapshot" (the text so far), "delta" (each new piece) and "done"
// (the final message with its HTML). A finished answer gets snapshot and
// done at once, so a reloaded page can always follow.
func (h *Handlers) HandleStream(w http.ResponseWriter, r *http.Request) {
	_, m, ok := h.message(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) error {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	done := func(m chat.Message) {
		_ = send("done", messageJSON{Message: m, HTML: string(h.md.HTML(m.Content))})
	}
	snap, events, cancel, live := h.o.Chat.Follow(r.Context(), m.ID)
	defer cancel()
	if !live {
		// Finished (or generated by a process that is gone): read the store.
		if m.Status == chat.Streaming {
			if fresh, err := h.o.Chat.Store().Message(r.Context(), m.CommunityID, m.UserID, m.ID); err == nil {
				m = fresh
			}
		}
		m.Proposal = h.proposalFor(r, m) // the live event carries it; the store does not
		_ = send("snapshot", map[string]string{"text": m.Content})
		done(m)
		return
	}
	if err := send("snapshot", map[string]string{"text": snap}); err != nil {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case ev, ok := <-events:
			// Pieces that came in while this one was being written go out
			// with it, as one delta and one flush: under load that is one
			// write instead of many.
			var text strings.Builder
			for ok && ev.Kind == "delta" {
				text.WriteString(ev.Text)
				select {
				case ev, ok = <-events:
					continue
				default:
				}
				break
			}
			if text.Len() > 0 {
				if err := send("delta", map[string]string{"text": text.String()}); err != nil {
					return
				}
				if ok && ev.Kind == "delta" {
					continue
				}
			}
			if !ok {
				// Lagged behind: the client reconnects for a new snapshot.
				_ = send("reset", map[string]string{})
				return
			}
			if ev.Kind == "done" {
				done(*ev.Message)
				return
			}
		}
	}
}

// HandleQuota handles GET /api/c/{cid}/quota.
func (h *Handlers) HandleQuota(w http.ResponseWriter, r *http.Request) {
	s, ok := h.member(w, r, true)
	if !ok {
		return
	}
	q, err := h.o.Chat.Quota(r.Context(), s.c, s.user.ID)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, q)
}
