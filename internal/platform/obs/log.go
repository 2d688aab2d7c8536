// Package obs holds observability: the structured logger (JSON, secrets
// redacted), request-scoped log context and the Prometheus registry.
package obs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
)

// NewLogger returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("json" or "text"); values of sensitive keys are redacted.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: ParseLevel(level), ReplaceAttr: redactAttr}
	var h slog.Handler
	if strings.EqualFold(format, "text") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h)
}

// Discard returns a logger that drops everything, for tests and defaults.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// ParseLevel maps a level name to a slog.Level, defaulting to info.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// sensitive lists key fragments whose values never reach a log.
var sensitive = []string{"password", "passwd", "secret", "token", "authorization", "cookie", "api_key", "apikey", "dsn", "credential", "private_key"}

// Sensitive reports whether a key names a value that must be redacted.
func Sensitive(key string) bool {
	k := strings.ToLower(key)
	for _, s := range sensitive {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Redacted is what a sensitive value is replaced with.
const Redacted = "[REDACTED]"

func redactAttr(groups []string, a slog.Attr) slog.Attr {
	if Sensitive(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	return a
}

type ctxKey int

const (
	loggerKey ctxKey = iota
	requestIDKey
)

// WithLogger returns ctx carrying l, for request-scoped logging.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey, l)
}

// Logger returns the logger in ctx, or one that discards.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return Discard()
}

// WithRequestID returns ctx carrying the request ID.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request ID in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// request is what the server learns about a request as it passes through:
// the route pattern (known once the router has matched) and whether an
// error of it has been reported to Sentry yet.
type request struct {
	route    atomic.Pointer[string]
	reported atomic.Bool
}

type requestKey struct{}

// WithRequest returns ctx carrying a fresh record of the request for
// SetRoute, Route and the Sentry handler; the server's outermost
// middleware calls it once per request.
func WithRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestKey{}, &request{})
}

// SetRoute records the matched route pattern of the request in ctx.
func SetRoute(ctx context.Context, pattern string) {
	if rq, ok := ctx.Value(requestKey{}).(*request); ok {
		rq.route.Store(&pattern)
	}
}

// Route returns the route pattern recorded for the request in ctx, or "".
func Route(ctx context.Context) string {
	if rq, ok := ctx.Value(requestKey{}).(*request); ok {
		if p := rq.route.Load(); p != nil {
			return *p
		}
	}
	return ""
}

// firstReport reports whether this is the request's first error report
// (true outside a request), so one failed request is one Sentry event.
func firstReport(ctx context.Context) bool {
	rq, ok := ctx.Value(requestKey{}).(*request)
	return !ok || rq.reported.CompareAndSwap(false, true)
}

// RedisLogger writes the Redis client's own messages (go-redis prints them
// through its package logger, set with redis.SetLogger) as structured
// records: through the logger of the operation's context when it has one
// (a request's, with its request ID), else through Fallback, at warn
// level, so they are JSON like every other line.
type RedisLogger struct {
	Fallback *slog.Logger
}

// Printf implements go-redis's internal.Logging.
func (l RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	lg, ok := ctx.Value(loggerKey).(*slog.Logger)
	if !ok {
		lg = l.Fallback
	}
	if lg == nil {
		return
	}
	msg := strings.TrimSpace(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
	lg.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", msg))
}

// BindRequest returns l with the request record of ctx (see WithRequest)
// bound to it, so records logged without a context (Logger.Error rather
// than ErrorContext) still count as the request's: the Sentry handler sees
// its route and sends one event per failed request.
func BindRequest(ctx context.Context, l *slog.Logger) *slog.Logger {
	rq, ok := ctx.Value(requestKey{}).(*request)
	if !ok {
		return l
	}
	return slog.New(boundHandler{next: l.Handler(), rq: rq})
}

type boundHandler struct {
	next slog.Handler
	rq   *request
}

func (h boundHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h boundHandler) Handle(ctx context.Context, r slog.Record) error {
	if _, ok := ctx.Value(requestKey{}).(*request); !ok {
		ctx = context.WithValue(ctx, requestKey{}, h.rq)
	}
	return h.next.Handle(ctx, r)
}

func (h boundHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return boundHandler{next: h.next.WithAttrs(as), rq: h.rq}
}

func (h boundHandler) WithGroup(name string) slog.Handler {
	return boundHandler{next: h.next.WithGroup(name), rq: h.rq}
}
