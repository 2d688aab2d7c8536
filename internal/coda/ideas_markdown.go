package coda

import (
	"bytes"
	"html"
	"html/template"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/relaywork/suite/internal/coda/idea"
)

// markdown renders an idea's Markdown: goldmark (GitHub flavour, raw HTML
// left out) and then bluemonday's user-content policy, so whatever
// someone writes renders inert.
var (
	md     = goldmark.New(goldmark.WithExtensions(extension.GFM))
	policy = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		p.RequireNoReferrerOnLinks(true)
		p.AddTargetBlankToFullyQualifiedLinks(true)
		return p
	}()
)

// renderMarkdown returns sanitised HTML for src.
func renderMarkdown(src string) template.HTML {
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		return template.HTML("<p>" + html.EscapeString(src) + "</p>")
	}
	return template.HTML(policy.SanitizeBytes(buf.Bytes()))
}

// highlightHTML escapes a search highlight and turns its marks into
// <mark> elements.
func highlightHTML(s string) template.HTML {
	e := html.EscapeString(s)
	e = strings.ReplaceAll(e, idea.MarkStart, "<mark>")
	e = strings.ReplaceAll(e, idea.MarkEnd, "</mark>")
	return template.HTML(e)
}

// excerpt is the start of a body for the list, as plain text.
func excerpt(body string, n int) string {
	body = strings.Join(strings.Fields(body), " ")
	r := []rune(body)
	if len(r) <= n {
		return body
	}
	return strings.TrimSpace(string(r[:n])) + "…"
}
