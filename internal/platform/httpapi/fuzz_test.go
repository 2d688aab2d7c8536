package httpapi

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// FuzzDecode: any body decodes or fails with a client error (400, 413 or
// 422), never an internal one; a body whose strings hold a NUL or invalid
// UTF-8 is always refused naming a field, and what decodes holds no NUL.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":"\u0000"}`, "{\"a\":\"\xff\"}", `[1,2,"x"]`, `{"a":{"b":["c","d\u0000"]}}`, `"\\u0000"`, `{`, ``, `{"\u0000":1}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v any
		err := Decode(httptest.NewRecorder(), r, &v, 1<<16)
		problems := JSONTextProblems(body)
		if err == nil {
			if len(problems) > 0 {
				t.Fatalf("decoded a body with text problems %v", problems)
			}
			walk(t, v)
			return
		}
		e, ok := apperr.As(err)
		if !ok || (e.Kind != apperr.Invalid && e.Kind != apperr.TooLarge) {
			t.Fatalf("Decode error %v is not a client error", err)
		}
		if st := StatusOf(err); st < 400 || st >= 500 {
			t.Fatalf("Decode error %v answers %d", err, st)
		}
		if len(problems) > 0 && (e.Code != apperr.CodeInvalidText || len(e.Fields) == 0) {
			t.Fatalf("text problems %v, but the error is %v", problems, err)
		}
	})
}

func walk(t *testing.T, v any) {
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			t.Fatalf("decoded a NUL in %q", x)
		}
	case []any:
		for _, e := range x {
			walk(t, e)
		}
	case map[string]any:
		for k, e := range x {
			walk(t, k)
			walk(t, e)
		}
	}
}
