package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/relaywork/suite/internal/platform/apperr"
)

const (
	// oidcStateCookie carries a sign-in that is under way from BeginOIDC
	// to FinishOIDC. It is scoped to /api/auth/ and lives ten minutes.
	oidcStateCookie   = "oidc_state"
	oidcStatePath     = "/api/auth/"
	oidcStateLifetime = 10 * time.Minute
	oidcCallbackPath  = "/api/auth/callback/"
	// oidcStateMAC separates these MACs from anything else signed with
	// AUTH_SECRET.
	oidcStateMAC   = "suite/oidc_state\x00"
	oidcRandBytes  = 32
	maxSubjectLen  = 255
	maxCookieValue = 3072
)

// ProviderInfo is what a sign-in page needs to show a provider's button.
type ProviderInfo struct {
	ID   string // for /api/auth/signin/{id}
	Name string // the button's label
}

// Providers lists the configured OpenID Connect providers in the order
// Options.Providers gave them.
func (s *Service) Providers() []ProviderInfo {
	out := make([]ProviderInfo, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, ProviderInfo{ID: id, Name: s.providers[id].Name})
	}
	return out
}

// oidcState is what the state cookie remembers between the redirect to
// the provider and its callback.
type oidcState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v,omitempty"` // PKCE; empty for providers without PKCE
	Next     string `json:"x,omitempty"` // already passed through SafeNext
	Expires  int64  `json:"e"`           // Unix seconds
}

// BeginOIDC starts signing in with a provider: it remembers a fresh state,
// nonce and PKCE verifier (and the safe next path) in a signed, short-lived
// cookie and returns the provider's authorization URL to redirect to.
// Discovery happens here on first use, so an unreachable provider makes
// this sign-in Unavailable without stopping the server.
func (s *Service) BeginOIDC(w http.ResponseWriter, r *http.Request, providerID, next string) (string, error) {
	p, ok := s.providers[providerID]
	if !ok {
		return "", apperr.E(apperr.NotFound, "That sign-in method isn't available here.")
	}
	if len(s.o.Secret) == 0 || s.o.PublicURL == "" {
		s.log.Error("oidc sign-in is not configured: AUTH_SECRET and PUBLIC_URL are required", "provider", p.ID)
		return "", apperr.E(apperr.Unavailable, "Signing in with %s isn't set up on this server yet. Please sign in another way.", p.Name)
	}
	_, cfg, err := p.discovered(r.Context(), s.now)
	if err != nil {
		s.log.Warn("oidc discovery failed", "provider", p.ID, "err", err.Error())
		return "", apperr.Wrap(apperr.Unavailable, err, fmt.Sprintf("We can't reach %s right now. Please try again in a minute, or sign in another way.", p.Name))
	}
	cfg.RedirectURL = s.oidcRedirectURL(p.ID)
	st := oidcState{
		Provider: p.ID,
		State:    newToken(oidcRandBytes),
		Nonce:    newToken(oidcRandBytes),
		Next:     SafeNext(next, ""),
		Expires:  s.now().Add(oidcStateLifetime).Unix(),
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(st.Nonce)}
	if !p.quirks.noPKCE {
		st.Verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(st.Verifier))
	}
	value, err := s.signOIDCState(st)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{
		Name: oidcStateCookie, Value: value, Path: oidcStatePath,
		MaxAge: int(oidcStateLifetime.Seconds()), Expires: s.now().Add(oidcStateLifetime),
		// Lax, not Strict: the callback is a top-level GET navigation
		// from the provider's site, which Strict would strip the cookie from.
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	return cfg.AuthCodeURL(st.State, opts...), nil
}

// FinishOIDC completes a sign-in at PUBLIC_URL/api/auth/callback/{provider}:
// it checks the state against the cookie, exchanges the code (with the
// PKCE verifier), verifies the ID token (signature, issuer, audience,
// expiry, nonce), finds or links the user, starts a session and returns the
// safe path to land on. A provider's unverified email address never
// creates or links an account. Every failure is audited and logged with a
// reason and returned as an *apperr.Error whose message tells the user
// what to do.
func (s *Service) FinishOIDC(w http.ResponseWriter, r *http.Request, providerID string) (string, error) {
	p, ok := s.providers[providerID]
	if !ok {
		return "", s.oidcFail(r, clip(providerID, 64), "unknown_provider", nil,
			apperr.E(apperr.NotFound, "That sign-in method isn't available here."))
	}
	q := r.URL.Query()
	if code := q.Get("error"); code != "" {
		s.clearOIDCState(w)
		return "", s.oidcFail(r, p.ID, "provider_error",
			fmt.Errorf("provider answered error %q: %q", clip(code, 64), clip(q.Get("error_description"), 200)),
			providerError(p.Name, code))
	}

	restart := fmt.Sprintf("This sign-in with %s has expired or was started in another browser or tab. Please start signing in again.", p.Name)
	st, reason, err := s.readOIDCState(r, p.ID)
	if err != nil {
		return "", s.oidcFail(r, p.ID, reason, err, apperr.E(apperr.Unauthorized, "%s", restart))
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		// Not cleared: this may be a forged callback racing the user's own.
		return "", s.oidcFail(r, p.ID, "state_mismatch", errors.New("state parameter does not match the cookie"),
			apperr.E(apperr.Unauthorized, "%s", restart))
	}
	// The state is spent whatever happens next.
	s.clearOIDCState(w)

	code := q.Get("code")
	if code == "" {
		return "", s.oidcFail(r, p.ID, "missing_code", errors.New("callback without code"),
			apperr.E(apperr.Invalid, "%s", restart))
	}
	verifier, cfg, err := p.discovered(r.Context(), s.now)
	if err != nil {
		return "", s.oidcFail(r, p.ID, "discovery_failed", err,
			apperr.E(apperr.Unavailable, "We can't reach %s right now. Please try again in a minute, or sign in another way.", p.Name))
	}
	cfg.RedirectURL = s.oidcRedirectURL(p.ID)
	ctx := p.clientContext(r.Context())
	var opts []oauth2.AuthCodeOption
	if !p.quirks.noPKCE {
		opts = append(opts, oauth2.VerifierOption(st.Verifier))
	}
	tok, err := cfg.Exchange(ctx, code, opts...)
	if err != nil {
		// Never log err itself: x/oauth2 may include the response body.
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			return "", s.oidcFail(r, p.ID, "token_exchange_rejected",
				fmt.Errorf("token endpoint answered %d %q %q", status, clip(re.ErrorCode, 64), clip(re.ErrorDescription, 200)),
				apperr.E(apperr.Unauthorized, "%s didn't accept this sign-in; it may have expired or been used already. Please start signing in again.", p.Name))
		}
		return "", s.oidcFail(r, p.ID, "token_exchange_failed", errors.New(sanitizeNetErr(err)),
			apperr.E(apperr.Unavailable, "We couldn't reach %s to finish signing in. Please try again in a minute.", p.Name))
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return "", s.oidcFail(r, p.ID, "id_token_missing", errors.New("token response has no id_token"),
			apperr.E(apperr.Unauthorized, "%s didn't tell us who you are. Please try again, or sign in another way.", p.Name))
	}
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		reason := "id_token_invalid"
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			reason = "id_token_expired"
		}
		return "", s.oidcFail(r, p.ID, reason, err,
			apperr.E(apperr.Unauthorized, "We couldn't verify your sign-in with %s. Please start signing in again, or sign in another way.", p.Name))
	}
	if !(idt.Nonce == "" && p.quirks.nonceOptional) && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return "", s.oidcFail(r, p.ID, "nonce_mismatch", errors.New("id token nonce does not match the state cookie"),
			apperr.E(apperr.Unauthorized, "We couldn't verify your sign-in with %s. Please start signing in again.", p.Name))
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil || idt.Subject == "" || len(idt.Subject) > maxSubjectLen {
		if err == nil {
			err = errors.New("id token subject is empty or too long")
		}
		return "", s.oidcFail(r, p.ID, "claims_invalid", err,
			apperr.E(apperr.Unauthorized, "%s sent an identity we can't use. Please sign in another way.", p.Name))
	}
	if c.AuthorizedParty != "" && c.AuthorizedParty != p.ClientID {
		return "", s.oidcFail(r, p.ID, "azp_mismatch", fmt.Errorf("id token azp %q is not our client", clip(c.AuthorizedParty, 128)),
			apperr.E(apperr.Unauthorized, "We couldn't verify your sign-in with %s. Please start signing in again, or sign in another way.", p.Name))
	}

	u, err := s.oidcUser(r, p, idt.Subject, c)
	if err != nil {
		return "", err
	}
	if _, err := s.SignIn(w, r, u.ID, p.ID); err != nil {
		return "", s.oidcFail(r, p.ID, "session_failed", err,
			apperr.Wrap(apperr.Internal, err, "We couldn't finish signing you in. Please try again."))
	}
	return SafeNext(st.Next, s.o.AfterSignIn), nil
}

// idClaims are the ID token claims sign-in uses beyond the registered ones.
type idClaims struct {
	Email           string          `json:"email"`
	EmailVerified   json.RawMessage `json:"email_verified"` // bool, or "true" from LinkedIn
	Name            string          `json:"name"`
	GivenName       string          `json:"given_name"`
	FamilyName      string          `json:"family_name"`
	Picture         string          `json:"picture"`
	AuthorizedParty string          `json:"azp"`
}

// verified reports whether the provider vouches for the email address: a
// JSON true or, for providers such as LinkedIn that send strings, "true".
func (c idClaims) verified() bool {
	var b bool
	if json.Unmarshal(c.EmailVerified, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(c.EmailVerified, &s) == nil {
		return strings.EqualFold(strings.TrimSpace(s), "true")
	}
	return false
}

// name is the display name the claims offer.
func (c idClaims) name() string {
	if n := strings.TrimSpace(c.Name); n != "" {
		return n
	}
	return strings.TrimSpace(strings.TrimSpace(c.GivenName) + " " + strings.TrimSpace(c.FamilyName))
}

// picture is the avatar URL the claims offer, if it is an http(s) URL.
func (c idClaims) picture() string {
	u, err := url.Parse(strings.TrimSpace(c.Picture))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

// oidcUser returns the user that (provider, subject) signs in as: the
// linked one, else the user with the provider-verified email address
// (created if new), which is then linked. Without a verified address it
// refuses, so nobody can claim an account through a provider that let
// them type any address.
func (s *Service) oidcUser(r *http.Request, p *oidcProvider, subject string, c idClaims) (User, error) {
	ctx := r.Context()
	internal := func(reason string, err error) (User, error) {
		return User{}, s.oidcFail(r, p.ID, reason, err,
			apperr.Wrap(apperr.Internal, err, "We couldn't finish signing you in. Please try again."))
	}
	u, err := s.accountUser(ctx, p.ID, subject)
	if err == nil {
		s.fillProfile(ctx, &u, c.name(), c.picture())
		return u, nil
	}
	if !apperr.Is(err, apperr.NotFound) {
		return internal("account_lookup_failed", err)
	}

	other := "sign in another way"
	if s.EmailEnabled() {
		other = "sign in with an email link"
	}
	if strings.TrimSpace(c.Email) == "" {
		return User{}, s.oidcFail(r, p.ID, "email_missing", errors.New("id token has no email claim"),
			apperr.E(apperr.Forbidden, "%s didn't share your email address, so we can't tell which account is yours. Allow %s to share it, or %s.", p.Name, p.Name, other))
	}
	email, ok := NormalizeEmail(c.Email)
	if !ok {
		return User{}, s.oidcFail(r, p.ID, "email_invalid", errors.New("id token email is not an address"),
			apperr.E(apperr.Forbidden, "%s shared an email address we can't use. Please %s.", p.Name, other))
	}
	if !c.verified() {
		// The same answer whether or not an account has the address, so
		// this cannot be used to find out who has one.
		reason := "email_unverified"
		if _, err := s.UserByEmail(ctx, email); err == nil {
			reason = "email_unverified_existing_user"
		} else if !apperr.Is(err, apperr.NotFound) {
			return internal("user_lookup_failed", err)
		}
		return User{}, s.oidcFail(r, p.ID, reason, errors.New("provider did not verify the email address"),
			apperr.E(apperr.Forbidden, "%s hasn't verified your email address, so we can't use it to sign you in. Verify the address with %s, or %s.", p.Name, p.Name, other))
	}
	u, created, err := s.EnsureUser(ctx, NewUser{Email: email, Verified: true, Name: c.name(), AvatarURL: c.picture()})
	if err != nil {
		return internal("user_create_failed", err)
	}
	if err := s.linkAccount(ctx, u.ID, p.ID, subject, email); err != nil {
		return internal("account_link_failed", err)
	}
	s.log.Info("oidc account linked", "provider", p.ID, "user_id", u.ID, "new_user", created)
	return u, nil
}

// fillProfile sets the user's name and avatar from the provider when they
// are empty; a failure is logged, never fatal.
func (s *Service) fillProfile(ctx context.Context, u *User, name, picture string) {
	if u.Name == "" && name != "" {
		u.Name = clip(name, 200)
		if _, err := s.o.DB.Exec(ctx, "UPDATE users SET name = ? WHERE id = ? AND (name = '' OR name IS NULL)", u.Name, u.ID); err != nil {
			s.log.Warn("fill profile name", "user_id", u.ID, "err", err.Error())
		}
	}
	if u.AvatarURL == "" && picture != "" {
		u.AvatarURL = clip(picture, 2048)
		if _, err := s.o.DB.Exec(ctx, "UPDATE users SET avatar_url = ? WHERE id = ? AND (avatar_url = '' OR avatar_url IS NULL)", u.AvatarURL, u.ID); err != nil {
			s.log.Warn("fill profile avatar", "user_id", u.ID, "err", err.Error())
		}
	}
}

// providerError turns the error a provider sent back to the callback into
// a message that says what happened and what to do.
func providerError(name, code string) *apperr.Error {
	switch code {
	case "access_denied":
		e := apperr.E(apperr.Unauthorized, "Signing in with %s was cancelled, or %s didn't allow it. Try again, or sign in another way.", name, name)
		e.Code = "signin_cancelled"
		return e
	case "temporarily_unavailable", "server_error":
		return apperr.E(apperr.Unavailable, "%s couldn't sign you in just now. Please try again in a minute, or sign in another way.", name)
	case "login_required", "consent_required", "interaction_required", "account_selection_required":
		return apperr.E(apperr.Unauthorized, "%s needs you to sign in and approve access first. Please start signing in again.", name)
	default:
		return apperr.E(apperr.Unauthorized, "%s couldn't sign you in. Please try again, or sign in another way.", name)
	}
}

// oidcFail audits and logs a failed sign-in and returns e. cause says why
// for the log; it never holds tokens, codes or cookie values.
func (s *Service) oidcFail(r *http.Request, providerID, reason string, cause error, e *apperr.Error) error {
	s.record(r, "", "signin_failed", "session", "", map[string]any{"provider": providerID, "reason": reason})
	level := slog.LevelWarn
	if e.Kind == apperr.Internal {
		level = slog.LevelError
	}
	attrs := []any{"provider", providerID, "reason", reason}
	if cause != nil {
		attrs = append(attrs, "err", cause.Error())
	}
	s.log.Log(r.Context(), level, "oidc sign-in failed", attrs...)
	return e
}

// oidcRedirectURL is the callback URL registered with the provider.
func (s *Service) oidcRedirectURL(providerID string) string {
	return strings.TrimRight(s.o.PublicURL, "/") + oidcCallbackPath + providerID
}

func (s *Service) clearOIDCState(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie, Value: "", Path: oidcStatePath, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// signOIDCState encodes st as base64url(JSON) "." base64url(HMAC-SHA256).
func (s *Service) signOIDCState(st oidcState) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("encode oidc state: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(oidcStateMACOf(s.o.Secret, payload)), nil
}

func oidcStateMACOf(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(oidcStateMAC))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// readOIDCState returns the state cookie's contents if it is signed with
// the current or the previous secret, belongs to providerID and has not
// expired; otherwise reason says which check failed.
func (s *Service) readOIDCState(r *http.Request, providerID string) (oidcState, string, error) {
	var st oidcState
	c, err := r.Cookie(oidcStateCookie)
	if err != nil || c.Value == "" {
		return st, "state_cookie_missing", errors.New("no state cookie")
	}
	if len(c.Value) > maxCookieValue {
		return st, "state_cookie_invalid", errors.New("state cookie too large")
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil {
		return st, "state_cookie_invalid", errors.New("state cookie is malformed")
	}
	valid := false
	for _, secret := range [][]byte{s.o.Secret, s.o.PreviousSecret} {
		if len(secret) > 0 && hmac.Equal(mac, oidcStateMACOf(secret, payload)) {
			valid = true
			break
		}
	}
	if !valid {
		return st, "state_cookie_invalid", errors.New("state cookie signature does not verify")
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &st) != nil || st.State == "" || st.Nonce == "" {
		return oidcState{}, "state_cookie_invalid", errors.New("state cookie payload is malformed")
	}
	if st.Provider != providerID {
		return oidcState{}, "state_provider_mismatch", fmt.Errorf("state cookie is for provider %q", clip(st.Provider, 64))
	}
	if !s.now().Before(time.Unix(st.Expires, 0)) {
		return oidcState{}, "state_expired", errors.New("state cookie has expired")
	}
	return st, "", nil
}

// sanitizeNetErr describes a transport error without the URL's query,
// which for a token endpoint never holds secrets but might for others.
func sanitizeNetErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil {
			u.RawQuery = ""
			return fmt.Sprintf("%s %s: %v", ue.Op, u.Redacted(), ue.Err)
		}
		return fmt.Sprintf("%s: %v", ue.Op, ue.Err)
	}
	return err.Error()
}
