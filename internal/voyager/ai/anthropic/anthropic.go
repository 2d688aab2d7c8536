// Package anthropic is the Anthropic Messages API provider (streaming; the
// official SDK v2 frames the events), with prompt caching on the system
// prompt.
package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/relaywork/suite/internal/voyager/ai"
)

// Name is the provider's name in metrics, logs and community files.
const Name = "anthropic"

// DefaultModel is used when a community names none.
const DefaultModel = "claude-sonnet-4-5"

// Options configures the provider.
type Options struct {
	APIKey         string
	BaseURL        string // ANTHROPIC_BASE_URL; empty: the SDK default
	Model          string // default model; DefaultModel when empty
	ConnectTimeout time.Duration
	HTTPClient     *http.Client // nil: one with ConnectTimeout
}

// Provider calls Anthropic.
type Provider struct {
	hc     *http.Client
	url    string // the Messages endpoint
	header http.Header
	model  string
}

// APIVersion is the anthropic-version header sent (the SDK's own).
const APIVersion = "2026-10-21"

// DefaultBaseURL is the API's address when ANTHROPIC_BASE_URL is unset.
const DefaultBaseURL = "https://api.anthropic.com/"

var _ ai.Provider = (*Provider)(nil)

// New returns the provider.
func New(o Options) *Provider {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: Transport(o.ConnectTimeout)}
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.Model == "" {
		o.Model = DefaultModel
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("X-Api-Key", o.APIKey)
	h.Set("Anthropic-Version", APIVersion)
	return &Provider{hc: hc, url: strings.TrimSuffix(o.BaseURL, "/") + "/v1/messages", header: h, model: o.Model}
}

// Transport is an HTTP transport with a connect timeout and no overall
// timeout (streams are long; the router bounds silence). It keeps up to
// maxIdle connections to the provider between answers (the default keeps
// 100 in all), so a burst of hundreds of concurrent answers does not dial
// (and, against the real API, handshake TLS) again for most of the next
// one on the way to its first token; idle ones close after 90 s.
func Transport(connect time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = connect
	t.ResponseHeaderTimeout = 0
	t.MaxIdleConns, t.MaxIdleConnsPerHost = maxIdle, maxIdle
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// maxIdle is how many idle provider connections Transport keeps: the
// concurrent streams a server is sized for (docs/voyager.md: 500).
const maxIdle = 1024

// Name implements ai.Provider.
func (p *Provider) Name() string { return Name }

// DefaultModel implements ai.Provider.
func (p *Provider) DefaultModel() string { return p.model }

// Stream implements ai.Provider. The request is one POST of our own
// (post: the SDK's headers and API version, no retries) and the SDK frames
// the server-sent events (ssestream, which turns an error event into an
// API error); the request body and the events are our own small structs
// (wire.go) marshalled with encoding/json. The SDK's own param and event
// types go through its reflective apijson codec, which a profile of the
// send path put at a quarter of a millisecond per answer before its first
// token, and its client's request building and middleware at about
// 0.1 ms more (TestWireRequestMatchesSDK keeps the body equal to the
// SDK's).
func (p *Provider) Stream(ctx context.Context, req ai.Request, model string, emit func(string)) (ai.Usage, string, error) {
	body, err := json.Marshal(wireRequestFor(req, model))
	if err != nil {
		return ai.Usage{}, "", ai.Classify(Name, 0, err)
	}
	raw, err := p.post(ctx, body)
	if err != nil {
		return ai.Usage{}, "", err
	}
	stream := ssestream.NewStream[wireEvent](ssestream.NewDecoder(raw), nil)
	defer stream.Close()
	var u ai.Usage
	stop := ""
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "message_start":
			mu := ev.Message.Usage
			u.Input, u.CacheRead, u.CacheWrite, u.Output = mu.InputTokens, mu.CacheReadInputTokens, mu.CacheCreationInputTokens, mu.OutputTokens
		case "content_block_delta":
			if ev.Delta.Type == "text_delta" {
				emit(ev.Delta.Text)
			}
		case "message_delta":
			if ev.Delta.StopReason != "" {
				stop = ev.Delta.StopReason
			}
			// message_delta usage is cumulative.
			d := ev.Usage
			u.Output = max(u.Output, d.OutputTokens)
			u.Input = max(u.Input, d.InputTokens)
			u.CacheRead = max(u.CacheRead, d.CacheReadInputTokens)
			u.CacheWrite = max(u.CacheWrite, d.CacheCreationInputTokens)
		}
	}
	if err := stream.Err(); err != nil {
		return u, stop, classify(err)
	}
	if stop == "" {
		return u, stop, ai.Classify(Name, 0, errors.New("stream ended without message_stop"))
	}
	return u, stop, nil
}

// post sends the request: one POST on the shared transport, no retries
// (the router falls back to the other provider instead). A refusal (4xx,
// 5xx) comes back classified, with the API's own message.
func (p *Provider) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, ai.Classify(Name, 0, err)
	}
	req.Header = p.header.Clone()
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, ai.Classify(Name, 0, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
		return nil, ai.Classify(Name, resp.StatusCode, &StatusError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("Request-Id"), Message: apiMessage(b)})
	}
	return resp, nil
}

// StatusError is the API's refusal of a request.
type StatusError struct {
	StatusCode int
	RequestID  string
	Message    string // the API's error.message, or the start of its body
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("POST /v1/messages: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	return s
}

// apiMessage is the message of an API error body ({"type":"error",
// "error":{"type":…,"message":…}}), or the body's first 200 bytes.
func apiMessage(b []byte) string {
	var e struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return e.Error.Type + ": " + e.Error.Message
	}
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.ToValidUTF8(string(b), "")
}

func classify(err error) error {
	var ae *sdk.Error
	if errors.As(err, &ae) && ae.StatusCode >= 400 {
		return ai.Classify(Name, ae.StatusCode, err)
	}
	// An error event inside a 200 stream, or a broken connection.
	e := ai.Classify(Name, 0, err)
	if e.Reason == "stream error" && strings.Contains(err.Error(), "overloaded") {
		e.Reason = "overloaded"
	}
	return e
}
