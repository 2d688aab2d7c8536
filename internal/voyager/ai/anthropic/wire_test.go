package anthropic

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/relaywork/suite/internal/voyager/ai"
)

// sdkParams is the request as the SDK's own param types spell it (how
// Stream built it before it marshalled its own structs).
func sdkParams(req ai.Request, model string) sdk.MessageNewParams {
	params := sdk.MessageNewParams{Model: sdk.Model(model), MaxTokens: int64(max(req.MaxTokens, 1))}
	if req.System != "" {
		params.System = []sdk.TextBlockParam{{Text: req.System, CacheControl: sdk.NewCacheControlEphemeralParam()}}
	}
	if req.Profile != "" {
		params.System = append(params.System, sdk.TextBlockParam{Text: req.Profile, CacheControl: sdk.NewCacheControlEphemeralParam()})
	}
	for i, m := range req.Messages {
		var blocks []sdk.ContentBlockParamUnion
		if i == 0 && m.Role == ai.User {
			for j, d := range req.Documents {
				b := sdk.DocumentBlockParam{Title: sdk.String(d.Name)}
				if d.MediaType == "application/pdf" {
					b.Source = sdk.DocumentBlockParamSourceUnion{OfBase64: &sdk.Base64PDFSourceParam{Data: base64.StdEncoding.EncodeToString(d.Data)}}
				} else {
					b.Source = sdk.DocumentBlockParamSourceUnion{OfText: &sdk.PlainTextSourceParam{Data: d.Text}}
				}
				if j == len(req.Documents)-1 {
					b.CacheControl = sdk.NewCacheControlEphemeralParam()
				}
				blocks = append(blocks, sdk.ContentBlockParamUnion{OfDocument: &b})
			}
		}
		blocks = append(blocks, sdk.NewTextBlock(m.Content))
		if m.Role == ai.Assistant {
			params.Messages = append(params.Messages, sdk.NewAssistantMessage(blocks...))
		} else {
			params.Messages = append(params.Messages, sdk.NewUserMessage(blocks...))
		}
	}
	return params
}

// TestWireRequestMatchesSDK: the body Stream sends is, key for key, the
// one the SDK's param types marshal to (plus stream and temperature, which
// the SDK sets as extra JSON fields), for requests with and without a
// profile, documents of both kinds, a reply and a temperature.
func TestWireRequestMatchesSDK(t *testing.T) {
	temp := 0.3
	cases := map[string]ai.Request{
		"bare": {Messages: []ai.Message{{Role: ai.User, Content: "Hello <there> & \"you\""}}, MaxTokens: 0},
		"full": {
			System: "You are a coach.", Profile: "About the member:\n- Role: PM",
			Temperature: &temp, MaxTokens: 1024,
			Documents: []ai.Document{
				{Name: "cv.pdf", MediaType: "application/pdf", Data: []byte("%PDF-1.4 \x00\xff")},
				{Name: "notes.md", MediaType: "text/markdown", Text: "# Notes\nÜnïcode ✓"},
			},
			Messages: []ai.Message{
				{Role: ai.User, Content: "Read my CV"},
				{Role: ai.Assistant, Content: "Done."},
				{Role: ai.User, Content: "And now?"},
			},
		},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			ours, err := json.Marshal(wireRequestFor(req, "claude-x"))
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := json.Marshal(sdkParams(req, "claude-x"))
			if err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			if err := json.Unmarshal(ours, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(theirs, &want); err != nil {
				t.Fatal(err)
			}
			want["stream"] = true
			if req.Temperature != nil {
				want["temperature"] = *req.Temperature
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("our body differs from the SDK's:\n ours: %s\nsdk's: %s", ours, theirs)
			}
		})
	}
}
