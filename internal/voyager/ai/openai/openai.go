// Package openai is the OpenAI Chat Completions provider (official SDK,
// streaming). With OPENAI_BASE_URL it also speaks to OpenAI-compatible
// local servers (Ollama, vLLM, llama.cpp). It is the only package that
// imports the OpenAI SDK.
package openai

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/ai/anthropic"
)

// Name is the provider's name in metrics, logs and community files.
const Name = "openai"

// DefaultModel is used when a community names none.
const DefaultModel = "gpt-4o-mini"

// Options configures the provider.
type Options struct {
	APIKey         string
	BaseURL        string // OPENAI_BASE_URL; a trailing /v1/ is added when missing
	Model          string
	ConnectTimeout time.Duration
	HTTPClient     *http.Client
}

// Provider calls OpenAI or a compatible server.
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
		hc = &http.Client{Transport: anthropic.Transport(o.ConnectTimeout)}
	}
	opts := []option.RequestOption{option.WithAPIKey(o.APIKey), option.WithHTTPClient(hc), option.WithMaxRetries(0)}
	if o.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(BaseURL(o.BaseURL)))
	}
	if o.Model == "" {
		o.Model = DefaultModel
	}
	return &Provider{client: sdk.NewClient(opts...), model: o.Model}
}

// BaseURL normalises an operator's base URL so it ends in /v1/ as the SDK
// needs ("http://localhost:11434" and ".../v1" both work).
func BaseURL(u string) string {
	u = strings.TrimRight(u, "/")
	if !strings.HasSuffix(u, "/v1") {
		u += "/v1"
	}
	return u + "/"
}

// Name implements ai.Provider.
func (p *Provider) Name() string { return Name }

// DefaultModel implements ai.Provider.
func (p *Provider) DefaultModel() string { return p.model }

// Stream implements ai.Provider.
func (p *Provider) Stream(ctx context.Context, req ai.Request, model string, emit func(string)) (ai.Usage, string, error) {
	params := sdk.ChatCompletionNewParams{
		Model:         model,
		StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)},
	}
	if req.MaxTokens > 0 {
		params.MaxCompletionTokens = sdk.Int(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		params.Temperature = sdk.Float(*req.Temperature)
	}
	if req.System != "" {
		params.Messages = append(params.Messages, sdk.SystemMessage(req.System))
	}
	if req.Profile != "" {
		params.Messages = append(params.Messages, sdk.SystemMessage(req.Profile))
	}
	for i, m := range req.Messages {
		if i == 0 && m.Role == ai.User && len(req.Documents) > 0 {
			// No file input here: the documents' extracted text goes first.
			parts := make([]string, 0, len(req.Documents)+1)
			for _, d := range req.Documents {
				parts = append(parts, ai.DocumentText(d))
			}
			m.Content = strings.Join(append(parts, m.Content), "\n\n---\n\n")
		}
		if m.Role == ai.Assistant {
			params.Messages = append(params.Messages, sdk.AssistantMessage(m.Content))
		} else {
			params.Messages = append(params.Messages, sdk.UserMessage(m.Content))
		}
	}
	stream := p.client.Chat.Completions.NewStreaming(ctx, params)
	defer stream.Close()
	var u ai.Usage
	finish := ""
	for stream.Next() {
		ch := stream.Current()
		for _, c := range ch.Choices {
			if c.Delta.Content != "" {
				emit(c.Delta.Content)
			}
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
		if ch.Usage.PromptTokens > 0 || ch.Usage.CompletionTokens > 0 {
			cached := ch.Usage.PromptTokensDetails.CachedTokens
			u = ai.Usage{Input: ch.Usage.PromptTokens - cached, Output: ch.Usage.CompletionTokens, CacheRead: cached}
		}
	}
	if err := stream.Err(); err != nil {
		var ae *sdk.Error
		if errors.As(err, &ae) {
			return u, finish, ai.Classify(Name, ae.StatusCode, err)
		}
		return u, finish, ai.Classify(Name, 0, err)
	}
	if finish == "" {
		return u, finish, ai.Classify(Name, 0, errors.New("stream ended without a finish reason"))
	}
	return u, finish, nil
}
