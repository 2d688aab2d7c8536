package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzhttp"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

// StackOptions configure the shared middleware.
type StackOptions struct {
	Logger         *slog.Logger
	Metrics        *obs.HTTPMetrics // may be nil
	PublicURL      string           // https here turns on HSTS
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64
	// TrustedOrigins are extra origins allowed to send unsafe requests.
	TrustedOrigins []string
	// CSP overrides the default Content-Security-Policy.
	CSP string
	// BodyLimits raise (or lower) MaxBodyBytes for exact request paths,
	// such as an import endpoint that takes a whole export.
	BodyLimits map[string]int64
}

// DefaultCSP allows only this origin's scripts, styles and connections:
// no inline script, no inline style, no framing.
const DefaultCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// Stack wraps h in the shared middleware, outermost first: request
// context (ID, client IP, logger), access log and metrics, panic recovery,
// security headers, gzip, body limit, cross-origin protection.
func Stack(h http.Handler, o StackOptions) (http.Handler, error) {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.CSP == "" {
		o.CSP = DefaultCSP
	}
	cop := http.NewCrossOriginProtection()
	for _, origin := range o.TrustedOrigins {
		if err := cop.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("trusted origin %q: %w", origin, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obs.Logger(r.Context()).Warn("cross-origin request refused", "origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		httpapi.Error(w, r, &apperr.Error{Kind: apperr.Forbidden, Code: "cross_origin", Message: "Cross-origin requests that change data are refused."})
	}))
	h = cop.Handler(h)
	h = bodyLimit(h, o.MaxBodyBytes, o.BodyLimits)
	gz, err := gzhttp.NewWrapper(gzhttp.MinSize(512), gzhttp.ExceptContentTypes([]string{"text/event-stream"}))
	if err != nil {
		return nil, err
	}
	h = skipForUpgrades(gz(h), h)
	h = securityHeaders(h, o.CSP, strings.HasPrefix(o.PublicURL, "https://"))
	h = recoverer(h)
	h = observe(h, o.Logger, o.Metrics, o.TrustedProxies)
	return h, nil
}

// info is filled in as a request passes through: the route pattern is only
// known once the mux has matched it.
type info struct {
	pattern string
}

type infoKey struct{}

// SetRoute records the matched route pattern for logs and metrics.
func SetRoute(ctx context.Context, pattern string) {
	if i, ok := ctx.Value(infoKey{}).(*info); ok {
		i.pattern = pattern
	}
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// ClientIPFrom decides the client's address: the peer, or the right-most
// untrusted X-Forwarded-For entry when the peer is a trusted proxy.
func ClientIPFrom(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	parts := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			break
		}
		if !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return host
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection to a WebSocket (or other upgrade) handler;
// the access log records 101.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// skipForUpgrades sends connection upgrades (WebSocket) around the gzip
// wrapper, which cannot compress a hijacked connection.
func skipForUpgrades(gz, plain http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			plain.ServeHTTP(w, r)
			return
		}
		gz.ServeHTTP(w, r)
	})
}

// Flush lets streamed answers through the wrapper.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func observe(next http.Handler, log *slog.Logger, m *obs.HTTPMetrics, trusted []netip.Prefix) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		ip := ClientIPFrom(r, trusted)
		in := &info{}
		ctx := context.WithValue(r.Context(), infoKey{}, in)
		ctx = obs.WithRequestID(ctx, id)
		ctx = httpapi.WithClientIP(ctx, ip)
		ctx = obs.WithLogger(ctx, log.With("request_id", id))
		w.Header().Set("X-Request-ID", id)
		sw := &statusWriter{ResponseWriter: w}
		if m != nil {
			m.InFlight.Inc()
			defer m.InFlight.Dec()
		}
		next.ServeHTTP(sw, r.WithContext(ctx))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := in.pattern
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		if m != nil {
			m.Observe(route, r.Method, sw.status, d)
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		if route == "GET /healthz" || route == "GET /metrics" || route == "GET /readyz" || strings.HasPrefix(route, "GET /assets/") {
			level = slog.LevelDebug
		}
		log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("ip", ip),
			slog.String("host", r.Host),
		)
	})
}

func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil || p == http.ErrAbortHandler {
				if p != nil {
					panic(p)
				}
				return
			}
			obs.Logger(r.Context()).Error("panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			httpapi.ErrorStatus(w, r, http.StatusInternalServerError, fmt.Errorf("panic: %v", p))
		}()
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler, csp string, hsts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

func bodyLimit(next http.Handler, def int64, byPath map[string]int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		max := def
		if n, ok := byPath[r.URL.Path]; ok {
			max = n
		}
		if r.ContentLength > max {
			httpapi.Error(w, r, &apperr.Error{Kind: apperr.TooLarge, Message: "The request body is larger than the limit of " + strconv.FormatInt(max, 10) + " bytes."})
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// Origin returns scheme://host of a URL, for trusted-origin lists.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Route returns the route pattern matched for the request in ctx, or ""
// (outside a request, or before the mux matched).
func Route(ctx context.Context) string {
	if i, ok := ctx.Value(infoKey{}).(*info); ok {
		return i.pattern
	}
	return ""
}
