package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host, wantAddr string
		ok             bool
	}{
		{"", ":3000", true},
		{"127.0.0.1", "127.0.0.1:3000", true},
		{"::1", "[::1]:3000", true},
		{"[::1]", "[::1]:3000", true},
		{"0.0.0.0", "0.0.0.0:3000", true},
		{"coda.internal", "coda.internal:3000", true},
		{"127.0.0.1:3000", "", false},
		{"http://127.0.0.1", "", false},
		{"bad host", "", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			dir := t.TempDir()
			c, err := Load(Coda, env(map[string]string{"DATA_DIR": dir, "HOST": tc.host}), Options{EnvFile: filepath.Join(dir, "none"), NoGenerate: true})
			if tc.ok {
				if err != nil || c.Addr() != tc.wantAddr {
					t.Fatalf("got %q, %v; want %q", c.Addr(), err, tc.wantAddr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "HOST=") || !strings.Contains(err.Error(), "without a port") {
				t.Fatalf("got %v, want a HOST problem naming the fix", err)
			}
		})
	}
}

func TestRetiredVariablesWarn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, []byte("NEXT_PUBLIC_VERCEL_ANALYTICS_ID=abc123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Coda, env(map[string]string{"DATA_DIR": dir,
		"UPSTASH_REDIS_REST_URL": "https://eu1-x.upstash.io", "UPSTASH_REDIS_REST_TOKEN": "AX_secret_token"}), Options{EnvFile: envFile, NoGenerate: true})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(c.Warnings, "\n")
	if len(c.Warnings) != 3 {
		t.Fatalf("got %d warnings, want 3:\n%s", len(c.Warnings), all)
	}
	for _, want := range []string{
		"UPSTASH_REDIS_REST_URL (set in the environment) is ignored",
		"set REDIS_URL to the database's rediss:// URL",
		"UPSTASH_REDIS_REST_TOKEN",
		"NEXT_PUBLIC_VERCEL_ANALYTICS_ID (set in .env) is ignored",
		"VITALS_ENABLED=true",
	} {
		if !strings.Contains(all, want) {
			t.Fatalf("warnings %q do not say %q", all, want)
		}
	}
	if strings.Contains(all, "AX_secret_token") || strings.Contains(all, "eu1-x") {
		t.Fatalf("warnings repeat the values: %q", all)
	}

	// With REDIS_URL set the advice is to remove the old variable.
	c, err = Load(Coda, env(map[string]string{"DATA_DIR": dir, "REDIS_URL": "rediss://default:pw@eu1-x.upstash.io:6379",
		"UPSTASH_REDIS_REST_URL": "https://eu1-x.upstash.io"}), Options{EnvFile: filepath.Join(dir, "none"), NoGenerate: true})
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "REDIS_URL is set and used") {
		t.Fatalf("got %q, %v", c.Warnings, err)
	}
}
