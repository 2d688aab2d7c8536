package idea

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// FuzzValidate: whatever a person types as an idea is either refused as
// Invalid naming fields, or normalised into text every store keeps:
// valid UTF-8, no NUL, no control characters in the title, within the
// limits, tags lower-case without spaces or commas.
func FuzzValidate(f *testing.F) {
	f.Add("Paint the fence", "before *winter*", "home, diy")
	f.Add("", "", "")
	f.Add("a\x00b", "b\x00", "x\x00")
	f.Add("\xff", "ok", "#Tag  #other")
	f.Add(strings.Repeat("é", MaxTitleRunes+1), "", "a,a,A")
	f.Fuzz(func(t *testing.T, title, body, tagLine string) {
		tags := ParseTags(tagLine)
		in := Input{Title: &title, Body: &body, Tags: &tags}
		out, err := in.Validate(Fields{}, true)
		if err != nil {
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Invalid || len(e.Fields) == 0 {
				t.Fatalf("Validate error %v is not Invalid with fields", err)
			}
			return
		}
		for name, s := range map[string]string{"title": out.Title, "body": out.Body} {
			if p := apperr.TextProblem(s); p != "" {
				t.Fatalf("%s %q accepted: %s", name, s, p)
			}
		}
		if out.Title == "" || utf8.RuneCountInString(out.Title) > MaxTitleRunes || strings.ContainsFunc(out.Title, unicode.IsControl) {
			t.Fatalf("title %q accepted", out.Title)
		}
		if len(out.Body) > MaxBodyBytes {
			t.Fatalf("body of %d bytes accepted", len(out.Body))
		}
		for _, tg := range out.Tags {
			if tg == "" || tg != strings.ToLower(tg) || strings.ContainsAny(tg, " ,\t\n") || apperr.TextProblem(tg) != "" {
				t.Fatalf("tag %q accepted", tg)
			}
		}
		// Validating the result again changes nothing.
		again, err := (Input{Title: &out.Title, Body: &out.Body, Tags: &out.Tags}).Validate(Fields{}, true)
		if err != nil || again.Title != out.Title || again.Body != out.Body || strings.Join(again.Tags, ",") != strings.Join(out.Tags, ",") {
			t.Fatalf("validation is not stable: %+v then %+v, %v", out, again, err)
		}
	})
}

// FuzzImport: any file offered to the importer is read to the end or
// refused with a client error, never a panic or an internal error; an
// idea that validates, exported and read back, is the same idea.
func FuzzImport(f *testing.F) {
	f.Add([]byte(`{"format":"coda.ideas","version":1,"ideas":[{"id":"x","title":"a","body":"b","tags":["t"],"version":1}]}`))
	f.Add([]byte(`{"format":"coda.ideas","version":1,"ideas":[{"title":"a\u0000"}]}`))
	f.Add([]byte("{\"format\":\"coda.ideas\",\"version\":1,\"ideas\":[{\"title\":\"\xff\"}]}"))
	f.Add([]byte(`{"format":"other","ideas":[]}`))
	f.Add([]byte(`{"ideas":[1,2]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		next, err := readExport(bytes.NewReader(data))
		if err != nil {
			clientError(t, err)
			return
		}
		for n := 0; ; n++ {
			e, bad, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				clientError(t, err)
				return
			}
			if n > len(data) {
				t.Fatal("the iterator does not end")
			}
			in := Input{Title: &e.Title, Body: &e.Body, Tags: &e.Tags, BadUTF8: bad}
			fl, err := in.Validate(Fields{}, true)
			if err != nil {
				clientError(t, err)
				continue
			}
			roundTrip(t, fl)
		}
	})
}

func clientError(t *testing.T, err error) {
	t.Helper()
	if k := apperr.KindOf(err); k != apperr.Invalid && k != apperr.TooLarge {
		t.Fatalf("error %v has kind %v, want a client error", err, k)
	}
}

func roundTrip(t *testing.T, fl Fields) {
	t.Helper()
	it := Idea{ID: "0190a0a0-0000-7000-8000-000000000000", Title: fl.Title, Body: fl.Body, Tags: fl.Tags, Version: 1, CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0)}
	// The envelope as ExportJSON writes it: format and version first.
	ideas, err := json.Marshal([]ExportedIdea{toExported(it)})
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(fmt.Sprintf(`{"format":%q,"version":%d,"ideas":%s}`, ExportFormat, ExportVersion, ideas))
	next, err := readExport(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("an export does not read back: %v\n%s", err, b)
	}
	e, _, err := next()
	if err != nil || e.Title != fl.Title || e.Body != fl.Body || strings.Join(e.Tags, ",") != strings.Join(fl.Tags, ",") {
		t.Fatalf("round trip: got %+v %v, want %+v", e, err, fl)
	}
}
