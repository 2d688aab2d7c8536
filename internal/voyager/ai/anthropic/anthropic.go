// Package anthropic is the Anthropic Messages API provider (official SDK
// v2, streaming), with prompt caching on the system prompt.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
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
	client sdk.Client
	model  string
}

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
	opts := []option.RequestOption{option.WithAPIKey(o.APIKey), option.WithHTTPClient(hc), option.WithMaxRetries(0)}
	if o.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(o.BaseURL))
	}
	if o.Model == "" {
		o.Model = DefaultModel
	}
	return &Provider{client: sdk.NewClient(opts...), model: o.Model}
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

// Stream implements ai.Provider. The SDK sends the request (its client:
// headers, API key, base URL, errors as *sdk.Error) and frames the
// server-sent events (ssestream, which turns an error event into an API
// error); the request body and the events are our own small structs
// (wire.go) marshalled with encoding/json. The SDK's own param and event
// types go through its reflective apijson codec, which a profile of the
// send path put at a quarter of a millisecond per answer before its first
// token (TestWireRequestMatchesSDK keeps the body equal to the SDK's).
func (p *Provider) Stream(ctx context.Context, req ai.Request, model string, emit func(string)) (ai.Usage, string, error) {
	body, err := json.Marshal(wireRequestFor(req, model))
	if err != nil {
		return ai.Usage{}, "", ai.Classify(Name, 0, err)
	}
	var raw *http.Response
	err = p.client.Post(ctx, "v1/messages", body, &raw)
	stream := ssestream.NewStream[wireEvent](ssestream.NewDecoder(raw), err)
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
