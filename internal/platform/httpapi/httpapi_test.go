package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/apperr"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	type in struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	tests := []struct {
		name, body string
		max        int64
		wantKind   apperr.Kind
		wantField  string
		ok         bool
	}{
		{name: "valid", body: `{"name":"a","n":1}`, ok: true},
		{name: "syntax", body: `{"name":`, wantKind: apperr.Invalid},
		{name: "bad syntax mid", body: `{"name" "a"}`, wantKind: apperr.Invalid},
		{name: "empty", body: ``, wantKind: apperr.Invalid},
		{name: "unknown field", body: `{"nope":1}`, wantKind: apperr.Invalid, wantField: "nope"},
		{name: "wrong type", body: `{"n":"x"}`, wantKind: apperr.Invalid, wantField: "n"},
		{name: "two values", body: `{} {}`, wantKind: apperr.Invalid},
		{name: "too large", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, max: 50, wantKind: apperr.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			var v in
			err := Decode(httptest.NewRecorder(), r, &v, tt.max)
			if tt.ok {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if got := apperr.KindOf(err); got != tt.wantKind {
				t.Fatalf("got kind %v (%v), want %v", got, err, tt.wantKind)
			}
			if tt.wantField != "" {
				e, _ := apperr.As(err)
				if _, ok := e.Fields[tt.wantField]; !ok {
					t.Errorf("got fields %v, want %q named", e.Fields, tt.wantField)
				}
			}
		})
	}
}

func TestErrorHidesInternalDetail(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Error(w, httptest.NewRequest("GET", "/", nil), errors.New("pq: password authentication failed for user root"))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("got %d, want 500", w.Code)
	}
	if strings.Contains(w.Body.String(), "password") {
		t.Fatalf("internal detail leaked: %s", w.Body)
	}
	var b ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Code != "internal" {
		t.Fatalf("got %s (%v), want code internal", w.Body, err)
	}
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Error(w, httptest.NewRequest("GET", "/", nil), apperr.InvalidFields("bad", map[string]string{"title": "too long"}))
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"title":"too long"`) || !strings.Contains(w.Body.String(), `"code":"invalid"`) {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	Error(w, httptest.NewRequest("GET", "/", nil), apperr.E(apperr.NotFound, "No such idea."))
	if w.Code != 404 || !strings.Contains(w.Body.String(), "No such idea.") {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}
