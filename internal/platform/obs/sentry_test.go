package obs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/relaywork/suite/internal/platform/obs"
)

// fakeSentry accepts envelopes the way sentry.io's ingest does
// (POST /api/{project}/envelope/) and keeps the events.
type fakeSentry struct {
	mu     sync.Mutex
	events []map[string]any
	auth   []string
}

func (f *fakeSentry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/42/envelope/" {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("X-Sentry-Auth"))
	// Line 0 is the envelope header; then item header, item payload pairs.
	for i := 1; i+1 < len(lines); i += 2 {
		var item struct{ Type string }
		if json.Unmarshal([]byte(lines[i]), &item) == nil && item.Type == "event" {
			var ev map[string]any
			if err := json.Unmarshal([]byte(lines[i+1]), &ev); err == nil {
				f.events = append(f.events, ev)
			}
		}
	}
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `{"id":"0"}`)
}

func TestSentryGetsErrorsWithoutSecrets(t *testing.T) {
	t.Parallel()
	fs := &fakeSentry{}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	dsn := strings.Replace(srv.URL, "http://", "http://publickey@", 1) + "/42"

	var out bytes.Buffer
	base := obs.NewLogger(&out, "info", "json")
	log, flush, err := obs.WithSentry(base, obs.SentryOptions{DSN: dsn, Environment: "test", Release: "v1", Service: "coda"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := obs.WithRequestID(context.Background(), "req-123")
	log = log.With("service", "coda")
	log.InfoContext(ctx, "not an error", "n", 1)
	log.ErrorContext(ctx, "panic recovered", "route", "GET /api/ideas", "err", "boom", "api_key", "sk-live-secret", slog.Group("user", "id", "u1"))
	flush()

	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.events) != 1 {
		t.Fatalf("got %d events, want only the error: %v", len(fs.events), fs.events)
	}
	ev := fs.events[0]
	contexts, _ := ev["contexts"].(map[string]any)
	extra, _ := contexts["log"].(map[string]any)
	tags, _ := ev["tags"].(map[string]any)
	if ev["message"] != "panic recovered" || ev["environment"] != "test" || ev["release"] != "v1" || ev["level"] != "error" {
		t.Fatalf("event: %v", ev)
	}
	if extra["err"] != "boom" || extra["user.id"] != "u1" || extra["api_key"] != obs.Redacted || tags["request_id"] != "req-123" || ev["transaction"] != "GET /api/ideas" {
		t.Fatalf("event details: extra %v tags %v", extra, tags)
	}
	raw, _ := json.Marshal(fs.events)
	if strings.Contains(string(raw), "sk-live-secret") {
		t.Fatal("a secret reached Sentry")
	}
	if !strings.Contains(fs.auth[0], "sentry_key=publickey") {
		t.Fatalf("auth header: %q", fs.auth[0])
	}
	// The local log still has both lines, the secret redacted.
	if strings.Count(out.String(), "\n") != 2 || strings.Contains(out.String(), "sk-live-secret") {
		t.Fatalf("local log:\n%s", out.String())
	}
}

func TestSentryBadDSN(t *testing.T) {
	t.Parallel()
	if _, _, err := obs.WithSentry(obs.Discard(), obs.SentryOptions{DSN: "not a dsn"}); err == nil || !strings.Contains(err.Error(), "SENTRY_DSN") {
		t.Fatalf("got %v, want an error naming SENTRY_DSN", err)
	}
}
