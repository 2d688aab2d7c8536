// Package mail sends the products' email, sign-in magic links first.
//
// New turns the EMAIL_SERVER and EMAIL_FROM settings into a Sender: an SMTP
// sender for smtp:// (STARTTLS) and smtps:// (implicit TLS) URLs, or, for
// "stream" (the development default), a sender that writes each message to
// the log instead of sending it. Recorder keeps messages in memory for other
// packages' tests.
//
// Every message goes out as multipart/alternative with a text and an HTML
// part. Credentials never appear in errors or logs, and the SMTP sender logs
// only the recipient's domain, never the full address or the body (which
// holds the sign-in link).
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"
)

// DefaultTimeout bounds one Send when the caller's context has no sooner
// deadline: dial, TLS, authentication and transfer together.
const DefaultTimeout = 15 * time.Second

// defaultFrom is the sender address used when EMAIL_FROM is empty.
const defaultFrom = "no-reply@localhost"

// serverForms lists the accepted EMAIL_SERVER forms for error messages.
const serverForms = "want smtp://user:pass@host:587 (STARTTLS), smtps://user:pass@host:465 (implicit TLS) or stream (write mail to the log)"

// Message is one email to one recipient. Both parts are always sent, as
// multipart/alternative: Text is required (it is what the stream sender logs
// and what plain-text clients show); when HTML is empty it is derived from
// Text.
type Message struct {
	To      string // one address, optionally with a display name: "Ada <ada@example.com>"
	Subject string
	Text    string
	HTML    string
}

// Sender delivers messages. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers m or returns why not. It gives up when ctx is done or
	// after DefaultTimeout, whichever comes first.
	Send(ctx context.Context, m Message) error
}

// options are the knobs tests turn; New uses the zero value.
type options struct {
	// tlsConfig, when set, is used (cloned) for STARTTLS and implicit TLS
	// instead of the system roots, so tests can trust a self-signed server.
	tlsConfig *tls.Config
	// timeout replaces DefaultTimeout when positive.
	timeout time.Duration
}

// New returns the Sender for the EMAIL_SERVER setting emailServer, sending
// as the EMAIL_FROM setting from, and logging through logger (nil discards).
//
// emailServer is one of:
//
//   - "" or "stream": log each message (To, Subject and the full text part,
//     links included) as one info record and send nothing. The development
//     default.
//   - smtp://user:pass@host:587: SMTP with STARTTLS. STARTTLS is mandatory
//     unless host is localhost, 127.0.0.1 or ::1, where it is opportunistic
//     (used if offered) so a local relay or test server without TLS works.
//     ?tls=mandatory, ?tls=opportunistic or ?tls=none overrides that. The
//     port defaults to 587. Port 465 speaks implicit TLS: use smtps:// there.
//   - smtps://user:pass@host:465: SMTP over implicit TLS. The port defaults
//     to 465.
//
// The user name and password are percent-decoded (so '@', '/', '?', '#'
// and '%' in a password must be percent-encoded: %40, %2F, %3F, %23, %25). Without a user name
// there is no authentication; with one the sender picks the best mechanism
// the server offers (SCRAM, then PLAIN, then LOGIN), and sends PLAIN or
// LOGIN credentials only over TLS or to localhost. Server certificates are
// always verified.
//
// from may be empty (no-reply@localhost is used); otherwise it must be one
// RFC 5322 address such as "Coda <hello@example.com>". New does not dial:
// an unreachable server shows up in Send.
func New(emailServer, from string, logger *slog.Logger) (Sender, error) {
	return newSender(emailServer, from, logger, options{})
}

func newSender(emailServer, from string, logger *slog.Logger, o options) (Sender, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sender, err := parseFrom(from)
	if err != nil {
		return nil, err
	}
	emailServer = strings.TrimSpace(emailServer)
	if emailServer == "" || strings.EqualFold(emailServer, "stream") {
		return &streamSender{from: sender, logger: logger}, nil
	}
	cfg, err := parseServer(emailServer)
	if err != nil {
		return nil, err
	}
	return newSMTPSender(cfg, sender, logger, o), nil
}

// CheckServer validates an EMAIL_SERVER setting exactly as New does,
// without building a sender: `config check` and `serve` share it. Errors
// name the variable and the accepted forms, never the password.
func CheckServer(emailServer string) error {
	emailServer = strings.TrimSpace(emailServer)
	if emailServer == "" || strings.EqualFold(emailServer, "stream") {
		return nil
	}
	_, err := parseServer(emailServer)
	return err
}

// CheckFrom validates an EMAIL_FROM setting exactly as New does.
func CheckFrom(from string) error {
	_, err := parseFrom(from)
	return err
}

// parseFrom validates EMAIL_FROM.
func parseFrom(from string) (*netmail.Address, error) {
	from = strings.TrimSpace(from)
	if from == "" {
		from = defaultFrom
	}
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("EMAIL_FROM %q is not a valid address (want e.g. \"Coda <hello@example.com>\"): %w", from, err)
	}
	return a, nil
}

// errNoText is returned for a message without a text part.
var errNoText = errors.New("mail: message has no text part")

// prepared is a validated Message, ready to send.
type prepared struct {
	to      *netmail.Address
	subject string
	text    string
	html    string
}

// prepare validates m the same way for every Sender, so a test using a
// Recorder catches what a real server would refuse. Line breaks in the
// subject become spaces: a subject can never start a new header.
func prepare(m Message) (prepared, error) {
	// ParseAddress refuses CR and LF, so To cannot smuggle in a header either.
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return prepared{}, fmt.Errorf("mail: message To is not one valid address: %w", err)
	}
	if strings.TrimSpace(m.Text) == "" {
		return prepared{}, errNoText
	}
	subject := strings.Join(strings.FieldsFunc(m.Subject, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
	if strings.TrimSpace(subject) == "" {
		return prepared{}, errors.New("mail: message has no subject")
	}
	body := m.HTML
	if strings.TrimSpace(body) == "" {
		body = textToHTML(m.Text)
	}
	return prepared{to: to, subject: subject, text: m.Text, html: body}, nil
}

// textToHTML renders a text part as a minimal HTML part, keeping its line
// breaks.
func textToHTML(text string) string {
	return `<!doctype html><html><body><pre style="font-family:inherit;white-space:pre-wrap">` +
		html.EscapeString(text) + "</pre></body></html>"
}

// domainOf returns the part of an address after the last '@', which is all
// the SMTP sender logs about a recipient.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}
