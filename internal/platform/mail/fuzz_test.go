package mail

import (
	"strings"
	"testing"
)

// FuzzEmailServer: any EMAIL_SERVER is accepted or refused without a
// panic; an error names EMAIL_SERVER and never shows the password, and an
// accepted server's printable address holds no credentials.
func FuzzEmailServer(f *testing.F) {
	for _, s := range []string{"smtp://mail.example:587", "smtps://mail.example", "smtp://localhost:2525?tls=none", "smtp://mail.example?tls=bogus", "smtps://h?tls=none", "smtp://h:0", "sendgrid://h", "smtp:///x", "smtp://h/path", "smtp://h?x=1"} {
		f.Add(s, "s3cretpass")
	}
	f.Fuzz(func(t *testing.T, raw, pass string) {
		if len(pass) < 6 || strings.ContainsAny(pass, "@:/?#[]% ") || strings.Contains(raw, pass[:len(pass)/2]) {
			return
		}
		if i := strings.Index(raw, "://"); i >= 0 {
			raw = raw[:i+3] + "user:" + pass + "@" + raw[i+3:]
		}
		c, err := parseServer(raw)
		if err != nil {
			if !strings.Contains(err.Error(), "EMAIL_SERVER") || strings.Contains(err.Error(), pass) {
				t.Fatalf("parseServer(%q): error %q", raw, err)
			}
			return
		}
		if s := c.String(); strings.Contains(s, pass) || strings.Contains(s, "@") {
			t.Fatalf("parseServer(%q): String %q shows credentials", raw, s)
		}
		if c.host == "" || c.port < 1 || c.port > 65535 {
			t.Fatalf("parseServer(%q): accepted %+v", raw, c)
		}
	})
}
