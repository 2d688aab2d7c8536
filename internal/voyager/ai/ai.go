// Package ai streams chat answers from language-model providers. Its
// Router tries providers in order (Anthropic first, then OpenAI), falls
// back only when a call fails before its first token, skips a failing
// provider with a circuit breaker, enforces connect, first-token and idle
// timeouts, and accounts tokens and estimated cost. Provider
// implementations live in subpackages and speak only these types.
package ai

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Role is who wrote a message.
type Role string

// The roles sent to providers.
const (
	User      Role = "user"
	Assistant Role = "assistant"
)

// Message is one turn of the conversation sent as context.
type Message struct {
	Role    Role
	Content string
}

// Request is one answer to generate.
type Request struct {
	System      string            // the coach's system prompt (cached by providers that can)
	Messages    []Message         // oldest first, ending with the member's message
	Models      map[string]string // preferred model by provider name; empty: provider default
	Temperature *float64
	MaxTokens   int
	Community   string // for metrics only
	// Profile is what the coach knows about the member (profile and
	// remembered facts): a block after System, cached on its own.
	Profile string
	// Documents the member attached go with the conversation's first
	// message: PDFs as native documents where the provider reads them,
	// extracted text elsewhere.
	Documents []Document
}

// Document is an attached file.
type Document struct {
	Name      string
	MediaType string // application/pdf, text/markdown, …
	Data      []byte // the file as uploaded
	Text      string // its extracted text
}

// DocumentText is the plain-text form of a document for providers that
// take no files.
func DocumentText(d Document) string {
	return "Attached document \"" + d.Name + "\":\n\n" + d.Text
}

// Usage counts tokens of one call.
type Usage struct {
	Input      int64 `json:"input"`       // uncached input tokens
	Output     int64 `json:"output"`      // generated tokens
	CacheRead  int64 `json:"cache_read"`  // input tokens served from the prompt cache
	CacheWrite int64 `json:"cache_write"` // input tokens written to the prompt cache
}

// Result describes a finished (or interrupted) call.
type Result struct {
	Provider     string
	Model        string
	Usage        Usage
	FinishReason string        // provider's stop reason, or "stopped", "interrupted", "error"
	FirstToken   time.Duration // from the call's start to the first text
	Latency      time.Duration // from the call's start to its end
	CostMicros   int64         // estimated cost in millionths of a US dollar
	Attempts     []Attempt     // providers tried before this one, with why they failed
}

// Attempt is one provider call that failed before its first token.
type Attempt struct {
	Provider string
	Reason   string
}

// Provider streams one answer. Stream calls emit for each piece of text in
// order and returns the usage and stop reason. An error must be an *Error
// (or wrap one) so the router can tell whether to fall back.
type Provider interface {
	Name() string
	DefaultModel() string
	Stream(ctx context.Context, req Request, model string, emit func(text string)) (Usage, string, error)
}

// Error classifies a provider failure.
type Error struct {
	Provider  string
	Status    int  // HTTP status, 0 for transport errors
	Retryable bool // another provider may succeed: connection, timeout, 429, 5xx, 529
	Reason    string
	Err       error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Provider, e.Reason, e.Status)
	}
	return fmt.Sprintf("%s: %s", e.Provider, e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Classify builds an *Error for a failure with an HTTP status (0 when the
// request never got a response).
func Classify(provider string, status int, err error) *Error {
	e := &Error{Provider: provider, Status: status, Err: err}
	switch {
	case status == 429:
		e.Retryable, e.Reason = true, "rate limited"
	case status == 529:
		e.Retryable, e.Reason = true, "overloaded"
	case status >= 500:
		e.Retryable, e.Reason = true, "server error"
	case status >= 400:
		e.Reason = "request refused"
		if status == 401 || status == 403 {
			// A bad key on one provider should not stop the other.
			e.Retryable, e.Reason = true, "not authorised (check the API key)"
		}
	case errors.Is(err, context.DeadlineExceeded):
		e.Retryable, e.Reason = true, "timeout"
	default:
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &ne) || errors.As(err, &oe) {
			e.Retryable, e.Reason = true, "connection error"
		} else {
			e.Retryable, e.Reason = true, "stream error"
		}
	}
	return e
}

// Outcome errors the router returns.
var (
	// ErrNoProvider: no provider is configured.
	ErrNoProvider = errors.New("no AI provider configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY")
	// ErrStopped: the caller cancelled (the member pressed stop).
	ErrStopped = errors.New("stopped")
)

// UnavailableError says every provider failed before answering.
type UnavailableError struct{ Attempts []Attempt }

func (e *UnavailableError) Error() string {
	s := "every AI provider failed"
	for _, a := range e.Attempts {
		s += "; " + a.Provider + ": " + a.Reason
	}
	return s
}

// InterruptedError says a provider failed after streaming some text.
type InterruptedError struct {
	Provider string
	Reason   string
}

func (e *InterruptedError) Error() string {
	return "answer interrupted: " + e.Provider + ": " + e.Reason
}
