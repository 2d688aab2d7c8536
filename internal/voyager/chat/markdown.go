package chat

import (
	"bytes"
	"html/template"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// Markdown renders answers: CommonMark plus GitHub tables, strikethrough
// and autolinks, raw HTML dropped, and the result sanitised again so no
// script, style, event handler or unsafe link survives.
//
// Images are never loaded: `![alt](url)` becomes a link to url labelled
// with alt. An answer steered by prompt injection could otherwise make the
// member's browser fetch a URL carrying conversation text to any host.
type Markdown struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// NewMarkdown returns the renderer.
func NewMarkdown() *Markdown {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	md := goldmark.New(goldmark.WithExtensions(extension.GFM),
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(imageAsLink{}, 100))))
	return &Markdown{md: md, policy: p}
}

// HTML renders src as safe HTML.
func (m *Markdown) HTML(src string) template.HTML {
	var b bytes.Buffer
	if err := m.md.Convert([]byte(src), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(m.policy.SanitizeBytes(b.Bytes()))
}

// imageAsLink renders image nodes as links (or, inside a link, as their
// alt text alone, since links do not nest). It takes priority over
// goldmark's own image renderer, so no <img> is ever produced.
type imageAsLink struct{}

func (imageAsLink) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindImage, renderImageAsLink)
}

func renderImageAsLink(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Image)
	inLink := false
	for p := node.Parent(); p != nil; p = p.Parent() {
		if p.Kind() == ast.KindLink || p.Kind() == ast.KindAutoLink {
			inLink = true
			break
		}
	}
	empty := n.FirstChild() == nil
	if entering {
		if !inLink {
			_, _ = w.WriteString(`<a href="`)
			if html.IsDangerousURL(n.Destination) {
				_, _ = w.WriteString("#")
			} else {
				_, _ = w.Write(util.EscapeHTML(util.URLEscape(n.Destination, true)))
			}
			_, _ = w.WriteString(`">`)
		}
		if empty {
			// No alt text: the address itself is the label.
			_, _ = w.Write(util.EscapeHTML(n.Destination))
		}
		return ast.WalkContinue, nil
	}
	if !inLink {
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}
