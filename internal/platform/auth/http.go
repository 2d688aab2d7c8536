package auth

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/web"
)

//go:embed templates
var templates embed.FS

// Templates are the sign-in pages (auth/*.html) and the header's account
// menu (partials/account.html), to overlay on a product's templates.
func Templates() fs.FS {
	sub, _ := fs.Sub(templates, "templates")
	return sub
}

// Sign-in routes. The callback path is the guides' redirect URI
// (PUBLIC_URL/api/auth/callback/{provider}).
const (
	SignInPath      = "/signin"
	accountPath     = "/account"
	checkEmailPath  = "/signin/check-email"
	sessionsPath    = "/account/sessions"
	signInEmailPath = "/signin/email"
)

// RouteOptions are what the sign-in routes need from the product.
type RouteOptions struct {
	// Pages draws the sign-in pages; its templates must include
	// Templates().
	Pages *web.Renderer
	// SignInLimit and WriteLimit wrap the sign-in and the account-changing
	// routes in the platform's rate limits; nil leaves them unlimited.
	SignInLimit func(http.Handler) http.Handler
	WriteLimit  func(http.Handler) http.Handler
}

// router is what Routes registers on (a server.Router or an http.ServeMux).
type router interface {
	Handle(pattern string, h http.Handler)
}

// Routes registers the sign-in pages and endpoints:
//
//	GET  /signin                       the methods that are configured
//	POST /signin/email                 mail a link (same answer for any address)
//	POST /api/auth/signin/email        the same for scripts: {"email","next"} → 202
//	GET  /signin/check-email           "check your inbox"
//	GET  /auth/email/confirm?token=…   confirmation page (spends nothing)
//	POST /auth/email/confirm           spend the link and sign in
//	GET  /api/auth/signin/{provider}   redirect to an OpenID Connect provider
//	GET  /api/auth/callback/{provider} the provider's redirect back
//	GET  /api/auth/session             the signed-in user as JSON (or null)
//	POST /signout                      end this session
//	GET  /account                      profile, download my data, delete account
//	POST /account/name                 change the display name
//	GET  /account/export               download everything kept about me (JSON)
//	POST /account/delete               delete the account (form: confirm = my address)
//	GET  /account/sessions             the user's sessions and linked methods
//	POST /account/sessions/{id}/revoke end one session
//	POST /account/sessions/revoke-all  end every session ("sign out everywhere")
func (s *Service) Routes(rt router, o RouteOptions) {
	id := func(h http.Handler) http.Handler { return h }
	signIn, write := o.SignInLimit, o.WriteLimit
	if signIn == nil {
		signIn = id
	}
	if write == nil {
		write = id
	}
	h := &handlers{s: s, pages: o.Pages}
	s.pages = o.Pages
	rt.Handle("GET "+SignInPath, signIn(http.HandlerFunc(h.handleSignIn)))
	rt.Handle("POST "+signInEmailPath, signIn(http.HandlerFunc(h.handleSignInEmail)))
	rt.Handle("POST /api/auth/signin/email", signIn(http.HandlerFunc(h.handleAPISignInEmail)))
	rt.Handle("GET "+checkEmailPath, http.HandlerFunc(h.handleCheckEmail))
	rt.Handle("GET "+EmailConfirmPath, signIn(http.HandlerFunc(h.handleConfirmPage)))
	rt.Handle("POST "+EmailConfirmPath, signIn(http.HandlerFunc(h.handleConfirm)))
	rt.Handle("GET /api/auth/signin/{provider}", signIn(http.HandlerFunc(h.handleOIDCBegin)))
	rt.Handle("GET /api/auth/callback/{provider}", signIn(http.HandlerFunc(h.handleOIDCCallback)))
	rt.Handle("GET /api/auth/session", http.HandlerFunc(h.handleSession))
	rt.Handle("POST /signout", write(http.HandlerFunc(h.handleSignOut)))
	rt.Handle("GET "+accountPath, s.RequireUser(http.HandlerFunc(h.handleAccount)))
	rt.Handle("POST "+accountPath+"/name", s.RequireUser(write(http.HandlerFunc(h.handleAccountName))))
	rt.Handle("GET "+accountPath+"/export", s.RequireUser(write(http.HandlerFunc(h.handleAccountExport))))
	rt.Handle("POST "+accountPath+"/delete", s.RequireUser(write(http.HandlerFunc(h.handleAccountDelete))))
	rt.Handle("GET "+sessionsPath, s.RequireUser(http.HandlerFunc(h.handleSessions)))
	rt.Handle("POST "+sessionsPath+"/{id}/revoke", s.RequireUser(write(http.HandlerFunc(h.handleRevokeSession))))
	rt.Handle("POST "+sessionsPath+"/revoke-all", s.RequireUser(write(http.HandlerFunc(h.handleRevokeAll))))
}

type handlers struct {
	s     *Service
	pages *web.Renderer
}

// signInData is the Data of auth/signin.html.
type signInData struct {
	Providers []ProviderInfo
	EmailOn   bool
	Next      string
	Email     string
	Error     string
}

func (h *handlers) signInPage(w http.ResponseWriter, r *http.Request, status int, d signInData) {
	d.Providers = h.s.Providers()
	d.EmailOn = h.s.EmailEnabled()
	w.Header().Set("Cache-Control", "no-store")
	h.pages.Page(w, r, status, "auth/signin.html", &web.Page{Title: "Sign in", Data: d})
}

// authError shows the sign-in error page for err: its safe message when it
// has one, a generic one (and a log line) otherwise.
func (h *handlers) authError(w http.ResponseWriter, r *http.Request, err error) {
	status := httpapi.Status(apperr.KindOf(err))
	msg := "Something went wrong while signing you in. Please try again in a moment."
	if e, ok := apperr.As(err); ok && e.Kind != apperr.Internal && e.Message != "" {
		msg = e.Message
	} else {
		obs.Logger(r.Context()).Error("sign-in", "err", err.Error())
	}
	heading := "Sign-in failed"
	if status == http.StatusGone {
		heading = "This link no longer works"
	}
	w.Header().Set("Cache-Control", "no-store")
	h.pages.Page(w, r, status, "auth/error.html", &web.Page{Title: heading, Data: map[string]string{"Heading": heading, "Error": msg}})
}

// handleSignIn handles GET /signin.
func (h *handlers) handleSignIn(w http.ResponseWriter, r *http.Request) {
	next := SafeNext(r.URL.Query().Get("next"), "")
	if next == "" {
		next = SafeNext(r.URL.Query().Get("callbackUrl"), "")
	}
	if _, ok := UserFrom(r.Context()); ok {
		http.Redirect(w, r, SafeNext(next, h.s.o.AfterSignIn), http.StatusSeeOther)
		return
	}
	d := signInData{Next: next}
	if r.URL.Query().Get("error") != "" {
		d.Error = "That sign-in did not complete. Please try again."
	}
	h.signInPage(w, r, http.StatusOK, d)
}

// handleSignInEmail handles POST /signin/email.
func (h *handlers) handleSignInEmail(w http.ResponseWriter, r *http.Request) {
	email, next := r.PostFormValue("email"), SafeNext(r.PostFormValue("next"), "")
	err := h.s.RequestEmailLink(r.Context(), r, email, next)
	switch {
	case err == nil:
		http.Redirect(w, r, checkEmailPath, http.StatusSeeOther)
	case apperr.Is(err, apperr.Invalid):
		h.signInPage(w, r, http.StatusUnprocessableEntity, signInData{Next: next, Email: email, Error: "Enter an email address such as name@example.com."})
	case apperr.Is(err, apperr.Unavailable):
		h.signInPage(w, r, http.StatusServiceUnavailable, signInData{Next: next, Email: email, Error: "We couldn't send the email just now. Please try again in a minute."})
	default:
		h.authError(w, r, err)
	}
}

// handleAPISignInEmail handles POST /api/auth/signin/email.
func (h *handlers) handleAPISignInEmail(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
		Next  string `json:"next"`
	}
	if err := httpapi.Decode(w, r, &in, 4<<10); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := h.s.RequestEmailLink(r.Context(), r, in.Email, in.Next); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusAccepted, map[string]any{"ok": true, "message": "If that address can sign in, a sign-in link is on its way."})
}

// handleCheckEmail handles GET /signin/check-email.
func (h *handlers) handleCheckEmail(w http.ResponseWriter, r *http.Request) {
	h.pages.Page(w, r, http.StatusOK, "auth/check-email.html", &web.Page{Title: "Check your email"})
}

// handleConfirmPage handles GET /auth/email/confirm: it shows who the link
// signs in and a button, and spends nothing, so mail scanners that open
// every link leave it usable.
func (h *handlers) handleConfirmPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	email, err := h.s.PeekEmailLink(r.Context(), token)
	if err != nil {
		h.authError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	// The token is in this page's URL: keep it out of Referer headers.
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.pages.Page(w, r, http.StatusOK, "auth/confirm.html", &web.Page{Title: "Confirm sign-in", Data: map[string]string{"Email": email, "Token": token}})
}

// handleConfirm handles POST /auth/email/confirm.
func (h *handlers) handleConfirm(w http.ResponseWriter, r *http.Request) {
	next, err := h.s.ConsumeEmailLink(w, r, r.PostFormValue("token"))
	if err != nil {
		h.authError(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// handleOIDCBegin handles GET /api/auth/signin/{provider}.
func (h *handlers) handleOIDCBegin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	next := q.Get("next")
	if next == "" {
		next = q.Get("callbackUrl")
	}
	to, err := h.s.BeginOIDC(w, r, r.PathValue("provider"), next)
	if err != nil {
		h.authError(w, r, err)
		return
	}
	http.Redirect(w, r, to, http.StatusFound)
}

// handleOIDCCallback handles GET /api/auth/callback/{provider}.
func (h *handlers) handleOIDCCallback(w http.ResponseWriter, r *http.Request) {
	next, err := h.s.FinishOIDC(w, r, r.PathValue("provider"))
	if err != nil {
		h.authError(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// sessionJSON is GET /api/auth/session's answer for a signed-in user.
type sessionJSON struct {
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
		Image string `json:"image,omitempty"`
		Role  string `json:"role"`
	} `json:"user"`
	Expires string `json:"expires"`
}

// handleSession handles GET /api/auth/session: the signed-in user, or
// JSON null, in the shape NextAuth clients read.
func (h *handlers) handleSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	u, ok := UserFrom(r.Context())
	sess, _ := SessionFrom(r.Context())
	if !ok || sess == nil {
		httpapi.Write(w, http.StatusOK, nil)
		return
	}
	var out sessionJSON
	out.User.ID, out.User.Email, out.User.Name, out.User.Image, out.User.Role = u.ID, u.Email, u.DisplayName(), u.AvatarURL, u.Role
	out.Expires = sess.IdleExpiresAt.UTC().Format("2006-01-02T15:04:05Z")
	httpapi.Write(w, http.StatusOK, out)
}

// handleSignOut handles POST /signout.
func (h *handlers) handleSignOut(w http.ResponseWriter, r *http.Request) {
	h.s.SignOut(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleSessions handles GET /account/sessions.
func (h *handlers) handleSessions(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	list, err := h.s.Sessions(r.Context(), u.ID)
	if err != nil {
		h.authError(w, r, err)
		return
	}
	accounts, err := h.s.Accounts(r.Context(), u.ID)
	if err != nil {
		h.authError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.pages.Page(w, r, http.StatusOK, "auth/sessions.html", &web.Page{Title: "Sessions and devices",
		Data: map[string]any{"Email": u.Email, "Sessions": list, "Accounts": accounts}})
}

// handleRevokeSession handles POST /account/sessions/{id}/revoke.
func (h *handlers) handleRevokeSession(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	id := r.PathValue("id")
	if err := h.s.RevokeSession(r.Context(), u.ID, id); err != nil {
		h.authError(w, r, err)
		return
	}
	h.s.record(r, u.ID, "session_revoked", "session", id, nil)
	if cur, ok := SessionFrom(r.Context()); ok && cur.ID == id {
		h.s.clearCookie(w)
		http.Redirect(w, r, SignInPath, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, sessionsPath, http.StatusSeeOther)
}

// handleRevokeAll handles POST /account/sessions/revoke-all.
func (h *handlers) handleRevokeAll(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	n, err := h.s.RevokeUser(r.Context(), u.ID)
	if err != nil {
		h.authError(w, r, err)
		return
	}
	h.s.record(r, u.ID, "sessions_revoked", "user", u.ID, map[string]any{"count": n, "scope": "self"})
	h.s.log.Info("signed out everywhere", "user_id", u.ID, "count", n)
	h.s.clearCookie(w)
	http.Redirect(w, r, SignInPath+"?next="+url.QueryEscape(sessionsPath), http.StatusSeeOther)
}

// accountData is the Data of auth/account.html.
type accountData struct {
	Name, Email string
	Error       map[string]string
	Saved       bool
}

// handleAccount handles GET /account.
func (h *handlers) handleAccount(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	h.pages.Page(w, r, http.StatusOK, "auth/account.html", &web.Page{Title: "Your account",
		Data: accountData{Name: u.Name, Email: u.Email, Saved: r.URL.Query().Get("saved") == "1"}})
}

// handleAccountName handles POST /account/name.
func (h *handlers) handleAccountName(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	name := r.PostFormValue("name")
	if err := h.s.SetName(r.Context(), u.ID, name); err != nil {
		if e, ok := apperr.As(err); ok && e.Kind == apperr.Invalid {
			h.pages.Page(w, r, http.StatusUnprocessableEntity, "auth/account.html", &web.Page{Title: "Your account",
				Data: accountData{Name: name, Email: u.Email, Error: e.Fields}})
			return
		}
		h.authError(w, r, err)
		return
	}
	http.Redirect(w, r, accountPath+"?saved=1", http.StatusSeeOther)
}

// handleAccountExport handles GET /account/export: a JSON download of
// everything kept about the signed-in user, streamed.
func (h *handlers) handleAccountExport(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	name := strings.ToLower(h.s.o.Product)
	if name == "" {
		name = "account"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`-data-`+h.s.now().Format("2006-01-02")+`.json"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := h.s.ExportAccount(r.Context(), u.ID, w); err != nil {
		// Headers (and perhaps part of the body) are gone: log it; the
		// truncated download is not valid JSON, so it cannot pass for whole.
		obs.Logger(r.Context()).Error("account export", "user_id", u.ID, "err", err.Error())
		return
	}
	h.s.record(r, u.ID, "account_exported", "user", u.ID, nil)
}

// handleAccountDelete handles POST /account/delete. The form must repeat
// the account's address, so a stray click deletes nothing.
func (h *handlers) handleAccountDelete(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	if got, _ := NormalizeEmail(r.PostFormValue("confirm")); got != u.Email {
		h.pages.Page(w, r, http.StatusUnprocessableEntity, "auth/account.html", &web.Page{Title: "Your account",
			Data: accountData{Name: u.Name, Email: u.Email, Error: map[string]string{"confirm": "Type your email address, " + u.Email + ", to confirm."}}})
		return
	}
	if err := h.s.DeleteAccount(r.Context(), u.ID); err != nil {
		h.authError(w, r, err)
		return
	}
	h.s.clearCookie(w)
	h.pages.Page(w, r, http.StatusOK, "auth/deleted.html", &web.Page{Title: "Account deleted"})
}
