package coach

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// The kinds of document a member can attach, told apart by content, never
// by the file's name.
const (
	KindPDF      = "pdf"
	KindDOCX     = "docx"
	KindMarkdown = "markdown"
	KindText     = "text"
)

// Limits bound what an upload may be.
type Limits struct {
	MaxBytes int64 // DOCUMENT_MAX_BYTES
	MaxPages int   // DOCUMENT_MAX_PAGES (PDF pages; DOCX counted as text pages of 3,000 characters)
}

// maxText bounds the extracted text whatever the file claims (a DOCX whose
// XML expands far beyond its size is a zip bomb).
const maxText = 2 << 20

// maxXML bounds the uncompressed document.xml of a DOCX.
const maxXML = 32 << 20

// Extracted is what an upload yields.
type Extracted struct {
	Kind, MediaType string
	Pages           int
	Text            string
}

var (
	errUnsupported = apperr.InvalidFields("That kind of file can't be attached.", map[string]string{"file": "Attach a PDF, a Word document (.docx), Markdown or plain text."})
)

// Extract identifies data by its content and extracts its text, within l.
func Extract(name string, data []byte, l Limits) (Extracted, error) {
	if int64(len(data)) > l.MaxBytes {
		return Extracted{}, apperr.E(apperr.TooLarge, "That file is %s; the limit is %s.", size(int64(len(data))), size(l.MaxBytes))
	}
	if len(data) == 0 {
		return Extracted{}, apperr.InvalidFields("The file is empty.", map[string]string{"file": "Choose a file with something in it."})
	}
	switch {
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return extractPDF(data, l)
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return extractDOCX(data, l)
	case utf8.Valid(data) && !bytes.ContainsRune(data, 0):
		kind, mt := KindText, "text/plain"
		if looksMarkdown(name, data) {
			kind, mt = KindMarkdown, "text/markdown"
		}
		text := strings.ReplaceAll(string(data), "\r\n", "\n")
		return Extracted{Kind: kind, MediaType: mt, Pages: pagesOf(text), Text: text}, checkPages(pagesOf(text), l)
	}
	return Extracted{}, errUnsupported
}

// looksMarkdown: a .md name or Markdown structure at the start of a line.
func looksMarkdown(name string, data []byte) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, ".md") || strings.HasSuffix(n, ".markdown") {
		return true
	}
	for _, l := range strings.SplitN(string(data[:min(len(data), 4096)]), "\n", 50) {
		if strings.HasPrefix(l, "# ") || strings.HasPrefix(l, "## ") || strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "```") {
			return true
		}
	}
	return false
}

func pagesOf(text string) int { return max(1, (utf8.RuneCountInString(text)+2999)/3000) }

func checkPages(n int, l Limits) error {
	if l.MaxPages > 0 && n > l.MaxPages {
		return apperr.E(apperr.TooLarge, "That document has %d pages; the limit is %d.", n, l.MaxPages)
	}
	return nil
}

func extractPDF(data []byte, l Limits) (ex Extracted, err error) {
	// The parser panics on some malformed files: a bad upload is the
	// member's 4xx, never the server's crash.
	defer func() {
		if r := recover(); r != nil {
			ex, err = Extracted{}, notA("PDF")
		}
	}()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Extracted{}, notA("PDF")
	}
	n := r.NumPage()
	if n == 0 {
		return Extracted{}, notA("PDF")
	}
	if err := checkPages(n, l); err != nil {
		return Extracted{}, err
	}
	var b strings.Builder
	fonts := map[string]*pdf.Font{}
	for i := 1; i <= n && b.Len() < maxText; i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		for _, name := range p.Fonts() {
			if _, ok := fonts[name]; !ok {
				f := p.Font(name)
				fonts[name] = &f
			}
		}
		t, err := p.GetPlainText(fonts)
		if err != nil {
			continue
		}
		b.WriteString(strings.TrimSpace(t))
		b.WriteString("\n\n")
	}
	text := strings.TrimSpace(b.String())
	if len(text) > maxText {
		text = text[:maxText]
	}
	return Extracted{Kind: KindPDF, MediaType: "application/pdf", Pages: n, Text: strings.ToValidUTF8(text, "")}, nil
}

func extractDOCX(data []byte, l Limits) (Extracted, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Extracted{}, notA("Word document")
	}
	var doc *zip.File
	for _, f := range zr.File {
		if f.Name == "word/document.xml" {
			doc = f
		}
	}
	if doc == nil {
		return Extracted{}, notA("Word document")
	}
	if doc.UncompressedSize64 > maxXML {
		return Extracted{}, apperr.E(apperr.TooLarge, "That document expands to more than %s of text; it can't be attached.", size(maxXML))
	}
	rc, err := doc.Open()
	if err != nil {
		return Extracted{}, notA("Word document")
	}
	defer rc.Close()
	// The header's size can lie: read at most maxXML whatever it says.
	lr := &io.LimitedReader{R: rc, N: maxXML + 1}
	text, err := docxText(lr)
	if lr.N <= 0 {
		return Extracted{}, apperr.E(apperr.TooLarge, "That document expands to more than %s of text; it can't be attached.", size(maxXML))
	}
	if err != nil {
		return Extracted{}, notA("Word document")
	}
	pages := pagesOf(text)
	if err := checkPages(pages, l); err != nil {
		return Extracted{}, err
	}
	return Extracted{Kind: KindDOCX, MediaType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Pages: pages, Text: text}, nil
}

// docxText reads WordprocessingML: text runs (w:t), tabs, breaks, and a
// new line per paragraph.
func docxText(r io.Reader) (string, error) {
	dec := xml.NewDecoder(r)
	var b strings.Builder
	inText := false
	for b.Len() < maxText {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "t":
				inText = true
			case "tab":
				b.WriteByte('\t')
			case "br", "cr":
				b.WriteByte('\n')
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				b.WriteByte('\n')
			}
		case xml.CharData:
			if inText {
				b.Write(t)
			}
		}
	}
	return strings.TrimSpace(strings.ToValidUTF8(b.String(), "")), nil
}

func notA(what string) error {
	return apperr.InvalidFields(fmt.Sprintf("That file is not a readable %s.", what), map[string]string{"file": "The file's content is damaged or not what its name says. Attach a PDF, a .docx, Markdown or plain text."})
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// EstimateTokens is a provider-neutral estimate (about 4 characters a token).
func EstimateTokens(s string) int { return (utf8.RuneCountInString(s) + 3) / 4 }
