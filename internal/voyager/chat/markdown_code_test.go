package chat

import (
	"strings"
	"testing"
)

func TestMarkdownHighlightsCodeWithClasses(t *testing.T) {
	t.Parallel()
	md := NewMarkdown()
	got := string(md.HTML("Try:\n\n```go\nfunc main() { fmt.Println(\"<hi>\") }\n```\n\n```\nplain <b>\n```\n"))
	for _, want := range []string{`<pre class="chroma code-block" data-lang="Go"><code>`, `<span class="kd">func</span>`, `&lt;hi&gt;`, `plain &lt;b&gt;`} {
		if !strings.Contains(got, want) {
			t.Errorf("got %s, want it to contain %q", got, want)
		}
	}
	for _, never := range []string{"style=", "<b>"} {
		if strings.Contains(got, never) {
			t.Errorf("got %s, which contains %q", got, never)
		}
	}
	// A language name cannot smuggle attributes or classes.
	got = string(md.HTML("```x\" onclick=\"alert(1)\nhi\n```\n"))
	if strings.Contains(got, "onclick") {
		t.Errorf("got %s", got)
	}
}
