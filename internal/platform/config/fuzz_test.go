package config

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzURLSettings: whatever an operator puts in REDIS_URL, DATABASE_URL or
// EMAIL_SERVER, loading never panics, and neither the problems nor the
// settings `config check` prints show the password.
func FuzzURLSettings(f *testing.F) {
	for _, s := range []string{"redis://localhost:6379/0", "rediss://host:6379", "redis://ho st/0", "http://nope", "postgres://h/db?connection_limit=x", "smtp://mail.example:587?tls=bogus", "smtp://mail.example/x", "%zz://"} {
		f.Add(s, "hunter2secret")
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw, pass string) {
		if len(pass) < 6 || strings.ContainsAny(pass, "@:/?#[]% ") {
			return
		}
		// Put the password where a password goes (the user part).
		if strings.Contains(raw, pass[:len(pass)/2]) {
			return
		}
		i := strings.Index(raw, "://")
		if i < 0 {
			return
		}
		raw = raw[:i+3] + "user:" + pass + "@" + raw[i+3:]
		if strings.Count(raw, pass) != 1 || strings.Contains(strings.Replace(raw, pass, "", 1), pass[:len(pass)/2]) {
			return // the password is also part of the host or the path
		}
		for _, name := range []string{"REDIS_URL", "DATABASE_URL", "EMAIL_SERVER"} {
			c, err := Load(Coda, func(k string) string {
				switch k {
				case name:
					return raw
				case "DATA_DIR":
					return dir
				}
				return ""
			}, Options{EnvFile: filepath.Join(dir, "none"), NoGenerate: true})
			if err != nil && strings.Contains(err.Error(), pass) {
				t.Fatalf("%s=%q: a problem shows the password: %v", name, raw, err)
			}
			if c == nil {
				continue
			}
			for _, s := range c.Effective() {
				if strings.Contains(s.Value, pass) || strings.Contains(s.Value, url.QueryEscape(pass)) {
					t.Fatalf("%s=%q: config check shows the password: %s=%s", name, raw, s.Name, s.Value)
				}
			}
		}
	})
}
