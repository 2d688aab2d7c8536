package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
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
	// BodyLimits raise (or lower) MaxBodyBytes for request paths (exact, or
	// patterns whose {name} segments match any one segment),
	// such as an import endpoint that takes a whole export.
	BodyLimits map[string]int64
	// MaxHeaderBytes is the largest request head (request line and
	// headers) served; larger ones get 431, JSON under /api/. Default
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// DefaultMaxHeaderBytes is the request-head limit the middleware applies.
// The http.Server itself reads up to HeaderCeiling so that a request over
// this limit reaches the middleware and gets a proper answer.
const DefaultMaxHeaderBytes = 64 << 10

// DefaultCSP allows only this origin's scripts, styles, images and
// connections: no inline script, no inline style, no framing, no remote
// images (an image URL is a way to send page content to another host).
// data: images stay allowed for the layout's empty favicon (data:,),
// which keeps browsers from asking for /favicon.ico; they load nothing
// from anywhere.
const DefaultCSP = "default-src 'self'; script-src 'self'; style-src 'self'; " + cspImgSrc + "; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

const cspImgSrc = "img-src 'self' data:"

// CSPWithImages is DefaultCSP with images also allowed from the given
// origins (such as "https://cdn.example"), for a page that shows a
// configured remote logo. Anything that is not a plain https origin is
// left out.
func CSPWithImages(origins ...string) string {
	extra := ""
	for _, o := range origins {
		if Origin(o) == o && strings.HasPrefix(o, "https://") && !strings.ContainsAny(o, " ;,'\"") {
			extra += " " + o
		}
	}
	if extra == "" {
		return DefaultCSP
	}
	return strings.Replace(DefaultCSP, cspImgSrc, cspImgSrc+extra, 1)
}

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
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	h = headerLimit(h, o.MaxHeaderBytes)
	h = observe(h, o.Logger, o.Metrics, o.TrustedProxies)
	return h, nil
}

// SetRoute records the matched route pattern for logs and metrics.
func SetRoute(ctx context.Context, pattern string) { obs.SetRoute(ctx, pattern) }

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
		ctx := obs.WithRequest(r.Context())
		ctx = obs.WithRequestID(ctx, id)
		ctx = httpapi.WithClientIP(ctx, ip)
		ctx = obs.WithLogger(ctx, obs.BindRequest(ctx, log.With("request_id", id)))
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
		route := obs.Route(ctx)
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		if m != nil {
			m.Observe(route, r.Method, sw.status, d)
		}
		level := slog.LevelInfo
		gone := errors.Is(ctx.Err(), context.Canceled)
		switch {
		case gone:
		case sw.status == http.StatusServiceUnavailable:
			// A dependency or maintenance: logged once, as a warning.
			level = slog.LevelWarn
		case sw.status >= 500:
			level = slog.LevelError
		}
		if route == "GET /healthz" || route == "GET /metrics" || route == "GET /readyz" || strings.HasPrefix(route, "GET /assets/") {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("ip", ip),
			slog.String("host", r.Host),
		}
		if gone {
			// The client went away: whatever the handler wrote, nobody
			// read it, and it is not the server's error.
			attrs = append(attrs, slog.Bool("client_gone", true))
		}
		log.LogAttrs(ctx, level, "request", attrs...)
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

// headerLimit answers 431 to a request whose head is larger than max: JSON
// under /api/ (and for clients that want JSON), a short page elsewhere.
// (Go's server answers plain text itself, so it is given a higher
// ceiling and the limit is applied here.)
func headerLimit(next http.Handler, max int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host) + 12
		for k, vs := range r.Header {
			for _, v := range vs {
				n += len(k) + len(v) + 4
			}
		}
		if n <= max {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		const status = http.StatusRequestHeaderFieldsTooLarge
		msg := fmt.Sprintf("The request's headers are larger than the limit of %d bytes (often a pile of old cookies: clear this site's cookies).", max)
		if strings.HasPrefix(r.URL.Path, "/api/") || wantsJSON(r) {
			httpapi.ErrorStatus(w, r, status, &apperr.Error{Kind: apperr.Invalid, Code: "headers_too_large", Message: msg})
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Request too large</title></head><body><main><h1>Request too large</h1><p>%s</p></main></body></html>\n", html.EscapeString(msg))
	})
}

func bodyLimit(next http.Handler, def int64, byPath map[string]int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		max := def
		if n, ok := byPath[r.URL.Path]; ok {
			max = n
		} else {
			for pat, n := range byPath {
				if strings.Contains(pat, "{") && matchSegments(pat, r.URL.Path) {
					max = n
					break
				}
			}
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

// matchSegments reports whether path matches pattern, whose {name}
// segments match any one segment (as in http.ServeMux).
func matchSegments(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if xs[i] == "" {
				return false
			}
			continue
		}
		if p != xs[i] {
			return false
		}
	}
	return true
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
func Route(ctx context.Context) string { return obs.Route(ctx) }
