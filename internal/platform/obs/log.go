// Package obs holds observability: the structured logger (JSON, secrets
// redacted), request-scoped log context and the Prometheus registry.
package obs

import (
	"context"
	"io"
	"log/slog"
	"strings"
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
