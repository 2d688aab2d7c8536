package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/web"
)

// failingProduct has a route that fails with an internal error and one
// that talks to Redis, for the error-reporting tests.
func runFailingProduct(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	p := app.Product{
		Name: config.Coda, Title: "Failing", Description: "fails on purpose",
		Migrations: fstest.MapFS{"sqlite/.keep": {}, "postgres/.keep": {}},
		Mount: func(ctx context.Context, p *app.Platform) (*app.Mounted, error) {
			site, err := p.MountSite(fstest.MapFS{}, web.Product{Name: "Failing"}, nil)
			if err != nil {
				return nil, err
			}
			p.Router.HandleFunc("GET /api/fail", func(w http.ResponseWriter, r *http.Request) {
				httpapi.Error(w, r, errors.New("the disk is on fire"))
			})
			return &app.Mounted{NotFound: http.HandlerFunc(site.Render.NotFound)}, nil
		},
	}
	return app.Run(ctx, p, app.Env{Args: args, Getenv: getenv, Stdout: stdout, Stderr: stderr})
}

// TestSentryOneEventPerFailure: with SENTRY_DSN set, one failed request
// sends exactly one event (the error, not also the access-log line), and
// the event carries the route and request ID but not the client's IP.
func TestSentryOneEventPerFailure(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []string
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/api/7/envelope/" {
			mu.Lock()
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, `"type":"event"`) {
					events = append(events, string(b))
				}
			}
			mu.Unlock()
		}
		io.WriteString(w, `{}`)
	}))
	defer ingest.Close()
	env := apptest.BaseEnv(t, map[string]string{"SENTRY_DSN": strings.Replace(ingest.URL, "http://", "http://key@", 1) + "/7"})
	s := apptest.Start(t, runFailingProduct, env)
	resp, body := get(t, s.URL+"/api/fail", "")
	if resp.StatusCode != 500 || strings.Contains(body, "disk") {
		t.Fatalf("failure answered %d %s, want 500 without details", resp.StatusCode, body)
	}
	// Stopping the server flushes Sentry's queue.
	s.Stop(t)
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 {
		t.Fatalf("got %d Sentry events for one failed request, want 1:\n%s", len(events), strings.Join(events, "\n---\n"))
	}
	ev := events[0]
	for _, want := range []string{"the disk is on fire", "GET /api/fail", resp.Header.Get("X-Request-ID")} {
		if !strings.Contains(ev, want) {
			t.Errorf("the event lacks %q:\n%s", want, ev)
		}
	}
	// The envelope's header names the ingest's address (the DSN); the
	// event itself must not name the client's.
	lines := strings.Split(strings.TrimSpace(ev), "\n")
	if item := lines[len(lines)-1]; strings.Contains(item, "127.0.0.1") || strings.Contains(item, `"ip"`) || strings.Contains(item, "ip_address") {
		t.Errorf("the event carries the client IP:\n%s", ev)
	}
}

// TestRedisClientLogsJSON: the Redis client's own messages (go-redis
// prints "failed to dial" through its package logger when Redis is down)
// are JSON records in the server's log like every other line.
func TestRedisClientLogsJSON(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	env := apptest.BaseEnv(t, map[string]string{"REDIS_URL": "redis://" + dead + "/0"})
	s := apptest.Start(t, runFailingProduct, env)
	waitStatus(t, s.URL+"/readyz", "", 503)
	s.Stop(t)
	if !strings.Contains(s.Stderr.String(), `"msg":"redis client"`) {
		t.Errorf("no Redis client message in the log:\n%s", grepRedis(s.Stderr.String()))
	}
	for _, l := range strings.Split(strings.TrimSpace(s.Stderr.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("a stderr line is not JSON: %q", l)
		}
	}
}

func grepRedis(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "redis") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
