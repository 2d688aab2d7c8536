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

// Secrets are kept out of logs two ways, whatever the caller passes:
//
//   - by key: a key whose last word names a secret (password, secret,
//     token, authorization, cookie, dsn, credential, jwt, signature, or
//     api/private/secret/access/signing key) has its value replaced. Words
//     are split at '_', '-', '.' and case changes, so session_token,
//     clientSecret and STRIPE_SECRET_KEY are secret while first_token_ms,
//     input_tokens and cache_key are not.
//   - by shape: inside any string value, JSON Web Tokens, "Bearer …" and
//     "Basic …" credentials, Stripe-style keys (sk_live_…, whsec_…),
//     provider keys (sk-ant-…, sk-…) and long hex or base64 runs (32+
//     characters, the shape of generated secrets) are replaced, keeping
//     the rest of the text (an error message stays readable).
//
// A value that must reach the log as is (the development mail sender's
// text, which carries the sign-in link on purpose) is passed as Verbatim.

// secretWords are last words of keys that name a secret.
var secretWords = map[string]bool{
	"password": true, "passwd": true, "pass": true, "passphrase": true, "secret": true, "token": true,
	"authorization": true, "auth": true, "cookie": true, "cookies": true, "dsn": true, "credential": true,
	"credentials": true, "jwt": true, "signature": true, "apikey": true, "otp": true,
}

// keyQualifiers make a trailing "key" a secret: api_key, private_key, ….
var keyQualifiers = map[string]bool{"api": true, "private": true, "secret": true, "access": true, "signing": true, "encryption": true, "master": true, "license": true}

// Sensitive reports whether a key names a value that must be redacted.
func Sensitive(key string) bool {
	words := keyWords(key)
	if len(words) == 0 {
		return false
	}
	last := words[len(words)-1]
	if secretWords[last] {
		return true
	}
	if last == "key" && len(words) > 1 && keyQualifiers[words[len(words)-2]] {
		return true
	}
	return false
}

// keyWords splits a key into lower-case words at '_', '-', '.', ' ' and
// lower-to-upper case changes.
func keyWords(key string) []string {
	var words []string
	cur := make([]byte, 0, len(key))
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			flush()
		case c >= 'A' && c <= 'Z':
			if i > 0 && key[i-1] >= 'a' && key[i-1] <= 'z' {
				flush()
			}
			cur = append(cur, c+'a'-'A')
		default:
			cur = append(cur, c)
		}
	}
	flush()
	return words
}

// Redacted is what a sensitive value is replaced with.
const Redacted = "[REDACTED]"

// Verbatim is a string value the redactor leaves alone. Use it only for
// text that is meant to carry a credential to the operator, such as the
// development mail sender's sign-in links.
type Verbatim string

func redactAttr(groups []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		return a
	}
	if Sensitive(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); len(s) >= minShape {
			if r := RedactString(s); r != s {
				return slog.String(a.Key, r)
			}
		}
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case Verbatim:
			return slog.String(a.Key, string(v))
		case error:
			s := v.Error()
			if r := RedactString(s); r != s {
				return slog.String(a.Key, r)
			}
		case fmt.Stringer:
			s := v.String()
			if r := RedactString(s); r != s {
				return slog.String(a.Key, r)
			}
		}
	}
	return a
}

// minShape is the shortest string that can hold a secret-shaped value
// ("Bearer " and a short token).
const minShape = 12

// RedactString replaces secret-shaped parts of s (see above) with
// [REDACTED] and returns s itself when there are none.
func RedactString(s string) string {
	if len(s) < minShape {
		return s
	}
	var b []byte // nil until something is replaced
	last := 0
	replace := func(from, to int) {
		if b == nil {
			b = make([]byte, 0, len(s))
		}
		b = append(b, s[last:from]...)
		b = append(b, Redacted...)
		last = to
	}
	for i := 0; i < len(s); {
		if !runChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && (runChar(s[j]) || (s[j] == '.' && j+1 < len(s) && runChar(s[j+1]))) {
			j++
		}
		for j < len(s) && s[j] == '=' { // base64 padding ends a run
			j++
		}
		word := s[i:j]
		// "Bearer x" / "Basic x": the credential is the next word.
		if (strings.EqualFold(word, "bearer") || strings.EqualFold(word, "basic")) && j+1 < len(s) && s[j] == ' ' && runChar(s[j+1]) {
			k := j + 1
			for k < len(s) && (runChar(s[k]) || s[k] == '.') {
				k++
			}
			replace(j+1, k)
			i = k
			continue
		}
		for off := 0; off < len(word); {
			from, to, ok := secretIn(word[off:])
			if !ok {
				break
			}
			replace(i+off+from, i+off+to)
			off += to
		}
		i = j
	}
	if b == nil {
		return s
	}
	return string(append(b, s[last:]...))
}

// runChar reports whether c can be part of a token: base64 (standard and
// URL-safe) and hex characters; '=' only as trailing padding, so a
// "token=…" query keeps its name.
func runChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '+' || c == '/'
}

// secretIn finds a secret-shaped stretch in a word (a run of token
// characters and inner dots) and returns its bounds.
func secretIn(w string) (int, int, bool) {
	if len(w) < minShape {
		return 0, 0, false
	}
	// A JSON Web Token: three base64url parts, the first a JSON object.
	if strings.HasPrefix(w, "eyJ") && strings.Count(w, ".") >= 2 {
		return 0, len(w), true
	}
	for _, p := range []string{"sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_", "pk_test_", "whsec_", "sk-ant-", "sk-proj-", "xoxb-", "xoxp-", "ghp_", "github_pat_", "glpat-"} {
		if k := strings.Index(w, p); k >= 0 && (k == 0 || !isAlnum(w[k-1])) && len(w)-k-len(p) >= 8 {
			return k, len(w), true
		}
	}
	if strings.HasPrefix(w, "sk-") && len(w) >= 23 {
		return 0, len(w), true
	}
	// Long hex or base64, per dotted part. A part that is a path
	// ("/api/c/…/conversations/{uuid}") is checked segment by segment; a
	// standard-base64 secret may hold a slash or two and is checked whole.
	off := 0
	for _, part := range strings.Split(w, ".") {
		if !strings.HasPrefix(part, "/") && strings.Count(part, "/") <= 2 {
			if generatedShape(part) {
				return off, off + len(part), true
			}
		} else {
			segOff := off
			for _, seg := range strings.Split(part, "/") {
				if generatedShape(seg) {
					return segOff, segOff + len(seg), true
				}
				segOff += len(seg) + 1
			}
		}
		off += len(part) + 1
	}
	return 0, 0, false
}

// generatedShape reports whether s looks like a generated secret: 32+
// hex digits, or 32+ base64 characters mixing upper case, lower case and
// digits (words, identifiers and UUIDs do not).
func generatedShape(s string) bool {
	s = strings.TrimRight(s, "=")
	if len(s) < 32 {
		return false
	}
	var upper, lower, digit, hexOnly = false, false, false, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
			if c > 'F' {
				hexOnly = false
			}
		case c >= 'a' && c <= 'z':
			lower = true
			if c > 'f' {
				hexOnly = false
			}
		case c >= '0' && c <= '9':
			digit = true
		default:
			hexOnly = false
		}
	}
	return hexOnly || (upper && lower && digit)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
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
