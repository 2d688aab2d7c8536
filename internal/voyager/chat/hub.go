package chat

import (
	"strings"
	"sync"
)

// Event is what a follower of an answer receives.
type Event struct {
	Kind    string   // "delta" (Text is the new piece) or "done" (Message is final)
	Text    string   //
	Message *Message // on "done"
}

// Hub tracks the answers being generated in this process so any request
// (the sender's page, the same page reloaded, another tab) can follow one:
// a subscriber gets the text so far, then each piece, then the final
// message. It is safe for concurrent use.
type Hub struct {
	mu      sync.Mutex
	streams map[string]*stream
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{streams: map[string]*stream{}} }

type stream struct {
	mu     sync.Mutex
	text   strings.Builder
	subs   map[chan Event]struct{}
	done   bool
	cancel func()
}

// subscriberBuffer bounds how far a follower may lag; one that falls
// further behind is dropped (its channel closes) and reconnects for a
// fresh snapshot.
const subscriberBuffer = 512

func (h *Hub) start(id string, cancel func()) *stream {
	s := &stream{subs: map[chan Event]struct{}{}, cancel: cancel}
	h.mu.Lock()
	h.streams[id] = s
	h.mu.Unlock()
	return s
}

func (h *Hub) get(id string) *stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams[id]
}

func (h *Hub) remove(id string) {
	h.mu.Lock()
	delete(h.streams, id)
	h.mu.Unlock()
}

// Active is how many answers are being generated.
func (h *Hub) Active() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// Subscribe follows answer id. ok is false when it is not being generated
// here (finished, or never started): read it from the store instead. The
// channel closes after the "done" event or when the follower lags; call
// cancel when leaving.
func (h *Hub) Subscribe(id string) (snapshot string, events <-chan Event, cancel func(), ok bool) {
	s := h.get(id)
	if s == nil {
		return "", nil, func() {}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return "", nil, func() {}, false
	}
	ch := make(chan Event, subscriberBuffer)
	s.subs[ch] = struct{}{}
	return s.text.String(), ch, func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}, true
}

func (s *stream) append(text string) { s.appendAt(text) }

// appendAt adds text and returns the byte offset it starts at.
func (s *stream) appendAt(text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	off := s.text.Len()
	s.text.WriteString(text)
	for ch := range s.subs {
		select {
		case ch <- Event{Kind: "delta", Text: text}:
		default:
			delete(s.subs, ch)
			close(ch)
		}
	}
	return off
}

func (s *stream) content() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

func (s *stream) finish(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	for ch := range s.subs {
		select {
		case ch <- Event{Kind: "done", Message: &m}:
		default:
		}
		delete(s.subs, ch)
		close(ch)
	}
}
