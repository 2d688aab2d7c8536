package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"
)

func TestParseServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want serverConfig
	}{
		{"smtp://user:pass@smtp.example.com:587",
			serverConfig{host: "smtp.example.com", port: 587, user: "user", pass: "pass", policy: gomail.TLSMandatory}},
		{"smtp://smtp.example.com",
			serverConfig{host: "smtp.example.com", port: 587, policy: gomail.TLSMandatory}},
		{"smtp://us%40er:p%40ss%2Fw%3Ard%23@smtp.example.com:2525/",
			serverConfig{host: "smtp.example.com", port: 2525, user: "us@er", pass: "p@ss/w:rd#", policy: gomail.TLSMandatory}},
		{"SMTPS://user:pass@smtp.example.com",
			serverConfig{host: "smtp.example.com", port: 465, user: "user", pass: "pass", implicitTLS: true, policy: gomail.TLSMandatory}},
		{"smtps://smtp.example.com:2465",
			serverConfig{host: "smtp.example.com", port: 2465, implicitTLS: true, policy: gomail.TLSMandatory}},
		{"smtp://localhost:1025",
			serverConfig{host: "localhost", port: 1025, policy: gomail.TLSOpportunistic}},
		{"smtp://127.0.0.1:25",
			serverConfig{host: "127.0.0.1", port: 25, policy: gomail.TLSOpportunistic}},
		{"smtp://[::1]:25",
			serverConfig{host: "::1", port: 25, policy: gomail.TLSOpportunistic}},
		{"smtp://localhost?tls=mandatory",
			serverConfig{host: "localhost", port: 587, policy: gomail.TLSMandatory}},
		{"smtp://relay.internal:25?tls=opportunistic",
			serverConfig{host: "relay.internal", port: 25, policy: gomail.TLSOpportunistic}},
		{"smtp://mailhog:1025?tls=NONE",
			serverConfig{host: "mailhog", port: 1025, policy: gomail.NoTLS}},
		{"smtp://user@smtp.example.com",
			serverConfig{host: "smtp.example.com", port: 587, user: "user", policy: gomail.TLSMandatory}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseServer(tt.in)
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cretPW"
	tests := []struct {
		name, server, from string
		want               string // in the error, besides the setting's name
	}{
		{"unknown scheme", "http://u:" + secret + "@host", "", "scheme"},
		{"no host", "smtp://u:" + secret + "@", "", "no host"},
		{"slash in password", "smtp://u:" + secret + "/x@host", "", "percent-encode"},
		{"space in password", "smtp://u:" + secret + " x@host", "", "not a valid URL"},
		{"port out of range", "smtp://u:" + secret + "@host:70000", "", "port"},
		{"path", "smtp://u:" + secret + "@host/inbox", "", "path"},
		{"unknown option", "smtp://u:" + secret + "@host?pool=true", "", "pool"},
		{"bad tls option", "smtp://u:" + secret + "@host?tls=maybe", "", "tls=mandatory"},
		{"tls option on smtps", "smtps://u:" + secret + "@host?tls=none", "", "smtps"},
		{"opaque", "smtp:u:" + secret + "@host", "", "no host"},
		{"bad from", "stream", "Coda hello@", "EMAIL_FROM"},
		{"two froms", "smtp://u:" + secret + "@host", "a@example.com, b@example.com", "EMAIL_FROM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(tt.server, tt.from, nil)
			if err == nil {
				t.Fatalf("got sender %T, want an error", s)
			}
			msg := err.Error()
			setting := "EMAIL_SERVER"
			if tt.from != "" {
				setting = "EMAIL_FROM"
			}
			if !strings.Contains(msg, setting) || !strings.Contains(msg, tt.want) {
				t.Errorf("got %q, want it to name %s and say %q", msg, setting, tt.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("got %q, want no password in it", msg)
			}
		})
	}
	t.Run("forms listed", func(t *testing.T) {
		t.Parallel()
		_, err := New("mailgun", "", nil)
		for _, want := range []string{"EMAIL_SERVER", "smtp://", "smtps://", "stream"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want it to mention %s", err, want)
			}
		}
	})
}

func TestNewPicksSender(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		server, from string
		want         string
		wantFrom     string
	}{
		{"", "", "*mail.streamSender", "<no-reply@localhost>"},
		{"stream", "Coda <hello@example.com>", "*mail.streamSender", `"Coda" <hello@example.com>`},
		{" Stream ", "hello@example.com", "*mail.streamSender", "<hello@example.com>"},
		{"smtp://u:p@smtp.example.com", "", "*mail.smtpSender", "<no-reply@localhost>"},
		{"smtps://smtp.example.com", "Voyager <hi@example.com>", "*mail.smtpSender", `"Voyager" <hi@example.com>`},
	} {
		t.Run(tt.server, func(t *testing.T) {
			t.Parallel()
			s, err := New(tt.server, tt.from, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := fmt.Sprintf("%T", s); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			var from string
			switch s := s.(type) {
			case *streamSender:
				from = s.from.String()
			case *smtpSender:
				from = s.from.String()
			}
			if from != tt.wantFrom {
				t.Errorf("got From %s, want %s", from, tt.wantFrom)
			}
		})
	}
}

func TestStreamSenderLogsTheLink(t *testing.T) {
	t.Parallel()
	logger, logs := testLogger()
	s, err := New("stream", testFrom, logger)
	if err != nil {
		t.Fatal(err)
	}
	m := signInMessage()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d log records, want 1:\n%s", len(lines), logs.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"level":   "INFO",
		"to":      `"Ada Lovelace" <ada@example.org>`,
		"from":    `"Coda" <hello@example.com>`,
		"subject": m.Subject,
		"text":    m.Text,
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("got %s %q, want %q", k, rec[k], v)
		}
	}
	if !strings.Contains(rec["text"].(string), testLink) {
		t.Errorf("got text %q, want the link %s in it", rec["text"], testLink)
	}
}

func TestInvalidMessages(t *testing.T) {
	t.Parallel()
	streamer, err := New("stream", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	senders := map[string]Sender{"stream": streamer, "recorder": &Recorder{}}
	tests := []struct {
		name string
		edit func(*Message)
	}{
		{"no recipient", func(m *Message) { m.To = "" }},
		{"two recipients", func(m *Message) { m.To = "a@example.org, b@example.org" }},
		{"header in To", func(m *Message) { m.To = "ada@example.org\r\nBcc: evil@example.net" }},
		{"no text", func(m *Message) { m.Text = " \n" }},
		{"no subject", func(m *Message) { m.Subject = "\r\n" }},
	}
	for name, s := range senders {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				m := signInMessage()
				tt.edit(&m)
				if err := s.Send(t.Context(), m); err == nil {
					t.Errorf("got no error for %+v, want one", m)
				}
			})
		}
	}
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	t.Run("wait for concurrent sends", func(t *testing.T) {
		t.Parallel()
		var r Recorder
		const n = 20
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()

		type result struct {
			msgs []Message
			err  error
		}
		waited := make(chan result, 1)
		go func() {
			msgs, err := r.Wait(ctx, n)
			waited <- result{msgs, err}
		}()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				m := signInMessage()
				m.Subject = fmt.Sprintf("message %d", i)
				if err := r.Send(ctx, m); err != nil {
					t.Errorf("Send: %v", err)
				}
			})
		}
		wg.Wait()
		res := <-waited
		if res.err != nil {
			t.Fatalf("Wait: %v", res.err)
		}
		if len(res.msgs) != n {
			t.Errorf("got %d messages, want %d", len(res.msgs), n)
		}
		seen := map[string]bool{}
		for _, m := range r.Messages() {
			seen[m.Subject] = true
		}
		if len(seen) != n {
			t.Errorf("got %d distinct messages, want %d", len(seen), n)
		}
	})
	t.Run("wait returns at once when enough", func(t *testing.T) {
		t.Parallel()
		var r Recorder
		if err := r.Send(t.Context(), signInMessage()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // already done: Wait must not need it
		msgs, err := r.Wait(ctx, 1)
		if err != nil || len(msgs) != 1 || msgs[0].Subject != "Sign in to Coda" {
			t.Errorf("got %v, %v, want the one message", msgs, err)
		}
	})
	t.Run("wait gives up with what arrived", func(t *testing.T) {
		t.Parallel()
		var r Recorder
		if err := r.Send(t.Context(), signInMessage()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		msgs, err := r.Wait(ctx, 2)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
		if len(msgs) != 1 {
			t.Errorf("got %d messages, want the 1 that arrived", len(msgs))
		}
	})
	t.Run("messages are a copy", func(t *testing.T) {
		t.Parallel()
		var r Recorder
		if err := r.Send(t.Context(), signInMessage()); err != nil {
			t.Fatal(err)
		}
		r.Messages()[0].Subject = "changed"
		if got := r.Messages()[0].Subject; got != "Sign in to Coda" {
			t.Errorf("got %q, want the recorded subject unchanged", got)
		}
	})
}
