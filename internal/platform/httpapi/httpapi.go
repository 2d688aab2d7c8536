// Package httpapi encodes JSON responses and errors and decodes JSON
// request bodies in one place, so every endpoint answers in the same shape:
// {"error":{"code":"…","message":"…","fields":{…}}}.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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
	default:
		return http.StatusInternalServerError
	}
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
func ErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	ctx := r.Context()
	d := ErrorDetail{RequestID: obs.RequestID(ctx)}
	e, ok := apperr.As(err)
	if ok && e.Kind != apperr.Internal {
		d.Code = e.Code
		if d.Code == "" {
			d.Code = e.Kind.String()
		}
		d.Message = e.Message
		d.Fields = e.Fields
		if status == 0 {
			status = Status(e.Kind)
		}
		if e.Kind == apperr.Unavailable && e.Err != nil {
			obs.Logger(ctx).Warn("dependency unavailable", "err", e.Err.Error())
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
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, max)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return apperr.E(apperr.Invalid, "The body must hold a single JSON value.")
	}
	return nil
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
