// Package anthropic is the Anthropic Messages API provider (official SDK
// v2, streaming), with prompt caching on the system prompt.
package anthropic

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

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

// Stream implements ai.Provider.
func (p *Provider) Stream(ctx context.Context, req ai.Request, model string, emit func(string)) (ai.Usage, string, error) {
	params := sdk.MessageNewParams{
		Model:     sdk.Model(model),
		MaxTokens: int64(max(req.MaxTokens, 1)),
	}
	if req.System != "" {
		// The system prompt is the same for every member of a community:
		// mark it as a cache breakpoint so repeat calls read it from cache.
		params.System = []sdk.TextBlockParam{{Text: req.System, CacheControl: sdk.NewCacheControlEphemeralParam()}}
	}
	if req.Profile != "" {
		// The member's profile and memories change rarely: a breakpoint
		// of their own after the community's shared prompt.
		params.System = append(params.System, sdk.TextBlockParam{Text: req.Profile, CacheControl: sdk.NewCacheControlEphemeralParam()})
	}
	for i, m := range req.Messages {
		var blocks []sdk.ContentBlockParamUnion
		if i == 0 && m.Role == ai.User {
			blocks = documentBlocks(req.Documents)
		}
		blocks = append(blocks, sdk.NewTextBlock(m.Content))
		if m.Role == ai.Assistant {
			params.Messages = append(params.Messages, sdk.NewAssistantMessage(blocks...))
		} else {
			params.Messages = append(params.Messages, sdk.NewUserMessage(blocks...))
		}
	}
	var opts []option.RequestOption
	if req.Temperature != nil {
		opts = append(opts, option.WithJSONSet("temperature", *req.Temperature))
	}
	stream := p.client.Messages.NewStreaming(ctx, params, opts...)
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
				stop = string(ev.Delta.StopReason)
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

// documentBlocks sends PDFs as native documents (base64) and other files as
// plain-text documents; the last one is a cache breakpoint, so the
// documents are read from cache on later turns.
func documentBlocks(docs []ai.Document) []sdk.ContentBlockParamUnion {
	var out []sdk.ContentBlockParamUnion
	for i, d := range docs {
		b := sdk.DocumentBlockParam{Title: sdk.String(d.Name)}
		if d.MediaType == "application/pdf" {
			b.Source = sdk.DocumentBlockParamSourceUnion{OfBase64: &sdk.Base64PDFSourceParam{Data: base64.StdEncoding.EncodeToString(d.Data)}}
		} else {
			b.Source = sdk.DocumentBlockParamSourceUnion{OfText: &sdk.PlainTextSourceParam{Data: d.Text}}
		}
		if i == len(docs)-1 {
			b.CacheControl = sdk.NewCacheControlEphemeralParam()
		}
		out = append(out, sdk.ContentBlockParamUnion{OfDocument: &b})
	}
	return out
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
