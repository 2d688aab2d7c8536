package auth

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/mail"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/web"
)

// Email magic links.
//
// A link is a random token whose SHA-256 is kept in login_tokens. Mail
// scanners (Outlook Safe Links, corporate gateways) open every link they
// see, so opening the link must not sign anyone in: the GET shows a page
// (PeekEmailLink, read-only) and only the POST from that page spends the
// token (ConsumeEmailLink, one conditional UPDATE).

const (
	// EmailConfirmPath is the route a link opens: GET shows the
	// confirmation page, POST from it signs in.
	EmailConfirmPath = "/auth/email/confirm"
	// cliLinkMinLifetime is the shortest life of an operator's login link:
	// it is pasted into chat or a ticket, which takes longer than a click.
	cliLinkMinLifetime = time.Hour
	// maxLinkToken bounds what is hashed and looked up; real tokens are 43
	// characters.
	maxLinkToken = 128
	// actorCLI is the audit actor of operator commands.
	actorCLI = "cli"
)

// errLinkUnusable tells ConsumeEmailLink's transaction found no spendable
// row; it never leaves this file.
var errLinkUnusable = errors.New("sign-in link unknown, used or expired")

// linkGone is what every unusable link answers, whichever the reason, so a
// guesser learns nothing.
func linkGone() error {
	return apperr.E(apperr.Gone, "This sign-in link has expired or was already used. Ask for a new one.")
}

func invalidAddress() error {
	return apperr.InvalidFields("That is not an email address.", map[string]string{"email": "enter an address such as name@example.com"})
}

// RequestEmailLink mails a single-use sign-in link to email, landing on
// next (when it is a safe same-origin path) after sign-in.
//
// It answers the same whether or not a user has the address, so addresses
// can't be probed: the user is created only when the link is used. A
// malformed address is Invalid. An address that already got
// maxLinksPerAddress links within linksPerAddressEvery gets no more mail,
// yet the answer is still nil. A mail failure is Unavailable and leaves no
// link behind. r (may be nil) gives the audit log its IP and user agent.
func (s *Service) RequestEmailLink(ctx context.Context, r *http.Request, email, next string) error {
	if s.o.Mail == nil {
		return apperr.E(apperr.NotFound, "Email sign-in is not available.")
	}
	addr, ok := NormalizeEmail(email)
	if !ok {
		return invalidAddress()
	}
	domain := addressDomain(addr)
	now := s.now()
	token := newToken(emailLinkTokenBytes)
	hash := hashToken(token)

	// Count and insert in one transaction: on SQLite the writer lock makes
	// the limit exact; on PostgreSQL two simultaneous requests may both
	// pass, which a mail-volume limit tolerates.
	throttled := false
	err := s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM login_tokens WHERE email = ? AND created_at > ?",
			addr, now.Add(-linksPerAddressEvery)).Scan(&n); err != nil {
			return fmt.Errorf("count links: %w", err)
		}
		if n >= maxLinksPerAddress {
			throttled = true
			return nil
		}
		return s.insertLink(ctx, tx, hash, addr, SafeNext(next, ""), now, now.Add(s.o.LinkLifetime))
	})
	if err != nil {
		return fmt.Errorf("store sign-in link: %w", err)
	}
	if throttled {
		s.log.Warn("sign-in link throttled", "domain", domain, "max", maxLinksPerAddress, "every", linksPerAddressEvery.String())
		s.record(r, "", "signin_link_throttled", "login_link", "", map[string]any{"method": "email", "domain": domain})
		return nil
	}

	msg, err := s.emailLinkMessage(addr, s.EmailLinkURL(token))
	if err == nil {
		err = s.o.Mail.Send(ctx, msg)
	}
	if err != nil {
		// The link was never delivered: remove it, even when the caller has
		// gone away, so nothing usable is left behind.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, derr := s.o.DB.Exec(dctx, "DELETE FROM login_tokens WHERE token_hash = ?", hash); derr != nil {
			s.log.Error("remove undelivered sign-in link", "domain", domain, "err", derr.Error())
		}
		// An SMTP reply can quote the recipient; the log gets the domain only.
		s.log.Error("send sign-in link", "domain", domain, "err", strings.ReplaceAll(err.Error(), addr, "<address>"))
		return apperr.E(apperr.Unavailable, "We couldn't send the email just now; try again in a minute.")
	}
	s.log.Info("sign-in link sent", "domain", domain)
	return nil
}

// EmailLinkURL is the link mailed for token: PUBLIC_URL + EmailConfirmPath
// + "?token=" + token.
func (s *Service) EmailLinkURL(token string) string {
	return strings.TrimRight(s.o.PublicURL, "/") + EmailConfirmPath + "?token=" + url.QueryEscape(token)
}

// PeekEmailLink returns the address a token would sign in, without
// spending it: the confirmation page that the link's GET shows calls it, so
// a mail scanner following the link changes nothing. Unknown, used and
// expired tokens are Gone.
func (s *Service) PeekEmailLink(ctx context.Context, token string) (email string, err error) {
	if token == "" || len(token) > maxLinkToken {
		return "", linkGone()
	}
	err = s.o.DB.QueryRow(ctx, "SELECT email FROM login_tokens WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
		hashToken(token), s.now()).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) {
		return "", linkGone()
	}
	if err != nil {
		return "", fmt.Errorf("look up sign-in link: %w", err)
	}
	return email, nil
}

// ConsumeEmailLink spends token, finds or creates the user of its address
// (marking the address verified; an existing user keeps their role), signs
// them in (setting the session cookie on w) and returns where to go next:
// the link's safe next path, else Options.AfterSignIn.
//
// The token is spent by one conditional UPDATE, so of two concurrent
// requests with the same token exactly one succeeds. Unknown, used and
// expired tokens are Gone and audited as "signin_failed".
func (s *Service) ConsumeEmailLink(w http.ResponseWriter, r *http.Request, token string) (next string, err error) {
	ctx := r.Context()
	if token == "" || len(token) > maxLinkToken {
		s.linkFailed(r, "unknown")
		return "", linkGone()
	}
	hash := hashToken(token)
	now := s.now()
	var email string
	err = s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, "UPDATE login_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?", now, hash, now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != 1 {
			return errLinkUnusable
		}
		return tx.QueryRow(ctx, "SELECT email, next FROM login_tokens WHERE token_hash = ?", hash).Scan(&email, &next)
	})
	if errors.Is(err, errLinkUnusable) {
		s.linkFailed(r, s.linkFailure(ctx, hash, now))
		return "", linkGone()
	}
	if err != nil {
		s.linkFailed(r, "error")
		return "", fmt.Errorf("spend sign-in link: %w", err)
	}
	u, _, err := s.EnsureUser(ctx, NewUser{Email: email, Verified: true})
	if err != nil {
		s.linkFailed(r, "error")
		return "", err
	}
	if _, err := s.SignIn(w, r, u.ID, "email"); err != nil {
		s.linkFailed(r, "error")
		return "", err
	}
	return SafeNext(next, s.o.AfterSignIn), nil
}

// LoginLink is the operator's `admin login-link EMAIL [--role admin]`: it
// finds or creates the user (setting their role when role is not empty)
// and returns a sign-in link valid for at least an hour. Nothing is mailed.
func (s *Service) LoginLink(ctx context.Context, email, role string) (string, error) {
	addr, ok := NormalizeEmail(email)
	if !ok {
		return "", invalidAddress()
	}
	switch role {
	case "", roleUser, roleAdmin:
	default:
		return "", apperr.InvalidFields("That is not a role.", map[string]string{"role": "want " + roleUser + " or " + roleAdmin})
	}
	u, created, err := s.EnsureUser(ctx, NewUser{Email: addr, Role: role})
	if err != nil {
		return "", err
	}
	now := s.now()
	token := newToken(emailLinkTokenBytes)
	life := max(s.o.LinkLifetime, cliLinkMinLifetime)
	if err := s.insertLink(ctx, s.o.DB, hashToken(token), addr, "", now, now.Add(life)); err != nil {
		return "", fmt.Errorf("store login link: %w", err)
	}
	s.record(nil, actorCLI, "login_link_issued", "user", u.ID, map[string]any{"role": u.Role, "created": created, "expires_in": life.String()})
	s.log.Info("login link issued", "user_id", u.ID, "domain", addressDomain(addr), "role", u.Role, "created", created)
	return s.EmailLinkURL(token), nil
}

// linkExecer is a *store.DB or a *store.Tx.
type linkExecer interface {
	Exec(ctx context.Context, q string, a ...any) (sql.Result, error)
}

func (s *Service) insertLink(ctx context.Context, db linkExecer, hash, email, next string, created, expires time.Time) error {
	_, err := db.Exec(ctx, "INSERT INTO login_tokens (token_hash, email, next, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		hash, email, next, created, expires)
	return err
}

// linkFailure says why a token could not be spent, for the audit log only.
func (s *Service) linkFailure(ctx context.Context, hash string, now time.Time) string {
	var used sql.NullTime
	var expires time.Time
	err := s.o.DB.QueryRow(ctx, "SELECT used_at, expires_at FROM login_tokens WHERE token_hash = ?", hash).Scan(&used, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "unknown"
	case err != nil:
		return "error"
	case used.Valid:
		return "used"
	case !expires.After(now):
		return "expired"
	default:
		return "unknown"
	}
}

func (s *Service) linkFailed(r *http.Request, reason string) {
	s.record(r, "", "signin_failed", "login_link", "", map[string]any{"method": "email", "reason": reason})
	s.log.Info("sign-in link refused", "reason", reason)
}

// emailLinkMessage is the sign-in mail. It carries no request details (IP,
// device): whoever typed the address into the form chose them, and an
// attacker could use them to make the mail look trustworthy.
func (s *Service) emailLinkMessage(to, link string) (mail.Message, error) {
	product := s.o.Product
	if product == "" {
		product = "your account"
	}
	d := emailLinkData{Product: product, URL: link, Expires: web.DurationText(s.o.LinkLifetime)}
	var h bytes.Buffer
	if err := emailLinkHTML.Execute(&h, d); err != nil {
		return mail.Message{}, fmt.Errorf("render sign-in mail: %w", err)
	}
	text := "Sign in to " + d.Product + "\n\n" +
		"Open this link to sign in:\n\n" +
		d.URL + "\n\n" +
		"This link expires in " + d.Expires + " and can be used once. If you didn't ask to sign in, ignore this email.\n"
	return mail.Message{To: to, Subject: "Sign in to " + d.Product, Text: text, HTML: h.String()}, nil
}

type emailLinkData struct {
	Product string
	URL     string
	Expires string
}

// emailLinkHTML is the HTML part: inline styles and tables because mail
// clients ignore style sheets; html/template escapes every value.
var emailLinkHTML = template.Must(template.New("emaillink").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Sign in to {{.Product}}</title></head>
<body style="margin:0;padding:24px;background:#f4f4f5;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;color:#18181b">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:480px;background:#ffffff;border-radius:8px"><tr><td style="padding:32px">
<h1 style="margin:0 0 16px;font-size:20px">Sign in to {{.Product}}</h1>
<p style="margin:0 0 24px;font-size:16px;line-height:1.5">Press the button to sign in.</p>
<p style="margin:0 0 24px"><a href="{{.URL}}" style="display:inline-block;padding:12px 24px;background:#18181b;color:#ffffff;border-radius:6px;font-size:16px;font-weight:600;text-decoration:none">Sign in to {{.Product}}</a></p>
<p style="margin:0 0 8px;font-size:14px;color:#52525b">Or paste this link into your browser:</p>
<p style="margin:0 0 24px;font-size:14px;word-break:break-all"><a href="{{.URL}}" style="color:#52525b">{{.URL}}</a></p>
<p style="margin:0;font-size:14px;line-height:1.5;color:#52525b">This link expires in {{.Expires}} and can be used once. If you didn't ask to sign in, ignore this email.</p>
</td></tr></table>
</td></tr></table>
</body>
</html>
`))

// addressDomain is all of an address that logs and audit entries keep.
func addressDomain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}
