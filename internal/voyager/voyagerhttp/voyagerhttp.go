// Package voyagerhttp serves Voyager's pages and JSON API: hostname routing
// to communities, membership checks, conversations and the streamed
// answers (SSE).
package voyagerhttp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/web"
	"github.com/relaywork/suite/internal/voyager/billing"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/coach"
	"github.com/relaywork/suite/internal/voyager/community"
)

// Options configures the handlers.
type Options struct {
	Communities *community.Registry
	Chat        *chat.Service
	Render      *web.Renderer
	Audit       *audit.Log // nil: violations are only logged
	Logger      *slog.Logger
	Now         func() time.Time
	// PublicURL is the platform's address; its host serves the landing
	// page and /c/{id}. Loopback hosts always do.
	PublicURL string
	// SignIn starts a session on the request's host (auth.Service.SignIn);
	// used to carry a sign-in to a custom domain.
	SignIn func(w http.ResponseWriter, r *http.Request, userID, method string) error
	// InviteKey derives invite links from invite IDs (an HMAC), so admins
	// can copy a link from the list; nil: links are random and shown once.
	InviteKey []byte
	// AIHint, when no provider is configured, tells the chat page which
	// variable to set.
	AIHint string
	// Coach, if set, serves the profile page and the profile, memory and
	// document API.
	Coach *coach.Service
	// Billing, if set, decides paid communities' state: the admin banner,
	// the read-only notice and the billing page.
	Billing *billing.Service
}

// Handlers serves Voyager.
type Handlers struct {
	o        Options
	log      *slog.Logger
	md       *chat.Markdown
	platform map[string]bool
}

// New returns the handlers.
func New(o Options) *Handlers {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handlers{o: o, log: o.Logger, md: chat.NewMarkdown(), platform: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}
	if u, err := url.Parse(o.PublicURL); err == nil && u.Host != "" {
		h.platform[community.NormalizeHost(u.Host)] = true
	}
	return h
}

// HostKind is what a request's host serves.
type HostKind int

// Host kinds.
const (
	UnknownHost   HostKind = iota
	PlatformHost           // the landing page and /c/{id}
	CommunityHost          // one community at /
)

// Resolve maps a host to what it serves; for CommunityHost it returns the
// community.
func (h *Handlers) Resolve(host string) (HostKind, *community.Community) {
	if c, ok := h.o.Communities.Current().ByHost(host); ok {
		return CommunityHost, c
	}
	if h.platform[community.NormalizeHost(host)] {
		return PlatformHost, nil
	}
	return UnknownHost, nil
}

// scope is a request's community, where its pages live and who asks.
type scope struct {
	c    *community.Community
	base string // "" on a custom domain, "/c/{id}" on the platform
	user *auth.User
	mem  *chat.Membership // nil when not a member
}

func (s *scope) isAdmin() bool {
	return s.user != nil && (s.user.IsAdmin() || (s.mem != nil && s.mem.Role == chat.RoleAdmin))
}

// community resolves the request's community from the host and the {cid}
// path value. ok false: answered 404 already.
func (h *Handlers) community(w http.ResponseWriter, r *http.Request, api bool) (*scope, bool) {
	kind, c := h.Resolve(r.Host)
	cid := r.PathValue("cid")
	s := &scope{}
	switch kind {
	case CommunityHost:
		if cid != "" && cid != c.ID {
			h.notFound(w, r, api)
			return nil, false
		}
		s.c = c
		if cid != "" && !api {
			s.base = "/c/" + c.ID
		}
	case PlatformHost:
		cc, ok := h.o.Communities.Current().ByID(cid)
		if !ok || cid == "" {
			h.notFound(w, r, api)
			return nil, false
		}
		s.c, s.base = cc, "/c/"+cc.ID
	default:
		h.unknownHost(w, r, api)
		return nil, false
	}
	if u, ok := auth.UserFrom(r.Context()); ok {
		s.user = u
		m, err := h.o.Chat.Store().Membership(r.Context(), s.c.ID, u.ID)
		switch {
		case err == nil:
			s.mem = &m
		case !apperr.Is(err, apperr.NotFound):
			h.fail(w, r, api, err)
			return nil, false
		}
	}
	// On the platform's host a private community does not exist for
	// anyone but its members and platform admins: every route answers
	// exactly what an unknown ID answers. (Its own domain is public
	// knowledge, so there the routes say "sign in" as usual.) An invite
	// link is the one way in, so a request naming a real invite token of
	// the community may see it.
	if kind == PlatformHost && s.c.Visibility == community.Private && s.mem == nil && (s.user == nil || !s.user.IsAdmin()) {
		visible, err := h.holdsInvite(r, s.c.ID)
		if err != nil {
			h.fail(w, r, api, err)
			return nil, false
		}
		if !visible {
			if s.user != nil {
				h.violation(r, s, "not a member")
			}
			h.notFound(w, r, api)
			return nil, false
		}
	}
	return s, true
}

// holdsInvite reports whether the request's {token} is an invite of the
// community (valid or not: a used-up link may say so).
func (h *Handlers) holdsInvite(r *http.Request, communityID string) (bool, error) {
	token := r.PathValue("token")
	if token == "" {
		return false, nil
	}
	_, err := h.o.Chat.Store().InviteByToken(r.Context(), communityID, hashToken(token))
	switch {
	case err == nil:
		return true, nil
	case apperr.Is(err, apperr.NotFound):
		return false, nil
	default:
		return false, err
	}
}

// mayStyle reports whether the request may have community c's brand
// stylesheet: on c's own domain, or c is public, or the caller is a
// member or a platform admin. Otherwise it is 404 like an unknown ID.
func (h *Handlers) mayStyle(r *http.Request, c *community.Community) bool {
	if c.Visibility == community.Public {
		return true
	}
	if kind, hc := h.Resolve(r.Host); kind == CommunityHost && hc.ID == c.ID {
		return true
	}
	u, ok := auth.UserFrom(r.Context())
	if !ok {
		return false
	}
	if u.IsAdmin() {
		return true
	}
	_, err := h.o.Chat.Store().Membership(r.Context(), c.ID, u.ID)
	return err == nil
}

// member is community plus: signed in and a member. A signed-in
// non-member is logged as a community access violation and answered 404.
func (h *Handlers) member(w http.ResponseWriter, r *http.Request, api bool) (*scope, bool) {
	s, ok := h.community(w, r, api)
	if !ok {
		return nil, false
	}
	if s.user == nil {
		if api {
			httpapi.Error(w, r, apperr.E(apperr.Unauthorized, "Sign in first."))
		} else {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		}
		return nil, false
	}
	if s.mem == nil {
		h.violation(r, s, "not a member")
		h.notFound(w, r, api)
		return nil, false
	}
	return s, true
}

// violation logs (and audits) a community access violation, without content.
func (h *Handlers) violation(r *http.Request, s *scope, why string) {
	uid := ""
	if s.user != nil {
		uid = s.user.ID
	}
	obs.Logger(r.Context()).Warn("community access violation", "community", s.c.ID, "user_id", uid, "reason", why, "route", r.Pattern)
	if h.o.Audit != nil && uid != "" {
		_ = h.o.Audit.Record(r.Context(), h.o.Audit.FromRequest(r, audit.Entry{ActorID: uid, Action: "community.access_violation", Resource: "community", ResourceID: s.c.ID, Metadata: map[string]any{"reason": why}}))
	}
}

func (h *Handlers) notFound(w http.ResponseWriter, r *http.Request, api bool) {
	if api {
		httpapi.Error(w, r, apperr.E(apperr.NotFound, "Not found."))
		return
	}
	h.o.Render.NotFound(w, r)
}

func (h *Handlers) unknownHost(w http.ResponseWriter, r *http.Request, api bool) {
	if api {
		httpapi.Error(w, r, apperr.E(apperr.NotFound, "No community is served at %s.", r.Host))
		return
	}
	// The visitor gets a neutral page with nowhere to loop back to; the
	// operator's fix goes to the log.
	obs.Logger(r.Context()).Info("unknown host", "host", community.NormalizeHost(r.Host),
		"fix", "add the host to branding.domains in the community's file in COMMUNITIES_DIR, or set PUBLIC_URL to this host")
	// No product name: the page names no brand and links nowhere.
	w.Header().Set("Cache-Control", "no-store")
	h.o.Render.Page(w, r, http.StatusNotFound, "error.html", &web.Page{
		Title:   "Nothing here",
		Product: web.Product{CSS: "voyager/main.css", JS: "voyager/main.js"},
		Nav:     []web.NavLink{},
		Bare:    true,
		Data: web.ErrorInfo{Status: http.StatusNotFound, Heading: "Nothing here",
			Message: "There is no community at this address. Check the address, or ask whoever sent you the link.", Links: []web.NavLink{}},
	})
}

func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, api bool, err error) {
	if api {
		httpapi.Error(w, r, err)
		return
	}
	switch apperr.KindOf(err) {
	case apperr.NotFound:
		h.o.Render.NotFound(w, r)
	case apperr.Invalid, apperr.Conflict, apperr.Gone, apperr.RateLimited, apperr.Unavailable, apperr.Forbidden:
		e, _ := apperr.As(err)
		h.o.Render.ErrorPage(w, r, web.ErrorInfo{Status: httpapi.StatusOf(err), Heading: "That did not work", Message: e.Message})
	default:
		// A database outage (503 "temporarily unavailable" with
		// Retry-After), a client that went away, or an internal error.
		h.o.Render.Fail(w, r, err)
	}
}

func newToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	s := sha256.Sum256([]byte(t))
	return hex.EncodeToString(s[:])
}

// baseURL is the scheme and host the request came to.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
