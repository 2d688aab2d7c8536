package community

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// FuzzParse: a community file is refused with problems that name the file,
// or accepted with text every store keeps; an accepted community written
// back out parses to the same community.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"alpha","name":"Alpha","description":"d","visibility":"public","coach":{"name":"Nova","systemPrompt":"p"},"limits":{"messagesPerDay":3}}`))
	f.Add([]byte(`{"id":"beta","name":"B","visibility":"private","branding":{"domains":["Beta.Example:443","www.beta.example."],"colors":{"primary":"#123456"}},"coach":{"name":"A","systemPrompt":"p","temperature":0.5}}`))
	f.Add([]byte(`{"id":"a\u0000","name":"x","coach":{}}`))
	f.Add([]byte("{\"id\":\"a\",\"name\":\"\xff\",\"coach\":{}}"))
	f.Add([]byte(`{"id":"Gamma!","visibility":"secret","coach":{}}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, probs := Parse("c.json", b)
		if len(probs) > 0 {
			for _, p := range probs {
				if p.File != "c.json" || p.Issue == "" {
					t.Fatalf("problem %+v does not name the file and the issue", p)
				}
			}
			return
		}
		for name, s := range map[string]string{"id": c.ID, "name": c.Name, "description": c.Description, "prompt": c.Coach.SystemPrompt, "coach": c.Coach.Name, "logo": c.Branding.Logo} {
			if p := apperr.TextProblem(s); p != "" {
				t.Fatalf("accepted %s %q: %s", name, s, p)
			}
		}
		for _, d := range c.Branding.Domains {
			if NormalizeHost(d) != d {
				t.Fatalf("domain %q is not normalised", d)
			}
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, probs := Parse("c.json", out)
		if len(probs) > 0 {
			t.Fatalf("a parsed community does not parse again: %v\n%s", probs, out)
		}
		out2, _ := json.Marshal(c2)
		if string(out) != string(out2) {
			t.Fatalf("round trip changed the community:\n%s\n%s", out, out2)
		}
	})
}

// FuzzNormalizeHost: normalising a Host header is idempotent and yields a
// lower-case host without a port or a trailing dot, so a custom domain
// matches however the browser spells it.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"Beta.Example", "beta.example:443", "www.beta.example.", "[::1]:3001", "::1", "WWW.X.", "x:y:z", " a.b ", "www.www.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n := NormalizeHost(h)
		if NormalizeHost(n) != n {
			t.Fatalf("NormalizeHost(%q) = %q but NormalizeHost(%q) = %q", h, n, n, NormalizeHost(n))
		}
		if n != strings.ToLower(n) || strings.HasSuffix(n, ".") {
			t.Fatalf("NormalizeHost(%q) = %q", h, n)
		}
	})
}
