package chat

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// FuzzMessage: a member's message and a conversation title are refused
// with a field error (400/422) or accepted as text every store keeps,
// within the limits; a title is never cut silently.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{"How do I ask for a raise?", "", "   ", "a\x00b", "\xff\xfe", strings.Repeat("é", MaxTitleLen+1), "tab\there"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		text, err := checkMessage(s)
		if err != nil {
			if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Fields["content"] == "" {
				t.Fatalf("checkMessage(%q): %v is not a field error on content", s, err)
			}
		} else if text == "" || apperr.TextProblem(text) != "" || utf8.RuneCountInString(text) > MaxMessageLen {
			t.Fatalf("checkMessage(%q) accepted %q", s, text)
		}
		title, err := checkTitle(s)
		if err != nil {
			if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Fields["title"] == "" {
				t.Fatalf("checkTitle(%q): %v is not a field error on title", s, err)
			}
			return
		}
		if apperr.TextProblem(title) != "" || utf8.RuneCountInString(title) > MaxTitleLen || title != strings.Join(strings.Fields(s), " ") {
			t.Fatalf("checkTitle(%q) accepted %q", s, title)
		}
		if auto := cleanTitle(s); utf8.RuneCountInString(auto) > MaxTitleLen {
			t.Fatalf("cleanTitle(%q) = %q, longer than %d", s, auto, MaxTitleLen)
		}
	})
}

// FuzzMarkdown: a coach's answer (steered by whoever wrote the prompt)
// renders to HTML with no script, no event handler and no javascript: or
// data: link.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"**Ask** for the raise.", "<script>alert(1)</script>", "[x](javascript:alert(1))", "![x](https://tracker.example/p.png?leak=1)", "<img src=x onerror=alert(1)>", "| a |\n|---|\n| <b onclick=x>1</b> |", "<a href=\"jav&#x09;ascript:x\">x</a>"} {
		f.Add(s)
	}
	m := NewMarkdown()
	f.Fuzz(func(t *testing.T, src string) {
		h := string(m.HTML(src))
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
			switch tok.Data {
			case "script", "style", "iframe", "object", "embed", "form", "input", "button", "base", "meta", "link", "svg", "math":
				t.Fatalf("answer %q renders <%s>: %q", src, tok.Data, h)
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.Map(func(r rune) rune {
					if r <= ' ' {
						return -1
					}
					return r
				}, a.Val))
				if strings.HasPrefix(a.Key, "on") || a.Key == "style" || a.Key == "srcdoc" ||
					((a.Key == "href" || a.Key == "src") && (strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "vbscript:"))) {
					t.Fatalf("answer %q renders %s=%q: %q", src, a.Key, a.Val, h)
				}
			}
		}
	})
}
