// Package auth signs people in and keeps them signed in: users and their
// linked accounts, database sessions behind an HttpOnly cookie, email
// magic links that mail scanners cannot spend, and OpenID Connect sign-in
// (Google, LinkedIn, any issuer). Both products use it; each offers the
// methods that are configured.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/mail"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/web"
)

// Defaults for session and link lifetimes.
const (
	DefaultIdleTimeout   = 30 * 24 * time.Hour
	DefaultMaxLifetime   = 90 * 24 * time.Hour
	DefaultRenewEvery    = 24 * time.Hour
	DefaultLinkLifetime  = 15 * time.Minute
	DefaultCookieName    = "session"
	secureCookiePrefix   = "__Host-"
	roleAdmin            = "admin"
	roleUser             = "user"
	maxUserAgent         = 512
	sessionTokenBytes    = 32
	emailLinkTokenBytes  = 32
	maxEmailLength       = 254
	maxLinksPerAddress   = 5
	linksPerAddressEvery = 15 * time.Minute
)

// Roles a user can have.
const (
	RoleUser  = roleUser
	RoleAdmin = roleAdmin
)

// Options configure a Service.
type Options struct {
	DB        *store.DB
	Audit     *audit.Log
	Logger    *slog.Logger
	Mail      mail.Sender // nil: no email sign-in
	Now       func() time.Time
	Product   string // shown in mail and pages, e.g. "Coda"
	PublicURL string // https here makes cookies Secure
	// Secret signs short-lived state (OAuth state cookies). Previous
	// secrets are still accepted, so AUTH_SECRET can rotate without
	// failing sign-ins that are under way.
	Secret         []byte
	PreviousSecret []byte
	IdleTimeout    time.Duration
	MaxLifetime    time.Duration
	LinkLifetime   time.Duration
	Providers      []Provider // OpenID Connect providers that are configured
	// SignInPath is where signed-out visitors of protected pages are sent.
	SignInPath string
	// AfterSignIn is where a sign-in lands when no safe next path was given.
	AfterSignIn string
}

// Service is the sign-in service.
type Service struct {
	o         Options
	log       *slog.Logger
	secure    bool
	cookie    string
	providers map[string]*oidcProvider
	order     []string
	sections  []DataSection
	// pages shows a failed session lookup (a database that is down) as a
	// styled page instead of JSON; set by Routes before serving.
	pages *web.Renderer
}

// New returns a Service with defaults filled in.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.LinkLifetime <= 0 {
		o.LinkLifetime = DefaultLinkLifetime
	}
	if o.SignInPath == "" {
		o.SignInPath = "/signin"
	}
	if o.AfterSignIn == "" {
		o.AfterSignIn = "/"
	}
	s := &Service{o: o, log: o.Logger, providers: map[string]*oidcProvider{}}
	s.secure = strings.HasPrefix(o.PublicURL, "https://")
	s.cookie = DefaultCookieName
	if s.secure {
		// __Host- cookies are Secure, host-only and Path=/ by the browser's rules.
		s.cookie = secureCookiePrefix + DefaultCookieName
	}
	for _, p := range o.Providers {
		s.providers[p.ID] = newOIDCProvider(p)
		s.order = append(s.order, p.ID)
	}
	return s
}

// CookieName is the session cookie's name.
func (s *Service) CookieName() string { return s.cookie }

// EmailEnabled reports whether magic-link sign-in is offered.
func (s *Service) EmailEnabled() bool { return s.o.Mail != nil }

func (s *Service) now() time.Time { return s.o.Now().UTC() }

// newToken returns n random bytes, base64url-encoded.
func newToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is what the database keeps of a token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// NormalizeEmail lower-cases and trims an address; ok is false when it is
// not a plausible single address.
func NormalizeEmail(raw string) (string, bool) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" || len(e) > maxEmailLength || strings.ContainsAny(e, " \t\r\n<>,;\"()[]\\") ||
		!utf8.ValidString(e) || strings.ContainsFunc(e, unicode.IsControl) {
		return "", false
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 || strings.Count(e, "@") != 1 {
		return "", false
	}
	domain := e[at+1:]
	if !strings.Contains(domain, ".") && domain != "localhost" {
		return "", false
	}
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", false
	}
	return e, true
}

// SafeNext returns next if it is a same-origin path ("/ideas?x=1"), else
// fallback. It refuses absolute URLs, scheme-relative "//host", backslash
// tricks and control characters, so sign-in can never redirect elsewhere.
func SafeNext(next, fallback string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return fallback
	}
	if strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\\\r\n\t\x00") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return fallback
	}
	return next
}

type ctxKey int

const (
	userKey ctxKey = iota
	sessionKey
)

// WithUser returns ctx carrying the signed-in user and session.
func WithUser(ctx context.Context, u *User, sess *Session) context.Context {
	ctx = context.WithValue(ctx, userKey, u)
	return context.WithValue(ctx, sessionKey, sess)
}

// UserFrom returns the signed-in user, if any.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey).(*User)
	return u, ok && u != nil
}

// SessionFrom returns the current session, if any.
func SessionFrom(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(sessionKey).(*Session)
	return s, ok && s != nil
}
