// Package apptest starts a server binary's run function inside a test, as
// its main would, and waits until it answers /healthz.
package apptest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunFunc is a command's run(ctx, args, getenv, stdout, stderr).
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Buffer is a goroutine-safe bytes.Buffer for captured output.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Server is a running server.
type Server struct {
	URL    string
	Stdout *Buffer
	Stderr *Buffer
	Env    map[string]string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Getenv returns a getenv over m.
func Getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// BaseEnv returns the settings every test server gets: a fresh DATA_DIR,
// a free port and JSON logs; extra entries override.
func BaseEnv(t testing.TB, extra map[string]string) map[string]string {
	env := map[string]string{
		"DATA_DIR":   t.TempDir(),
		"PORT":       "0",
		"LOG_FORMAT": "json",
		"LOG_LEVEL":  "debug",
		"APP_ENV":    "test",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

var listening = regexp.MustCompile(`listening on (https?://\S+)`)

// Start runs run with "serve" and env, waits until /healthz answers, and
// stops the server (failing the test if it exits with an error) at cleanup.
func Start(t testing.TB, run RunFunc, env map[string]string) *Server {
	t.Helper()
	return StartWith(t, run, env, http.DefaultClient)
}

// StartWith is Start polling /healthz with client (for a server on HTTPS,
// a client that trusts its CA and dials it).
func StartWith(t testing.TB, run RunFunc, env map[string]string, client *http.Client) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Stdout: &Buffer{}, Stderr: &Buffer{}, Env: env, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"serve"}, Getenv(env), s.Stdout, s.Stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	for s.URL == "" {
		if m := listening.FindStringSubmatch(s.Stdout.String()); m != nil {
			s.URL = strings.Replace(m[1], "localhost", "127.0.0.1", 1)
			break
		}
		select {
		case err := <-s.done:
			cancel()
			t.Fatalf("server exited before listening: %v\nstderr:\n%s", err, s.Stderr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not start within 30s\nstderr:\n%s", s.Stderr)
		}
	}
	for {
		resp, err := client.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("/healthz never answered 200: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down and waits for it; safe to call twice.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("server exited with %v\nstderr:\n%s", err, s.Stderr)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	})
}

// Command runs one non-serve command and returns its output.
func Command(t testing.TB, run RunFunc, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = run(ctx, args, Getenv(env), &o, &e)
	return o.String(), e.String(), err
}
