// Package community loads Voyager's communities from one JSON file each
// (COMMUNITIES_DIR), validates them with every problem reported at once,
// keeps the last good set across reloads and maps request hosts to them.
package community

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Visibility says who may join a community.
type Visibility string

// The two visibilities.
const (
	Public  Visibility = "public"  // anyone signed in joins with one click
	Private Visibility = "private" // by invite link from an admin
)

// Community is one community's file.
type Community struct {
	Schema      string     `json:"$schema,omitempty"` // editors' schema link; ignored
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Visibility  Visibility `json:"visibility"`
	Branding    Branding   `json:"branding"`
	Coach       Coach      `json:"coach"`
	Limits      Limits     `json:"limits"`
	Billing     Billing    `json:"billing"`

	// File is the path the community was read from (not in the JSON).
	File string `json:"-"`
	// Files are the logo and favicon read from beside File, by role
	// ("logo", "favicon").
	Files map[string]*Asset `json:"-"`
}

// Branding is how the community looks and where it is served.
type Branding struct {
	// Logo is an https URL, a path on this server, or the name of an image
	// file beside the community's JSON file (served with a hashed name).
	Logo string `json:"logo,omitempty"`
	// Favicon is the name of an image file beside the JSON file, or an
	// https URL or a path on this server.
	Favicon string   `json:"favicon,omitempty"`
	Colors  Colors   `json:"colors"`
	Domains []string `json:"domains,omitempty"` // custom hosts serving this community at /
}

// Colors are CSS hex colours for the community's brand stylesheet.
type Colors struct {
	Primary    string `json:"primary,omitempty"`
	Accent     string `json:"accent,omitempty"`
	Background string `json:"background,omitempty"`
	Text       string `json:"text,omitempty"`
}

// Coach is the AI coach's persona and model settings.
type Coach struct {
	Name             string   `json:"name"`
	SystemPrompt     string   `json:"systemPrompt"`
	Models           Models   `json:"models"`
	Temperature      *float64 `json:"temperature,omitempty"`
	MaxTokens        int      `json:"maxTokens,omitempty"`
	WelcomeMessage   string   `json:"welcomeMessage,omitempty"`
	StarterQuestions []string `json:"starterQuestions,omitempty"`
	// Memory (default on) lets members keep a profile and remembered
	// facts that go to the coach; false keeps every conversation on its own.
	Memory *bool `json:"memory,omitempty"`
	// AnswerCache, if set, answers a conversation's first question from a
	// cache when nothing personal is in play (opt-in).
	AnswerCache *AnswerCache `json:"answerCache,omitempty"`
}

// AnswerCache configures the cache of answers to common first questions.
type AnswerCache struct {
	TTL string `json:"ttl"` // how long an answer is reused, such as "24h"
}

// MemoryOn reports whether the community lets the coach remember members.
func (c *Community) MemoryOn() bool { return c.Coach.Memory == nil || *c.Coach.Memory }

// CacheTTL is how long answers are cached (0: no cache).
func (c *Community) CacheTTL() time.Duration {
	if c.Coach.AnswerCache == nil {
		return 0
	}
	d, err := time.ParseDuration(c.Coach.AnswerCache.TTL)
	if err != nil {
		return 0
	}
	return d
}

// Models are the preferred model per provider; empty uses the provider's default.
type Models struct {
	Anthropic string `json:"anthropic,omitempty"`
	OpenAI    string `json:"openai,omitempty"`
}

// Limits bound what a member may use.
type Limits struct {
	// MessagesPerDay is how many answers a member may ask for per UTC day; 0 is unlimited.
	MessagesPerDay int `json:"messagesPerDay"`
	// DocumentTokensPerDay bounds the text a member may attach per UTC
	// day, in estimated tokens; 0 is unlimited.
	DocumentTokensPerDay int `json:"documentTokensPerDay,omitempty"`
}

// Billing says whether the community is paid for and how.
type Billing struct {
	// Plan is "free" (the default: platform communities), "private"
	// ($50/month in the guide) or "enterprise" (white-label, $500/month).
	// A private or enterprise community needs an active subscription,
	// paid by one of its admins, to stay open for its members.
	Plan Plan `json:"plan,omitempty"`
	// StripePriceID is the Stripe price subscribed to; empty uses
	// STRIPE_PRICE_ID.
	StripePriceID string `json:"stripePriceId,omitempty"`
	// Comp keeps a paid community open without a subscription (partners).
	Comp bool `json:"comp,omitempty"`
	// CompNote says why, for operators (shown by `voyager billing status`).
	CompNote string `json:"compNote,omitempty"`
}

// Plan is a community's billing plan.
type Plan string

// The plans.
const (
	PlanFree       Plan = "free"
	PlanPrivate    Plan = "private"
	PlanEnterprise Plan = "enterprise"
)

// Paid reports whether the community's plan needs a subscription.
func (c *Community) Paid() bool {
	return c.Billing.Plan == PlanPrivate || c.Billing.Plan == PlanEnterprise
}

// PriceID is the Stripe price the community subscribes to: its own, or def
// (STRIPE_PRICE_ID).
func (c *Community) PriceID(def string) string {
	if c.Billing.StripePriceID != "" {
		return c.Billing.StripePriceID
	}
	return def
}

// DefaultMaxTokens is the answer length when a coach sets none.
const DefaultMaxTokens = 1024

// AnswerTokens returns the coach's max tokens or the default.
func (c *Community) AnswerTokens() int {
	if c.Coach.MaxTokens > 0 {
		return c.Coach.MaxTokens
	}
	return DefaultMaxTokens
}

// Problem is one thing wrong with a community file, with how to fix it.
type Problem struct {
	File  string `json:"file"`
	Field string `json:"field"`
	Issue string `json:"problem"`
	Fix   string `json:"fix"`
}

func (p Problem) String() string {
	f := p.Field
	if f == "" {
		f = "(file)"
	}
	return fmt.Sprintf("%s: %s: %s; fix: %s", p.File, f, p.Issue, p.Fix)
}

// Problems is every problem found in a folder; it is an error.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s) in community files:", len(ps))
	for _, p := range ps {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

var (
	slugRE   = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)
	colorRE  = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)
	domainRE = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$`)
	priceRE  = regexp.MustCompile(`^price_[A-Za-z0-9]+$`)
)

// LoadDir reads every *.json file in dir. It returns the set when every
// file is valid, or Problems listing all that is wrong.
func LoadDir(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Problems{{File: dir, Issue: "cannot read the folder: " + errText(err), Fix: "create it or set COMMUNITIES_DIR to the folder holding the community JSON files"}}
	}
	var list []*Community
	var probs Problems
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasSuffix(e.Name(), ".schema.json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			probs = append(probs, Problem{File: path, Issue: "cannot read: " + errText(err), Fix: "check the file's permissions"})
			continue
		}
		c, ps := Parse(path, b)
		probs = append(probs, ps...)
		if c != nil && len(ps) == 0 {
			list = append(list, c)
		}
	}
	probs = append(probs, crossCheck(list)...)
	if len(probs) > 0 {
		return nil, probs
	}
	return NewSet(list), nil
}

// Parse decodes and validates one community file's bytes.
func Parse(path string, b []byte) (*Community, Problems) {
	var c Community
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, Problems{decodeProblem(path, err)}
	}
	if dec.More() {
		return nil, Problems{{File: path, Issue: "more than one JSON value", Fix: "keep exactly one object per file"}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Problems{{File: path, Issue: "text after the JSON object", Fix: "remove what follows the closing brace"}}
	}
	c.File = path
	ps := c.Validate()
	ps = append(ps, c.loadFiles(filepath.Dir(path))...)
	for i := range ps {
		ps[i].File = path
	}
	if base := strings.TrimSuffix(filepath.Base(path), ".json"); c.ID != "" && base != c.ID {
		ps = append(ps, Problem{File: path, Field: "id", Issue: fmt.Sprintf("id %q differs from the file name %q", c.ID, base), Fix: fmt.Sprintf("rename the file to %s.json or set id to %q", c.ID, base)})
	}
	return &c, ps
}

func decodeProblem(path string, err error) Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return Problem{File: path, Issue: fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error()), Fix: "correct the JSON syntax (a missing comma or quote is usual)"}
	case errors.As(err, &te):
		return Problem{File: path, Field: te.Field, Issue: fmt.Sprintf("is a JSON %s, want %s", te.Value, te.Type), Fix: "give the field a value of type " + te.Type.String()}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Problem{File: path, Field: f, Issue: "unknown field", Fix: "remove it or check its spelling against docs/voyager.md"}
	case errors.Is(err, io.EOF):
		return Problem{File: path, Issue: "the file is empty", Fix: "write the community as one JSON object"}
	}
	return Problem{File: path, Issue: "cannot decode: " + err.Error(), Fix: "write the community as one JSON object"}
}

// Validate reports every problem with c's fields (File left empty).
func (c *Community) Validate() Problems {
	var ps Problems
	add := func(field, issue, fix string) { ps = append(ps, Problem{Field: field, Issue: issue, Fix: fix}) }
	if !slugRE.MatchString(c.ID) {
		add("id", fmt.Sprintf("%q is not a slug", c.ID), "use 1–64 lower-case letters, digits and dashes, e.g. \"tech-careers\"")
	}
	if strings.TrimSpace(c.Name) == "" {
		add("name", "is missing", "give the community a display name")
	} else if len(c.Name) > 80 {
		add("name", "is longer than 80 characters", "shorten it")
	}
	if len(c.Description) > 500 {
		add("description", "is longer than 500 characters", "shorten it")
	}
	switch c.Visibility {
	case Public, Private:
	case "":
		add("visibility", "is missing", `set "public" or "private"`)
	default:
		add("visibility", fmt.Sprintf("%q is not allowed", c.Visibility), `set "public" or "private"`)
	}
	if ac := c.Coach.AnswerCache; ac != nil {
		if d, err := time.ParseDuration(ac.TTL); err != nil || d < time.Minute || d > 30*24*time.Hour {
			add("coach.answerCache.ttl", fmt.Sprintf("%q is not a duration between 1m and 720h", ac.TTL), `use a duration such as "24h"`)
		}
	}
	if c.Limits.DocumentTokensPerDay < 0 {
		add("limits.documentTokensPerDay", "is negative", "use 0 for no limit or a number of tokens such as 200000")
	}
	for name, v := range map[string]string{"primary": c.Branding.Colors.Primary, "accent": c.Branding.Colors.Accent, "background": c.Branding.Colors.Background, "text": c.Branding.Colors.Text} {
		if v != "" && !colorRE.MatchString(v) {
			add("branding.colors."+name, fmt.Sprintf("%q is not a hex colour", v), `use "#rgb" or "#rrggbb"`)
		}
	}
	if len(ps) == 0 || !strings.HasPrefix(ps[len(ps)-1].Field, "branding.colors.") {
		_, pps := DerivePalette(c.Branding.Colors)
		ps = append(ps, pps...)
	}
	seen := map[string]bool{}
	for i, d := range c.Branding.Domains {
		f := fmt.Sprintf("branding.domains[%d]", i)
		n := NormalizeHost(d)
		switch {
		case d != strings.TrimSpace(d) || strings.ContainsAny(d, "/:@ "):
			add(f, fmt.Sprintf("%q is not a bare host name", d), "write only the host, e.g. \"coach.acme.com\", without scheme, port or path")
		case !domainRE.MatchString(n):
			add(f, fmt.Sprintf("%q is not a valid host name", d), "use a fully qualified name such as \"coach.acme.com\"")
		case seen[n]:
			add(f, fmt.Sprintf("%q is listed twice (www. counts as the same host)", d), "remove the duplicate")
		}
		seen[n] = true
	}
	if strings.TrimSpace(c.Coach.Name) == "" {
		add("coach.name", "is missing", "name the coach, e.g. \"Nova\"")
	}
	if strings.TrimSpace(c.Coach.SystemPrompt) == "" {
		add("coach.systemPrompt", "is missing", "write the instructions the coach follows")
	} else if len(c.Coach.SystemPrompt) > 20000 {
		add("coach.systemPrompt", "is longer than 20,000 characters", "shorten it: it is sent with every message")
	}
	if t := c.Coach.Temperature; t != nil && (*t < 0 || *t > 1) {
		add("coach.temperature", fmt.Sprintf("%v is outside 0–1", *t), "use a value between 0 and 1 (0.7 is usual)")
	}
	if c.Coach.MaxTokens < 0 || c.Coach.MaxTokens > 8192 {
		add("coach.maxTokens", fmt.Sprintf("%d is outside 1–8192", c.Coach.MaxTokens), "use a value between 1 and 8192, or leave it out for 1024")
	}
	if len(c.Coach.StarterQuestions) > 6 {
		add("coach.starterQuestions", "has more than 6 questions", "keep at most 6")
	}
	for i, q := range c.Coach.StarterQuestions {
		if strings.TrimSpace(q) == "" || len(q) > 200 {
			add(fmt.Sprintf("coach.starterQuestions[%d]", i), "is empty or longer than 200 characters", "write a short question")
		}
	}
	if c.Limits.MessagesPerDay < 0 {
		add("limits.messagesPerDay", "is negative", "use 0 for no limit or a positive number")
	}
	switch c.Billing.Plan {
	case "", PlanFree, PlanPrivate, PlanEnterprise:
	default:
		add("billing.plan", fmt.Sprintf("%q is not a plan", c.Billing.Plan), `use "free", "private" or "enterprise"`)
	}
	if len(c.Billing.CompNote) > 200 {
		add("billing.compNote", "is longer than 200 characters", "shorten it")
	}
	if p := c.Billing.StripePriceID; p != "" && !priceRE.MatchString(p) {
		add("billing.stripePriceId", fmt.Sprintf("%q is not a Stripe price ID", p), "copy the ID starting with \"price_\" from the Stripe dashboard")
	}
	return ps
}

// crossCheck finds problems between files: duplicate IDs and domains.
func crossCheck(list []*Community) Problems {
	var ps Problems
	ids := map[string]string{}
	domains := map[string]string{}
	for _, c := range list {
		if f, ok := ids[c.ID]; ok {
			ps = append(ps, Problem{File: c.File, Field: "id", Issue: fmt.Sprintf("%q is also the id in %s", c.ID, f), Fix: "give each community its own id"})
		}
		ids[c.ID] = c.File
		for i, d := range c.Branding.Domains {
			n := NormalizeHost(d)
			if f, ok := domains[n]; ok {
				ps = append(ps, Problem{File: c.File, Field: fmt.Sprintf("branding.domains[%d]", i), Issue: fmt.Sprintf("%q is also a domain of %s", d, f), Fix: "serve each domain from one community only"})
			}
			domains[n] = c.File
		}
	}
	return ps
}

func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Set is an immutable, validated set of communities.
type Set struct {
	byID     map[string]*Community
	byDomain map[string]*Community
	list     []*Community // sorted by name
}

// NewSet indexes list (already validated).
func NewSet(list []*Community) *Set {
	s := &Set{byID: map[string]*Community{}, byDomain: map[string]*Community{}}
	for _, c := range list {
		s.byID[c.ID] = c
		for _, d := range c.Branding.Domains {
			s.byDomain[NormalizeHost(d)] = c
		}
		s.list = append(s.list, c)
	}
	sort.Slice(s.list, func(i, j int) bool { return s.list[i].Name < s.list[j].Name })
	return s
}

// ByID returns the community with id.
func (s *Set) ByID(id string) (*Community, bool) {
	c, ok := s.byID[id]
	return c, ok
}

// ByHost returns the community a request host (any case, any port, with or
// without www.) belongs to.
func (s *Set) ByHost(host string) (*Community, bool) {
	c, ok := s.byDomain[NormalizeHost(host)]
	return c, ok
}

// All returns every community, by name.
func (s *Set) All() []*Community { return s.list }

// Public returns the public communities, by name.
func (s *Set) Public() []*Community {
	var out []*Community
	for _, c := range s.list {
		if c.Visibility == Public {
			out = append(out, c)
		}
	}
	return out
}

// Domains returns every custom domain, normalised.
func (s *Set) Domains() []string {
	out := make([]string, 0, len(s.byDomain))
	for d := range s.byDomain {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// NormalizeHost lower-cases a host, drops a port, a trailing dot and a
// leading "www.", so equal hosts compare equal.
// It is applied until nothing changes ("www.www.x" and "[a.]" too), so
// normalising twice gives what normalising once did.
func NormalizeHost(h string) string {
	for i, limit := 0, len(h)+2; i < limit; i++ {
		n := normalizeHostOnce(h)
		if n == h {
			return n
		}
		h = n
	}
	return h
}

func normalizeHostOnce(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i > 0 {
			return h[1:i]
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	return strings.TrimPrefix(h, "www.")
}
