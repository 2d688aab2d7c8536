package obs

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLoggerRedactsSecrets(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewLogger(&buf, "debug", format)
			l.Info("hello", "password", "hunter2", "api_key", "sk-ant-xyz", "Authorization", "Bearer abc",
				"session_token", "tok123", "cookie", "sid=1", "user", "alice")
			l.WithGroup("req").Info("grouped", "client_secret", "s3cr3t")
			out := buf.String()
			for _, leak := range []string{"hunter2", "sk-ant-xyz", "Bearer abc", "tok123", "sid=1", "s3cr3t"} {
				if strings.Contains(out, leak) {
					t.Errorf("log leaked %q: %s", leak, out)
				}
			}
			if !strings.Contains(out, "alice") {
				t.Errorf("got %s, want the non-secret value alice", out)
			}
			if !strings.Contains(out, Redacted) {
				t.Errorf("got %s, want %s markers", out, Redacted)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := map[string]string{"debug": "DEBUG", "WARN": "WARN", "error": "ERROR", "": "INFO", "bogus": "INFO"}
	for in, want := range tests {
		if got := ParseLevel(in).String(); got != want {
			t.Errorf("ParseLevel(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSensitiveKeysByWord(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"password": true, "session_token": true, "client_secret": true, "clientSecret": true, "STRIPE_SECRET_KEY": true,
		"api_key": true, "apiKey": true, "Authorization": true, "cookie": true, "set-cookie": true, "sentry_dsn": true,
		"private_key": true, "auth.token": true, "refresh_token": true, "jwt": true,
		"first_token_ms": false, "input_tokens": false, "output_tokens": false, "cache_read_tokens": false,
		"token_count": false, "tokens": false, "cache_key": false, "key": false, "user": false, "email": false, "passed": false,
	} {
		if got := Sensitive(key); got != want {
			t.Errorf("Sensitive(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestRedactsSecretShapedValues(t *testing.T) {
	t.Parallel()
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	for _, tc := range []struct{ in, want string }{
		{"ticket " + jwt + " refused", "ticket [REDACTED] refused"},
		{"header Authorization: Bearer abc.def-123 was sent", "header Authorization: Bearer [REDACTED] was sent"},
		{"stripe: invalid key sk_live_51HqLyjWDarjtT1zdp7dc (check it)", "stripe: invalid key [REDACTED] (check it)"},
		{"webhook secret whsec_abcdefgh12345678", "webhook secret [REDACTED]"},
		{"anthropic key sk-ant-api03-abcdefghij", "anthropic key [REDACTED]"},
		{"hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "hash [REDACTED]"},
		{"generated Vq3pZ8mK2xR7tL9wB4nF6hJ1cD5gS0aE=", "generated [REDACTED]"},
		{"link /auth/email/confirm?token=Vq3pZ8mK2xR7tL9wB4nF6hJ1cD5gS0aEyU", "link /auth/email/confirm?token=[REDACTED]"},
		// Ordinary text, IDs and paths stay.
		{"GET /api/c/alpha/conversations/0193b2c4-7d3e-7abc-9def-0123456789ab/messages", ""},
		{"community_access_violation for user 0193b2c4-7d3e-7abc-9def-0123456789ab", ""},
		{"dial tcp 127.0.0.1:5432: connect: connection refused", ""},
		{"the quick brown fox jumps over the lazy dog again and again", ""},
	} {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got := RedactString(tc.in); got != want {
			t.Errorf("RedactString(%q)\n got %q\nwant %q", tc.in, got, want)
		}
	}
	var buf bytes.Buffer
	l := NewLogger(&buf, "info", "json")
	l.Info("call failed", "err", errors.New("401 for Bearer "+jwt), "note", "sent "+jwt, "text", Verbatim("sign in: https://x.example/auth?token=Vq3pZ8mK2xR7tL9wB4nF6hJ1cD5gS0aEyU"))
	out := buf.String()
	if strings.Contains(out, jwt) || !strings.Contains(out, "Vq3pZ8mK2xR7tL9wB4nF6hJ1cD5gS0aEyU") {
		t.Errorf("got %s, want the JWT redacted and the Verbatim link kept", out)
	}
}
