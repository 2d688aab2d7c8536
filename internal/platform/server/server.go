// Package server runs an http.Server with the middleware every product
// shares (request IDs, access log, metrics, panic recovery, security
// headers, cross-origin protection, body limits, gzip), the health and
// metrics routes, and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// HeaderCeiling is the largest request head the http.Server reads (Go's
// default); past it Go answers a plain-text 431 before any middleware runs.
const HeaderCeiling = 1 << 20

// Server is an http.Server that shuts down gracefully.
type Server struct {
	srv      *http.Server
	log      *slog.Logger
	timeout  time.Duration
	draining atomic.Bool
	onReady  func(addr string)
}

// Options configure a Server.
type Options struct {
	Addr            string
	Handler         http.Handler
	Logger          *slog.Logger
	ShutdownTimeout time.Duration // default 15s
	// OnReady, if set, is called with the bound address once listening.
	OnReady func(addr string)
}

// New returns a Server with sensible timeouts.
func New(o Options) *Server {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 15 * time.Second
	}
	s := &Server{log: o.Logger, timeout: o.ShutdownTimeout, onReady: o.OnReady}
	s.srv = &http.Server{
		Addr:              o.Addr,
		Handler:           o.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		// WriteTimeout stays 0: streamed answers (SSE) and WebSockets run
		// long; handlers that need a deadline set one with
		// http.ResponseController.
		IdleTimeout: 120 * time.Second,
		// The middleware applies DefaultMaxHeaderBytes (and answers 431 in
		// JSON under /api/); this ceiling only stops absurd heads.
		MaxHeaderBytes: HeaderCeiling,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// Draining reports whether shutdown has begun (readiness answers 503 then).
func (s *Server) Draining() bool { return s.draining.Load() }

// Run listens and serves until ctx is done, then stops accepting, lets
// in-flight requests finish for up to the shutdown timeout, and returns.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.srv.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	if s.onReady != nil {
		s.onReady(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: draining in-flight requests", "timeout", s.timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("shutdown timed out; closing remaining connections", "err", err.Error())
		_ = s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("stopped")
	return nil
}

// RegisterOnShutdown registers fn to run when shutdown begins (to close
// long-lived connections such as streams and WebSockets).
func (s *Server) RegisterOnShutdown(fn func()) { s.srv.RegisterOnShutdown(fn) }
