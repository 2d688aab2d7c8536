package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaywork/suite/internal/platform/obs"
)

// TestWebSocketThroughStack upgrades a connection through every shared
// middleware (gzip included) and echoes a message, as DevMode's relay does.
func TestWebSocketThroughStack(t *testing.T) {
	t.Parallel()
	rt := NewRouter(nil)
	rt.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, append([]byte("echo: "), msg...))
		c.Close(websocket.StatusNormalClosure, "")
	})
	h, err := Stack(rt, StackOptions{Logger: obs.Discard(), Metrics: obs.NewHTTPMetrics(obs.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Accept-Encoding": {"gzip"}}})
	if err != nil {
		t.Fatalf("dial through the middleware: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil || string(got) != "echo: hi" {
		t.Fatalf("got %q, %v; want the echo", got, err)
	}
}
