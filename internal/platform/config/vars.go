package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Var describes one environment variable.
type Var struct {
	Name     string
	Aliases  []string // older names also read (the hosted stack's)
	Group    string   // heading in .env.example
	Doc      string
	Default  string // "PORT" is per product, see defaultFor
	Secret   bool
	Products []Product // empty: both
	Example  string    // shown in .env.example when there is no default
	kind     kind
	field    func(*Config) any
}

type kind int

const (
	kString kind = iota
	kInt
	kBool
	kDuration
	kBytes
	kPrefixes
)

func (v Var) appliesTo(p Product) bool {
	if len(v.Products) == 0 {
		return true
	}
	for _, x := range v.Products {
		if x == p {
			return true
		}
	}
	return false
}

func (v Var) defaultFor(p Product) string {
	if v.Name == "PORT" {
		if p == Voyager {
			return "3001"
		}
		return "3000"
	}
	return v.Default
}

func (v Var) set(c *Config, raw string) error {
	switch f := v.field(c).(type) {
	case *string:
		*f = raw
	case *int:
		if raw == "" {
			return nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("must be a whole number")
		}
		if v.Name == "PORT" && (n < 0 || n > 65535) {
			return fmt.Errorf("must be a port number between 1 and 65535 (0 picks a free one)")
		}
		*f = n
	case *bool:
		if raw == "" {
			return nil
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		*f = b
	case *time.Duration:
		if raw == "" {
			return nil
		}
		d, err := time.ParseDuration(raw)
		if err != nil {
			if n, err2 := strconv.Atoi(raw); err2 == nil {
				d = time.Duration(n) * time.Second
			} else {
				return fmt.Errorf("must be a duration such as 30s or 2m")
			}
		}
		if d < 0 {
			return fmt.Errorf("must not be negative")
		}
		*f = d
	case *int64:
		if raw == "" {
			return nil
		}
		n, err := parseBytes(raw)
		if err != nil {
			return err
		}
		*f = n
	case *float64:
		if raw == "" {
			return nil
		}
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil || x < 0 {
			return fmt.Errorf("must be a number of at least 0 (0 turns rate limits off)")
		}
		*f = x
	case *[]netip.Prefix:
		*f = nil
		for _, s := range strings.Split(raw, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !strings.Contains(s, "/") {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return fmt.Errorf("%q is not an IP address or CIDR range", s)
				}
				*f = append(*f, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			pf, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8", s)
			}
			*f = append(*f, pf.Masked())
		}
	default:
		return fmt.Errorf("internal: unsupported field type %T", f)
	}
	if v.Name == "LOG_LEVEL" && raw != "" {
		switch strings.ToLower(raw) {
		case "debug", "info", "warn", "warning", "error":
		default:
			return fmt.Errorf("must be debug, info, warn or error")
		}
	}
	if v.Name == "TLS" && raw != "" && raw != "off" && raw != "auto" {
		return fmt.Errorf("must be off or auto")
	}
	if (v.Name == "HTTPS_PORT" || v.Name == "HTTP_PORT") && raw != "" {
		if n, err := strconv.Atoi(raw); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("must be a port number between 1 and 65535 (0 picks a free one)")
		}
	}
	if v.Name == "LOG_FORMAT" && raw != "" && raw != "json" && raw != "text" {
		return fmt.Errorf("must be json or text")
	}
	return nil
}

func (v Var) get(c *Config) string {
	switch f := v.field(c).(type) {
	case *string:
		return *f
	case *int:
		return strconv.Itoa(*f)
	case *bool:
		return strconv.FormatBool(*f)
	case *time.Duration:
		return f.String()
	case *int64:
		return strconv.FormatInt(*f, 10)
	case *float64:
		return strconv.FormatFloat(*f, 'g', -1, 64)
	case *[]netip.Prefix:
		s := make([]string, len(*f))
		for i, p := range *f {
			s[i] = p.String()
		}
		return strings.Join(s, ",")
	}
	return ""
}

func parseBytes(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for suf, m := range map[string]int64{"KB": 1 << 10, "MB": 1 << 20, "K": 1 << 10, "M": 1 << 20} {
		if strings.HasSuffix(s, suf) {
			mult, s = m, strings.TrimSuffix(s, suf)
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("must be a size such as 1048576, 512KB or 1MB")
	}
	return n * mult, nil
}

// Lookup returns the variable named name, or nil.
func Lookup(name string) *Var {
	for i := range Vars {
		if Vars[i].Name == name {
			return &Vars[i]
		}
	}
	return nil
}

var (
	onlyCoda    = []Product{Coda}
	onlyVoyager = []Product{Voyager}
)

// Vars lists every variable either server reads, in .env.example order.
var Vars = []Var{
	{Name: "APP_ENV", Group: "Server", Doc: "development (default: generated secrets, stream mail), production (refuses to start without its secrets) or test", Default: "development", field: func(c *Config) any { return &c.AppEnv }},
	{Name: "PORT", Group: "Server", Doc: "HTTP port (coda 3000, voyager 3001)", Default: "per product", field: func(c *Config) any { return &c.Port }},
	{Name: "HOST", Group: "Server", Doc: "address to listen on: empty listens on every interface (IPv4 and IPv6); 127.0.0.1 or ::1 only on loopback, behind a proxy on the same machine", Example: "127.0.0.1", field: func(c *Config) any { return &c.Host }},
	{Name: "PUBLIC_URL", Aliases: []string{"NEXTAUTH_URL"}, Group: "Server", Doc: "public address of this server, used in links, redirects and HSTS", Example: "https://ideas.example.com", field: func(c *Config) any { return &c.PublicURL }},
	{Name: "DATA_DIR", Group: "Server", Doc: "where the embedded database, generated development secrets and backups live", Default: "./data", field: func(c *Config) any { return &c.DataDir }},
	{Name: "SHUTDOWN_TIMEOUT", Group: "Server", Doc: "how long in-flight requests may finish after SIGTERM", Default: "15s", field: func(c *Config) any { return &c.ShutdownTimeout }},
	{Name: "MAX_BODY_BYTES", Group: "Server", Doc: "largest request body accepted (413 beyond)", Default: "1MB", field: func(c *Config) any { return &c.MaxBodyBytes }},
	{Name: "RATE_LIMIT_SCALE", Group: "Server", Doc: "multiplies every rate limit (the guides' 10 requests per 10 s per IP on sign-in and changes); 0.5 halves them during an attack, 0 turns them off (load tests only)", Default: "1", field: func(c *Config) any { return &c.RateLimitScale }},
	{Name: "TRUSTED_PROXIES", Group: "Server", Doc: "comma-separated IPs or CIDR ranges of reverse proxies whose X-Forwarded-For is believed", Example: "10.0.0.0/8", field: func(c *Config) any { return &c.TrustedProxies }},

	{Name: "TLS", Group: "HTTPS", Doc: "off (default: plain HTTP on PORT, TLS left to a proxy in front) or auto (HTTPS on HTTPS_PORT with certificates from ACME_CA for PUBLIC_URL's host and, on Voyager, on demand for the communities' branding.domains; HTTP_PORT answers ACME challenges and redirects to HTTPS)", Default: "off", field: func(c *Config) any { return &c.TLS }},
	{Name: "ACME_EMAIL", Group: "HTTPS", Doc: "contact address given to the certificate authority (expiry and policy notices)", Example: "ops@example.com", field: func(c *Config) any { return &c.ACMEEmail }},
	{Name: "ACME_CA", Group: "HTTPS", Doc: "ACME directory URL of the certificate authority", Default: "https://acme-v02.api.letsencrypt.org/directory", field: func(c *Config) any { return &c.ACMECA }},
	{Name: "ACME_CA_ROOT", Group: "HTTPS", Doc: "PEM file of the root that signs ACME_CA's own HTTPS certificate, for a private CA (step-ca, Pebble); empty: the system's roots", field: func(c *Config) any { return &c.ACMECARoot }},
	{Name: "HTTPS_PORT", Group: "HTTPS", Doc: "HTTPS port with TLS=auto (TLS-ALPN-01 challenges arrive here)", Default: "443", field: func(c *Config) any { return &c.HTTPSPort }},
	{Name: "HTTP_PORT", Group: "HTTPS", Doc: "HTTP port with TLS=auto: HTTP-01 challenges, and a redirect to HTTPS for everything else", Default: "80", field: func(c *Config) any { return &c.HTTPPort }},

	{Name: "DATABASE_URL", Group: "Storage", Doc: "empty: embedded SQLite under DATA_DIR; postgres://…?sslmode=require&connection_limit=10&pool_timeout=10 for PostgreSQL", Example: "postgresql://user:password@host/database?sslmode=require", field: func(c *Config) any { return &c.DatabaseURL }},
	{Name: "DB_CONNECT_TIMEOUT", Group: "Storage", Doc: "how long to retry an unreachable database at start before exiting", Default: "30s", field: func(c *Config) any { return &c.DBConnectTimeout }},
	{Name: "MIGRATE_ON_START", Group: "Storage", Doc: "apply pending migrations when serve starts (under a lock)", Default: "true", field: func(c *Config) any { return &c.MigrateOnStart }},
	{Name: "REDIS_URL", Group: "Storage", Doc: "empty: in-process limiter and locks; redis:// or rediss:// (Upstash) to share them between instances", Example: "rediss://default:token@host:6379", field: func(c *Config) any { return &c.RedisURL }},

	{Name: "AUTH_SECRET", Aliases: []string{"NEXTAUTH_SECRET"}, Group: "Security", Doc: "signs sessions and sign-in links (generated in development)", Secret: true, Example: "openssl rand -base64 32", field: func(c *Config) any { return &c.AuthSecret }},
	{Name: "AUTH_SECRET_PREVIOUS", Group: "Security", Doc: "the AUTH_SECRET before a rotation; still accepted for sign-ins under way (see docs/operations.md, rotate secrets)", Secret: true, field: func(c *Config) any { return &c.AuthSecretPrevious }},
	{Name: "CRON_SECRET", Group: "Security", Doc: "bearer token for /api/cron/{job} (generated in development)", Secret: true, Example: "openssl rand -base64 32", field: func(c *Config) any { return &c.CronSecret }},
	{Name: "METRICS_TOKEN", Group: "Security", Doc: "if set, /metrics requires Authorization: Bearer <token>", Secret: true, field: func(c *Config) any { return &c.MetricsToken }},

	{Name: "LOG_LEVEL", Group: "Observability", Doc: "debug, info, warn or error", Default: "info", field: func(c *Config) any { return &c.LogLevel }},
	{Name: "LOG_FORMAT", Group: "Observability", Doc: "json (default) or text", Default: "json", field: func(c *Config) any { return &c.LogFormat }},
	// Admin console and web vitals (issue 15).
	{Name: "VITALS_ENABLED", Group: "Observability", Doc: "every page reports web vitals (LCP, INP, CLS, FCP, TTFB) from real browsers to POST /api/vitals for /metrics and the admin console; false turns the reporter and the endpoint off", Default: "true", field: func(c *Config) any { return &c.VitalsEnabled }},
	{Name: "SENTRY_DSN", Aliases: []string{"NEXT_PUBLIC_SENTRY_DSN"}, Group: "Observability", Doc: "report errors to Sentry when set", Secret: true, field: func(c *Config) any { return &c.SentryDSN }},

	{Name: "GOOGLE_CLIENT_ID", Group: "Sign-in", Doc: "Google OAuth client (redirect URI PUBLIC_URL/api/auth/callback/google)", Products: onlyVoyager, field: func(c *Config) any { return &c.GoogleClientID }},
	{Name: "GOOGLE_CLIENT_SECRET", Group: "Sign-in", Secret: true, Products: onlyVoyager, field: func(c *Config) any { return &c.GoogleClientSecret }},
	{Name: "LINKEDIN_CLIENT_ID", Group: "Sign-in", Doc: "LinkedIn OpenID Connect client (redirect URI PUBLIC_URL/api/auth/callback/linkedin)", Products: onlyVoyager, field: func(c *Config) any { return &c.LinkedInClientID }},
	{Name: "LINKEDIN_CLIENT_SECRET", Group: "Sign-in", Secret: true, Products: onlyVoyager, field: func(c *Config) any { return &c.LinkedInClientSecret }},
	{Name: "OIDC_ISSUER", Group: "Sign-in", Doc: "any OpenID Connect issuer (Keycloak, Authentik, Dex)", Example: "https://auth.example.com/realms/main", field: func(c *Config) any { return &c.OIDCIssuer }},
	{Name: "OIDC_CLIENT_ID", Group: "Sign-in", field: func(c *Config) any { return &c.OIDCClientID }},
	{Name: "OIDC_CLIENT_SECRET", Group: "Sign-in", Secret: true, field: func(c *Config) any { return &c.OIDCClientSecret }},
	{Name: "OIDC_NAME", Group: "Sign-in", Doc: "button label for the generic issuer", Default: "Single sign-on", field: func(c *Config) any { return &c.OIDCName }},
	{Name: "EMAIL_SERVER", Group: "Sign-in", Doc: "smtp://user:pass@host:587 (STARTTLS), smtps://…:465, or stream (write mail to the log; the development default)", Example: "smtp://user:pass@smtp.example.com:587", field: func(c *Config) any { return &c.EmailServer }},
	{Name: "EMAIL_FROM", Group: "Sign-in", Doc: "sender of sign-in mail", Example: "Coda <hello@example.com>", field: func(c *Config) any { return &c.EmailFrom }},

	{Name: "ANTHROPIC_API_KEY", Group: "AI (Voyager)", Doc: "primary provider", Secret: true, Products: onlyVoyager, Example: "sk-ant-...", field: func(c *Config) any { return &c.AnthropicAPIKey }},
	{Name: "ANTHROPIC_BASE_URL", Group: "AI (Voyager)", Doc: "proxy or compatible endpoint for Anthropic", Products: onlyVoyager, field: func(c *Config) any { return &c.AnthropicBaseURL }},
	{Name: "OPENAI_API_KEY", Group: "AI (Voyager)", Doc: "fallback provider", Secret: true, Products: onlyVoyager, Example: "sk-...", field: func(c *Config) any { return &c.OpenAIAPIKey }},
	{Name: "OPENAI_BASE_URL", Group: "AI (Voyager)", Doc: "OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp), ending in /v1/", Products: onlyVoyager, field: func(c *Config) any { return &c.OpenAIBaseURL }},
	{Name: "CHAT_HISTORY_LIMIT", Group: "AI (Voyager)", Doc: "how many earlier messages of a conversation go with each question (the guides' cost rule)", Default: "20", Products: onlyVoyager, field: func(c *Config) any { return &c.ChatHistoryLimit }},
	{Name: "COACH_CONTEXT_TOKENS", Group: "AI (Voyager)", Doc: "budget, in estimated tokens, of the member's profile and remembered facts sent with each question (prompt-cached on Anthropic)", Default: "2000", Products: onlyVoyager, field: func(c *Config) any { return &c.CoachContextTokens }},
	{Name: "DOCUMENT_MAX_BYTES", Group: "AI (Voyager)", Doc: "largest CV or job description a member may attach", Default: "10MB", Products: onlyVoyager, field: func(c *Config) any { return &c.DocumentMaxBytes }},
	{Name: "DOCUMENT_MAX_PAGES", Group: "AI (Voyager)", Doc: "most pages an attached document may have (PDF pages; other files: 3,000 characters a page)", Default: "50", Products: onlyVoyager, field: func(c *Config) any { return &c.DocumentMaxPages }},
	{Name: "FILES_URL", Group: "AI (Voyager)", Doc: "where members' attached files are kept: empty, the database; file:///path, a folder; s3://bucket/prefix?endpoint=https://host&region=… (S3-compatible), shared by every instance", Example: "s3://my-bucket/voyager-files?region=eu-west-1", Products: onlyVoyager, field: func(c *Config) any { return &c.FilesURL }},
	{Name: "FILES_S3_ACCESS_KEY_ID", Group: "AI (Voyager)", Doc: "access key for an s3:// FILES_URL (else AWS_ACCESS_KEY_ID or the instance's role)", Products: onlyVoyager, field: func(c *Config) any { return &c.FilesS3AccessKeyID }},
	{Name: "FILES_S3_SECRET_ACCESS_KEY", Group: "AI (Voyager)", Doc: "secret key for an s3:// FILES_URL (else AWS_SECRET_ACCESS_KEY)", Secret: true, Products: onlyVoyager, field: func(c *Config) any { return &c.FilesS3SecretAccessKey }},
	{Name: "COMMUNITIES_DIR", Group: "AI (Voyager)", Doc: "folder of community JSON files", Default: "./communities", Products: onlyVoyager, field: func(c *Config) any { return &c.CommunitiesDir }},
	{Name: "STRIPE_SECRET_KEY", Group: "Billing (Voyager)", Secret: true, Products: onlyVoyager, Example: "sk_live_...", field: func(c *Config) any { return &c.StripeSecretKey }},
	{Name: "STRIPE_WEBHOOK_SECRET", Group: "Billing (Voyager)", Secret: true, Products: onlyVoyager, Example: "whsec_...", field: func(c *Config) any { return &c.StripeWebhookSecret }},
	{Name: "STRIPE_PRICE_ID", Group: "Billing (Voyager)", Products: onlyVoyager, Example: "price_...", field: func(c *Config) any { return &c.StripePriceID }},
	// Billing (issue 10): the past-due grace period and the Stripe API's address.
	{Name: "BILLING_GRACE", Group: "Billing (Voyager)", Doc: "how long a past-due paid community stays open (admins see a banner) before it turns read-only for members", Default: "168h", Products: onlyVoyager, field: func(c *Config) any { return &c.BillingGrace }},
	{Name: "STRIPE_API_BASE", Group: "Billing (Voyager)", Doc: "the Stripe API's address; set to stripe-mock's (http://127.0.0.1:12111) in tests", Products: onlyVoyager, Example: "http://127.0.0.1:12111", field: func(c *Config) any { return &c.StripeAPIBase }},

	{Name: "UNDO_WINDOW", Group: "Ideas (Coda)", Doc: "how long a deleted idea can be restored; the daily purge-soft-deletes job removes it after", Default: "10m", Products: onlyCoda, field: func(c *Config) any { return &c.UndoWindow }},

	{Name: "ENABLE_DEVMODE", Aliases: []string{"NEXT_PUBLIC_ENABLE_DEVMODE"}, Group: "DevMode (Coda)", Doc: "offer the browser terminal", Default: "true", Products: onlyCoda, field: func(c *Config) any { return &c.EnableDevMode }},
	{Name: "DEVMODE_JWT_SECRET", Group: "DevMode (Coda)", Doc: "signs runner credentials (generated in development)", Secret: true, Products: onlyCoda, Example: "openssl rand -base64 32", field: func(c *Config) any { return &c.DevModeJWTSecret }},
	{Name: "DEVMODE_RELAY_URL", Aliases: []string{"NEXT_PUBLIC_DEVMODE_RELAY_URL"}, Group: "DevMode (Coda)", Doc: "where a separately run relay (coda relay) is; empty: the relay inside coda serve", Products: onlyCoda, Example: "wss://relay.example.com", field: func(c *Config) any { return &c.DevModeRelayURL }},
	{Name: "RUNNER_DOWNLOAD_BASE", Aliases: []string{"NEXT_PUBLIC_RUNNER_DOWNLOAD_BASE"}, Group: "DevMode (Coda)", Doc: "base URL of runner downloads elsewhere (its latest.json is read for the update banner); empty: coda serves them from RUNNER_DOWNLOAD_DIR", Products: onlyCoda, Example: "https://github.com/yourorg/coda/releases/latest/download", field: func(c *Config) any { return &c.RunnerDownloadBase }},
	{Name: "RUNNER_DOWNLOAD_DIR", Group: "DevMode (Coda)", Doc: "folder of runner builds that coda serves at /devmode/downloads/ (coda-runner-OS-ARCH, checksums.txt, latest.json; a release archive and the image ship it); empty: the runner folder beside the coda binary. With RUNNER_DOWNLOAD_BASE set, links point there instead", Products: onlyCoda, Example: "/usr/local/share/coda/runner", field: func(c *Config) any { return &c.RunnerDownloadDir }},

	// Backups and database monitoring (issue 12).
	{Name: "BACKUP_REPLICA_URL", Group: "Backups", Doc: "continuous SQLite replication with Litestream: a folder, file:///path, or s3://bucket/path?endpoint=https://host&region=… (S3-compatible: MinIO, R2, B2…); empty: off", Example: "s3://my-bucket/coda?region=eu-west-1", field: func(c *Config) any { return &c.BackupReplicaURL }},
	{Name: "BACKUP_S3_ACCESS_KEY_ID", Group: "Backups", Doc: "access key for an s3:// BACKUP_REPLICA_URL (else AWS_ACCESS_KEY_ID or the instance's role)", field: func(c *Config) any { return &c.BackupS3AccessKeyID }},
	{Name: "BACKUP_S3_SECRET_ACCESS_KEY", Group: "Backups", Doc: "secret key for an s3:// BACKUP_REPLICA_URL (else AWS_SECRET_ACCESS_KEY)", Secret: true, field: func(c *Config) any { return &c.BackupS3SecretAccessKey }},
	{Name: "BACKUP_RETENTION", Group: "Backups", Doc: "how far back the replica can restore (restore --to TIME)", Default: "168h", field: func(c *Config) any { return &c.BackupRetention }},
	{Name: "BACKUP_SYNC_INTERVAL", Group: "Backups", Doc: "how often new writes are shipped to the replica: the most a lost machine can lose (RPO); each sync is one upload", Default: "500ms", field: func(c *Config) any { return &c.BackupSyncInterval }},
	{Name: "BACKUP_DIR", Group: "Backups", Doc: "where the scheduled backup job writes verified, timestamped copies (empty: DATA_DIR/backups)", field: func(c *Config) any { return &c.BackupDir }},
	{Name: "BACKUP_SCHEDULE", Group: "Backups", Doc: "five-field UTC cron schedule of the backup job (default daily at 02:30 UTC)", Default: "30 2 * * *", field: func(c *Config) any { return &c.BackupSchedule }},
	{Name: "BACKUP_KEEP", Group: "Backups", Doc: "how many scheduled backups to keep (older ones are deleted after a verified new one)", Default: "7", field: func(c *Config) any { return &c.BackupKeep }},
	{Name: "SLOW_QUERY_MS", Group: "Observability", Doc: "log a \"slow query\" line (operation, route, request ID; never SQL or parameters) for statements slower than this many milliseconds", Default: "500", field: func(c *Config) any { return &c.SlowQueryMS }},
}
