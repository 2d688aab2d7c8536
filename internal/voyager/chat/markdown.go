package chat

import (
	"bytes"
	"html/template"
	"regexp"
	"strings"

	"github.com/alecthomas/chroma/v2"
	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
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
// script, style, event handler or unsafe link survives. Fenced code blocks
// are highlighted on the server with chroma, as CSS classes (the pages'
// CSP forbids inline styles; web/src/voyager/code.css holds the colours).
//
// Images are never loaded: `![alt](url)` becomes a link to url labelled
// with alt. An answer steered by prompt injection could otherwise make the
// member's browser fetch a URL carrying conversation text to any host.
type Markdown struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// chromaClass is a class chroma writes: "chroma" or a short token class.
var chromaClass = regexp.MustCompile(`^(?:chroma|code-block|language-[A-Za-z0-9_+-]+|[a-z]{1,3}[0-9]?)(?: (?:chroma|code-block|language-[A-Za-z0-9_+-]+|[a-z]{1,3}[0-9]?))*$`)

// NewMarkdown returns the renderer.
func NewMarkdown() *Markdown {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowAttrs("class").Matching(chromaClass).OnElements("pre", "code", "span")
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^code-wrap$`)).OnElements("div")
	p.AllowAttrs("data-lang").Matching(regexp.MustCompile(`^[A-Za-z0-9_+#. -]{1,32}$`)).OnElements("pre")
	md := goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(&codeRenderer{}, 100), util.Prioritized(imageAsLink{}, 100))),
	)
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

// codeRenderer renders fenced and indented code blocks through chroma.
type codeRenderer struct{}

// formatter writes classes ("chroma", "k", "s", …), never style attributes.
var formatter = chromahtml.New(chromahtml.WithClasses(true), chromahtml.PreventSurroundingPre(true))

func (r *codeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindFencedCodeBlock, r.render)
	reg.Register(ast.KindCodeBlock, r.render)
}

func (r *codeRenderer) render(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	var code strings.Builder
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		code.Write(seg.Value(src))
	}
	lang := ""
	if f, ok := n.(*ast.FencedCodeBlock); ok && f.Info != nil {
		lang = strings.Fields(string(f.Language(src)) + " ")[0]
	}
	var lexer chroma.Lexer
	if lang != "" {
		lexer = lexers.Get(lang)
	}
	label := lang
	if lexer == nil {
		lexer = lexers.Fallback
	} else {
		label = lexer.Config().Name
	}
	w.WriteString(`<div class="code-wrap"><pre class="chroma code-block"`)
	if label != "" {
		w.WriteString(` data-lang="` + template.HTMLEscapeString(label) + `"`)
	}
	w.WriteString(`><code>`)
	it, err := chroma.Coalesce(lexer).Tokenise(nil, code.String())
	if err == nil {
		err = formatter.Format(w, styles.Fallback, it)
	}
	if err != nil {
		w.WriteString(template.HTMLEscapeString(code.String()))
	}
	w.WriteString("</code></pre></div>\n")
	return ast.WalkSkipChildren, nil
}
