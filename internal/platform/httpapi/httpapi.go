// Package httpapi encodes JSON responses and errors and decodes JSON
// request bodies in one place, so every endpoint answers in the same shape:
// {"error":{"code":"…","message":"…","fields":{…}}}.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/obs"
)

// DefaultMaxBody is the largest JSON body Decode accepts unless told otherwise.
const DefaultMaxBody = 1 << 20

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// Status maps an error kind to an HTTP status.
func Status(k apperr.Kind) int {
	switch k {
	case apperr.Invalid:
		return http.StatusBadRequest
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Gone:
		return http.StatusGone
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	case apperr.Canceled:
		return StatusClientClosed
	default:
		return http.StatusInternalServerError
	}
}

// StatusClientClosed is the status recorded (nginx's 499) when the client
// went away before the answer: not a server error.
const StatusClientClosed = 499

// RetryAfterSeconds is the Retry-After of a 503 for a failing dependency:
// a restarted database or a rotated password takes seconds, not minutes.
const RetryAfterSeconds = "5"

// StatusOf is the status err answers with: its kind's (see Status), except
// that text refused for its bytes is 422, like every other field whose
// content cannot be accepted.
func StatusOf(err error) int {
	e, ok := apperr.As(err)
	if !ok {
		return http.StatusInternalServerError
	}
	if e.Code == apperr.CodeInvalidText {
		return http.StatusUnprocessableEntity
	}
	return Status(e.Kind)
}

// Write encodes v as JSON with the given status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// Error answers err as JSON. Internal errors are logged once with the
// request ID and the client sees only a generic message; errors with a kind
// show their own safe message.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	ErrorStatus(w, r, 0, err)
}

// ErrorStatus is Error with an explicit status (0 derives it from the kind).
// A failing dependency (apperr.Dependency) answers 503 with Retry-After; a
// request whose client went away is recorded as 499 and logged at info,
// not as an error.
func ErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	ctx := r.Context()
	d := ErrorDetail{RequestID: obs.RequestID(ctx)}
	e, ok := apperr.As(err)
	if (!ok || e.Kind == apperr.Internal) && errors.Is(ctx.Err(), context.Canceled) {
		// The client hung up and whatever failed failed because of it.
		e, ok = &apperr.Error{Kind: apperr.Canceled, Message: apperr.CanceledMessage, Err: err}, true
	}
	if ok && e.Kind != apperr.Internal {
		d.Code = e.Code
		if d.Code == "" {
			d.Code = e.Kind.String()
		}
		d.Message = e.Message
		d.Fields = e.Fields
		if status == 0 {
			status = StatusOf(e)
		}
		switch e.Kind {
		case apperr.Unavailable:
			if w.Header().Get("Retry-After") == "" {
				w.Header().Set("Retry-After", RetryAfterSeconds)
			}
			if e.Err != nil {
				obs.Logger(ctx).Warn("dependency unavailable", "err", e.Err.Error())
			}
		case apperr.Canceled:
			obs.Logger(ctx).Info("request canceled by the client", "err", errText(e.Err))
		}
	} else {
		d.Code = "internal"
		d.Message = "Something went wrong on our side. Please try again; if it keeps happening, quote the request ID."
		if status == 0 {
			status = http.StatusInternalServerError
		}
		obs.Logger(ctx).Error("internal error", "err", err.Error())
	}
	if d.Message == "" {
		d.Message = http.StatusText(status)
	}
	Write(w, status, ErrorBody{Error: d})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Decode reads one JSON value from r's body into dst, with a size limit of
// max bytes (DefaultMaxBody if 0) and unknown fields rejected. Its errors
// are apperr errors that name the problem.
func Decode(w http.ResponseWriter, r *http.Request, dst any, max int64) error {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return &apperr.Error{Kind: apperr.Invalid, Code: "unsupported_media_type", Message: "Send the body as application/json."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		return decodeError(err, max)
	}
	if bad := JSONTextProblems(body); len(bad) > 0 {
		return apperr.InvalidText(bad)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, max)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return apperr.E(apperr.Invalid, "The body must hold a single JSON value.")
	}
	return nil
}

// JSONTextProblems finds the strings in a JSON document that a database
// cannot store: a NUL (written \u0000) or bytes that are not UTF-8, which
// encoding/json would otherwise turn silently into U+FFFD. It maps each
// string's path ("title", "tags[2]", "a.b") to its apperr.TextProblem, and
// is empty for clean text (the common case costs one pass over the bytes).
// A document that is not valid JSON yields what was found before the
// syntax error; decoding reports the error itself.
func JSONTextProblems(body []byte) map[string]string {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u0000`)) {
		return nil
	}
	type frame struct {
		obj     bool
		wantKey bool
		key     string
		idx     int
	}
	var stack []*frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.obj {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				fmt.Fprintf(&b, "[%d]", f.idx)
			}
		}
		if b.Len() == 0 {
			return "body"
		}
		return strings.ToValidUTF8(strings.ReplaceAll(b.String(), "\x00", `\0`), "\uFFFD")
	}
	done := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.obj {
			f.wantKey = true
		} else {
			f.idx++
		}
	}
	bad := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(body))
	var prev int64
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		off := dec.InputOffset()
		raw := body[prev:off]
		prev = off
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '}', ']':
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				done()
			case '{':
				stack = append(stack, &frame{obj: true, wantKey: true})
			case '[':
				stack = append(stack, &frame{})
			}
			continue
		case string:
			problem := ""
			if !utf8.Valid(raw) {
				problem = "must be valid UTF-8 text"
			} else if strings.IndexByte(v, 0) >= 0 {
				problem = "must not contain a NUL byte"
			}
			if len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].wantKey {
				f := stack[len(stack)-1]
				f.key, f.wantKey = v, false
				if problem != "" {
					bad[path()] = "the field's name " + problem
				}
				continue
			}
			if problem != "" {
				bad[path()] = problem
			}
		}
		done()
	}
	return bad
}

func decodeError(err error, max int64) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &apperr.Error{Kind: apperr.TooLarge, Message: fmt.Sprintf("The body is larger than the limit of %d bytes.", max)}
	case errors.As(err, &syn):
		return apperr.E(apperr.Invalid, "The body is not valid JSON (at byte %d).", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.E(apperr.Invalid, "The body is not valid JSON (it ends too early).")
	case errors.Is(err, io.EOF):
		return apperr.E(apperr.Invalid, "The body is empty; send a JSON object.")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return apperr.E(apperr.Invalid, "The body must be a JSON %s.", typ.Type.Kind())
		}
		return apperr.InvalidFields("A field has the wrong type.", map[string]string{field: fmt.Sprintf("must be %s, not %s", typ.Type.Kind(), typ.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.InvalidFields("The body has a field this endpoint does not know.", map[string]string{name: "unknown field"})
	default:
		return apperr.E(apperr.Invalid, "The body could not be read as JSON.")
	}
}
