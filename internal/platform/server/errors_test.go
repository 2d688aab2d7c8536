package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveStack runs rt behind Stack on a real http.Server (so header limits
// and disconnects behave as in production) and returns its base URL.
func serveStack(t *testing.T, rt *Router, logs io.Writer) string {
	t.Helper()
	log := obs.NewLogger(logs, "debug", "json")
	h, err := Stack(rt.Label(rt), StackOptions{Logger: log, Metrics: obs.NewHTTPMetrics(obs.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Handler: h, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// TestClientGoneIsNotAnError: a client that hangs up while the handler
// waits on the database is recorded as 499 at info level, not as a 500
// error.
func TestClientGoneIsNotAnError(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	started := make(chan struct{})
	handled := make(chan struct{})
	rt := NewRouter(nil)
	rt.HandleFunc("GET /api/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // a query that ends with the request
		httpapi.Error(w, r, fmt.Errorf("list ideas: %w", r.Context().Err()))
		close(handled)
	})
	base := serveStack(t, rt, logs)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/slow", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	<-errc
	<-handled
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"request"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			json.Unmarshal([]byte(l), &line)
		}
		if strings.Contains(l, `"level":"ERROR"`) {
			t.Errorf("an error was logged for a client that went away: %s", l)
		}
	}
	if line["status"] != float64(httpapi.StatusClientClosed) || line["level"] != "INFO" {
		t.Errorf("access line: got status %v level %v, want 499 INFO\n%s", line["status"], line["level"], logs)
	}
}

// TestHeadersTooLarge: a request head over the limit is 431 in JSON under
// /api/ and a small page elsewhere, not the server's plain text.
func TestHeadersTooLarge(t *testing.T) {
	t.Parallel()
	rt := NewRouter(nil)
	rt.HandleFunc("GET /api/x", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	rt.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	base := serveStack(t, rt, io.Discard)
	for _, tt := range []struct{ path, wantCT, want string }{
		{"/api/x", "application/json", `"code":"headers_too_large"`},
		{"/page", "text/html", "<h1>Request too large</h1>"},
	} {
		req, _ := http.NewRequest("GET", base+tt.path, nil)
		req.Header.Set("Cookie", "junk="+strings.Repeat("x", DefaultMaxHeaderBytes))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 431 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.wantCT) || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s: got %d %s %s, want 431 %s", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tt.wantCT)
		}
	}
	// Under the limit is served.
	req, _ := http.NewRequest("GET", base+"/api/x", nil)
	req.Header.Set("Cookie", "junk="+strings.Repeat("x", DefaultMaxHeaderBytes/2))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a head under the limit: got %d", resp.StatusCode)
	}
}
