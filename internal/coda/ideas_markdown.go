package coda

import (
	"bytes"
	"html"
	"html/template"
	"regexp"
	"strings"
	"unicode/utf8"

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
		// Task lists: goldmark renders each marker as a disabled checkbox
		// (raw HTML in an idea is left out, so only those reach here). A
		// checkbox, and only a checkbox, survives; the page script makes it
		// tickable.
		p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
		p.AllowAttrs("checked", "disabled").Matching(regexp.MustCompile(`^(|checked|disabled)$`)).OnElements("input")
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

// excerpt is the start of a body for the list, as plain text: Markdown
// reduced to its words (plainText), task items left out when the list
// shows them as checkboxes.
func excerpt(body string, n int, skipTasks bool) string {
	// 180 characters of text rarely need more than a few times as many
	// bytes of Markdown; a body whose start is mostly markup gets more.
	for limit := max(n*6, 1024); ; limit *= 8 {
		src, cut := prefix(body, limit)
		text := plainText(src, skipTasks)
		if !cut || utf8.RuneCountInString(text) > n {
			return clip(text, n)
		}
	}
}

// clip shortens text to n characters and an ellipsis.
func clip(body string, n int) string {
	r := []rune(body)
	if len(r) <= n {
		return body
	}
	return strings.TrimSpace(string(r[:n])) + "…"
}

var (
	taskMarker = regexp.MustCompile(`\[[ xX]\]`)
	markerWord = regexp.MustCompile("^(#{1,6}|[-*+>]|\\d+[.)]|`{3,}\\w*|~{3,}\\w*|\\*{1,3}|_{1,3}|\\|)$")
)

// highlightExcerpt reduces a search snippet (Markdown with match marks) to
// plain text, keeping the marks, and drops a mark left without its pair
// by the cut.
func highlightExcerpt(snippet string) string {
	s := plainText(snippet, false)
	// A fragment cut from the middle of a body can leave markers the
	// parser no longer sees as syntax ("- [ ] ", "```go" without its
	// fence's line): words made only of them go.
	s = taskMarker.ReplaceAllString(s, " ")
	words := strings.Fields(s)
	kept := words[:0]
	for _, w := range words {
		if !markerWord.MatchString(strings.Trim(w, idea.MarkStart+idea.MarkEnd)) {
			kept = append(kept, w)
		}
	}
	s = strings.Join(kept, " ")
	var b strings.Builder
	open := false
	for _, r := range s {
		switch string(r) {
		case idea.MarkStart:
			if open {
				continue
			}
			open = true
		case idea.MarkEnd:
			if !open {
				continue
			}
			open = false
		}
		b.WriteRune(r)
	}
	if open {
		b.WriteString(idea.MarkEnd)
	}
	return b.String()
}
