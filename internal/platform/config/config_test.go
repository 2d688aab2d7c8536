package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/mail"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(Voyager, env(map[string]string{"DATA_DIR": dir}), Options{EnvFile: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3001 || c.DataDir != dir || !c.MigrateOnStart || c.LogFormat != "json" {
		t.Fatalf("got %+v", c)
	}
	if len(c.AuthSecret) < 32 || c.CronSecret == "" || c.CronSecret == c.AuthSecret {
		t.Fatalf("got secrets %q %q, want distinct generated ones", c.AuthSecret, c.CronSecret)
	}
	again, err := Load(Voyager, env(map[string]string{"DATA_DIR": dir}), Options{EnvFile: filepath.Join(dir, "none")})
	if err != nil || again.AuthSecret != c.AuthSecret {
		t.Fatalf("got %q, want the stored secret %q to be reused", again.AuthSecret, c.AuthSecret)
	}
	fi, err := os.Stat(filepath.Join(dir, "dev-secrets.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v, want mode 0600", fi, err)
	}
	if c.Sources["AUTH_SECRET"] != "generated" || c.Sources["PORT"] != "default" {
		t.Fatalf("got sources %v", c.Sources)
	}
	coda, _ := Load(Coda, env(map[string]string{"DATA_DIR": dir}), Options{EnvFile: filepath.Join(dir, "none")})
	if coda.Port != 3000 || !coda.EnableDevMode || coda.DevModeJWTSecret == "" {
		t.Fatalf("coda got %+v", coda)
	}
}

func TestAliases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(Coda, env(map[string]string{
		"DATA_DIR": dir, "NEXTAUTH_URL": "https://ideas.example.com", "NEXTAUTH_SECRET": strings.Repeat("s", 40),
		"NEXT_PUBLIC_DEVMODE_RELAY_URL": "wss://relay.example.com", "NEXT_PUBLIC_ENABLE_DEVMODE": "false",
	}), Options{EnvFile: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://ideas.example.com" || c.AuthSecret != strings.Repeat("s", 40) || c.DevModeRelayURL != "wss://relay.example.com" || c.EnableDevMode {
		t.Fatalf("aliases not read: %+v", c)
	}
}

func TestProblemsReportedAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Load(Voyager, env(map[string]string{
		"DATA_DIR": dir, "PORT": "99999", "DATABASE_URL": "mysql://x", "REDIS_URL": "http://nope",
		"LOG_LEVEL": "loud", "SHUTDOWN_TIMEOUT": "soon", "PUBLIC_URL": "ideas.example.com",
		"EMAIL_SERVER": "sendgrid", "GOOGLE_CLIENT_ID": "x",
	}), Options{EnvFile: filepath.Join(dir, "none")})
	p, ok := err.(Problems)
	if !ok {
		t.Fatalf("got %v, want Problems", err)
	}
	for _, name := range []string{"PORT", "DATABASE_URL", "REDIS_URL", "LOG_LEVEL", "SHUTDOWN_TIMEOUT", "PUBLIC_URL", "EMAIL_SERVER", "GOOGLE_CLIENT_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("problems %v do not name %s", p, name)
		}
	}
	if len(p) < 8 {
		t.Errorf("got %d problems, want at least 8: %v", len(p), p)
	}
}

func TestProductionRefusesMissingSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Load(Coda, env(map[string]string{"APP_ENV": "production", "DATA_DIR": dir}), Options{})
	if err == nil {
		t.Fatal("got nil, want production to refuse")
	}
	for _, name := range []string{"AUTH_SECRET", "PUBLIC_URL", "CRON_SECRET", "EMAIL_SERVER", "DEVMODE_JWT_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want it to name %s", err, name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dev-secrets.json")); err == nil {
		t.Error("production generated development secrets")
	}
}

func TestEnvFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, ".env")
	if err := os.WriteFile(f, []byte("PORT=4000\nLOG_LEVEL=debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Coda, env(map[string]string{"DATA_DIR": dir, "LOG_LEVEL": "warn"}), Options{EnvFile: f})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 4000 || c.LogLevel != "warn" || c.Sources["PORT"] != ".env" {
		t.Fatalf("got port %d level %s sources %v; want .env port and env winning for level", c.Port, c.LogLevel, c.Sources)
	}
}

func TestEffectiveMasksSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(Voyager, env(map[string]string{"DATA_DIR": dir, "ANTHROPIC_API_KEY": "sk-ant-verysecretvalue", "DATABASE_URL": "postgres://u:pw123@h/db"}), Options{EnvFile: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, s := range c.Effective() {
		all.WriteString(s.Name + "=" + s.Value + "\n")
	}
	for _, leak := range []string{"verysecretvalue", "pw123", c.AuthSecret} {
		if strings.Contains(all.String(), leak) {
			t.Errorf("effective settings leak %q:\n%s", leak, all.String())
		}
	}
}

func TestEnvExampleUpToDate(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../.env.example")
	if err != nil {
		t.Fatalf("read .env.example: %v", err)
	}
	if string(b) != EnvExample() {
		t.Fatal(".env.example is stale: run go run ./tools/envexample")
	}
	for _, v := range Vars {
		if !strings.Contains(string(b), v.Name+"=") {
			t.Errorf(".env.example lacks %s", v.Name)
		}
	}
}

func TestProductLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		p    Product
		name string
		raw  string
		ok   bool
	}{
		{Coda, "UNDO_WINDOW", "", true},
		{Coda, "UNDO_WINDOW", "30s", true},
		{Coda, "UNDO_WINDOW", "0", false},
		{Coda, "UNDO_WINDOW", "9999h", false},
		{Coda, "UNDO_WINDOW", "soon", false},
		{Voyager, "CHAT_HISTORY_LIMIT", "", true},
		{Voyager, "CHAT_HISTORY_LIMIT", "50", true},
		{Voyager, "CHAT_HISTORY_LIMIT", "0", false},
		{Voyager, "CHAT_HISTORY_LIMIT", "many", false},
	} {
		c, err := Load(tc.p, env(map[string]string{"DATA_DIR": dir, tc.name: tc.raw}), Options{EnvFile: filepath.Join(dir, "none"), NoGenerate: true})
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.name)) {
			t.Errorf("%s=%q: got %v, want ok=%v", tc.name, tc.raw, err, tc.ok)
		}
		if tc.raw == "" && (c.UndoWindow != 10*time.Minute && tc.p == Coda || c.ChatHistoryLimit != 20 && tc.p == Voyager) {
			t.Errorf("%s default: got %v / %d", tc.name, c.UndoWindow, c.ChatHistoryLimit)
		}
	}
}

func TestTLSSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(Voyager, env(map[string]string{"DATA_DIR": dir}), Options{EnvFile: filepath.Join(dir, "none")})
	if err != nil || c.TLS != "off" || c.HTTPSPort != 443 || c.HTTPPort != 80 || !strings.Contains(c.ACMECA, "letsencrypt.org") {
		t.Fatalf("defaults: got TLS=%q %d %d %q, %v", c.TLS, c.HTTPSPort, c.HTTPPort, c.ACMECA, err)
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"bad mode":          {map[string]string{"TLS": "on"}, []string{"TLS", "off or auto"}},
		"http public url":   {map[string]string{"TLS": "auto", "PUBLIC_URL": "http://voyager.example.com"}, []string{"PUBLIC_URL", "https://"}},
		"missing root file": {map[string]string{"TLS": "auto", "PUBLIC_URL": "https://v.example.com", "ACME_CA_ROOT": filepath.Join(dir, "nope.pem")}, []string{"ACME_CA_ROOT", "nope.pem"}},
		"same ports":        {map[string]string{"TLS": "auto", "PUBLIC_URL": "https://v.example.com", "HTTPS_PORT": "8443", "HTTP_PORT": "8443"}, []string{"HTTPS_PORT and HTTP_PORT"}},
		"bad port":          {map[string]string{"HTTPS_PORT": "70000"}, []string{"HTTPS_PORT", "port number"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := map[string]string{"DATA_DIR": dir}
			for k, v := range tc.env {
				e[k] = v
			}
			_, err := Load(Voyager, env(e), Options{EnvFile: filepath.Join(dir, "none")})
			if err == nil {
				t.Fatal("got no problem")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

// TestEmailServerSameRulesAsServe: config check refuses exactly the
// EMAIL_SERVER values the mail sender (what serve builds) refuses, with
// the sender's own reason.
func TestEmailServerSameRulesAsServe(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"stream", "STREAM", "smtp://u:p@mail.example.com:587", "smtps://mail.example.com", "smtp://127.0.0.1:2525?tls=none",
		"smtp://mail.example.com?tls=opportunistic", "smtp://mail.example.com?tls=mandatory",
		"smtp://mail.example.com?tls=bogus", "smtps://mail.example.com?tls=none", "smtp://mail.example.com?pool=2",
		"smtp://mail.example.com:99999", "smtp://mail.example.com/path", "sendgrid", "http://mail.example.com", "smtp://",
	} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, err := Load(Coda, env(map[string]string{"DATA_DIR": dir, "EMAIL_SERVER": v}), Options{EnvFile: filepath.Join(dir, "none")})
			_, serveErr := mail.New(v, "", nil)
			if (serveErr == nil) != (err == nil) {
				t.Fatalf("config: %v; serve's sender: %v; want both to agree", err, serveErr)
			}
			if serveErr != nil && !strings.Contains(err.Error(), "EMAIL_SERVER: "+strings.TrimPrefix(serveErr.Error(), "EMAIL_SERVER ")) {
				t.Fatalf("config: %v; want the sender's reason %q", err, serveErr)
			}
		})
	}
}

func TestBackupSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(Coda, env(map[string]string{"DATA_DIR": dir}), Options{EnvFile: filepath.Join(dir, "none"), NoGenerate: true})
	if err != nil || c.BackupRetention != 7*24*time.Hour || c.BackupKeep != 7 || c.BackupSchedule != "30 2 * * *" || c.SlowQueryMS != 500 || c.BackupSyncInterval != 500*time.Millisecond {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		vars map[string]string
		name string // the variable the problem must name; "" for no problem
	}{
		{map[string]string{"BACKUP_REPLICA_URL": "/var/backups/coda"}, ""},
		{map[string]string{"BACKUP_REPLICA_URL": "file:///var/backups/coda"}, ""},
		{map[string]string{"BACKUP_REPLICA_URL": "s3://bucket/coda?endpoint=https://minio.example.com&region=us-east-1"}, ""},
		{map[string]string{"BACKUP_REPLICA_URL": "ftp://example.com/x"}, "BACKUP_REPLICA_URL"},
		{map[string]string{"BACKUP_REPLICA_URL": "s3:///coda"}, "BACKUP_REPLICA_URL"},
		{map[string]string{"BACKUP_REPLICA_URL": "/var/backups", "DATABASE_URL": "postgres://u:p@db:5432/app"}, "BACKUP_REPLICA_URL"},
		{map[string]string{"BACKUP_SCHEDULE": "daily"}, "BACKUP_SCHEDULE"},
		{map[string]string{"BACKUP_SCHEDULE": "0 3 * * 1"}, ""},
		{map[string]string{"BACKUP_KEEP": "0"}, "BACKUP_KEEP"},
		{map[string]string{"BACKUP_RETENTION": "10m"}, "BACKUP_RETENTION"},
		{map[string]string{"BACKUP_SYNC_INTERVAL": "1ms"}, "BACKUP_SYNC_INTERVAL"},
		{map[string]string{"SLOW_QUERY_MS": "0"}, "SLOW_QUERY_MS"},
	} {
		vars := map[string]string{"DATA_DIR": dir}
		for k, v := range tc.vars {
			vars[k] = v
		}
		_, err := Load(Coda, env(vars), Options{EnvFile: filepath.Join(dir, "none"), NoGenerate: true})
		if (tc.name == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.name)) {
			t.Errorf("%v: got %v, want a problem naming %q", tc.vars, err, tc.name)
		}
	}
}
