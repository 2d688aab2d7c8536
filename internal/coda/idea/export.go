package idea

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// The JSON export format: a versioned envelope whose "ideas" array holds
// every live idea, oldest first. Import reads the same format back.
const (
	ExportFormat  = "coda.ideas"
	ExportVersion = 1
)

// ExportedIdea is one idea in the JSON export.
type ExportedIdea struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	Tags      []string  `json:"tags"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func toExported(it Idea) ExportedIdea {
	tags := it.Tags
	if tags == nil {
		tags = []string{}
	}
	return ExportedIdea{ID: it.ID, Title: it.Title, Body: it.Body, Tags: tags, Version: it.Version, CreatedAt: it.CreatedAt.UTC(), UpdatedAt: it.UpdatedAt.UTC()}
}

// ExportJSON streams the user's ideas to w in the JSON export format and
// returns how many it wrote. Ideas are encoded one at a time, so memory
// does not grow with their number.
func (s *Service) ExportJSON(ctx context.Context, userID string, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 32<<10)
	fmt.Fprintf(bw, "{\"format\":%q,\"version\":%d,\"exportedAt\":%q,\"ideas\":[", ExportFormat, ExportVersion, s.now().Format(time.RFC3339Nano))
	enc := json.NewEncoder(bw)
	n := 0
	err := s.o.Store.Each(ctx, userID, func(it Idea) error {
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n")
		n++
		return enc.Encode(toExported(it))
	})
	if err != nil {
		return n, err
	}
	bw.WriteString("]}\n")
	return n, bw.Flush()
}

// ExportMarkdown streams the user's ideas to w as a zip holding one
// Markdown file per idea, with YAML front matter (id, title, tags, times,
// version), and returns how many it wrote.
func (s *Service) ExportMarkdown(ctx context.Context, userID string, w io.Writer) (int, error) {
	zw := zip.NewWriter(w)
	n := 0
	used := map[string]bool{}
	err := s.o.Store.Each(ctx, userID, func(it Idea) error {
		name := MarkdownName(it)
		if used[name] {
			name = strings.TrimSuffix(name, ".md") + "-" + it.ID + ".md"
		}
		used[name] = true
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: it.UpdatedAt})
		if err != nil {
			return err
		}
		n++
		_, err = io.WriteString(f, MarkdownFile(it))
		return err
	})
	if err != nil {
		return n, err
	}
	return n, zw.Close()
}

// MarkdownName is an idea's file name in the zip: its creation date, a
// slug of its title and the start of its ID.
func MarkdownName(it Idea) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(it.Title) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 60 {
			break
		}
	}
	slug := strings.Trim(b.String(), "-")
	if slug == "" {
		slug = "idea"
	}
	id := it.ID
	if len(id) > 8 {
		id = id[len(id)-8:]
	}
	return fmt.Sprintf("%s-%s-%s.md", it.CreatedAt.UTC().Format("2006-01-02"), slug, id)
}

// MarkdownFile is an idea as Markdown with front matter. Strings are
// written as JSON strings, which YAML reads as double-quoted scalars.
func MarkdownFile(it Idea) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tags := it.Tags
	if tags == nil {
		tags = []string{}
	}
	tb, _ := json.Marshal(tags)
	var b strings.Builder
	b.WriteString("---\n")
	fmt.Fprintf(&b, "id: %s\ntitle: %s\ntags: %s\ncreated: %s\nupdated: %s\nversion: %d\n", q(it.ID), q(it.Title), tb,
		it.CreatedAt.UTC().Format(time.RFC3339Nano), it.UpdatedAt.UTC().Format(time.RFC3339Nano), it.Version)
	b.WriteString("---\n\n")
	b.WriteString(it.Body)
	if it.Body != "" && !strings.HasSuffix(it.Body, "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

// Import reads a JSON export from r and adds its ideas to the user's, in
// one transaction: any bad idea stores nothing and is named in the error
// (fields "ideas[3].title"). Ideas already present (same ID, or the same
// title, body and tags) are counted as duplicates and skipped. An idea
// keeps its ID when no idea on the server has it; one whose ID another
// account uses, or that is not a Coda ID, gets a new ID, listed in
// NewIDs.
func (s *Service) Import(ctx context.Context, userID string, r io.Reader) (ImportResult, error) {
	next, err := readExport(r)
	if err != nil {
		return ImportResult{}, err
	}
	now := s.now()
	i := -1
	return s.o.Store.Import(ctx, userID, func() (Idea, error) {
		e, raw, err := next()
		if err != nil {
			return Idea{}, err
		}
		i++
		in := Input{Title: &e.Title, Body: &e.Body, Tags: &e.Tags, BadUTF8: raw}
		f, err := in.Validate(Fields{}, true)
		if err != nil {
			ae, _ := apperr.As(err)
			fields := map[string]string{}
			for k, v := range ae.Fields {
				fields[fmt.Sprintf("ideas[%d].%s", i, k)] = v
			}
			return Idea{}, apperr.InvalidFields(fmt.Sprintf("Idea %d of the file is not valid; nothing was imported.", i+1), fields)
		}
		it := Idea{ID: strings.ToLower(strings.TrimSpace(e.ID)), UserID: userID, Title: f.Title, Body: f.Body, Tags: f.Tags, Version: max(e.Version, 1),
			CreatedAt: e.CreatedAt.UTC().Truncate(time.Microsecond), UpdatedAt: e.UpdatedAt.UTC().Truncate(time.Microsecond)}
		if it.CreatedAt.IsZero() {
			it.CreatedAt = now
		}
		if it.UpdatedAt.IsZero() || it.UpdatedAt.Before(it.CreatedAt) {
			it.UpdatedAt = it.CreatedAt
		}
		// The store keeps the ID if it is free and valid (ValidID), and
		// reports the ones it could not keep.
		return it, nil
	})
}

// tooBig reports a body cut off by http.MaxBytesReader, which the caller
// answers as 413 rather than as bad JSON.
func tooBig(err error) bool {
	return err != nil && strings.Contains(err.Error(), "http: request body too large")
}

// rawIdea decodes an exported idea, noting string fields whose raw bytes
// are not valid UTF-8.
type rawIdea struct {
	ExportedIdea
	bad map[string]bool
}

func (ri *rawIdea) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for _, k := range []string{"title", "body", "tags"} {
		if v, ok := m[k]; ok && !utf8.Valid(v) {
			if ri.bad == nil {
				ri.bad = map[string]bool{}
			}
			ri.bad[k] = true
		}
	}
	return json.Unmarshal(b, &ri.ExportedIdea)
}

// readExport checks the envelope and returns an iterator over its ideas.
func readExport(r io.Reader) (func() (ExportedIdea, map[string]bool, error), error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	bad := func(msg string, a ...any) error { return apperr.E(apperr.Invalid, msg, a...) }
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad("The file is not a Coda JSON export (it must be a JSON object).")
	}
	format, version := "", 0
	for {
		if !dec.More() {
			return nil, bad("The file has no \"ideas\" array.")
		}
		t, err := dec.Token()
		if err != nil {
			if tooBig(err) {
				return nil, err
			}
			return nil, bad("The file is not valid JSON.")
		}
		key, _ := t.(string)
		if key == "ideas" {
			break
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, bad("The file is not valid JSON.")
		}
		switch key {
		case "format":
			format, _ = v.(string)
		case "version":
			f, _ := v.(float64)
			version = int(f)
		}
	}
	if format != ExportFormat {
		return nil, apperr.InvalidFields("The file is not a Coda ideas export.", map[string]string{"format": fmt.Sprintf("must be %q", ExportFormat)})
	}
	if version < 1 || version > ExportVersion {
		return nil, apperr.InvalidFields("This export version cannot be imported.", map[string]string{"version": fmt.Sprintf("must be %d", ExportVersion)})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, apperr.InvalidFields("The file's ideas are not a list.", map[string]string{"ideas": "must be an array"})
	}
	i := 0
	return func() (ExportedIdea, map[string]bool, error) {
		if !dec.More() {
			return ExportedIdea{}, nil, io.EOF
		}
		var ri rawIdea
		if err := dec.Decode(&ri); err != nil {
			if tooBig(err) {
				return ExportedIdea{}, nil, err
			}
			return ExportedIdea{}, nil, bad("Idea %d of the file is not valid JSON: nothing was imported.", i+1)
		}
		i++
		return ri.ExportedIdea, ri.bad, nil
	}, nil
}
