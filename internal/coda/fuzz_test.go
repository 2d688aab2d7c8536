package coda

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/platform/apperr"
)

// FuzzIdeaInput: any JSON body sent to POST/PATCH /api/ideas is either
// refused with a client error (400, 413, 422) or yields input whose
// validated text every store keeps.
func FuzzIdeaInput(f *testing.F) {
	for _, s := range []string{`{"title":"a","body":"b","tags":["x"]}`, `{"title":"a\u0000"}`, "{\"body\":\"\xff\"}", `{"version":"x"}`, `{"nope":1}`, `[]`, `{"tags":"x"}`, `null`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, creating bool) {
		r := httptest.NewRequest("POST", "/api/ideas", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		in, _, err := decodeIdeaInput(httptest.NewRecorder(), r, creating)
		if err != nil {
			if k := apperr.KindOf(err); k != apperr.Invalid && k != apperr.TooLarge {
				t.Fatalf("decode error %v has kind %v", err, k)
			}
			return
		}
		out, err := in.Validate(idea.Fields{}, creating)
		if err != nil {
			if k := apperr.KindOf(err); k != apperr.Invalid {
				t.Fatalf("validate error %v has kind %v", err, k)
			}
			return
		}
		for _, s := range append([]string{out.Title, out.Body}, out.Tags...) {
			if p := apperr.TextProblem(s); p != "" {
				t.Fatalf("accepted %q: %s", s, p)
			}
		}
	})
}

// FuzzRenderMarkdown: an idea's Markdown renders to HTML with no script,
// no event handler, no javascript: or data: link, whatever it holds; a
// search highlight escapes everything but its own <mark> elements.
func FuzzRenderMarkdown(f *testing.F) {
	for _, s := range []string{"# Title\n\n*a* [x](https://e.example)", "<script>alert(1)</script>", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>", "```go\nfunc(){}\n```", "<a href=\"jav&#x09;ascript:x\">x</a>", "| a | b |\n|---|---|\n| <b onclick=x>1</b> | 2 |"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		safeHTML(t, string(renderMarkdown(src)))
		h := string(highlightHTML(idea.MarkStart + src + idea.MarkEnd))
		rest := strings.ReplaceAll(strings.ReplaceAll(h, "<mark>", ""), "</mark>", "")
		if strings.ContainsAny(rest, "<>\"") {
			t.Fatalf("highlight of %q leaves markup: %q", src, h)
		}
	})
}

// taskCheckbox reports whether an <input> is a task list's checkbox: of
// type checkbox, with no attribute beyond type, checked, disabled, class,
// data-* and aria-label.
func taskCheckbox(tok html.Token) bool {
	checkbox := false
	for _, a := range tok.Attr {
		switch {
		case a.Key == "type":
			checkbox = a.Val == "checkbox"
		case a.Key == "checked" || a.Key == "disabled" || a.Key == "class" || a.Key == "aria-label" || strings.HasPrefix(a.Key, "data-"):
		default:
			return false
		}
	}
	return checkbox
}

// safeHTML fails the test if h holds anything that could run script.
func safeHTML(t *testing.T, h string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(h))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		if tok.Data == "input" && taskCheckbox(tok) {
			continue // a task list's checkbox (issue 14): type=checkbox and nothing that acts
		}
		switch tok.Data {
		case "script", "style", "iframe", "object", "embed", "form", "input", "button", "base", "meta", "link", "svg", "math":
			t.Fatalf("output has <%s>: %q", tok.Data, h)
		}
		for _, a := range tok.Attr {
			v := strings.ToLower(strings.Map(func(r rune) rune {
				if r <= ' ' {
					return -1
				}
				return r
			}, a.Val))
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" || a.Key == "srcdoc" ||
				((a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "formaction") && (strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "vbscript:"))) {
				t.Fatalf("output has %s=%q: %q", a.Key, a.Val, h)
			}
		}
	}
}
