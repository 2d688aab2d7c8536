// Package apperr defines the error kinds that domain code returns and the
// HTTP layer maps to statuses, so handlers never decide a status from an
// error's text.
package apperr

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"
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
	// Canceled: the client went away (or gave up) before the answer.
	Canceled
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
	case Canceled:
		return "canceled"
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

// KindOf returns the kind of err: that of the *Error inside it, or of the
// failing dependency (see Dependency), Internal for anything else.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}

// As returns the *Error inside err. An error without a kind (or of kind
// Internal) whose chain shows a dependency failing, such as a database
// that refuses connections, is returned as the *Error Dependency makes of
// it, so every caller maps an outage the same way.
func As(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	var e *Error
	found := errors.As(err, &e)
	if found && e.Kind != Internal {
		return e, true
	}
	if d := Dependency(err); d != nil {
		return d, true
	}
	return e, found
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == k
}

// The messages of the errors Dependency makes: safe for any client.
const (
	UnavailableMessage = "The service is temporarily unavailable. Please try again in a moment."
	CanceledMessage    = "The request was canceled before it finished."
	InvalidTextMessage = "The text contains bytes that cannot be stored (a NUL byte or invalid UTF-8)."
)

// CodeInvalidText is the code of the error that refuses text a database
// cannot store: a NUL byte or bytes that are not UTF-8.
const CodeInvalidText = "invalid_text"

// Dependency classifies an error that comes from below the domain (a
// database driver, the network, the context) without importing any driver:
// it recognises the standard library's errors and the shapes the drivers'
// errors have (PostgreSQL's SQLState() and SQLite's Code()). It returns nil
// when err says nothing about a dependency.
//
//   - the context was canceled (the client went away): Canceled
//   - a deadline passed, a connection was refused, reset or cut, the pool
//     is closed, PostgreSQL is shutting down, out of connections or
//     refusing the password, SQLite is busy, locked, full or failing I/O:
//     Unavailable (503 with Retry-After)
//   - PostgreSQL refused the bytes of a string (NUL, bad encoding): Invalid
func Dependency(err error) *Error {
	if err == nil {
		return nil
	}
	unavailable := func() *Error {
		return &Error{Kind: Unavailable, Code: "unavailable", Message: UnavailableMessage, Err: err}
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		code := st.SQLState()
		switch {
		case code == "22021" || code == "22P05":
			return &Error{Kind: Invalid, Code: CodeInvalidText, Message: InvalidTextMessage, Err: err}
		case code == "57014": // query_canceled: the context ended or a statement timeout
			if errors.Is(err, context.Canceled) {
				return &Error{Kind: Canceled, Message: CanceledMessage, Err: err}
			}
			return unavailable()
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"),                     // insufficient resources (too many connections)
			strings.HasPrefix(code, "28"),                     // invalid authorization (password rotated)
			code == "57P01", code == "57P02", code == "57P03", // admin/crash shutdown, cannot connect now
			code == "3D000",                  // the database does not exist (yet)
			code == "40001", code == "40P01", // serialization failure, deadlock: retry
			code == "55P03": // lock not available
			return unavailable()
		}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Kind: Canceled, Message: CanceledMessage, Err: err}
	}
	var sc interface{ Code() int }
	if errors.As(err, &sc) {
		// SQLite result codes; the extended code's low byte is the primary one.
		switch sc.Code() & 0xff {
		case 9: // SQLITE_INTERRUPT: the context ended
			return &Error{Kind: Canceled, Message: CanceledMessage, Err: err}
		case 5, 6, 7, 8, 10, 13, 14, 15: // BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL
			return unavailable()
		}
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), // a connection cut mid-answer
		strings.Contains(err.Error(), "unexpected EOF"),
		errors.As(err, &ne),
		strings.Contains(err.Error(), "sql: database is closed"),
		strings.Contains(err.Error(), "failed to connect to"), // pgconn.ConnectError
		strings.Contains(err.Error(), "conn closed"):          // pgx: the server cut the connection
		return unavailable()
	}
	return nil
}

// TextProblem says what is wrong with s as stored text, or "" if nothing:
// a NUL byte (PostgreSQL refuses it in text) or bytes that are not UTF-8
// (PostgreSQL refuses them; SQLite keeps them and hands them back broken).
func TextProblem(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 {
			return "must not contain a NUL byte"
		} else if c >= 0x80 {
			if !utf8.ValidString(s[i:]) {
				return "must be valid UTF-8 text"
			}
			if strings.IndexByte(s[i:], 0) >= 0 {
				return "must not contain a NUL byte"
			}
			return ""
		}
	}
	return ""
}

// InvalidText is the error for fields whose bytes cannot be stored; fields
// maps each field's name to its TextProblem.
func InvalidText(fields map[string]string) *Error {
	return &Error{Kind: Invalid, Code: CodeInvalidText, Message: InvalidTextMessage, Fields: fields}
}
