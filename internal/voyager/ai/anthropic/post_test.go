package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/voyager/ai"
)

// TestPostHeadersAndRefusals: the request carries the key, the API
// version and JSON content type to /v1/messages under the base URL; a
// refusal comes back classified by its status with the API's own message
// and request id, and a stream's error event as a stream error.
func TestPostHeadersAndRefusals(t *testing.T) {
	var got *http.Request
	var body string
	status, reply := 0, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Request-Id", "req_123")
		if status != 200 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, reply)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, reply)
	}))
	defer srv.Close()
	p := New(Options{APIKey: "sk-ant-test", BaseURL: srv.URL + "/"})
	req := ai.Request{System: "Be brief.", MaxTokens: 10, Messages: []ai.Message{{Role: ai.User, Content: "Hi"}}}

	status, reply = 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
	_, _, err := p.Stream(context.Background(), req, "claude-x", func(string) {})
	var ae *ai.Error
	if !errors.As(err, &ae) || ae.Status != 529 || ae.Reason != "overloaded" || !ae.Retryable {
		t.Fatalf("529: got %#v", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || !strings.Contains(se.Error(), "overloaded_error: Overloaded") || se.RequestID != "req_123" {
		t.Errorf("529 error lost the API's message or request id: %#v", se)
	}
	if got.URL.Path != "/v1/messages" || got.Header.Get("X-Api-Key") != "sk-ant-test" || got.Header.Get("Anthropic-Version") != APIVersion ||
		got.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"model":"claude-x"`) || !strings.Contains(body, `"stream":true`) {
		t.Errorf("request: path %s headers %v body %s", got.URL.Path, got.Header, body)
	}

	status, reply = 400, `not json at all`
	_, _, err = p.Stream(context.Background(), req, "claude-x", func(string) {})
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Retryable || !errors.As(err, &se) || se.Message != "not json at all" {
		t.Fatalf("400: got %#v", err)
	}

	status, reply = 200, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n"+
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
	_, _, err = p.Stream(context.Background(), req, "claude-x", func(string) {})
	if !errors.As(err, &ae) || ae.Reason != "overloaded" {
		t.Fatalf("error event: got %#v", err)
	}

	status, reply = 200, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"+
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n"
	var text string
	u, stop, err := p.Stream(context.Background(), req, "claude-x", func(s string) { text += s })
	if err != nil || text != "Hello" || stop != "end_turn" || u.Output != 1 {
		t.Fatalf("stream: %q %q %+v %v", text, stop, u, err)
	}
}
