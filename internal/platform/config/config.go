// Package config turns the environment into typed, validated settings. It
// reads the variable names the hosted products' operators already use (and
// their aliases), reports every problem at once, generates development
// secrets under DATA_DIR, and documents each variable for .env.example.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/redis/go-redis/v9"

	"github.com/relaywork/suite/internal/platform/mail"
	"github.com/relaywork/suite/internal/platform/store"
)

// Product names which binary is loading settings; some variables apply to one.
type Product string

// The products.
const (
	Coda    Product = "coda"
	Voyager Product = "voyager"
)

// Config is every setting a server reads.
type Config struct {
	Product Product
	AppEnv  string // development | production | test

	Port        int
	Host        string // listen address; empty: every interface
	DataDir     string
	DatabaseURL string
	RedisURL    string
	PublicURL   string
	AuthSecret  string
	// AuthSecretPrevious is still accepted when verifying, so AUTH_SECRET
	// can rotate without failing sign-ins under way.
	AuthSecretPrevious string
	CronSecret         string
	MetricsToken       string
	MigrateOnStart     bool
	ShutdownTimeout    time.Duration
	DBConnectTimeout   time.Duration
	MaxBodyBytes       int64
	TrustedProxies     []netip.Prefix
	RateLimitScale     float64
	LogLevel           string
	LogFormat          string
	SentryDSN          string
	// VitalsEnabled turns the pages' web-vitals reporter and POST
	// /api/vitals on (the admin console's vitals charts need it).
	VitalsEnabled bool

	// TLS is "off" or "auto" (certificates from ACME; see package certs).
	TLS                 string
	ACMEEmail, ACMECA   string
	ACMECARoot          string
	HTTPSPort, HTTPPort int

	GoogleClientID, GoogleClientSecret     string
	LinkedInClientID, LinkedInClientSecret string
	OIDCIssuer, OIDCClientID               string
	OIDCClientSecret, OIDCName             string
	EmailServer, EmailFrom                 string

	AnthropicAPIKey, AnthropicBaseURL string
	OpenAIAPIKey, OpenAIBaseURL       string
	StripeSecretKey                   string
	StripeWebhookSecret               string
	StripePriceID                     string
	StripeAPIBase                     string        // STRIPE_API_BASE: stripe-mock in tests
	BillingGrace                      time.Duration // BILLING_GRACE: past-due grace period
	CommunitiesDir                    string
	ChatHistoryLimit                  int
	CoachContextTokens                int
	DocumentMaxBytes                  int64
	DocumentMaxPages                  int
	FilesURL                          string
	FilesS3AccessKeyID                string
	FilesS3SecretAccessKey            string

	UndoWindow time.Duration

	DevModeJWTSecret   string
	DevModeRelayURL    string
	EnableDevMode      bool
	RunnerDownloadBase string
	RunnerDownloadDir  string

	// Warnings are settings that are read no more (the hosted stack's
	// UPSTASH_REDIS_REST_URL, …), each with what to use instead.
	Warnings []string

	// Backups and database monitoring.
	BackupReplicaURL        string
	BackupS3AccessKeyID     string
	BackupS3SecretAccessKey string
	BackupRetention         time.Duration
	BackupSyncInterval      time.Duration
	BackupDir               string
	BackupSchedule          string
	BackupKeep              int
	SlowQueryMS             int

	// Sources records where each variable's value came from: "env",
	// ".env", "default", "generated" or "" (unset).
	Sources map[string]string
}

// Production reports whether APP_ENV is production.
func (c *Config) Production() bool { return c.AppEnv == "production" }

// Addr is the listen address: HOST (empty: every interface) and PORT.
func (c *Config) Addr() string {
	return net.JoinHostPort(strings.Trim(c.Host, "[]"), strconv.Itoa(c.Port))
}

// HTTPSAddr and HTTPAddr are the listen addresses with TLS=auto.
func (c *Config) HTTPSAddr() string { return ":" + strconv.Itoa(c.HTTPSPort) }

// HTTPAddr is where ACME HTTP-01 challenges and redirects are served with TLS=auto.
func (c *Config) HTTPAddr() string { return ":" + strconv.Itoa(c.HTTPPort) }

// Problems collects every problem found while loading.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "configuration problem: " + p[0]
	}
	return fmt.Sprintf("%d configuration problems:\n  - %s", len(p), strings.Join(p, "\n  - "))
}

// Options tune Load.
type Options struct {
	// EnvFile is read in development when present (default ".env"); real
	// environment variables win over it.
	EnvFile string
	// NoGenerate stops Load from writing development secrets to DATA_DIR
	// (config check uses it, so checking never changes anything).
	NoGenerate bool
}

// Load reads settings for product p through getenv. The returned error is a
// Problems listing everything wrong; the Config is filled as far as possible
// either way, so `config check` can print it.
func Load(p Product, getenv func(string) string, o Options) (*Config, error) {
	env := &source{getenv: getenv, file: map[string]string{}}
	appEnv := strings.ToLower(strings.TrimSpace(getenv("APP_ENV")))
	if appEnv == "" {
		appEnv = "development"
	}
	if appEnv != "production" {
		name := o.EnvFile
		if name == "" {
			name = ".env"
		}
		if m, err := godotenv.Read(name); err == nil {
			env.file = m
		} else if !errors.Is(err, os.ErrNotExist) {
			env.problems = append(env.problems, fmt.Sprintf("%s: %v (fix the line or remove the file)", name, err))
		}
	}
	c := &Config{Product: p, AppEnv: appEnv, Sources: map[string]string{}}
	for _, v := range Vars {
		if !v.appliesTo(p) {
			continue
		}
		raw, src := env.lookup(v)
		if raw == "" && v.Default != "" {
			raw, src = v.defaultFor(p), "default"
		}
		c.Sources[v.Name] = src
		if err := v.set(c, raw); err != nil {
			env.problems = append(env.problems, fmt.Sprintf("%s=%q: %v", v.Name, mask(v, raw), err))
		}
	}
	if appEnv != "development" && appEnv != "production" && appEnv != "test" {
		env.problems = append(env.problems, fmt.Sprintf("APP_ENV=%q: must be development, production or test", appEnv))
	}
	env.problems = append(env.problems, c.validate()...)
	c.Warnings = retiredWarnings(c, env)
	if len(env.problems) == 0 && !c.Production() {
		if err := c.fillDevSecrets(!o.NoGenerate); err != nil {
			env.problems = append(env.problems, err.Error())
		}
	}
	if len(env.problems) > 0 {
		return c, env.problems
	}
	return c, nil
}

type source struct {
	getenv   func(string) string
	file     map[string]string
	problems Problems
}

func (s *source) lookup(v Var) (string, string) {
	for _, n := range append([]string{v.Name}, v.Aliases...) {
		if x := strings.TrimSpace(s.getenv(n)); x != "" {
			return x, "env"
		}
	}
	for _, n := range append([]string{v.Name}, v.Aliases...) {
		if x := strings.TrimSpace(s.file[n]); x != "" {
			return x, ".env"
		}
	}
	return "", ""
}

// validate checks relations between settings and what production needs.
func (c *Config) validate() Problems {
	var p Problems
	if c.Host != "" && !validHost(c.Host) {
		p = append(p, fmt.Sprintf("HOST=%q: must be an IP address (127.0.0.1, ::1, 0.0.0.0) or a host name, without a port or scheme (the port is PORT); empty listens on every interface", c.Host))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p = append(p, fmt.Sprintf("PUBLIC_URL=%q: must be an absolute http(s) URL such as https://ideas.example.com", c.PublicURL))
		}
	}
	if _, err := store.Parse(c.DatabaseURL, c.DataDir, string(c.Product)); err != nil {
		p = append(p, err.Error())
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			p = append(p, "REDIS_URL: must look like redis://[:password@]host:6379/0 or rediss://… (Upstash gives a rediss:// URL)")
		}
	}
	// The mail package's own parser, the one serve uses, so config check
	// refuses exactly what serve would.
	if err := mail.CheckServer(c.EmailServer); err != nil {
		p = append(p, "EMAIL_SERVER: "+strings.TrimPrefix(err.Error(), "EMAIL_SERVER "))
	}
	if err := mail.CheckFrom(c.EmailFrom); err != nil {
		p = append(p, "EMAIL_FROM: "+strings.TrimPrefix(err.Error(), "EMAIL_FROM "))
	}
	pair := func(a, av, b, bv string) {
		if (av == "") != (bv == "") {
			p = append(p, fmt.Sprintf("%s and %s go together: set both or neither", a, b))
		}
	}
	pair("GOOGLE_CLIENT_ID", c.GoogleClientID, "GOOGLE_CLIENT_SECRET", c.GoogleClientSecret)
	pair("LINKEDIN_CLIENT_ID", c.LinkedInClientID, "LINKEDIN_CLIENT_SECRET", c.LinkedInClientSecret)
	pair("OIDC_CLIENT_ID", c.OIDCClientID, "OIDC_CLIENT_SECRET", c.OIDCClientSecret)
	if c.OIDCClientID != "" && c.OIDCIssuer == "" {
		p = append(p, "OIDC_ISSUER: required when OIDC_CLIENT_ID is set (the issuer URL of your Keycloak, Authentik or Dex)")
	}
	if c.TLS == "auto" {
		if c.PublicURL == "" || !strings.HasPrefix(c.PublicURL, "https://") {
			p = append(p, fmt.Sprintf("PUBLIC_URL=%q: TLS=auto needs an https:// PUBLIC_URL whose host gets the server's certificate", c.PublicURL))
		}
		if c.ACMECA == "" {
			p = append(p, "ACME_CA: required with TLS=auto (Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory)")
		}
		if c.ACMECARoot != "" {
			if _, err := os.Stat(c.ACMECARoot); err != nil {
				p = append(p, fmt.Sprintf("ACME_CA_ROOT=%q: cannot read the file (%v); give the PEM file of the CA's root or leave it empty", c.ACMECARoot, errors.Unwrap(err)))
			}
		}
		if c.HTTPSPort == c.HTTPPort && c.HTTPSPort != 0 {
			p = append(p, fmt.Sprintf("HTTPS_PORT and HTTP_PORT are both %d: give them different ports (443 and 80)", c.HTTPSPort))
		}
	}
	if c.Product == Coda && (c.UndoWindow <= 0 || c.UndoWindow > 30*24*time.Hour) {
		p = append(p, fmt.Sprintf("UNDO_WINDOW=%s: must be more than 0 and at most 720h (such as 10m)", c.UndoWindow))
	}
	if c.Product == Voyager && (c.CoachContextTokens < 100 || c.CoachContextTokens > 50000) {
		p = append(p, fmt.Sprintf("COACH_CONTEXT_TOKENS=%d: must be between 100 and 50000 tokens", c.CoachContextTokens))
	}
	if c.FilesURL != "" {
		if u, err := url.Parse(c.FilesURL); err != nil || !(u.Scheme == "" || u.Scheme == "file" || (u.Scheme == "s3" && u.Host != "")) {
			p = append(p, fmt.Sprintf("FILES_URL=%q: use file:///path/to/folder or s3://bucket/prefix?endpoint=https://host&region=…", c.FilesURL))
		}
	}
	if c.Product == Voyager && (c.DocumentMaxPages < 1 || c.DocumentMaxPages > 1000) {
		p = append(p, fmt.Sprintf("DOCUMENT_MAX_PAGES=%d: must be between 1 and 1000", c.DocumentMaxPages))
	}
	if c.Product == Voyager && (c.ChatHistoryLimit < 1 || c.ChatHistoryLimit > 200) {
		p = append(p, fmt.Sprintf("CHAT_HISTORY_LIMIT=%d: must be between 1 and 200 messages", c.ChatHistoryLimit))
	}
	p = append(p, c.backupProblems()...)
	if c.Product == Voyager && (c.BillingGrace < 0 || c.BillingGrace > 90*24*time.Hour) {
		p = append(p, fmt.Sprintf("BILLING_GRACE=%s: must be between 0 and 2160h (90 days), such as 168h", c.BillingGrace))
	}
	if c.StripeAPIBase != "" {
		if u, err := url.Parse(c.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p = append(p, fmt.Sprintf("STRIPE_API_BASE=%q: must be an absolute http(s) URL such as http://127.0.0.1:12111 (stripe-mock), or unset for Stripe", c.StripeAPIBase))
		}
	}
	if c.Production() {
		need := func(name, val, why string) {
			if val == "" {
				p = append(p, fmt.Sprintf("%s: required in production (%s)", name, why))
			}
		}
		need("AUTH_SECRET", c.AuthSecret, "signs sessions and links; generate with: openssl rand -base64 32")
		need("PUBLIC_URL", c.PublicURL, "the public address, used in links and sign-in redirects")
		need("CRON_SECRET", c.CronSecret, "protects /api/cron/*; generate with: openssl rand -base64 32")
		if c.AuthSecret != "" && len(c.AuthSecret) < 32 {
			p = append(p, "AUTH_SECRET: too short for production (use at least 32 characters: openssl rand -base64 32)")
		}
		if c.Product == Coda {
			need("EMAIL_SERVER", c.EmailServer, "Coda signs people in with emailed links")
			if c.EnableDevMode {
				need("DEVMODE_JWT_SECRET", c.DevModeJWTSecret, "signs runner credentials; or set ENABLE_DEVMODE=false")
			}
		}
	}
	return p
}

// devSecrets are generated once per DATA_DIR in development and test.
var devSecrets = []string{"AUTH_SECRET", "CRON_SECRET", "DEVMODE_JWT_SECRET"}

func (c *Config) fillDevSecrets(write bool) error {
	path := filepath.Join(c.DataDir, "dev-secrets.json")
	stored := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &stored); err != nil {
			return fmt.Errorf("%s is damaged (%v): delete it and a new one is generated", path, err)
		}
	}
	changed := false
	for _, name := range devSecrets {
		v := Lookup(name)
		if v == nil || !v.appliesTo(c.Product) || v.get(c) != "" {
			continue
		}
		val := stored[name]
		if val == "" {
			var b [32]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			val = base64.RawURLEncoding.EncodeToString(b[:])
			stored[name] = val
			changed = true
		}
		_ = v.set(c, val)
		c.Sources[name] = "generated"
	}
	if changed && write {
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return fmt.Errorf("DATA_DIR=%q: cannot create it: %v", c.DataDir, err)
		}
		b, _ := json.MarshalIndent(stored, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return fmt.Errorf("DATA_DIR=%q: cannot write development secrets: %v", c.DataDir, err)
		}
	}
	return nil
}

// Setting is one line of `config check`.
type Setting struct {
	Name, Value, Source, Doc string
}

// Effective lists the settings that apply to the product, secrets masked.
func (c *Config) Effective() []Setting {
	var out []Setting
	for _, v := range Vars {
		if !v.appliesTo(c.Product) {
			continue
		}
		out = append(out, Setting{Name: v.Name, Value: mask(v, v.get(c)), Source: c.Sources[v.Name], Doc: v.Doc})
	}
	sort.SliceStable(out, func(i, j int) bool { return false })
	return out
}

func mask(v Var, val string) string {
	if val == "" {
		return ""
	}
	if v.Secret {
		if len(val) <= 8 {
			return "********"
		}
		return val[:3] + "…" + "(" + strconv.Itoa(len(val)) + " chars)"
	}
	if v.Name == "DATABASE_URL" || v.Name == "REDIS_URL" || v.Name == "EMAIL_SERVER" {
		if u, err := url.Parse(val); err == nil && u.User != nil {
			return u.Redacted()
		} else if at := strings.LastIndexByte(val, '@'); at >= 0 {
			// A URL Go cannot read (or reads as something else) may
			// still carry a password: hide
			// everything before the last "@" after the scheme.
			scheme := ""
			if i := strings.Index(val, "://"); i >= 0 && i < at {
				scheme = val[:i+3]
			}
			return scheme + "xxxxx" + val[at:]
		}
	}
	return val
}
