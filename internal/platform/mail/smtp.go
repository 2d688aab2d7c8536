package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// serverConfig is a parsed EMAIL_SERVER URL.
type serverConfig struct {
	host        string
	port        int
	user, pass  string // pass is only used when user is set
	implicitTLS bool   // smtps://
	policy      gomail.TLSPolicy
}

// String is the server's address for errors and logs; it never holds
// credentials.
func (c serverConfig) String() string {
	scheme := "smtp"
	if c.implicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + net.JoinHostPort(c.host, strconv.Itoa(c.port))
}

// isLoopbackName reports whether host names this machine. The list matches
// the one go-mail uses to allow PLAIN and LOGIN without TLS.
func isLoopbackName(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// parseServer parses an smtp:// or smtps:// EMAIL_SERVER. Its errors never
// quote the URL or url.Parse's message, either of which may hold the password.
func parseServer(raw string) (serverConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return serverConfig{}, fmt.Errorf("EMAIL_SERVER is not a valid URL (percent-encode special characters in the user name and password); %s", serverForms)
	}
	var c serverConfig
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		c.port = 587
	case "smtps":
		c.port = 465
		c.implicitTLS = true
	default:
		return serverConfig{}, fmt.Errorf("EMAIL_SERVER scheme %q is not supported; %s", u.Scheme, serverForms)
	}
	c.host = u.Hostname()
	if c.host == "" {
		return serverConfig{}, fmt.Errorf("EMAIL_SERVER has no host; %s", serverForms)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return serverConfig{}, fmt.Errorf("EMAIL_SERVER port %q is not a number from 1 to 65535; %s", p, serverForms)
		}
		c.port = n
	}
	if u.Path != "" && u.Path != "/" {
		return serverConfig{}, fmt.Errorf("EMAIL_SERVER must not have a path (percent-encode a '/' in the password); %s", serverForms)
	}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
	}

	c.policy = gomail.TLSMandatory
	if !c.implicitTLS && isLoopbackName(c.host) {
		c.policy = gomail.TLSOpportunistic
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return serverConfig{}, fmt.Errorf("EMAIL_SERVER has a malformed query; %s", serverForms)
	}
	for key, vals := range q {
		if key != "tls" {
			return serverConfig{}, fmt.Errorf("EMAIL_SERVER option %q is not supported (only tls=mandatory|opportunistic|none, for smtp://)", key)
		}
		if c.implicitTLS {
			return serverConfig{}, errors.New("EMAIL_SERVER option tls applies to smtp:// only: smtps:// is always TLS")
		}
		switch v := strings.ToLower(vals[len(vals)-1]); v {
		case "mandatory":
			c.policy = gomail.TLSMandatory
		case "opportunistic":
			c.policy = gomail.TLSOpportunistic
		case "none":
			c.policy = gomail.NoTLS
		default:
			return serverConfig{}, fmt.Errorf("EMAIL_SERVER option tls=%q is not supported; want tls=mandatory, tls=opportunistic or tls=none", v)
		}
	}
	return c, nil
}

// authMechanisms is the order in which the SMTP sender picks a mechanism the
// server offers. go-mail's own PLAIN and LOGIN refuse to send credentials on
// an unencrypted connection except to localhost.
var authMechanisms = []gomail.SMTPAuthType{
	gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256,
	gomail.SMTPAuthSCRAMSHA1PLUS, gomail.SMTPAuthSCRAMSHA1,
	gomail.SMTPAuthPlain, gomail.SMTPAuthLogin, gomail.SMTPAuthCramMD5,
}

// smtpSender sends through an SMTP server, one connection per message:
// sign-in mail is rare enough that a pool would only add idle connections
// the server drops.
type smtpSender struct {
	cfg     serverConfig
	from    *netmail.Address
	logger  *slog.Logger
	tls     *tls.Config
	timeout time.Duration
}

var _ Sender = (*smtpSender)(nil)

func newSMTPSender(cfg serverConfig, from *netmail.Address, logger *slog.Logger, o options) *smtpSender {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.tlsConfig != nil {
		tc = o.tlsConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	timeout := DefaultTimeout
	if o.timeout > 0 {
		timeout = o.timeout
	}
	return &smtpSender{cfg: cfg, from: from, logger: logger, tls: tc, timeout: timeout}
}

// Send delivers m over a new connection and logs the outcome: the
// recipient's domain, the subject, the duration and whether it worked.
func (s *smtpSender) Send(ctx context.Context, m Message) (err error) {
	start := time.Now()
	domain, subject := domainOf(m.To), m.Subject
	defer func() {
		attrs := []slog.Attr{
			slog.String("to_domain", domain),
			slog.String("subject", subject),
			slog.Duration("duration", time.Since(start)),
			slog.Bool("ok", err == nil),
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
			s.logger.LogAttrs(ctx, slog.LevelWarn, "mail not sent", attrs...)
			return
		}
		s.logger.LogAttrs(ctx, slog.LevelInfo, "mail sent", attrs...)
	}()

	p, err := prepare(m)
	if err != nil {
		return err
	}
	domain, subject = domainOf(p.to.Address), p.subject
	msg, err := s.message(p)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel() // also closes the connection, see dialer
	deadline, _ := ctx.Deadline()
	remaining := time.Until(deadline)
	if ctx.Err() != nil || remaining <= 0 {
		return fmt.Errorf("send mail via %s: %w", s.cfg, context.Cause(ctx))
	}

	client, err := gomail.NewClient(s.cfg.host, s.clientOptions(ctx, remaining)...)
	if err != nil {
		return fmt.Errorf("send mail via %s: configure client: %w", s.cfg, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		// go-mail's per-command deadlines end with ctx's, and may trip a
		// moment before ctx's own timer: call that running out of time too.
		ctxErr := ctx.Err()
		if ctxErr == nil && !time.Now().Before(deadline) {
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil {
			return fmt.Errorf("send mail via %s: %w: %w", s.cfg, ctxErr, err)
		}
		return fmt.Errorf("send mail via %s: %w", s.cfg, err)
	}
	return nil
}

// message builds the go-mail message for p.
func (s *smtpSender) message(p prepared) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from.String()); err != nil {
		return nil, fmt.Errorf("mail: set From: %w", err)
	}
	if err := msg.To(p.to.String()); err != nil {
		return nil, fmt.Errorf("mail: set To: %w", err)
	}
	msg.Subject(p.subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(messageID(s.from.Address))
	msg.SetBodyString(gomail.TypeTextPlain, p.text)
	msg.AddAlternativeString(gomail.TypeTextHTML, p.html)
	return msg, nil
}

// messageID returns a random Message-ID in the sender's domain (not this
// machine's host name, which go-mail would use and which spam filters
// distrust).
func messageID(from string) string {
	domain := domainOf(from)
	if domain == "" {
		domain = "localhost"
	}
	return strings.ToLower(rand.Text()) + "@" + domain
}

// clientOptions configures a go-mail client for one Send bounded by ctx.
func (s *smtpSender) clientOptions(ctx context.Context, timeout time.Duration) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(s.dialer(ctx)),
		gomail.WithoutNoop(),
	}
	if s.cfg.implicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(s.cfg.policy))
	}
	if s.cfg.user != "" {
		opts = append(opts,
			gomail.WithUsername(s.cfg.user),
			gomail.WithPassword(s.cfg.pass),
			gomail.WithOpportunisticSMTPAuth(authMechanisms...),
		)
	}
	return opts
}

// dialer connects (with the TLS handshake first for smtps://) and closes the
// connection when sendCtx ends. go-mail uses its context only for the dial
// and per-command deadlines; closing the connection is what makes a
// cancelled context stop a Send mid-conversation.
//
// Returning the *tls.Conn itself (not a wrapper) matters: go-mail's SMTP
// client recognises it as encrypted, which SCRAM-PLUS, PLAIN and LOGIN rely
// on.
func (s *smtpSender) dialer(sendCtx context.Context) gomail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.cfg.implicitTLS {
			tc := tls.Client(conn, s.tls)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, fmt.Errorf("tls handshake: %w", err)
			}
			conn = tc
		}
		context.AfterFunc(sendCtx, func() { conn.Close() })
		return conn, nil
	}
}
