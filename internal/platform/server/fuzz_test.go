package server

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// FuzzCheckText: the router's edge check refuses a path value, query
// parameter or form value exactly when its bytes are ones a database
// refuses, and names the field.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"plain", "a\x00b", "\xff\xfe", "é", "", "%00", "a b&c=d"} {
		f.Add(s, 0)
		f.Add(s, 1)
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, s string, where int) {
		r := httptest.NewRequest("GET", "/x", nil)
		field := "id"
		switch where % 3 {
		case 0:
			r.SetPathValue("id", s)
		case 1:
			field = "q"
			r.URL.RawQuery = "q=" + url.QueryEscape(s)
		default:
			field = "title"
			r = httptest.NewRequest("POST", "/x", strings.NewReader("title="+url.QueryEscape(s)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		err := CheckText(r, []string{"id"})
		bad := apperr.TextProblem(s) != ""
		if (err != nil) != bad {
			t.Fatalf("CheckText(%q in %s) = %v, want refused: %v", s, field, err, bad)
		}
		if err != nil {
			e, _ := apperr.As(err)
			if e.Code != apperr.CodeInvalidText || e.Fields[field] == "" {
				t.Fatalf("CheckText(%q in %s) = %+v, want invalid_text naming %s", s, field, e, field)
			}
		}
	})
}
