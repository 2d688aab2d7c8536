package apperr

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTextProblem: TextProblem finds exactly the strings a database
// refuses (a NUL or invalid UTF-8) and nothing else.
func FuzzTextProblem(f *testing.F) {
	for _, s := range []string{"", "plain", "a\x00b", "\xff", "é", "ok\xc3", "\x00", "日本語\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0
		if got := TextProblem(s) != ""; got != want {
			t.Fatalf("TextProblem(%q) = %q, want a problem: %v", s, TextProblem(s), want)
		}
		if e := InvalidText(map[string]string{"f": TextProblem(s)}); e.Kind != Invalid || e.Code != CodeInvalidText {
			t.Fatalf("InvalidText: got %v %q", e.Kind, e.Code)
		}
	})
}
