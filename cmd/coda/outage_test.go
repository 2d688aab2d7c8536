package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestDatabaseOutage runs Coda on PostgreSQL under its own role and cuts
// the database away twice while it serves: the password is rotated and
// every connection terminated (pg_terminate_backend), then the network
// path goes (a TCP proxy in front of PostgreSQL is closed, so connections
// are refused). During each outage the API answers 503 "unavailable" with
// Retry-After, pages the "temporarily unavailable" page, never 500, and
// the metrics count each request under its route (not "unmatched"); when
// the database is back the same requests succeed without a restart.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	base := storetest.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [5]byte
	rand.Read(b[:])
	name := "t_outage_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE ROLE " + name + " LOGIN PASSWORD 'first-pass'")
	exec("CREATE DATABASE " + name + " OWNER " + name)
	t.Cleanup(func() {
		admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
		admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+name)
	})
	bu, _ := url.Parse(base)
	proxy := newTCPProxy(t, bu.Host)
	dbURL := "postgres://" + name + ":first-pass@" + proxy.addr + "/" + name + "?sslmode=disable&pool_timeout=2"

	env := apptest.BaseEnv(t, map[string]string{"DATABASE_URL": dbURL, "RATE_LIMIT_SCALE": "0", "EMAIL_SERVER": "stream"})
	s := apptest.Start(t, run, env)
	c := apptest.SignIn(t, run, s, "ops@example.com")

	call := func(method, path, accept, body string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		req.Header.Set("Accept", accept)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(rb)
	}
	healthy := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, _, body := call("GET", "/api/ideas", "application/json", "")
			if st == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the outage: GET /api/ideas still %d %s", st, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st, _, body := call("POST", "/api/ideas", "application/json", `{"title":"back again"}`); st != 201 {
			t.Fatalf("after the outage: POST /api/ideas %d %s", st, body)
		}
	}
	outage := func(what string) {
		t.Helper()
		for _, r := range []struct{ method, path, accept, body string }{
			{"GET", "/api/ideas", "application/json", ""},
			{"POST", "/api/ideas", "application/json", `{"title":"during the outage"}`},
			{"GET", "/api/ideas/0190a0a0-0000-7000-8000-000000000000", "application/json", ""},
		} {
			st, h, body := call(r.method, r.path, r.accept, r.body)
			if st != 503 || !strings.Contains(body, `"code":"unavailable"`) || h.Get("Retry-After") == "" {
				t.Errorf("%s: %s %s: got %d Retry-After %q %s, want 503 unavailable with Retry-After", what, r.method, r.path, st, h.Get("Retry-After"), body)
			}
		}
		st, h, body := call("GET", "/ideas", "text/html", "")
		if st != 503 || !strings.Contains(body, "<html") || !strings.Contains(strings.ToLower(body), "temporarily unavailable") || h.Get("Retry-After") == "" {
			t.Errorf("%s: GET /ideas: got %d Retry-After %q, want the 503 temporarily unavailable page\n%.400s", what, st, h.Get("Retry-After"), body)
		}
		// A probe sends no session cookie.
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || !strings.Contains(string(rb), `"database":{"status":"down"`) {
			t.Errorf("%s: readyz: got %d %s, want 503 naming the database", what, resp.StatusCode, rb)
		}
	}

	healthy()
	// 1. The password is rotated (and, since the test server may trust
	// local connections, the login refused) and every connection is cut.
	exec("ALTER ROLE " + name + " NOLOGIN PASSWORD 'second-pass'")
	if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		t.Fatal(err)
	}
	outage("password rotated")
	exec("ALTER ROLE " + name + " LOGIN PASSWORD 'first-pass'")
	healthy()

	// 2. The database goes away: connections are refused.
	proxy.stop()
	outage("connection refused")
	proxy.start(t)
	healthy()

	_, _, metrics := call("GET", "/metrics", "text/plain", "")
	for _, want := range []string{
		`http_requests_total{code="503",method="GET",route="GET /api/ideas"} 2`,
		`http_requests_total{code="503",method="POST",route="POST /api/ideas"} 2`,
		`http_requests_total{code="503",method="GET",route="GET /api/ideas/{id}"} 2`,
		`http_requests_total{code="503",method="GET",route="GET /ideas"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepMetric(metrics, "http_requests_total"))
		}
	}
	if strings.Contains(metrics, `code="500"`) || strings.Contains(grepMetric(metrics, "http_requests_total"), `route="unmatched"`) {
		t.Errorf("metrics show 500s or unmatched routes:\n%s", grepMetric(metrics, "http_requests_total"))
	}
	logs := s.Stderr.String()
	if strings.Contains(logs, `"msg":"internal error"`) {
		t.Errorf("the outage was logged as internal errors:\n%s", errorLines(logs))
	}
	if !strings.Contains(logs, `"msg":"dependency unavailable"`) {
		t.Errorf("the outage was not logged as a dependency failure")
	}
}

func grepMetric(s, name string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, name) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// tcpProxy forwards a local port to target; stop closes the listener and
// every connection (the database "goes away"), start listens again on the
// same port.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start(t *testing.T) {
	var ln net.Listener
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen again on %s: %v", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.serve(ln)
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		if err := p.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return
		}
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
