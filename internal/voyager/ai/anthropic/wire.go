package anthropic

import (
	"encoding/base64"

	"github.com/relaywork/suite/internal/voyager/ai"
)

// The Messages API request and stream events, as far as we use them.

type wireRequest struct {
	Model       string        `json:"model"`
	MaxTokens   int64         `json:"max_tokens"`
	System      []wireText    `json:"system,omitempty"`
	Messages    []wireMessage `json:"messages"`
	Temperature *float64      `json:"temperature,omitempty"`
	Stream      bool          `json:"stream"`
}

// wireCache marks a cache breakpoint ({"type":"ephemeral"}).
type wireCache struct {
	Type string `json:"type"`
}

var ephemeral = &wireCache{Type: "ephemeral"}

type wireText struct {
	Type         string     `json:"type"` // text
	Text         string     `json:"text"`
	CacheControl *wireCache `json:"cache_control,omitempty"`
}

type wireMessage struct {
	Role    string `json:"role"`
	Content []any  `json:"content"` // wireText, wireDocument
}

type wireDocument struct {
	Type         string        `json:"type"` // document
	Source       wireDocSource `json:"source"`
	Title        string        `json:"title,omitempty"`
	CacheControl *wireCache    `json:"cache_control,omitempty"`
}

type wireDocSource struct {
	Type      string `json:"type"` // base64 or text
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
}

// wireRequestFor is the request for req: the system prompt and the
// member's profile each a cache breakpoint, documents with the first
// message (the last one a breakpoint).
func wireRequestFor(req ai.Request, model string) wireRequest {
	w := wireRequest{Model: model, MaxTokens: int64(max(req.MaxTokens, 1)), Temperature: req.Temperature, Stream: true}
	if req.System != "" {
		// The system prompt is the same for every member of a community:
		// mark it as a cache breakpoint so repeat calls read it from cache.
		w.System = append(w.System, wireText{Type: "text", Text: req.System, CacheControl: ephemeral})
	}
	if req.Profile != "" {
		// The member's profile and memories change rarely: a breakpoint
		// of their own after the community's shared prompt.
		w.System = append(w.System, wireText{Type: "text", Text: req.Profile, CacheControl: ephemeral})
	}
	w.Messages = make([]wireMessage, 0, len(req.Messages))
	for i, m := range req.Messages {
		var blocks []any
		if i == 0 && m.Role == ai.User {
			blocks = documentBlocks(req.Documents)
		}
		blocks = append(blocks, wireText{Type: "text", Text: m.Content})
		role := "user"
		if m.Role == ai.Assistant {
			role = "assistant"
		}
		w.Messages = append(w.Messages, wireMessage{Role: role, Content: blocks})
	}
	return w
}

// documentBlocks sends PDFs as native documents (base64) and other files as
// plain-text documents; the last one is a cache breakpoint, so the
// documents are read from cache on later turns.
func documentBlocks(docs []ai.Document) []any {
	out := make([]any, 0, len(docs)+1)
	for i, d := range docs {
		b := wireDocument{Type: "document", Title: d.Name}
		if d.MediaType == "application/pdf" {
			b.Source = wireDocSource{Type: "base64", MediaType: "application/pdf", Data: base64.StdEncoding.EncodeToString(d.Data)}
		} else {
			b.Source = wireDocSource{Type: "text", MediaType: "text/plain", Data: d.Text}
		}
		if i == len(docs)-1 {
			b.CacheControl = ephemeral
		}
		out = append(out, b)
	}
	return out
}

// wireEvent is one server-sent event of a streamed message.
type wireEvent struct {
	Type    string `json:"type"`
	Message struct {
		Usage wireUsage `json:"usage"`
	} `json:"message"`
	Delta struct {
		Type       string `json:"type"`
		Text       string `json:"text"`
		StopReason string `json:"stop_reason"`
	} `json:"delta"`
	Usage wireUsage `json:"usage"`
}

type wireUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}
