package community

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShippedExamplesAreValid(t *testing.T) {
	t.Parallel()
	s, err := LoadDir("../../../communities")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Public()) != 1 || len(s.All()) != 2 {
		t.Fatalf("got %d public of %d, want 1 of 2", len(s.Public()), len(s.All()))
	}
	if c, ok := s.ByHost("WWW.Coach.Acme.Example:443"); !ok || c.Visibility != Private {
		t.Fatalf("custom domain of the private example: %v %v", c, ok)
	}
}

func TestNormalizeHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Coach.ACME.com", "coach.acme.com"},
		{"coach.acme.com:8443", "coach.acme.com"},
		{"www.coach.acme.com", "coach.acme.com"},
		{"WWW.coach.acme.com.:80", "coach.acme.com"},
		{"[::1]:3001", "::1"},
		{"127.0.0.1:3001", "127.0.0.1"},
		{"localhost", "localhost"},
	} {
		if got := NormalizeHost(tc.in); got != tc.want {
			t.Errorf("NormalizeHost(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProblemsNameFileFieldAndFix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json string
		want       []string // "field" substrings expected among the problems
	}{
		{"syntax", `{"id": "x",}`, []string{"(file)"}},
		{"unknown field", `{"id":"bad","colour":"red"}`, []string{"colour"}},
		{"wrong type", `{"id":"bad","limits":{"messagesPerDay":"ten"}}`, []string{"limits.messagesPerDay"}},
		{"everything", `{"id":"Bad Id","visibility":"secret","branding":{"logo":"ftp://x","colors":{"primary":"red"},"domains":["https://x.com","a.b","www.a.b"]},
			"coach":{"temperature":3,"maxTokens":99999,"starterQuestions":[""]},"limits":{"messagesPerDay":-1},"billing":{"stripePriceId":"prod_1"}}`,
			[]string{"id", "name", "visibility", "branding.logo", "branding.colors.primary", "branding.domains[0]", "branding.domains[2]", "coach.name", "coach.systemPrompt", "coach.temperature", "coach.maxTokens", "coach.starterQuestions[0]", "limits.messagesPerDay", "billing.stripePriceId"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, ps := Parse("dir/bad.json", []byte(tc.json))
			got := map[string]bool{}
			for _, p := range ps {
				if p.File != "dir/bad.json" || p.Fix == "" || p.Issue == "" {
					t.Errorf("problem without file, issue or fix: %+v", p)
				}
				f := p.Field
				if f == "" {
					f = "(file)"
				}
				got[f] = true
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("no problem for %s; got %v", w, ps)
				}
			}
		})
	}
}

func TestCrossFileDuplicates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	one := `{"id":"%s","name":"N","visibility":"public","branding":{"domains":["x.example"]},"coach":{"name":"C","systemPrompt":"P"}}`
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(strings.Replace(one, "%s", "a", 1)), 0o644)
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(strings.Replace(strings.Replace(one, "%s", "b", 1), "x.example", "WWW.x.example", 1)), 0o644)
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "b.json: branding.domains[0]") {
		t.Fatalf("got %v, want a duplicate-domain problem", err)
	}
}

func TestReloadKeepsLastGoodSet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := `{"id":"a","name":"First","visibility":"public","coach":{"name":"C","systemPrompt":"P"}}`
	path := filepath.Join(dir, "a.json")
	os.WriteFile(path, []byte(good), 0o644)
	var outcomes []error
	r, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.OnReload = func(err error) { outcomes = append(outcomes, err) }
	os.WriteFile(path, []byte(`{"id":"a","name":""}`), 0o644)
	if err := r.Reload(); err == nil {
		t.Fatal("reload accepted an invalid file")
	}
	if c, ok := r.Current().ByID("a"); !ok || c.Name != "First" {
		t.Fatalf("lost the last good set: %v", c)
	}
	os.WriteFile(path, []byte(strings.Replace(good, "First", "Second", 1)), 0o644)
	r.CheckChanged()
	if c, _ := r.Current().ByID("a"); c.Name != "Second" {
		t.Fatalf("got %q after a valid change, want Second", c.Name)
	}
	if len(outcomes) != 2 || outcomes[0] == nil || outcomes[1] != nil {
		t.Fatalf("got outcomes %v", outcomes)
	}
}

func TestBillingFields(t *testing.T) {
	t.Parallel()
	base := `{"id":"acme","name":"Acme","visibility":"private","coach":{"name":"Ada","systemPrompt":"x"},"billing":%s}`
	tests := []struct {
		billing string
		paid    bool
		problem string
	}{
		{`{}`, false, ""},
		{`{"plan":"free"}`, false, ""},
		{`{"plan":"private"}`, true, ""},
		{`{"plan":"enterprise","stripePriceId":"price_123","comp":true,"compNote":"launch partner"}`, true, ""},
		{`{"plan":"gold"}`, false, "billing.plan"},
		{`{"plan":"private","stripePriceId":"prod_1"}`, true, "billing.stripePriceId"},
		{`{"plan":"private","comp":"yes"}`, false, "billing.comp"},
	}
	for _, tt := range tests {
		c, ps := Parse("acme.json", []byte(fmt.Sprintf(base, tt.billing)))
		switch {
		case tt.problem == "" && len(ps) > 0:
			t.Errorf("%s: unexpected problems %v", tt.billing, ps)
		case tt.problem != "" && (len(ps) != 1 || ps[0].Field != tt.problem):
			t.Errorf("%s: got %v, want a problem with %s", tt.billing, ps, tt.problem)
		case tt.problem == "" && c.Paid() != tt.paid:
			t.Errorf("%s: paid %v, want %v", tt.billing, c.Paid(), tt.paid)
		}
	}
	c, _ := Parse("acme.json", []byte(fmt.Sprintf(base, `{"plan":"private"}`)))
	if got := c.PriceID("price_default"); got != "price_default" {
		t.Errorf("default price: got %q", got)
	}
}
