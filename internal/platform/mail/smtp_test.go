package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger returns a JSON logger at debug level writing to a buffer.
func testLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

const (
	testFrom = "Coda <hello@example.com>"
	testLink = "https://coda.example.com/auth/verify?token=abc123&email=ada%40example.org"
)

func signInMessage() Message {
	return Message{
		To:      "Ada Lovelace <ada@example.org>",
		Subject: "Sign in to Coda",
		Text:    "Sign in to Coda:\n\n" + testLink + "\n\nThe link works once, for 24 hours.",
		HTML:    `<p><a href="` + strings.ReplaceAll(testLink, "&", "&amp;") + `">Sign in to Coda</a></p>`,
	}
}

// received is a delivered message taken apart.
type received struct {
	header     netmail.Header
	subject    string
	text, html string
}

func parseReceived(t *testing.T, data []byte) received {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, data)
	}
	var r received
	r.header = msg.Header
	r.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
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
			r.text = string(b)
		case "text/html":
			r.html = string(b)
		default:
			t.Errorf("got a %s part, want only text/plain and text/html", ct)
		}
	}
	return r
}

// password has characters that must be percent-encoded in a URL.
const password = "p@ss/w:rd#1?S3cret"

func TestSMTPSend(t *testing.T) {
	t.Parallel()
	creds := url.UserPassword("ada", password)
	tests := []struct {
		name     string
		server   serverOptions
		scheme   string
		host     string // URL host instead of the server's IP
		query    string
		user     *url.Userinfo
		trust    bool // give the sender a TLS config trusting the test cert
		msg      func(Message) Message
		wantTLS  bool
		wantUser string
	}{
		{name: "plain smtp to localhost with auth", server: serverOptions{user: "ada", pass: password, insecure: true},
			scheme: "smtp", user: creds, wantUser: "ada"},
		{name: "plain smtp without auth", server: serverOptions{}, scheme: "smtp"},
		{name: "STARTTLS mandatory with auth", server: serverOptions{user: "ada", pass: password, startTLS: true},
			scheme: "smtp", query: "tls=mandatory", user: creds, trust: true, wantTLS: true, wantUser: "ada"},
		{name: "STARTTLS to localhost by name", server: serverOptions{startTLS: true},
			scheme: "smtp", host: "localhost", query: "tls=mandatory", trust: true, wantTLS: true},
		{name: "STARTTLS used when offered on loopback", server: serverOptions{user: "ada", pass: password, startTLS: true},
			scheme: "smtp", user: creds, trust: true, wantTLS: true, wantUser: "ada"},
		{name: "tls=none skips offered STARTTLS", server: serverOptions{startTLS: true},
			scheme: "smtp", query: "tls=none"},
		{name: "implicit TLS with auth", server: serverOptions{user: "ada", pass: password, implicitTLS: true},
			scheme: "smtps", user: creds, trust: true, wantTLS: true, wantUser: "ada"},
		{name: "HTML derived from text", server: serverOptions{}, scheme: "smtp",
			msg: func(m Message) Message { m.HTML = ""; m.Text += "\n<b>&"; return m }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.server)
			emailServer := srv.url(tt.scheme, tt.user, tt.query)
			if tt.host != "" {
				emailServer = strings.Replace(emailServer, srv.host, tt.host, 1)
			}
			var o options
			if tt.trust {
				o.tlsConfig = clientTLS(t)
			}
			logger, logs := testLogger()
			s, err := newSender(emailServer, testFrom, logger, o)
			if err != nil {
				t.Fatalf("newSender: %v", err)
			}
			m := signInMessage()
			if tt.msg != nil {
				m = tt.msg(m)
			}
			if err := s.Send(t.Context(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}

			d := srv.next(t)
			if d.tls != tt.wantTLS {
				t.Errorf("got TLS %v, want %v", d.tls, tt.wantTLS)
			}
			if d.user != tt.wantUser {
				t.Errorf("got authenticated user %q, want %q", d.user, tt.wantUser)
			}
			if d.from != "hello@example.com" {
				t.Errorf("got MAIL FROM %q, want hello@example.com", d.from)
			}
			if len(d.to) != 1 || d.to[0] != "ada@example.org" {
				t.Errorf("got RCPT TO %v, want [ada@example.org]", d.to)
			}
			r := parseReceived(t, d.data)
			from, err := r.header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != "Coda" || from[0].Address != "hello@example.com" {
				t.Errorf("got From %v (%v), want Coda <hello@example.com>", from, err)
			}
			to, err := r.header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Name != "Ada Lovelace" || to[0].Address != "ada@example.org" {
				t.Errorf("got To %v (%v), want Ada Lovelace <ada@example.org>", to, err)
			}
			if r.subject != m.Subject {
				t.Errorf("got Subject %q, want %q", r.subject, m.Subject)
			}
			if id := r.header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
				t.Errorf("got Message-ID %q, want <…@example.com>, in the sender's domain", id)
			}
			if _, err := r.header.Date(); err != nil {
				t.Errorf("got Date %q (%v), want a valid date", r.header.Get("Date"), err)
			}
			if strings.TrimRight(r.text, "\r\n") != strings.ReplaceAll(m.Text, "\n", "\r\n") {
				t.Errorf("got text part %q, want %q", r.text, m.Text)
			}
			wantHTML := m.HTML
			if wantHTML == "" {
				wantHTML = "&lt;b&gt;&amp;"
			}
			if !strings.Contains(r.html, wantHTML) {
				t.Errorf("got HTML part %q, want it to contain %q", r.html, wantHTML)
			}

			out := logs.String()
			for _, secret := range []string{"ada@example.org", "token=abc123", password, url.QueryEscape(password)} {
				if strings.Contains(out, secret) {
					t.Errorf("got log %s, want no %q in it", out, secret)
				}
			}
			for _, want := range []string{`"msg":"mail sent"`, `"level":"INFO"`, `"to_domain":"example.org"`, `"subject":"Sign in to Coda"`, `"ok":true`, `"duration":`} {
				if !strings.Contains(out, want) {
					t.Errorf("got log %s, want %s in it", out, want)
				}
			}
		})
	}
}

func TestSMTPWrongPasswordKeepsItSecret(t *testing.T) {
	t.Parallel()
	const wrong = "Wr0ng-hunter2-S3cret"
	for _, tt := range []struct {
		name   string
		server serverOptions
		scheme string
		trust  bool
	}{
		{"plain to localhost", serverOptions{user: "ada", pass: password, insecure: true}, "smtp", false},
		{"STARTTLS", serverOptions{user: "ada", pass: password, startTLS: true}, "smtp", true},
		{"implicit TLS", serverOptions{user: "ada", pass: password, implicitTLS: true}, "smtps", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.server)
			var o options
			if tt.trust {
				o.tlsConfig = clientTLS(t)
			}
			logger, logs := testLogger()
			s, err := newSender(srv.url(tt.scheme, url.UserPassword("ada", wrong), ""), testFrom, logger, o)
			if err != nil {
				t.Fatalf("newSender: %v", err)
			}
			err = s.Send(t.Context(), signInMessage())
			if err == nil {
				t.Fatal("got no error, want an authentication failure")
			}
			if !strings.Contains(err.Error(), "AUTH") {
				t.Errorf("got %q, want an error about SMTP AUTH", err)
			}
			select {
			case u := <-srv.authTried:
				if u != "ada" {
					t.Errorf("got AUTH as %q, want ada", u)
				}
			default:
				t.Error("got no AUTH attempt, want one")
			}
			srv.none(t)
			plain := base64.StdEncoding.EncodeToString([]byte("\x00ada\x00" + wrong))
			for _, where := range []struct{ name, text string }{{"error", err.Error()}, {"log", logs.String()}} {
				for _, secret := range []string{wrong, plain, url.QueryEscape(wrong)} {
					if strings.Contains(where.text, secret) {
						t.Errorf("got %s %q, want no %q in it", where.name, where.text, secret)
					}
				}
			}
			if !strings.Contains(logs.String(), `"ok":false`) {
				t.Errorf("got log %s, want a record with ok=false", logs.String())
			}
		})
	}
}

func TestSMTPClosedPortFailsFast(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	s, err := New("smtp://ada:"+url.QueryEscape(password)+"@127.0.0.1:"+port, testFrom, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	start := time.Now()
	err = s.Send(t.Context(), signInMessage())
	if err == nil {
		t.Fatal("got no error, want connection refused")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("got failure after %v, want it at once", elapsed)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("got %v, want connection refused", err)
	}
	if want := "smtp://127.0.0.1:" + port; !strings.Contains(err.Error(), want) {
		t.Errorf("got %q, want it to name %s", err, want)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), url.QueryEscape(password)) {
		t.Errorf("got %q, want no password in it", err)
	}
}

func TestSMTPGivesUpOnSilentServer(t *testing.T) {
	t.Parallel()
	t.Run("context deadline", func(t *testing.T) {
		t.Parallel()
		addr, _ := silentListener(t)
		s, err := New("smtp://"+addr, testFrom, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = s.Send(ctx, signInMessage())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("got failure after %v, want it near 200ms", elapsed)
		}
	})
	t.Run("sender timeout", func(t *testing.T) {
		t.Parallel()
		addr, _ := silentListener(t)
		s, err := newSender("smtp://"+addr, testFrom, nil, options{timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = s.Send(t.Context(), signInMessage())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("got failure after %v, want it near 200ms", elapsed)
		}
	})
	t.Run("cancel mid-conversation", func(t *testing.T) {
		t.Parallel()
		addr, accepted := silentListener(t)
		s, err := New("smtp://"+addr, testFrom, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-accepted // connected, waiting for the greeting
			cancel()
		}()
		start := time.Now()
		err = s.Send(ctx, signInMessage())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("got failure after %v, want it on cancel", elapsed)
		}
	})
}

func TestSMTPRefusesWeakTLS(t *testing.T) {
	t.Parallel()
	t.Run("mandatory STARTTLS not offered", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, serverOptions{})
		s, err := New(srv.url("smtp", nil, "tls=mandatory"), testFrom, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(t.Context(), signInMessage())
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("got %v, want an error about STARTTLS", err)
		}
		srv.none(t)
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, serverOptions{startTLS: true})
		s, err := New(srv.url("smtp", nil, "tls=mandatory"), testFrom, nil) // system roots
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(t.Context(), signInMessage())
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("got %v, want a certificate verification error", err)
		}
		srv.none(t)
	})
	t.Run("no plaintext credentials off localhost", func(t *testing.T) {
		t.Parallel()
		// 127.0.0.2 is loopback on Linux but not one of the names go-mail
		// trusts with PLAIN over an unencrypted connection.
		if l, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
			t.Skipf("cannot listen on 127.0.0.2: %v", err)
		} else {
			l.Close()
		}
		srv := startServer(t, serverOptions{host: "127.0.0.2", user: "ada", pass: password, insecure: true})
		s, err := New(srv.url("smtp", url.UserPassword("ada", password), "tls=none"), testFrom, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(t.Context(), signInMessage())
		if err == nil {
			t.Fatal("got no error, want credentials withheld on an unencrypted connection")
		}
		select {
		case u := <-srv.authTried:
			t.Errorf("got an AUTH attempt as %q, want none", u)
		default:
		}
		srv.none(t)
	})
}

func TestHeaderInjection(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOptions{})
	s, err := New(srv.url("smtp", nil, ""), testFrom, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("subject", func(t *testing.T) {
		m := signInMessage()
		m.Subject = "Hello\r\nBcc: evil@example.net\r\nX-Injected: yes"
		if err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		d := srv.next(t)
		if len(d.to) != 1 || d.to[0] != "ada@example.org" {
			t.Errorf("got RCPT TO %v, want only ada@example.org", d.to)
		}
		r := parseReceived(t, d.data)
		for _, h := range []string{"Bcc", "X-Injected"} {
			if v, ok := r.header[h]; ok {
				t.Errorf("got header %s: %v, want none", h, v)
			}
		}
		if want := "Hello Bcc: evil@example.net X-Injected: yes"; r.subject != want {
			t.Errorf("got Subject %q, want %q", r.subject, want)
		}
	})
	t.Run("to", func(t *testing.T) {
		m := signInMessage()
		m.To = "ada@example.org\r\nBcc: evil@example.net"
		if err := s.Send(t.Context(), m); err == nil {
			t.Error("got no error, want the address refused")
		}
		srv.none(t)
	})
}

func TestSTARTTLSConfigIsNotShared(t *testing.T) {
	t.Parallel()
	// The sender clones the caller's config and fills in ServerName; the
	// caller's copy must stay as it was.
	tc := clientTLS(t)
	if _, err := newSender("smtp://mail.example.com", testFrom, nil, options{tlsConfig: tc}); err != nil {
		t.Fatal(err)
	}
	if tc.ServerName != "" {
		t.Errorf("got ServerName %q on the caller's config, want it untouched", tc.ServerName)
	}
}
