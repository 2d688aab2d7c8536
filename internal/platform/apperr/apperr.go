// Package apperr defines the error kinds that domain code returns and the
// HTTP layer maps to statuses, so handlers never decide a status from an
// error's text.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the caller. The zero value is Internal.
type Kind int

// The kinds an error can carry.
const (
	Internal Kind = iota
	Invalid
	NotFound
	Conflict
	Unauthorized
	Forbidden
	RateLimited
	Gone
	TooLarge
	Unavailable
)

// String returns the stable code used in JSON errors.
func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	case Unauthorized:
		return "unauthorized"
	case Forbidden:
		return "forbidden"
	case RateLimited:
		return "rate_limited"
	case Gone:
		return "gone"
	case TooLarge:
		return "too_large"
	case Unavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Error is an error with a kind and a message that is safe to show a user.
type Error struct {
	Kind    Kind
	Code    string            // overrides Kind.String() in JSON when set
	Message string            // safe for the client
	Fields  map[string]string // per-field problems for Invalid
	Err     error             // underlying cause, never shown to the client
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	default:
		return e.Message
	}
}

func (e *Error) Unwrap() error { return e.Err }

// E returns an error of kind k with a client-safe message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k whose message is safe and whose cause is err.
func Wrap(k Kind, err error, msg string) *Error {
	return &Error{Kind: k, Message: msg, Err: err}
}

// InvalidFields returns an Invalid error listing every bad field at once.
func InvalidFields(msg string, fields map[string]string) *Error {
	return &Error{Kind: Invalid, Message: msg, Fields: fields}
}

// KindOf returns the kind of err, Internal for anything not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
