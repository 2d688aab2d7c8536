// Package aitest runs fake Anthropic and OpenAI servers that speak the real
// streaming wire formats (Anthropic's message_start … message_stop SSE
// events, error events and HTTP 529; OpenAI's chat.completion.chunk stream
// ending in [DONE]). Tests and benchmarks script each call.
package aitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Script is what the fake does for one call.
type Script struct {
	Status int           // non-200: answer this status with the provider's error body
	Delay  time.Duration // wait before the first event (benchmarks: a fixed provider latency)
	Chunks []string      // text pieces, one event each
	// Gate, if set, is received from before each chunk: a test releases
	// pieces one at a time. A closed Gate releases everything.
	Gate chan struct{}
	// FailAfter > 0 ends the stream abruptly after that many chunks: with
	// an error event when ErrorEvent, else by dropping the connection.
	FailAfter  int
	ErrorEvent bool
	// ErrorFirst sends an error event (Anthropic) right after message_start;
	// DropFirst drops the connection right after the response headers.
	ErrorFirst, DropFirst bool
	// Hang waits before the first event until the client goes away.
	Hang bool
	// Reply, if set, writes the chunks from the request's JSON body (a
	// test's coach that quotes what it was sent).
	Reply func(body map[string]any) []string
	// Usage reported; zero: input 10, output len(Chunks).
	Input, Output, CacheRead, CacheWrite int64
}

// Call is one request the fake received.
type Call struct {
	Path       string
	Body       map[string]any
	Received   time.Time // when the request arrived
	FirstChunk time.Time // when the first text was written (zero: none)
}

// Server is a fake provider.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	scripts []Script
	def     Script
	calls   []Call
}

func newServer(def Script, h func(w http.ResponseWriter, r *http.Request, sc Script, model string, sent func())) *Server {
	s := &Server{def: def}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		s.mu.Lock()
		s.calls = append(s.calls, Call{Path: r.URL.Path, Body: body, Received: time.Now()})
		idx := len(s.calls) - 1
		sc := s.def
		if len(s.scripts) > 0 {
			sc, s.scripts = s.scripts[0], s.scripts[1:]
		}
		s.mu.Unlock()
		if sc.Reply != nil {
			sc.Chunks = sc.Reply(body)
		}
		if sc.Delay > 0 {
			t := time.NewTimer(sc.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if sc.Hang {
			<-r.Context().Done()
			return
		}
		model, _ := body["model"].(string)
		first := true
		h(w, r, sc, model, func() {
			if first {
				first = false
				s.mu.Lock()
				s.calls[idx].FirstChunk = time.Now()
				s.mu.Unlock()
			}
		})
	}))
	return s
}

// Push queues scripts for the next calls; after them the default runs.
func (s *Server) Push(sc ...Script) {
	s.mu.Lock()
	s.scripts = append(s.scripts, sc...)
	s.mu.Unlock()
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func sse(w http.ResponseWriter, event string, data any) {
	b, _ := json.Marshal(data)
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", b)
	w.(http.Flusher).Flush()
}

func wait(r *http.Request, gate chan struct{}) bool {
	if gate == nil {
		return true
	}
	select {
	case <-gate:
		return true
	case <-r.Context().Done():
		return false
	}
}

func abort(w http.ResponseWriter) {
	// Hijack and close: the client sees a broken stream, as when a proxy drops it.
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func usage(sc Script) (in, out int64) {
	in, out = sc.Input, sc.Output
	if in == 0 && out == 0 {
		in, out = 10, int64(len(sc.Chunks))
	}
	return in, out
}

// Anthropic starts a fake Messages API; def runs when no script is queued.
func Anthropic(def Script) *Server {
	return newServer(def, func(w http.ResponseWriter, r *http.Request, sc Script, model string, sent func()) {
		if sc.Status != 0 && sc.Status != 200 {
			kind := map[int]string{429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error", 400: "invalid_request_error"}[sc.Status]
			if kind == "" {
				kind = "api_error"
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(sc.Status)
			json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": kind, "message": http.StatusText(sc.Status)}})
			return
		}
		in, out := usage(sc)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(200)
		sse(w, "message_start", map[string]any{"type": "message_start", "message": map[string]any{
			"id": "msg_fake", "type": "message", "role": "assistant", "content": []any{}, "model": model,
			"stop_reason": nil, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": in, "cache_creation_input_tokens": sc.CacheWrite, "cache_read_input_tokens": sc.CacheRead, "output_tokens": 1}}})
		sse(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		sse(w, "ping", map[string]any{"type": "ping"})
		if sc.ErrorFirst {
			sse(w, "error", map[string]any{"type": "error", "error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}})
			return
		}
		if sc.DropFirst {
			abort(w)
			return
		}
		for i, c := range sc.Chunks {
			if sc.FailAfter > 0 && i == sc.FailAfter {
				if sc.ErrorEvent {
					sse(w, "error", map[string]any{"type": "error", "error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}})
					return
				}
				abort(w)
				return
			}
			if !wait(r, sc.Gate) {
				return
			}
			sse(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": c}})
			sent()
		}
		sse(w, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
		sse(w, "message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}, "usage": map[string]any{"output_tokens": out}})
		sse(w, "message_stop", map[string]any{"type": "message_stop"})
	})
}

// OpenAI starts a fake Chat Completions API (base URL: URL + "/v1/").
func OpenAI(def Script) *Server {
	return newServer(def, func(w http.ResponseWriter, r *http.Request, sc Script, model string, sent func()) {
		if sc.Status != 0 && sc.Status != 200 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(sc.Status)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": http.StatusText(sc.Status), "type": "server_error", "param": nil, "code": nil}})
			return
		}
		in, out := usage(sc)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		chunk := func(delta map[string]any, finish any) map[string]any {
			return map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
				"system_fingerprint": "fp_fake", "choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
		}
		sse(w, "", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
		if sc.DropFirst || sc.ErrorFirst {
			abort(w)
			return
		}
		for i, c := range sc.Chunks {
			if sc.FailAfter > 0 && i == sc.FailAfter {
				abort(w)
				return
			}
			if !wait(r, sc.Gate) {
				return
			}
			sse(w, "", chunk(map[string]any{"content": c}, nil))
			sent()
		}
		sse(w, "", chunk(map[string]any{}, "stop"))
		sse(w, "", map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model, "choices": []any{},
			"usage": map[string]any{"prompt_tokens": in + sc.CacheRead, "completion_tokens": out, "total_tokens": in + sc.CacheRead + out,
				"prompt_tokens_details": map[string]any{"cached_tokens": sc.CacheRead}}})
		fmt.Fprint(w, "data: [DONE]\n\n")
		w.(http.Flusher).Flush()
	})
}
