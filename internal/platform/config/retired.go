package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// Retired is a variable the hosted stack read that these servers do not:
// setting it changes nothing, so `config check` and serve say what to use
// instead rather than ignoring it silently.
type Retired struct {
	Name    string
	Instead func(c *Config) string
}

// RetiredVars are the hosted guides' settings that have a replacement here.
var RetiredVars = []Retired{
	{Name: "UPSTASH_REDIS_REST_URL", Instead: upstashInstead},
	{Name: "UPSTASH_REDIS_REST_TOKEN", Instead: upstashInstead},
	{Name: "NEXT_PUBLIC_VERCEL_ANALYTICS_ID", Instead: func(*Config) string {
		return "Vercel Analytics is not used; set VITALS_ENABLED=true to collect web vitals (LCP, INP, CLS) on this server instead"
	}},
}

func upstashInstead(c *Config) string {
	if c.RedisURL != "" {
		return "the Upstash REST API is not used; REDIS_URL is set and used, so this variable can be removed"
	}
	return "the Upstash REST API is not used; set REDIS_URL to the database's rediss:// URL instead (Upstash console: Connect → the redis-cli/TCP URL, rediss://default:PASSWORD@HOST:6379)"
}

// retiredWarnings lists every retired variable set in the environment or
// the .env file.
func retiredWarnings(c *Config, s *source) []string {
	var out []string
	for _, r := range RetiredVars {
		where := ""
		switch {
		case strings.TrimSpace(s.getenv(r.Name)) != "":
			where = "the environment"
		case strings.TrimSpace(s.file[r.Name]) != "":
			where = ".env"
		default:
			continue
		}
		out = append(out, fmt.Sprintf("%s (set in %s) is ignored: %s", r.Name, where, r.Instead(c)))
	}
	return out
}

// validHost reports whether h can be a listen address's host: an IP
// address or a host name, with no port, scheme or path.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
