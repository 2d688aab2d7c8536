package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/mail"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// linkClientIP is the client IP the test server's "middleware" decides; the
// mail must never show it.
const linkClientIP = "203.0.113.7"

// mailSink is a real SMTP server (emersion/go-smtp) on a loopback port that
// keeps every accepted message by recipient. It answers DATA only after
// storing the message, so once a Send has returned its mail is here.
type mailSink struct {
	srv  *smtp.Server
	l    net.Listener
	addr string
	done chan struct{}

	mu      sync.Mutex
	byRcpt  map[string][][]byte
	total   int
	changed chan struct{} // closed and replaced on every delivery
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	k := &mailSink{byRcpt: map[string][][]byte{}, changed: make(chan struct{}), done: make(chan struct{})}
	k.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: k}, nil
	}))
	k.srv.Domain = "localhost"
	k.srv.ReadTimeout = 10 * time.Second
	k.srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	k.l, k.addr = l, l.Addr().String()
	go func() {
		defer close(k.done)
		if err := k.srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(k.close)
	return k
}

// close stops the server and waits until it has. The listener is closed
// here too: a Close that runs before Serve has registered it would
// otherwise leave Serve accepting forever.
func (k *mailSink) close() {
	_ = k.srv.Close()
	_ = k.l.Close()
	<-k.done
}

// sender returns the product's real SMTP sender pointed at the sink.
func (k *mailSink) sender(t *testing.T) mail.Sender {
	t.Helper()
	s, err := mail.New("smtp://"+k.addr+"?tls=none", "Coda <hello@example.com>", nil)
	if err != nil {
		t.Fatalf("mail.New: %v", err)
	}
	return s
}

func (k *mailSink) deliver(rcpts []string, data []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range rcpts {
		r = strings.ToLower(r)
		k.byRcpt[r] = append(k.byRcpt[r], data)
	}
	k.total++
	close(k.changed)
	k.changed = make(chan struct{})
}

// count returns how many messages rcpt has been sent.
func (k *mailSink) count(rcpt string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.byRcpt[rcpt])
}

// all returns how many messages the sink accepted.
func (k *mailSink) all() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.total
}

// wait returns rcpt's messages once there are at least n, failing the test
// after a deadline.
func (k *mailSink) wait(t *testing.T, rcpt string, n int) [][]byte {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		k.mu.Lock()
		msgs, changed := k.byRcpt[rcpt], k.changed
		if len(msgs) >= n {
			out := slices.Clone(msgs)
			k.mu.Unlock()
			return out
		}
		k.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("got %d messages to %s, want %d", len(msgs), rcpt, n)
		}
	}
}

type sinkSession struct {
	sink *mailSink
	to   []string
}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.sink.deliver(s.to, b)
	return nil
}

func (s *sinkSession) Reset() { s.to = nil }

func (s *sinkSession) Logout() error { return nil }

// linkMail is a delivered sign-in mail taken apart.
type linkMail struct {
	from, subject, text, html string
	link                      string // the sign-in URL found in the text part
}

var linkPattern = regexp.MustCompile(`(?m)^(http://\S+/auth/email/confirm\?token=[A-Za-z0-9_-]+)\s*$`)

func parseLinkMail(t *testing.T, data []byte) linkMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, data)
	}
	var m linkMail
	m.from = msg.Header.Get("From")
	if m.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("got Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		switch ct {
		case "text/plain":
			m.text = string(b)
		case "text/html":
			m.html = string(b)
		default:
			t.Errorf("got a %s part, want only text/plain and text/html", ct)
		}
	}
	found := linkPattern.FindStringSubmatch(m.text)
	if found == nil {
		t.Fatalf("no sign-in link in the text part:\n%s", m.text)
	}
	m.link = found[1]
	return m
}

// linkClock is a clock the test moves.
type linkClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *linkClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *linkClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// linkLogBuffer collects log output; safe for concurrent use.
type linkLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *linkLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *linkLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// linkEnv is one test's service behind an httptest server with the routes
// the lead's handlers will have.
type linkEnv struct {
	db     *store.DB
	svc    *auth.Service
	audit  *audit.Log
	clock  *linkClock
	logs   *linkLogBuffer
	sink   *mailSink
	srv    *httptest.Server
	client *http.Client
	ua     string // this test's User-Agent, to pick its audit entries
}

func newLinkEnv(t *testing.T, db *store.DB, sink *mailSink, sender mail.Sender) *linkEnv {
	t.Helper()
	e := &linkEnv{
		db:    db,
		clock: &linkClock{t: time.Now().UTC().Truncate(time.Second)},
		logs:  &linkLogBuffer{},
		sink:  sink,
		ua:    "linktest/" + t.Name(),
	}
	e.audit = audit.New(db, e.clock.Now)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /request", func(w http.ResponseWriter, r *http.Request) {
		if err := e.svc.RequestEmailLink(r.Context(), r, r.PostFormValue("email"), r.PostFormValue("next")); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET "+auth.EmailConfirmPath, func(w http.ResponseWriter, r *http.Request) {
		email, err := e.svc.PeekEmailLink(r.Context(), r.URL.Query().Get("token"))
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Sign in as %s?", email)
	})
	mux.HandleFunc("POST "+auth.EmailConfirmPath, func(w http.ResponseWriter, r *http.Request) {
		next, err := e.svc.ConsumeEmailLink(w, r, r.PostFormValue("token"))
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
	// Stands in for the server middleware that decides the client's IP.
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(httpapi.WithClientIP(r.Context(), linkClientIP)))
	}))
	t.Cleanup(e.srv.Close)
	e.client = &http.Client{
		Transport:     e.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       20 * time.Second,
	}
	e.svc = auth.New(auth.Options{
		DB:          db,
		Audit:       e.audit,
		Logger:      slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Mail:        sender,
		Now:         e.clock.Now,
		Product:     "Coda",
		PublicURL:   e.srv.URL,
		AfterSignIn: "/home",
	})
	return e
}

func (e *linkEnv) do(t *testing.T, method, target string, form url.Values) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", e.ua)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return resp
}

// request asks for a link through POST /request and returns the status.
func (e *linkEnv) request(t *testing.T, email, next string) int {
	t.Helper()
	resp := e.do(t, http.MethodPost, e.srv.URL+"/request", url.Values{"email": {email}, "next": {next}})
	resp.Body.Close()
	return resp.StatusCode
}

// requestLink asks for a link to addr and returns the URL from the n-th
// mail addr receives.
func (e *linkEnv) requestLink(t *testing.T, addr, next string, n int) string {
	t.Helper()
	if got := e.request(t, addr, next); got != http.StatusAccepted {
		t.Fatalf("POST /request for %s: got status %d, want %d", addr, got, http.StatusAccepted)
	}
	msgs := e.sink.wait(t, addr, n)
	return parseLinkMail(t, msgs[n-1]).link
}

// open GETs a link as a mail scanner or a browser would and returns the
// status and body.
func (e *linkEnv) open(t *testing.T, link string) (int, string) {
	t.Helper()
	resp := e.do(t, http.MethodGet, link, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// confirm POSTs the token from the confirmation page and returns the
// status, the redirect target and the session cookie (empty when none).
func (e *linkEnv) confirm(t *testing.T, token string) (status int, location, cookie string) {
	t.Helper()
	resp := e.do(t, http.MethodPost, e.srv.URL+auth.EmailConfirmPath, url.Values{"token": {token}})
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == e.svc.CookieName() {
			cookie = c.Value
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), cookie
}

// signIn confirms token and returns the signed-in user, failing unless the
// POST succeeded.
func (e *linkEnv) signIn(t *testing.T, token, wantNext string) *auth.User {
	t.Helper()
	status, loc, cookie := e.confirm(t, token)
	if status != http.StatusSeeOther || cookie == "" {
		t.Fatalf("POST confirm: got status %d, cookie %t, want %d and a session cookie", status, cookie != "", http.StatusSeeOther)
	}
	if loc != wantNext {
		t.Errorf("got redirect to %q, want %q", loc, wantNext)
	}
	sess, u, err := e.svc.Authenticate(context.Background(), cookie)
	if err != nil {
		t.Fatalf("Authenticate with the new cookie: %v", err)
	}
	if sess.Method != "email" {
		t.Errorf("got session method %q, want email", sess.Method)
	}
	return u
}

// auditEntries returns this test's audit entries with action.
func (e *linkEnv) auditEntries(t *testing.T, action string) []audit.Entry {
	t.Helper()
	all, err := e.audit.List(context.Background(), audit.Filter{Action: action, Limit: audit.MaxLimit})
	if err != nil {
		t.Fatalf("list audit log: %v", err)
	}
	var mine []audit.Entry
	for _, x := range all {
		if x.UserAgent == e.ua {
			mine = append(mine, x)
		}
	}
	return mine
}

// hashTokenHex is what the database keeps of a token: SHA-256, hex.
func hashTokenHex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("parse link %q: %v", link, err)
	}
	return u.Query().Get("token")
}

func countRows(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func linksFor(t *testing.T, db *store.DB, addr string) int {
	t.Helper()
	return countRows(t, db, "SELECT COUNT(*) FROM login_tokens WHERE email = ?", addr)
}

func wantKind(t *testing.T, err error, k apperr.Kind) *apperr.Error {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != k {
		t.Fatalf("got error %v (kind %v), want kind %v", err, apperr.KindOf(err), k)
	}
	return e
}

func TestEmailLink(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		sink := startMailSink(t)
		sender := sink.sender(t)
		ctx := context.Background()

		// Runs before the parallel subtests below start, so counting every
		// row and every mail is exact.
		t.Run("malformed addresses are invalid and store nothing", func(t *testing.T) {
			e := newLinkEnv(t, db, sink, sender)
			links := countRows(t, db, "SELECT COUNT(*) FROM login_tokens")
			users := countRows(t, db, "SELECT COUNT(*) FROM users")
			mails := sink.all()
			for _, addr := range []string{"", "a", "a@", "@b.c", "a b@c.d", "x@y.z\r\nBcc: e@f.g"} {
				t.Run(fmt.Sprintf("%q", addr), func(t *testing.T) {
					err := e.svc.RequestEmailLink(ctx, nil, addr, "/ideas")
					if ae := wantKind(t, err, apperr.Invalid); ae.Fields["email"] == "" {
						t.Errorf("got fields %v, want one for email", ae.Fields)
					}
					if got := e.request(t, addr, ""); got != http.StatusBadRequest {
						t.Errorf("POST /request: got status %d, want %d", got, http.StatusBadRequest)
					}
				})
			}
			if got := countRows(t, db, "SELECT COUNT(*) FROM login_tokens"); got != links {
				t.Errorf("got %d login_tokens rows, want %d", got, links)
			}
			if got := countRows(t, db, "SELECT COUNT(*) FROM users"); got != users {
				t.Errorf("got %d users, want %d", got, users)
			}
			if got := sink.all(); got != mails {
				t.Errorf("got %d mails, want %d", got, mails)
			}
		})

		t.Run("request, scanner GET, POST signs in once", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			const addr = "flow.user@example.org"
			if got := e.request(t, "  Flow.User@Example.ORG ", "/ideas"); got != http.StatusAccepted {
				t.Fatalf("POST /request: got status %d, want %d", got, http.StatusAccepted)
			}
			m := parseLinkMail(t, e.sink.wait(t, addr, 1)[0])
			if m.subject != "Sign in to Coda" {
				t.Errorf("got subject %q, want %q", m.subject, "Sign in to Coda")
			}
			if !strings.Contains(m.from, "hello@example.com") {
				t.Errorf("got From %q, want hello@example.com", m.from)
			}
			if !strings.HasPrefix(m.link, e.srv.URL+auth.EmailConfirmPath+"?token=") {
				t.Errorf("got link %q, want it under %s", m.link, e.srv.URL+auth.EmailConfirmPath)
			}
			token := tokenOf(t, m.link)
			if len(token) != 43 {
				t.Errorf("got a %d-character token, want 43 (32 random bytes)", len(token))
			}
			const notice = "This link expires in 15 minutes and can be used once. If you didn't ask to sign in, ignore this email."
			for part, body := range map[string]string{"text": m.text, "html": m.html} {
				if !strings.Contains(body, notice) {
					t.Errorf("%s part lacks %q:\n%s", part, notice, body)
				}
				if !strings.Contains(body, m.link) {
					t.Errorf("%s part lacks the link:\n%s", part, body)
				}
				if strings.Contains(body, linkClientIP) || strings.Contains(body, e.ua) {
					t.Errorf("%s part shows the requester's IP or device:\n%s", part, body)
				}
			}
			if !strings.Contains(m.html, `<a href="`+m.link+`" style="display:inline-block`) {
				t.Errorf("html part has no button-style link:\n%s", m.html)
			}

			// Asking for a link creates no user: only spending it does.
			if _, err := e.svc.UserByEmail(ctx, addr); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("UserByEmail after the request: got %v, want NotFound", err)
			}

			// A mail scanner (or the user) opening the link spends nothing.
			for i := range 2 {
				status, body := e.open(t, m.link)
				if status != http.StatusOK || !strings.Contains(body, addr) {
					t.Fatalf("GET %d of the link: got %d %q, want 200 naming %s", i+1, status, body, addr)
				}
			}
			if got := countRows(t, db, "SELECT COUNT(*) FROM login_tokens WHERE email = ? AND used_at IS NULL", addr); got != 1 {
				t.Fatalf("got %d unspent links after two GETs, want 1", got)
			}

			u := e.signIn(t, token, "/ideas")
			if u.Email != addr || u.EmailVerifiedAt == nil || u.Role != auth.RoleUser {
				t.Errorf("got user %s verified=%t role %q, want %s verified with role user", u.Email, u.EmailVerifiedAt != nil, u.Role, addr)
			}

			// Spent: the second POST and any later GET are Gone.
			if status, _, cookie := e.confirm(t, token); status != http.StatusGone || cookie != "" {
				t.Errorf("second POST: got status %d, cookie %t, want %d and none", status, cookie != "", http.StatusGone)
			}
			if status, _ := e.open(t, m.link); status != http.StatusGone {
				t.Errorf("GET after sign-in: got status %d, want %d", status, http.StatusGone)
			}
			_, err := e.svc.PeekEmailLink(ctx, token)
			if ae := wantKind(t, err, apperr.Gone); !strings.Contains(ae.Message, "expired or was already used") || !strings.Contains(ae.Message, "new one") {
				t.Errorf("got message %q, want it to say the link expired or was used and to ask for a new one", ae.Message)
			}

			if got := e.auditEntries(t, "signin"); len(got) != 1 || got[0].ActorID != u.ID || got[0].IP != linkClientIP {
				t.Errorf("got signin audit entries %+v, want one by %s from %s", got, u.ID, linkClientIP)
			}
			if got := e.auditEntries(t, "signin_failed"); len(got) != 1 || got[0].Metadata["reason"] != "used" || got[0].Metadata["method"] != "email" {
				t.Errorf("got signin_failed entries %+v, want one with method email, reason used", got)
			}
			logs := e.logs.String()
			for _, secret := range []string{token, hashTokenHex(token), addr} {
				if strings.Contains(logs, secret) {
					t.Errorf("logs contain %q:\n%s", secret, logs)
				}
			}
			if !strings.Contains(logs, `"domain":"example.org"`) {
				t.Errorf("logs lack the address's domain:\n%s", logs)
			}
		})

		t.Run("existing user signs in as the same user", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			const addr = "old.hand@example.org"
			before, created, err := e.svc.EnsureUser(ctx, auth.NewUser{Email: addr, Name: "Old Hand", Role: auth.RoleAdmin})
			if err != nil || !created {
				t.Fatalf("EnsureUser: %v (created %t)", err, created)
			}
			for i := 1; i <= 2; i++ {
				link := e.requestLink(t, addr, "", i)
				u := e.signIn(t, tokenOf(t, link), "/home")
				if u.ID != before.ID {
					t.Errorf("sign-in %d: got user %s, want %s", i, u.ID, before.ID)
				}
				if u.Role != auth.RoleAdmin || u.Name != "Old Hand" || u.EmailVerifiedAt == nil {
					t.Errorf("sign-in %d: got role %q, name %q, verified %t; want admin, Old Hand, verified", i, u.Role, u.Name, u.EmailVerifiedAt != nil)
				}
			}
			if got := countRows(t, db, "SELECT COUNT(*) FROM users WHERE email = ?", addr); got != 1 {
				t.Errorf("got %d users with the address, want 1", got)
			}
		})

		t.Run("expired link is gone", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			const addr = "late@example.org"
			link := e.requestLink(t, addr, "", 1)
			e.clock.advance(15*time.Minute - time.Second)
			if status, _ := e.open(t, link); status != http.StatusOK {
				t.Fatalf("GET a second before expiry: got status %d, want 200", status)
			}
			e.clock.advance(2 * time.Second)
			if status, _ := e.open(t, link); status != http.StatusGone {
				t.Errorf("GET after expiry: got status %d, want %d", status, http.StatusGone)
			}
			if status, _, cookie := e.confirm(t, tokenOf(t, link)); status != http.StatusGone || cookie != "" {
				t.Errorf("POST after expiry: got status %d, cookie %t, want %d and none", status, cookie != "", http.StatusGone)
			}
			if _, err := e.svc.UserByEmail(ctx, addr); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("UserByEmail: got %v, want NotFound", err)
			}
			if got := e.auditEntries(t, "signin_failed"); len(got) != 1 || got[0].Metadata["reason"] != "expired" {
				t.Errorf("got signin_failed entries %+v, want one with reason expired", got)
			}
		})

		t.Run("unknown tokens are gone", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			for _, token := range []string{"", "nope", strings.Repeat("x", 43), strings.Repeat("y", 4096)} {
				if _, err := e.svc.PeekEmailLink(ctx, token); !apperr.Is(err, apperr.Gone) {
					t.Errorf("Peek(%.10q): got %v, want Gone", token, err)
				}
				if status, _, _ := e.confirm(t, token); status != http.StatusGone {
					t.Errorf("POST %.10q: got status %d, want %d", token, status, http.StatusGone)
				}
			}
			got := e.auditEntries(t, "signin_failed")
			if len(got) != 4 {
				t.Fatalf("got %d signin_failed entries, want 4", len(got))
			}
			for _, x := range got {
				if x.Metadata["reason"] != "unknown" {
					t.Errorf("got reason %v, want unknown", x.Metadata["reason"])
				}
			}
		})

		t.Run("sixth request within 15 minutes sends no mail", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			const addr = "eager@example.net"
			for i := 1; i <= 5; i++ {
				e.requestLink(t, addr, "", i)
				e.clock.advance(time.Minute)
			}
			// Same answer as when mail goes out, so nobody learns they were throttled.
			if got := e.request(t, addr, ""); got != http.StatusAccepted {
				t.Fatalf("sixth POST /request: got status %d, want %d", got, http.StatusAccepted)
			}
			// Send is synchronous: had a sixth mail gone out, the sink would hold it now.
			if got := sink.count(addr); got != 5 {
				t.Errorf("got %d mails, want 5", got)
			}
			if got := linksFor(t, db, addr); got != 5 {
				t.Errorf("got %d stored links, want 5", got)
			}
			if got := e.auditEntries(t, "signin_link_throttled"); len(got) != 1 || got[0].Metadata["domain"] != "example.net" {
				t.Errorf("got signin_link_throttled entries %+v, want one with domain example.net", got)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, `"level":"WARN","msg":"sign-in link throttled","domain":"example.net"`) {
				t.Errorf("logs lack a warning naming the domain:\n%s", logs)
			}
			if strings.Contains(logs, addr) {
				t.Errorf("logs contain the address:\n%s", logs)
			}
			// Once the first links leave the window, mail flows again.
			e.clock.advance(10*time.Minute + time.Second)
			e.requestLink(t, addr, "", 6)
		})

		t.Run("next path is kept only when same-origin", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			tests := []struct {
				next, want, stored string
			}{
				{"/ideas", "/ideas", "/ideas"},
				{"/ideas/42?tab=notes", "/ideas/42?tab=notes", "/ideas/42?tab=notes"},
				{"https://evil.example", "/home", ""},
				{"//evil.example", "/home", ""},
				{"/\\evil.example", "/home", ""},
				{"", "/home", ""},
			}
			for i, tt := range tests {
				t.Run(fmt.Sprintf("%q", tt.next), func(t *testing.T) {
					addr := fmt.Sprintf("next%d@example.org", i)
					link := e.requestLink(t, addr, tt.next, 1)
					var stored string
					if err := db.QueryRow(ctx, "SELECT next FROM login_tokens WHERE email = ?", addr).Scan(&stored); err != nil {
						t.Fatal(err)
					}
					if stored != tt.stored {
						t.Errorf("got stored next %q, want %q", stored, tt.stored)
					}
					e.signIn(t, tokenOf(t, link), tt.want)
				})
			}
		})

		t.Run("concurrent POSTs of one token: exactly one signs in", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			const addr = "racer@example.org"
			const rounds = 3
			for round := 1; round <= rounds; round++ {
				token := tokenOf(t, e.requestLink(t, addr, "", round))
				start := make(chan struct{})
				statuses := make(chan int, 2)
				var wg sync.WaitGroup
				form := url.Values{"token": {token}}.Encode()
				for range 2 {
					wg.Go(func() {
						<-start
						// No t.Fatal off the test goroutine: a failed request reports status 0.
						resp, err := e.client.Post(e.srv.URL+auth.EmailConfirmPath, "application/x-www-form-urlencoded", strings.NewReader(form))
						if err != nil {
							t.Errorf("POST confirm: %v", err)
							statuses <- 0
							return
						}
						resp.Body.Close()
						statuses <- resp.StatusCode
					})
				}
				close(start)
				wg.Wait()
				close(statuses)
				var got []int
				for s := range statuses {
					got = append(got, s)
				}
				slices.Sort(got)
				if want := []int{http.StatusSeeOther, http.StatusGone}; !slices.Equal(got, want) {
					t.Errorf("round %d: got statuses %v, want %v", round, got, want)
				}
			}
			u, err := e.svc.UserByEmail(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			if sessions, err := e.svc.Sessions(ctx, u.ID); err != nil || len(sessions) != rounds {
				t.Errorf("got %d sessions (%v), want %d", len(sessions), err, rounds)
			}
		})

		t.Run("mail failure is unavailable and leaves no link", func(t *testing.T) {
			t.Parallel()
			dead := startMailSink(t)
			deadSender := dead.sender(t)
			dead.close()
			e := newLinkEnv(t, db, dead, deadSender)
			const addr = "unlucky@example.org"
			err := e.svc.RequestEmailLink(ctx, nil, addr, "/ideas")
			if ae := wantKind(t, err, apperr.Unavailable); ae.Message != "We couldn't send the email just now; try again in a minute." {
				t.Errorf("got message %q", ae.Message)
			}
			if got := e.request(t, addr, ""); got != http.StatusServiceUnavailable {
				t.Errorf("POST /request: got status %d, want %d", got, http.StatusServiceUnavailable)
			}
			if got := linksFor(t, db, addr); got != 0 {
				t.Errorf("got %d login_tokens rows, want 0", got)
			}
			if _, err := e.svc.UserByEmail(ctx, addr); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("UserByEmail: got %v, want NotFound", err)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, `"msg":"send sign-in link","domain":"example.org"`) || strings.Contains(logs, addr) {
				t.Errorf("want the failure logged with the domain only; logs:\n%s", logs)
			}
		})
	})
}

func TestLoginLink(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		sink := startMailSink(t)
		sender := sink.sender(t)
		ctx := context.Background()

		t.Run("admin link signs in and sets the role", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			const addr = "boss@example.org"
			link, err := e.svc.LoginLink(ctx, " Boss@Example.org", auth.RoleAdmin)
			if err != nil {
				t.Fatalf("LoginLink: %v", err)
			}
			if !strings.HasPrefix(link, e.srv.URL+auth.EmailConfirmPath+"?token=") {
				t.Fatalf("got link %q, want it under %s", link, e.srv.URL+auth.EmailConfirmPath)
			}
			if got := sink.count(addr); got != 0 {
				t.Errorf("got %d mails, want none", got)
			}
			before, err := e.svc.UserByEmail(ctx, addr)
			if err != nil || before.Role != auth.RoleAdmin {
				t.Fatalf("UserByEmail: got %+v, %v; want an admin", before, err)
			}
			var issued []audit.Entry
			for _, x := range e.auditEntriesBy(t, "login_link_issued", "cli") {
				if x.ResourceID == before.ID {
					issued = append(issued, x)
				}
			}
			if len(issued) != 1 || issued[0].Metadata["role"] != auth.RoleAdmin {
				t.Errorf("got login_link_issued entries %+v, want one by cli for %s with role admin", issued, before.ID)
			}
			// Valid for an hour, not the 15 minutes of a mailed link.
			e.clock.advance(59 * time.Minute)
			if status, body := e.open(t, link); status != http.StatusOK || !strings.Contains(body, addr) {
				t.Fatalf("GET after 59 minutes: got %d %q, want 200 naming %s", status, body, addr)
			}
			u := e.signIn(t, tokenOf(t, link), "/home")
			if u.ID != before.ID || !u.IsAdmin() || u.EmailVerifiedAt == nil {
				t.Errorf("got user %s role %q verified %t, want %s, admin, verified", u.ID, u.Role, u.EmailVerifiedAt != nil, before.ID)
			}
			if status, _, _ := e.confirm(t, tokenOf(t, link)); status != http.StatusGone {
				t.Errorf("second POST: got status %d, want %d", status, http.StatusGone)
			}
		})

		t.Run("role kept when not given, promoted when asked", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			const addr = "member@example.org"
			link, err := e.svc.LoginLink(ctx, addr, "")
			if err != nil {
				t.Fatal(err)
			}
			if u := e.signIn(t, tokenOf(t, link), "/home"); u.Role != auth.RoleUser {
				t.Errorf("got role %q, want user", u.Role)
			}
			if link, err = e.svc.LoginLink(ctx, addr, auth.RoleAdmin); err != nil {
				t.Fatal(err)
			}
			if link, err = e.svc.LoginLink(ctx, addr, ""); err != nil {
				t.Fatal(err)
			}
			if u := e.signIn(t, tokenOf(t, link), "/home"); u.Role != auth.RoleAdmin {
				t.Errorf("got role %q, want admin kept", u.Role)
			}
		})

		t.Run("expires after an hour", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			link, err := e.svc.LoginLink(ctx, "slow@example.org", "")
			if err != nil {
				t.Fatal(err)
			}
			e.clock.advance(time.Hour + time.Second)
			if status, _, _ := e.confirm(t, tokenOf(t, link)); status != http.StatusGone {
				t.Errorf("POST after an hour: got status %d, want %d", status, http.StatusGone)
			}
		})

		t.Run("bad input is invalid", func(t *testing.T) {
			t.Parallel()
			e := newLinkEnv(t, db, sink, sender)
			if _, err := e.svc.LoginLink(ctx, "not an address", ""); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("bad address: got %v, want Invalid", err)
			}
			if _, err := e.svc.LoginLink(ctx, "root@example.org", "root"); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("bad role: got %v, want Invalid", err)
			}
			if _, err := e.svc.UserByEmail(ctx, "root@example.org"); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("a bad role created the user: %v", err)
			}
		})
	})
}

// auditEntriesBy returns the audit entries with action by actor (for
// actions taken without a request, such as the CLI's).
func (e *linkEnv) auditEntriesBy(t *testing.T, action, actor string) []audit.Entry {
	t.Helper()
	got, err := e.audit.List(context.Background(), audit.Filter{Action: action, ActorID: actor, Limit: audit.MaxLimit})
	if err != nil {
		t.Fatalf("list audit log: %v", err)
	}
	return got
}
