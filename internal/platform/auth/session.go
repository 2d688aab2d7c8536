package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/store"
)

// Session is one signed-in device.
type Session struct {
	ID            string
	UserID        string
	Method        string // how it signed in: email, google, linkedin, oidc, link
	CreatedAt     time.Time
	LastSeenAt    time.Time
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	UserAgent     string
	IP            string
	Current       bool // the session of the request that listed it
}

// Device is a short human description of the session's browser.
func (s Session) Device() string { return describeUserAgent(s.UserAgent) }

// createSession stores a new session and returns its token.
func (s *Service) createSession(ctx context.Context, userID, method, userAgent, ip string) (string, Session, error) {
	now := s.now()
	token := newToken(sessionTokenBytes)
	sess := Session{
		ID: newID(), UserID: userID, Method: method, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: minTime(now.Add(s.o.IdleTimeout), now.Add(s.o.MaxLifetime)),
		ExpiresAt:     now.Add(s.o.MaxLifetime), UserAgent: clip(userAgent, maxUserAgent), IP: ip,
	}
	_, err := s.o.DB.Exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, method, created_at, last_seen_at, idle_expires_at, expires_at, user_agent, ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.ID, hashToken(token), userID, method, now, now, sess.IdleExpiresAt, sess.ExpiresAt, sess.UserAgent, ip)
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	_, _ = s.o.DB.Exec(ctx, "UPDATE users SET last_seen_at = ? WHERE id = ?", now, userID)
	return token, sess, nil
}

// SignIn starts a session for userID, sets the cookie and records the
// sign-in in the audit log.
func (s *Service) SignIn(w http.ResponseWriter, r *http.Request, userID, method string) (Session, error) {
	token, sess, err := s.createSession(r.Context(), userID, method, r.UserAgent(), httpapi.ClientIP(r))
	if err != nil {
		return Session{}, err
	}
	s.setCookie(w, token, sess.IdleExpiresAt)
	s.record(r, userID, "signin", "session", sess.ID, map[string]any{"method": method})
	s.log.Info("signed in", "user_id", userID, "method", method, "session_id", sess.ID)
	return sess, nil
}

// Authenticate returns the session and user for a session token, renewing
// the idle expiry at most once a day. Unknown or expired tokens are
// Unauthorized.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, *User, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, apperr.E(apperr.Unauthorized, "Please sign in.")
	}
	row := s.o.DB.QueryRow(ctx, `SELECT s.id, s.user_id, s.method, s.created_at, s.last_seen_at, s.idle_expires_at, s.expires_at, s.user_agent, s.ip,
		u.`+strings.ReplaceAll(userColumns, ", ", ", u.")+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, hashToken(token))
	var sess Session
	var verified, seen sql.NullTime
	var u User
	err := row.Scan(&sess.ID, &sess.UserID, &sess.Method, &sess.CreatedAt, &sess.LastSeenAt, &sess.IdleExpiresAt, &sess.ExpiresAt, &sess.UserAgent, &sess.IP,
		&u.ID, &u.Email, &verified, &u.Name, &u.AvatarURL, &u.Role, &u.CreatedAt, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, apperr.E(apperr.Unauthorized, "Please sign in.")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up session: %w", err)
	}
	if verified.Valid {
		t := verified.Time.UTC()
		u.EmailVerifiedAt = &t
	}
	if seen.Valid {
		t := seen.Time.UTC()
		u.LastSeenAt = &t
	}
	now := s.now()
	if !now.Before(sess.IdleExpiresAt) || !now.Before(sess.ExpiresAt) {
		_, _ = s.o.DB.Exec(ctx, "DELETE FROM sessions WHERE id = ?", sess.ID)
		return nil, nil, apperr.E(apperr.Unauthorized, "Your session has expired. Please sign in again.")
	}
	if now.Sub(sess.LastSeenAt) >= DefaultRenewEvery {
		sess.LastSeenAt = now
		sess.IdleExpiresAt = minTime(now.Add(s.o.IdleTimeout), sess.ExpiresAt)
		if _, err := s.o.DB.Exec(ctx, "UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?", now, sess.IdleExpiresAt, sess.ID); err != nil {
			s.log.Warn("renew session", "err", err.Error())
		}
		_, _ = s.o.DB.Exec(ctx, "UPDATE users SET last_seen_at = ? WHERE id = ?", now, u.ID)
		t := now
		u.LastSeenAt = &t
	}
	return &sess, &u, nil
}

// Middleware loads the signed-in user (if any) into the request context
// and slides the cookie's expiry when the session was renewed.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(s.cookie)
		if err != nil || c.Value == "" {
			next.ServeHTTP(w, r)
			return
		}
		sess, u, err := s.Authenticate(r.Context(), c.Value)
		if err != nil {
			if !apperr.Is(err, apperr.Unauthorized) {
				// The session could not be checked (a database outage is
				// a 503): answer as the route would, a page or JSON.
				if s.pages != nil && !strings.HasPrefix(r.URL.Path, "/api/") && !strings.Contains(r.Header.Get("Accept"), "application/json") {
					s.pages.Fail(w, r, err)
					return
				}
				httpapi.Error(w, r, err)
				return
			}
			s.clearCookie(w)
			next.ServeHTTP(w, r)
			return
		}
		if sess.LastSeenAt.Equal(s.now()) {
			s.setCookie(w, c.Value, sess.IdleExpiresAt)
		}
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u, sess)))
	})
}

// RequireUser lets signed-in requests through; others get 401 JSON under
// /api/ and a redirect to the sign-in page (with next) elsewhere.
func (s *Service) RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := UserFrom(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") || r.Method != http.MethodGet {
			httpapi.Error(w, r, apperr.E(apperr.Unauthorized, "Please sign in."))
			return
		}
		http.Redirect(w, r, s.o.SignInPath+"?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	})
}

// SignOut ends the current session and clears the cookie.
func (s *Service) SignOut(w http.ResponseWriter, r *http.Request) {
	if sess, ok := SessionFrom(r.Context()); ok {
		_, _ = s.o.DB.Exec(r.Context(), "DELETE FROM sessions WHERE id = ?", sess.ID)
		s.record(r, sess.UserID, "signout", "session", sess.ID, nil)
		s.log.Info("signed out", "user_id", sess.UserID, "session_id", sess.ID)
	}
	s.clearCookie(w)
}

// Sessions lists the user's active sessions, newest first; the one of ctx
// (if any) is marked Current.
func (s *Service) Sessions(ctx context.Context, userID string) ([]Session, error) {
	rows, err := s.o.DB.Query(ctx, `SELECT id, user_id, method, created_at, last_seen_at, idle_expires_at, expires_at, user_agent, ip
		FROM sessions WHERE user_id = ? AND idle_expires_at > ? AND expires_at > ? ORDER BY last_seen_at DESC, created_at DESC`, userID, s.now(), s.now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	cur, _ := SessionFrom(ctx)
	var out []Session
	for rows.Next() {
		var x Session
		if err := rows.Scan(&x.ID, &x.UserID, &x.Method, &x.CreatedAt, &x.LastSeenAt, &x.IdleExpiresAt, &x.ExpiresAt, &x.UserAgent, &x.IP); err != nil {
			return nil, err
		}
		x.Current = cur != nil && cur.ID == x.ID
		out = append(out, x)
	}
	return out, rows.Err()
}

// RevokeSession ends one of the user's sessions; another user's session
// is NotFound.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	res, err := s.o.DB.Exec(ctx, "DELETE FROM sessions WHERE id = ? AND user_id = ?", sessionID, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.E(apperr.NotFound, "No such session.")
	}
	return nil
}

// RevokeUser ends every session of a user and returns how many.
func (s *Service) RevokeUser(ctx context.Context, userID string) (int64, error) {
	res, err := s.o.DB.Exec(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// RevokeAll ends every session of every user (the incident runbook's
// "revoke all sessions") and returns how many.
func (s *Service) RevokeAll(ctx context.Context) (int64, error) {
	res, err := s.o.DB.Exec(ctx, "DELETE FROM sessions")
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PurgeExpired deletes expired sessions and used or expired sign-in links.
func (s *Service) PurgeExpired(ctx context.Context) (sessions, links int64, err error) {
	now := s.now()
	res, err := s.o.DB.Exec(ctx, "DELETE FROM sessions WHERE idle_expires_at <= ? OR expires_at <= ?", now, now)
	if err != nil {
		return 0, 0, err
	}
	sessions, _ = res.RowsAffected()
	res, err = s.o.DB.Exec(ctx, "DELETE FROM login_tokens WHERE expires_at <= ? OR used_at IS NOT NULL", now.Add(-24*time.Hour))
	if err != nil {
		return sessions, 0, err
	}
	links, _ = res.RowsAffected()
	return sessions, links, nil
}

func (s *Service) setCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookie, Value: token, Path: "/", Expires: expires, MaxAge: int(time.Until(expires).Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (s *Service) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// record writes an audit entry; a failure is logged, never fatal.
func (s *Service) record(r *http.Request, actor, action, resource, resourceID string, meta map[string]any) {
	if s.o.Audit == nil {
		return
	}
	e := audit.Entry{ActorID: actor, Action: action, Resource: resource, ResourceID: resourceID, Metadata: meta}
	if r != nil {
		e = s.o.Audit.FromRequest(r, e)
	}
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
	}
	if err := s.o.Audit.Record(ctx, e); err != nil {
		s.log.Warn("audit", "action", action, "err", err.Error())
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// describeUserAgent turns a User-Agent into "Firefox on macOS" and the like.
func describeUserAgent(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := "Browser"
	switch {
	case strings.Contains(ua, "Edg/"):
		browser = "Edge"
	case strings.Contains(ua, "Firefox/"):
		browser = "Firefox"
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "Chromium/"):
		browser = "Chrome"
	case strings.Contains(ua, "Safari/"):
		browser = "Safari"
	case strings.HasPrefix(ua, "curl/"):
		return "curl"
	}
	os := ""
	switch {
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad"):
		os = "iOS"
	case strings.Contains(ua, "Android"):
		os = "Android"
	case strings.Contains(ua, "Mac OS X") || strings.Contains(ua, "Macintosh"):
		os = "macOS"
	case strings.Contains(ua, "Windows"):
		os = "Windows"
	case strings.Contains(ua, "Linux"):
		os = "Linux"
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}

var _ = store.SQLite

// AuditEntry is an audit record written on behalf of an operator command.
type AuditEntry struct {
	Actor, Action, Resource, ResourceID string
	Metadata                            map[string]any
}

// Audit records an operator action (no request: no IP or user agent).
func (s *Service) Audit(ctx context.Context, e AuditEntry) {
	if s.o.Audit == nil {
		return
	}
	if err := s.o.Audit.Record(ctx, audit.Entry{ActorID: e.Actor, Action: e.Action, Resource: e.Resource, ResourceID: e.ResourceID, Metadata: e.Metadata}); err != nil {
		s.log.Warn("audit", "action", e.Action, "err", err.Error())
	}
}
