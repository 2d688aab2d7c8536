package coda

import (
	"strings"
	"testing"
)

func TestMarkdownIsInert(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"<script>alert(1)</script>",
		"<img src=x onerror=alert(1)>",
		"[click](javascript:alert(1))",
		"<a href=\"javascript:alert(1)\">x</a>",
		"![x](javascript:alert(1))",
		"<iframe src=//evil></iframe>",
		"<svg onload=alert(1)>",
		"[x](data:text/html;base64,PHNjcmlwdD4=)",
	} {
		got := string(renderMarkdown(src))
		for _, bad := range []string{"<script", "onerror", "javascript:", "<iframe", "onload", "data:text/html"} {
			if strings.Contains(strings.ToLower(got), bad) {
				t.Errorf("%q renders %q, which contains %q", src, got, bad)
			}
		}
	}
	if got := string(renderMarkdown("**bold** [link](https://example.com)")); !strings.Contains(got, "<strong>bold</strong>") || !strings.Contains(got, `rel="nofollow noreferrer noopener"`) {
		t.Errorf("ordinary Markdown renders %q", got)
	}
}

func TestCaptureInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ line, title, tags string }{
		{"Paint the fence #home", "Paint the fence", "home"},
		{"#only #tags", "#only #tags", ""},
		{"C# is a language", "C# is a language", ""},
		{"  spaced   out  ", "spaced out", ""},
	} {
		title, tags := captureInput(tc.line)
		if title != tc.title || strings.Join(tags, ",") != tc.tags {
			t.Errorf("%q: got %q %v, want %q %q", tc.line, title, tags, tc.title, tc.tags)
		}
	}
}

func TestHighlightHTMLEscapes(t *testing.T) {
	t.Parallel()
	got := string(highlightHTML("a <b>\x01match\x02</b> & c"))
	if got != "a &lt;b&gt;<mark>match</mark>&lt;/b&gt; &amp; c" {
		t.Fatalf("got %q", got)
	}
}
