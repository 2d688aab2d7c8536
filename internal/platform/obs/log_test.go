package obs

import (
	"bytes"
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
