package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

const (
	oidcTestSecret  = "oidc-test-secret-0123456789abcdef"
	oidcAfterSignIn = "/home"
)

// oidcForeignKey signs ID tokens with a key the provider never published.
var oidcForeignKey = sync.OnceValues(func() (*mockoidc.Keypair, error) { return mockoidc.RandomKeypair(2048) })

// oidcEnv is a real OpenID provider (mockoidc), an app server whose routes
// call BeginOIDC and FinishOIDC, and a browser: a client with a cookie jar
// that does not follow redirects, so each hop is checked.
type oidcEnv struct {
	db     *store.DB
	audit  *audit.Log
	m      *mockoidc.MockOIDC
	app    *httptest.Server
	jar    http.CookieJar
	client *http.Client
	ua     string // names this environment's audit entries
	svc    atomic.Pointer[Service]
	ahead  atomic.Int64 // how far the Service's clock is ahead of real time
	down   atomic.Bool  // discovery answers 503
	logs   oidcLockedBuffer

	// serial makes the provider handle one request at a time: mockoidc
	// keeps its sessions in a plain map, and requests reach it from the
	// browser and from the Service on different connections.
	serial sync.Mutex

	mu        sync.Mutex
	rewrite   func(jwt.MapClaims) // changes the ID tokens the provider issues
	signer    *mockoidc.Keypair   // signs rewritten tokens; nil: the provider's key
	authorize url.Values          // the last authorization request
	secrets   []string            // codes, cookies and tokens that must never be logged
}

type oidcLockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *oidcLockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *oidcLockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newOIDCEnv(t *testing.T, db *store.DB) *oidcEnv {
	t.Helper()
	e := &oidcEnv{db: db, audit: audit.New(db, nil), ua: "oidc-test/" + t.Name()}
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMiddleware(e.intercept); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	e.m = m

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/auth/signin/{provider}", func(w http.ResponseWriter, r *http.Request) {
		to, err := e.svc.Load().BeginOIDC(w, r, r.PathValue("provider"), r.URL.Query().Get("next"))
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
	mux.HandleFunc("GET /api/auth/callback/{provider}", func(w http.ResponseWriter, r *http.Request) {
		next, err := e.svc.Load().FinishOIDC(w, r, r.PathValue("provider"))
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
	e.app = httptest.NewServer(mux)
	t.Cleanup(e.app.Close)

	e.svc.Store(New(e.options()))
	e.jar, _ = cookiejar.New(nil)
	e.client = &http.Client{
		Jar:           e.jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(func() {
		logs := e.logs.String()
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, s := range e.secrets {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("logs contain a code, token or cookie value %.12q…", s)
			}
		}
	})
	return e
}

// options configure a Service for this environment's provider and app.
func (e *oidcEnv) options() Options {
	return Options{
		DB: e.db, Audit: e.audit, Now: e.now, AfterSignIn: oidcAfterSignIn,
		Logger:    slog.New(slog.NewJSONHandler(&e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Secret:    []byte(oidcTestSecret),
		PublicURL: e.app.URL,
		Providers: []Provider{Generic(e.m.Issuer(), e.m.ClientID, e.m.ClientSecret, "Test SSO")},
	}
}

func (e *oidcEnv) now() time.Time { return time.Now().Add(time.Duration(e.ahead.Load())) }

func (e *oidcEnv) keep(secret string) {
	e.mu.Lock()
	e.secrets = append(e.secrets, secret)
	e.mu.Unlock()
}

// setRewrite makes the provider change (and re-sign) the ID tokens it issues.
func (e *oidcEnv) setRewrite(f func(jwt.MapClaims), signer *mockoidc.Keypair) {
	e.mu.Lock()
	e.rewrite, e.signer = f, signer
	e.mu.Unlock()
}

// intercept sits in front of every provider endpoint.
func (e *oidcEnv) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.serial.Lock()
		defer e.serial.Unlock()
		switch r.URL.Path {
		case mockoidc.DiscoveryEndpoint:
			if e.down.Load() {
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
				return
			}
		case mockoidc.AuthorizationEndpoint:
			e.mu.Lock()
			e.authorize = r.URL.Query()
			e.mu.Unlock()
		case mockoidc.TokenEndpoint:
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			e.reissue(w, rec)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// reissue passes the token response on, with its ID token rewritten and
// re-signed when the test asked for that.
func (e *oidcEnv) reissue(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	e.mu.Lock()
	rewrite, signer := e.rewrite, e.signer
	e.mu.Unlock()
	body := rec.Body.Bytes()
	var resp map[string]any
	if rec.Code == http.StatusOK && json.Unmarshal(body, &resp) == nil {
		raw, _ := resp["id_token"].(string)
		if rewrite != nil || signer != nil {
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if rewrite != nil {
				rewrite(claims)
			}
			if signer == nil {
				signer = e.m.Keypair
			}
			signed, err := signer.SignJWT(claims)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			resp["id_token"] = signed
			raw = signed
			body, _ = json.Marshal(resp)
		}
		e.keep(raw)
		for _, k := range []string{"access_token", "refresh_token"} {
			if s, ok := resp[k].(string); ok {
				e.keep(s)
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

func (e *oidcEnv) get(t *testing.T, target string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", e.ua)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// begin asks the app to start signing in with provider and returns the
// provider authorization URL it redirects to.
func (e *oidcEnv) begin(t *testing.T, provider, next string) *url.URL {
	t.Helper()
	resp, body := e.get(t, e.app.URL+"/api/auth/signin/"+provider+"?next="+url.QueryEscape(next))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("begin: got %d %s, want 303", resp.StatusCode, body)
	}
	to, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := to.Scheme+"://"+to.Host+to.Path, e.m.AuthorizationEndpoint(); got != want {
		t.Fatalf("begin redirects to %s, want %s", got, want)
	}
	for _, c := range resp.Cookies() {
		if c.Name == oidcStateCookie {
			e.keep(c.Value)
		}
	}
	return to
}

// authorizeAt visits the provider, which signs the queued user in and
// redirects back; it returns the app callback URL.
func (e *oidcEnv) authorizeAt(t *testing.T, authURL *url.URL) *url.URL {
	t.Helper()
	resp, body := e.get(t, authURL.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: got %d %s, want 302", resp.StatusCode, body)
	}
	cb, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cb.String(), e.app.URL+"/api/auth/callback/") {
		t.Fatalf("provider redirects to %s, want the app callback", cb)
	}
	e.keep(cb.Query().Get("code"))
	return cb
}

func (e *oidcEnv) signIn(t *testing.T, provider, next string) (*http.Response, []byte) {
	t.Helper()
	return e.get(t, e.authorizeAt(t, e.begin(t, provider, next)).String())
}

func (e *oidcEnv) cookie(t *testing.T, path, name string) string {
	t.Helper()
	u, err := url.Parse(e.app.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range e.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (e *oidcEnv) setStateCookie(t *testing.T, value string) {
	t.Helper()
	u, _ := url.Parse(e.app.URL + oidcCallbackPath)
	c := &http.Cookie{Name: oidcStateCookie, Value: value, Path: oidcStatePath}
	if value == "" {
		c.MaxAge = -1
	}
	e.jar.SetCookies(u, []*http.Cookie{c})
}

// forgeState returns the state cookie changed by f and signed with secret.
func (e *oidcEnv) forgeState(t *testing.T, secret string, f func(*oidcState)) string {
	t.Helper()
	payload, _, _ := strings.Cut(e.cookie(t, oidcCallbackPath, oidcStateCookie), ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var st oidcState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	f(&st)
	v, err := New(Options{Secret: []byte(secret)}).signOIDCState(st)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signedInUser returns the user of the session cookie in the jar.
func (e *oidcEnv) signedInUser(t *testing.T) (*Session, *User) {
	t.Helper()
	svc := e.svc.Load()
	token := e.cookie(t, "/", svc.CookieName())
	if token == "" {
		t.Fatal("no session cookie after sign-in")
	}
	e.keep(token)
	sess, u, err := svc.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("authenticate the new session: %v", err)
	}
	return sess, u
}

func (e *oidcEnv) wantSignedIn(t *testing.T, resp *http.Response, body []byte, next string) (*Session, *User) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: got %d %s, want 303", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Location"); got != next {
		t.Fatalf("lands on %q, want %q", got, next)
	}
	if v := e.cookie(t, oidcCallbackPath, oidcStateCookie); v != "" {
		t.Error("state cookie is still set after sign-in")
	}
	return e.signedInUser(t)
}

// wantRefused checks a refused callback: the status, a message that says
// what to do, no session, and an audited and logged reason.
func (e *oidcEnv) wantRefused(t *testing.T, resp *http.Response, body []byte, status int, reason, message string) httpapi.ErrorDetail {
	t.Helper()
	var eb httpapi.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if resp.StatusCode != status {
		t.Errorf("status: got %d (%s), want %d", resp.StatusCode, body, status)
	}
	if !strings.Contains(eb.Error.Message, message) {
		t.Errorf("message: got %q, want it to contain %q", eb.Error.Message, message)
	}
	if tok := e.cookie(t, "/", e.svc.Load().CookieName()); tok != "" {
		t.Error("a session cookie was set by a refused sign-in")
	}
	if got := e.reasons(t); !slices.Contains(got, reason) {
		t.Errorf("audited reasons: got %v, want %q", got, reason)
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"reason":"`+reason+`"`) {
		t.Errorf("logs do not give the reason %q:\n%s", reason, logs)
	}
	return eb.Error
}

// reasons lists the reasons of this environment's audited failures.
func (e *oidcEnv) reasons(t *testing.T) []string {
	t.Helper()
	entries, err := e.audit.List(context.Background(), audit.Filter{Action: "signin_failed", Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		if en.UserAgent != e.ua {
			continue
		}
		if p, _ := en.Metadata["provider"].(string); p == "" {
			t.Errorf("audited failure without a provider: %+v", en.Metadata)
		}
		r, _ := en.Metadata["reason"].(string)
		out = append(out, r)
	}
	return out
}

func oidcMustUser(t *testing.T, s *Service, email string) User {
	t.Helper()
	u, err := s.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

func TestOIDCSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			name string
			run  func(t *testing.T, e *oidcEnv)
		}{
			{"happy path creates a verified user, links the account and starts a session", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-happy", Email: "Happy@Example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) {
					c["name"] = "Hap Py"
					c["picture"] = "https://img.example/happy.png"
				}, nil)

				resp, body := e.get(t, e.app.URL+"/api/auth/signin/oidc?next="+url.QueryEscape("/ideas?x=1"))
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("begin: got %d %s, want 303", resp.StatusCode, body)
				}
				var state *http.Cookie
				for _, c := range resp.Cookies() {
					if c.Name == oidcStateCookie {
						state = c
						e.keep(c.Value)
					}
				}
				if state == nil || !state.HttpOnly || state.SameSite != http.SameSiteLaxMode || state.Path != "/api/auth/" || state.Secure || state.MaxAge != 600 {
					t.Fatalf("state cookie: got %+v, want HttpOnly, SameSite=Lax, Path=/api/auth/, MaxAge=600, not Secure on http", state)
				}
				authURL, _ := resp.Location()
				resp, body = e.get(t, e.authorizeAt(t, authURL).String())
				sess, u := e.wantSignedIn(t, resp, body, "/ideas?x=1")

				e.mu.Lock()
				q := e.authorize
				e.mu.Unlock()
				if got := q.Get("code_challenge_method"); got != "S256" {
					t.Errorf("code_challenge_method: got %q, want S256", got)
				}
				if q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
					t.Errorf("authorization request lacks challenge, nonce or state: %v", q)
				}
				if got, want := q.Get("redirect_uri"), e.app.URL+"/api/auth/callback/oidc"; got != want {
					t.Errorf("redirect_uri: got %q, want %q", got, want)
				}
				if got := q.Get("scope"); got != "openid email profile" {
					t.Errorf("scope: got %q, want %q", got, "openid email profile")
				}

				if u.Email != "happy@example.com" || u.EmailVerifiedAt == nil || u.Name != "Hap Py" || u.AvatarURL != "https://img.example/happy.png" {
					t.Errorf("user: got %+v, want happy@example.com, verified, with name and avatar", u)
				}
				if sess.Method != "oidc" {
					t.Errorf("session method: got %q, want oidc", sess.Method)
				}
				accts, err := e.svc.Load().Accounts(context.Background(), u.ID)
				if err != nil || len(accts) != 1 || accts[0].Provider != "oidc" || accts[0].Email != "happy@example.com" {
					t.Errorf("accounts: got %+v (%v), want one oidc account", accts, err)
				}
				if r := e.reasons(t); len(r) != 0 {
					t.Errorf("failures audited on the happy path: %v", r)
				}
			}},
			{"an unsafe next lands on AfterSignIn", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-next", Email: "next@example.com", EmailVerified: true})
				resp, body := e.signIn(t, "oidc", "//evil.example/steal")
				e.wantSignedIn(t, resp, body, oidcAfterSignIn)
			}},
			{"the same subject signs in as the same user again", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-again", Email: "again@example.com", EmailVerified: true})
				resp, body := e.signIn(t, "oidc", "")
				_, first := e.wantSignedIn(t, resp, body, oidcAfterSignIn)
				// The provider now reports another address: the subject, not
				// the address, is who this is.
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-again", Email: "again-renamed@example.com", EmailVerified: true})
				resp, body = e.signIn(t, "oidc", "/second")
				_, second := e.wantSignedIn(t, resp, body, "/second")
				if second.ID != first.ID {
					t.Errorf("second sign-in: got user %s, want %s", second.ID, first.ID)
				}
				if _, err := e.svc.Load().UserByEmail(context.Background(), "again-renamed@example.com"); !apperr.Is(err, apperr.NotFound) {
					t.Errorf("a second user was created for the new address: %v", err)
				}
				if accts, _ := e.svc.Load().Accounts(context.Background(), first.ID); len(accts) != 1 {
					t.Errorf("accounts: got %d, want 1", len(accts))
				}
			}},
			{"a verified email links to the existing user", func(t *testing.T, e *oidcEnv) {
				existing, _, err := e.svc.Load().EnsureUser(context.Background(), NewUser{Email: "link@example.com", Name: "Kept Name"})
				if err != nil {
					t.Fatal(err)
				}
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-link", Email: "link@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) { c["name"] = "Provider Name" }, nil)
				resp, body := e.signIn(t, "oidc", "")
				_, u := e.wantSignedIn(t, resp, body, oidcAfterSignIn)
				if u.ID != existing.ID {
					t.Fatalf("signed in as %s, want the existing user %s", u.ID, existing.ID)
				}
				if u.EmailVerifiedAt == nil || u.Name != "Kept Name" {
					t.Errorf("user: got verified=%v name=%q, want verified and the name kept", u.EmailVerifiedAt, u.Name)
				}
				if accts, _ := e.svc.Load().Accounts(context.Background(), existing.ID); len(accts) != 1 || accts[0].Provider != "oidc" {
					t.Errorf("accounts: got %+v, want the oidc account linked", accts)
				}
			}},
			{"an unverified email never links to an existing user", func(t *testing.T, e *oidcEnv) {
				existing, _, err := e.svc.Load().EnsureUser(context.Background(), NewUser{Email: "victim@example.com", Verified: true})
				if err != nil {
					t.Fatal(err)
				}
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-attacker", Email: "victim@example.com", EmailVerified: false})
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusForbidden, "email_unverified_existing_user", "hasn't verified your email address")
				if accts, _ := e.svc.Load().Accounts(context.Background(), existing.ID); len(accts) != 0 {
					t.Errorf("accounts: got %+v, want none linked", accts)
				}
				if _, err := e.svc.Load().accountUser(context.Background(), "oidc", "sub-attacker"); !apperr.Is(err, apperr.NotFound) {
					t.Errorf("the subject was linked: %v", err)
				}
			}},
			{"an unverified email never creates a user", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-unverified", Email: "nobody@example.com", EmailVerified: false})
				resp, body := e.signIn(t, "oidc", "")
				d := e.wantRefused(t, resp, body, http.StatusForbidden, "email_unverified", "hasn't verified your email address")
				if !strings.Contains(d.Message, "sign in another way") {
					t.Errorf("message %q does not say what to do", d.Message)
				}
				if _, err := e.svc.Load().UserByEmail(context.Background(), "nobody@example.com"); !apperr.Is(err, apperr.NotFound) {
					t.Errorf("a user was created: %v", err)
				}
			}},
			{"email_verified false as a string is unverified", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-strfalse", Email: "strfalse@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) { c["email_verified"] = "false" }, nil)
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusForbidden, "email_unverified", "hasn't verified")
			}},
			{"a token without email is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-noemail", Email: "noemail@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) { delete(c, "email"); delete(c, "email_verified") }, nil)
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusForbidden, "email_missing", "didn't share your email address")
			}},
			{"tampered state cookie is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-tamper", Email: "tamper@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", "/ok"))
				value := e.cookie(t, oidcCallbackPath, oidcStateCookie)
				payload, sig, _ := strings.Cut(value, ".")
				b, _ := base64.RawURLEncoding.DecodeString(payload)
				b = bytes.Replace(b, []byte(`"x":"/ok"`), []byte(`"x":"/evil"`), 1)
				e.setStateCookie(t, base64.RawURLEncoding.EncodeToString(b)+"."+sig)
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "state_cookie_invalid", "Please start signing in again")
			}},
			{"state cookie signed with an unknown secret is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-othersecret", Email: "othersecret@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", ""))
				e.setStateCookie(t, e.forgeState(t, "not-the-secret", func(*oidcState) {}))
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "state_cookie_invalid", "Please start signing in again")
			}},
			{"state param that does not match the cookie is refused, and the real callback still works", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-mismatch", Email: "mismatch@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", "/real"))
				forged := *cb
				q := forged.Query()
				q.Set("state", "attacker-"+q.Get("state"))
				forged.RawQuery = q.Encode()
				resp, body := e.get(t, forged.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "state_mismatch", "Please start signing in again")
				resp, body = e.get(t, cb.String())
				e.wantSignedIn(t, resp, body, "/real")
			}},
			{"missing state cookie is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-nocookie", Email: "nocookie@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", ""))
				e.setStateCookie(t, "")
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "state_cookie_missing", "started in another browser")
			}},
			{"expired state is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-late", Email: "late@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", ""))
				e.ahead.Store(int64(oidcStateLifetime + time.Second))
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "state_expired", "has expired")
			}},
			{"state cookie of another provider is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-otherprov", Email: "otherprov@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", ""))
				e.setStateCookie(t, e.forgeState(t, oidcTestSecret, func(st *oidcState) { st.Provider = "google" }))
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "state_provider_mismatch", "Please start signing in again")
			}},
			{"nonce in the cookie that the token does not carry is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-nonce1", Email: "nonce1@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", ""))
				e.setStateCookie(t, e.forgeState(t, oidcTestSecret, func(st *oidcState) { st.Nonce = newToken(32) }))
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "nonce_mismatch", "couldn't verify your sign-in")
			}},
			{"token with another nonce is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-nonce2", Email: "nonce2@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) { c["nonce"] = "replayed-nonce" }, nil)
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "nonce_mismatch", "couldn't verify your sign-in")
			}},
			{"token without a nonce is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-nonce3", Email: "nonce3@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) { delete(c, "nonce") }, nil)
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "nonce_mismatch", "couldn't verify your sign-in")
			}},
			{"wrong PKCE verifier is refused by the provider", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-pkce", Email: "pkce@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", ""))
				e.setStateCookie(t, e.forgeState(t, oidcTestSecret, func(st *oidcState) { st.Verifier = oauth2.GenerateVerifier() }))
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "token_exchange_rejected", "Please start signing in again")
			}},
			{"expired ID token is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-expired", Email: "expired@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) {
					c["iat"] = time.Now().Add(-20 * time.Minute).Unix()
					c["nbf"] = time.Now().Add(-20 * time.Minute).Unix()
					c["exp"] = time.Now().Add(-time.Minute).Unix()
				}, nil)
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "id_token_expired", "couldn't verify your sign-in")
			}},
			{"ID token for another audience is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-aud", Email: "aud@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) { c["aud"] = "another-client" }, nil)
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "id_token_invalid", "couldn't verify your sign-in")
			}},
			{"ID token authorized for another party is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-azp", Email: "azp@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) {
					c["aud"] = []string{e.m.ClientID, "another-client"}
					c["azp"] = "another-client"
				}, nil)
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "azp_mismatch", "couldn't verify your sign-in")
			}},
			{"ID token from another issuer is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-iss", Email: "iss@example.com", EmailVerified: true})
				e.setRewrite(func(c jwt.MapClaims) { c["iss"] = "https://issuer.invalid/oidc" }, nil)
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "id_token_invalid", "couldn't verify your sign-in")
			}},
			{"ID token signed with an unpublished key is refused", func(t *testing.T, e *oidcEnv) {
				foreign, err := oidcForeignKey()
				if err != nil {
					t.Fatal(err)
				}
				e.serial.Lock()
				kid, err := e.m.Keypair.KeyID()
				e.serial.Unlock()
				if err != nil {
					t.Fatal(err)
				}
				// Same kid as the published key, so only the signature differs.
				e.setRewrite(nil, &mockoidc.Keypair{PrivateKey: foreign.PrivateKey, PublicKey: foreign.PublicKey, Kid: kid})
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-forged", Email: "forged@example.com", EmailVerified: true})
				resp, body := e.signIn(t, "oidc", "")
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "id_token_invalid", "couldn't verify your sign-in")
			}},
			{"access_denied from the provider gives a helpful message", func(t *testing.T, e *oidcEnv) {
				authURL := e.begin(t, "oidc", "")
				cb := e.app.URL + "/api/auth/callback/oidc?" + url.Values{
					"error": {"access_denied"}, "error_description": {"The user cancelled"}, "state": {authURL.Query().Get("state")},
				}.Encode()
				resp, body := e.get(t, cb)
				d := e.wantRefused(t, resp, body, http.StatusUnauthorized, "provider_error", "Signing in with Test SSO was cancelled")
				if d.Code != "signin_cancelled" {
					t.Errorf("code: got %q, want signin_cancelled", d.Code)
				}
				if v := e.cookie(t, oidcCallbackPath, oidcStateCookie); v != "" {
					t.Error("state cookie kept after the provider's error")
				}
			}},
			{"token endpoint error is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-tokerr", Email: "tokerr@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", ""))
				// The next provider request is the token exchange.
				e.m.QueueError(&mockoidc.ServerError{Code: http.StatusBadRequest, Error: mockoidc.InvalidGrant, Description: "code expired"})
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "token_exchange_rejected", "didn't accept this sign-in")
			}},
			{"state signed with the previous secret is accepted after rotation", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-rotate", Email: "rotate@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", "/rotated"))
				o := e.options()
				o.Secret, o.PreviousSecret = []byte("the-new-secret-0123456789abcdef"), []byte(oidcTestSecret)
				e.svc.Store(New(o))
				resp, body := e.get(t, cb.String())
				e.wantSignedIn(t, resp, body, "/rotated")
			}},
			{"state signed with a retired secret is refused", func(t *testing.T, e *oidcEnv) {
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-retired", Email: "retired@example.com", EmailVerified: true})
				cb := e.authorizeAt(t, e.begin(t, "oidc", ""))
				o := e.options()
				o.Secret = []byte("the-new-secret-0123456789abcdef")
				e.svc.Store(New(o))
				resp, body := e.get(t, cb.String())
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "state_cookie_invalid", "Please start signing in again")
			}},
			{"discovery is lazy and retried after a failure", func(t *testing.T, e *oidcEnv) {
				e.down.Store(true)
				resp, body := e.get(t, e.app.URL+"/api/auth/signin/oidc")
				if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "can't reach Test SSO right now") {
					t.Fatalf("begin while the provider is down: got %d %s, want 503 saying so", resp.StatusCode, body)
				}
				e.down.Store(false)
				e.m.QueueUser(&mockoidc.MockUser{Subject: "sub-lazy", Email: "lazy@example.com", EmailVerified: true})
				resp, body = e.signIn(t, "oidc", "")
				e.wantSignedIn(t, resp, body, oidcAfterSignIn)
			}},
			{"unknown provider is not found", func(t *testing.T, e *oidcEnv) {
				resp, body := e.get(t, e.app.URL+"/api/auth/signin/nope")
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("begin: got %d %s, want 404", resp.StatusCode, body)
				}
				resp, body = e.get(t, e.app.URL+"/api/auth/callback/nope?code=c&state=s")
				e.wantRefused(t, resp, body, http.StatusNotFound, "unknown_provider", "isn't available")
			}},
			{"LinkedIn quirks: no PKCE, no nonce claim, string email_verified", func(t *testing.T, e *oidcEnv) {
				o := e.options()
				o.Providers = []Provider{{ID: ProviderLinkedIn, Name: "LinkedIn", Issuer: e.m.Issuer(), ClientID: e.m.ClientID, ClientSecret: e.m.ClientSecret}}
				e.svc.Store(New(o))
				e.m.QueueUser(&mockoidc.MockUser{Subject: "li-1", Email: "li@example.com", EmailVerified: false})
				e.setRewrite(func(c jwt.MapClaims) {
					delete(c, "nonce")
					c["email_verified"] = "true"
				}, nil)
				resp, body := e.signIn(t, "linkedin", "")
				_, u := e.wantSignedIn(t, resp, body, oidcAfterSignIn)
				e.mu.Lock()
				q := e.authorize
				e.mu.Unlock()
				if q.Has("code_challenge") || q.Has("code_challenge_method") {
					t.Errorf("PKCE sent to LinkedIn: %v", q)
				}
				if q.Get("nonce") == "" {
					t.Error("no nonce sent to LinkedIn")
				}
				if accts, _ := e.svc.Load().Accounts(context.Background(), u.ID); len(accts) != 1 || accts[0].Provider != "linkedin" {
					t.Errorf("accounts: got %+v, want one linkedin account", accts)
				}
				// A nonce LinkedIn does send must still match.
				e.m.QueueUser(&mockoidc.MockUser{Subject: "li-1", Email: "li@example.com"})
				e.setRewrite(func(c jwt.MapClaims) { c["nonce"] = "someone-elses" }, nil)
				root, _ := url.Parse(e.app.URL + "/")
				e.jar.SetCookies(root, []*http.Cookie{{Name: e.svc.Load().CookieName(), Path: "/", MaxAge: -1}})
				resp, body = e.signIn(t, "linkedin", "")
				e.wantRefused(t, resp, body, http.StatusUnauthorized, "nonce_mismatch", "couldn't verify your sign-in with LinkedIn")
			}},
			{"state cookie is Secure when PUBLIC_URL is https", func(t *testing.T, e *oidcEnv) {
				o := e.options()
				o.PublicURL = "https://app.example/"
				svc := New(o)
				r := httptest.NewRequest(http.MethodGet, "/api/auth/signin/oidc", nil)
				w := httptest.NewRecorder()
				to, err := svc.BeginOIDC(w, r, "oidc", "")
				if err != nil {
					t.Fatal(err)
				}
				u, _ := url.Parse(to)
				if got, want := u.Query().Get("redirect_uri"), "https://app.example/api/auth/callback/oidc"; got != want {
					t.Errorf("redirect_uri: got %q, want %q", got, want)
				}
				cs := w.Result().Cookies()
				if len(cs) != 1 || cs[0].Name != oidcStateCookie || !cs[0].Secure {
					t.Errorf("cookies: got %+v, want a Secure oidc_state", cs)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, newOIDCEnv(t, db))
			})
		}
	})
}

func TestOIDCProviders(t *testing.T) {
	t.Parallel()
	g, l, o := Google("g-id", "g-secret"), LinkedIn("l-id", "l-secret"), Generic("https://sso.example", "o-id", "o-secret", "")
	for _, tc := range []struct {
		got              Provider
		id, name, issuer string
	}{
		{g, "google", "Google", "https://accounts.google.com"},
		{l, "linkedin", "LinkedIn", "https://www.linkedin.com/oauth"},
		{o, "oidc", "Single sign-on", "https://sso.example"},
	} {
		if tc.got.ID != tc.id || tc.got.Name != tc.name || tc.got.Issuer != tc.issuer || !slices.Equal(tc.got.Scopes, []string{"openid", "email", "profile"}) {
			t.Errorf("got %+v, want id %s, name %s, issuer %s, scopes openid email profile", tc.got, tc.id, tc.name, tc.issuer)
		}
	}
	// New does no network I/O: these issuers are never contacted.
	s := New(Options{Providers: []Provider{l, Generic("https://sso.example", "o-id", "o-secret", "Acme SSO"), g}})
	want := []ProviderInfo{{"linkedin", "LinkedIn"}, {"oidc", "Acme SSO"}, {"google", "Google"}}
	if got := s.Providers(); !slices.Equal(got, want) {
		t.Errorf("Providers: got %v, want %v", got, want)
	}
	if q := s.providers["linkedin"].quirks; !q.noPKCE || !q.nonceOptional || q.authStyle != oauth2.AuthStyleInParams {
		t.Errorf("linkedin quirks: got %+v", q)
	}
	if q := s.providers["google"].quirks; q != (quirks{}) {
		t.Errorf("google quirks: got %+v, want none", q)
	}
}

func TestOIDCEmailVerifiedClaim(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{`true`, true}, {`"true"`, true}, {`"TRUE"`, true},
		{`false`, false}, {`"false"`, false}, {``, false}, {`null`, false}, {`1`, false}, {`"yes"`, false},
	} {
		if got := (idClaims{EmailVerified: json.RawMessage(tc.raw)}).verified(); got != tc.want {
			t.Errorf("email_verified %s: got %v, want %v", tc.raw, got, tc.want)
		}
	}
}
