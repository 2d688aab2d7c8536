package ai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
	"github.com/relaywork/suite/internal/voyager/ai/anthropic"
	"github.com/relaywork/suite/internal/voyager/ai/openai"
)

type fixture struct {
	ant, oai *aitest.Server
	router   *ai.Router
	reg      *prometheus.Registry
	now      time.Time
	mu       sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newFixture(t *testing.T, o ai.Options) *fixture {
	t.Helper()
	f := &fixture{
		ant: aitest.Anthropic(aitest.Script{Chunks: []string{"Hello", " from", " Claude"}}),
		oai: aitest.OpenAI(aitest.Script{Chunks: []string{"Hello", " from", " GPT"}}),
		reg: prometheus.NewRegistry(),
		now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
	}
	t.Cleanup(f.ant.Close)
	t.Cleanup(f.oai.Close)
	o.Providers = []ai.Provider{
		anthropic.New(anthropic.Options{APIKey: "sk-ant-test", BaseURL: f.ant.URL}),
		openai.New(openai.Options{APIKey: "sk-test", BaseURL: f.oai.URL}),
	}
	o.Metrics = f.reg
	if o.Now == nil {
		o.Now = f.clock
	}
	f.router = ai.NewRouter(o)
	return f
}

func request() ai.Request {
	return ai.Request{System: "You are a coach.", Messages: []ai.Message{{Role: ai.User, Content: "hi"}}, MaxTokens: 100, Community: "c1",
		Models: map[string]string{"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini"}}
}

func collect(t *testing.T, r *ai.Router, ctx context.Context) (string, ai.Result, error) {
	t.Helper()
	var b strings.Builder
	res, err := r.Stream(ctx, request(), func(s string) { b.WriteString(s) })
	return b.String(), res, err
}

func TestAnthropicStreamsWithCachedSystemPrompt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ai.Options{})
	f.ant.Push(aitest.Script{Chunks: []string{"a", "b", "c"}, Input: 20, Output: 3, CacheRead: 1000, CacheWrite: 50})
	text, res, err := collect(t, f.router, context.Background())
	if err != nil || text != "abc" {
		t.Fatalf("got %q, %v; want abc, nil", text, err)
	}
	want := ai.Usage{Input: 20, Output: 3, CacheRead: 1000, CacheWrite: 50}
	if res.Usage != want || res.Provider != "anthropic" || res.Model != "claude-sonnet-4-5" || res.FinishReason != "end_turn" {
		t.Fatalf("got %+v, want usage %+v from anthropic", res, want)
	}
	// 20*3 + 3*15 + 1000*0.3 + 50*3.75 = 592.5 micro-dollars.
	if res.CostMicros != 593 {
		t.Fatalf("got cost %d µ$, want 593", res.CostMicros)
	}
	calls := f.ant.Calls()
	sys := calls[0].Body["system"].([]any)[0].(map[string]any)
	if cc, _ := sys["cache_control"].(map[string]any); cc["type"] != "ephemeral" {
		t.Fatalf("system prompt not marked for caching: %v", sys)
	}
	if calls[0].Body["stream"] != true || calls[0].Path != "/v1/messages" {
		t.Fatalf("got call %+v", calls[0])
	}
	if got := metric(t, f.reg, "voyager_ai_tokens_total", "kind", "cache_read"); got != 1000 {
		t.Fatalf("got cache_read tokens metric %v, want 1000", got)
	}
	if len(f.oai.Calls()) != 0 {
		t.Fatal("fallback called although the primary answered")
	}
}

// metric returns the value of the series of name whose label has value.
func metric(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

func TestFallbackBeforeFirstToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		script aitest.Script
		reason string
	}{
		{"overloaded 529", aitest.Script{Status: 529}, "overloaded"},
		{"rate limited 429", aitest.Script{Status: 429}, "rate limited"},
		{"server error 500", aitest.Script{Status: 500}, "server error"},
		{"error event before text", aitest.Script{ErrorFirst: true}, "overloaded"},
		{"dropped before text", aitest.Script{DropFirst: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, ai.Options{})
			sc := tc.script
			f.ant.Push(sc)
			text, res, err := collect(t, f.router, context.Background())
			if err != nil || text != "Hello from GPT" || res.Provider != "openai" {
				t.Fatalf("got %q from %s, %v; want the fallback's answer", text, res.Provider, err)
			}
			if len(res.Attempts) != 1 || res.Attempts[0].Provider != "anthropic" || (tc.reason != "" && res.Attempts[0].Reason != tc.reason) {
				t.Fatalf("got attempts %+v, want anthropic: %s", res.Attempts, tc.reason)
			}
			if res.Usage.Output != 3 || res.Usage.Input != 10 {
				t.Fatalf("got usage %+v", res.Usage)
			}
		})
	}
}

func TestFirstTokenTimeoutFallsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ai.Options{FirstTokenTimeout: 200 * time.Millisecond, Now: time.Now})
	f.ant.Push(aitest.Script{Hang: true})
	text, res, err := collect(t, f.router, context.Background())
	if err != nil || text != "Hello from GPT" || res.Attempts[0].Reason != "no first token in time" {
		t.Fatalf("got %q, %+v, %v", text, res.Attempts, err)
	}
}

func TestMidStreamFailureKeepsPartialWithoutFallback(t *testing.T) {
	t.Parallel()
	for _, ev := range []bool{true, false} {
		f := newFixture(t, ai.Options{})
		f.ant.Push(aitest.Script{Chunks: []string{"one ", "two ", "three"}, FailAfter: 2, ErrorEvent: ev})
		text, res, err := collect(t, f.router, context.Background())
		var ie *ai.InterruptedError
		if !errors.As(err, &ie) || text != "one two " || res.FinishReason != "interrupted" {
			t.Fatalf("error event %v: got %q, %q, %v; want the partial answer and an interruption", ev, text, res.FinishReason, err)
		}
		if len(f.oai.Calls()) != 0 {
			t.Fatal("switched provider after tokens had streamed")
		}
	}
}

func TestClientCancelStops(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ai.Options{})
	gate := make(chan struct{})
	f.ant.Push(aitest.Script{Chunks: []string{"first", "second", "third"}, Gate: gate})
	ctx, cancel := context.WithCancel(context.Background())
	var b strings.Builder
	done := make(chan error, 1)
	var res ai.Result
	go func() {
		var err error
		res, err = f.router.Stream(ctx, request(), func(s string) {
			b.WriteString(s)
			cancel() // the member presses stop after the first piece
		})
		done <- err
	}()
	gate <- struct{}{}
	err := <-done
	if !errors.Is(err, ai.ErrStopped) || b.String() != "first" || res.FinishReason != "stopped" {
		t.Fatalf("got %q, %v; want first, ErrStopped", b.String(), err)
	}
	if len(f.oai.Calls()) != 0 {
		t.Fatal("fallback called after a stop")
	}
	if s := f.router.BreakerState("anthropic"); s != "closed" {
		t.Fatalf("a stop counted against the provider: breaker %s", s)
	}
}

func TestBreakerOpensSkipsAndRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ai.Options{BreakerFailures: 2, BreakerCooldown: time.Minute})
	f.ant.Push(aitest.Script{Status: 529}, aitest.Script{Status: 529})
	for i := 0; i < 2; i++ {
		if _, res, err := collect(t, f.router, context.Background()); err != nil || res.Provider != "openai" {
			t.Fatalf("call %d: got %s, %v", i, res.Provider, err)
		}
	}
	if s := f.router.BreakerState("anthropic"); s != "open" {
		t.Fatalf("got breaker %s, want open", s)
	}
	_, res, _ := collect(t, f.router, context.Background())
	if len(f.ant.Calls()) != 2 || res.Attempts[0].Reason != "circuit open" {
		t.Fatalf("open breaker did not skip anthropic: %d calls, %+v", len(f.ant.Calls()), res.Attempts)
	}
	if v := metric(t, f.reg, "voyager_ai_breaker_state", "provider", "anthropic"); v != 1 {
		t.Fatalf("got breaker gauge %v, want 1", v)
	}
	f.advance(time.Minute)
	if s := f.router.BreakerState("anthropic"); s != "half-open" {
		t.Fatalf("got breaker %s, want half-open", s)
	}
	_, res, err := collect(t, f.router, context.Background())
	if err != nil || res.Provider != "anthropic" || f.router.BreakerState("anthropic") != "closed" {
		t.Fatalf("trial call: got %s, %v, breaker %s", res.Provider, err, f.router.BreakerState("anthropic"))
	}
}

func TestAllProvidersDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ai.Options{})
	f.ant.Push(aitest.Script{Status: 503})
	f.oai.Push(aitest.Script{Status: 500})
	text, _, err := collect(t, f.router, context.Background())
	var ue *ai.UnavailableError
	if !errors.As(err, &ue) || text != "" || len(ue.Attempts) != 2 {
		t.Fatalf("got %q, %v", text, err)
	}
	if _, err := ai.NewRouter(ai.Options{}).Stream(context.Background(), request(), func(string) {}); !errors.Is(err, ai.ErrNoProvider) {
		t.Fatalf("got %v, want ErrNoProvider", err)
	}
}

func TestOpenAIUsageAndBaseURL(t *testing.T) {
	t.Parallel()
	if got := openai.BaseURL("http://localhost:11434"); got != "http://localhost:11434/v1/" {
		t.Fatalf("got %s", got)
	}
	if got := openai.BaseURL("http://x/v1/"); got != "http://x/v1/" {
		t.Fatalf("got %s", got)
	}
	f := newFixture(t, ai.Options{})
	f.ant.Push(aitest.Script{Status: 529})
	f.oai.Push(aitest.Script{Chunks: []string{"x"}, Input: 100, Output: 7, CacheRead: 900})
	_, res, err := collect(t, f.router, context.Background())
	if err != nil || res.Usage != (ai.Usage{Input: 100, Output: 7, CacheRead: 900}) || res.FinishReason != "stop" {
		t.Fatalf("got %+v, %v", res, err)
	}
	if c := f.oai.Calls()[0]; c.Path != "/v1/chat/completions" || c.Body["stream"] != true {
		t.Fatalf("got call %+v", c)
	}
}

// TestAnswerLogKeepsCounts: the real "ai answer" line through the real
// redacting logger keeps its timings and token counts (first_token_ms and
// *_tokens are not secrets), while a key in the error would still go.
func TestAnswerLogKeepsCounts(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tick := func() time.Time { // each reading of the clock is 7 ms later
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(7 * time.Millisecond)
		return now
	}
	f := newFixture(t, ai.Options{Logger: obs.NewLogger(&buf, "info", "json"), Now: tick})
	f.ant.Push(aitest.Script{Chunks: []string{"a", "b"}, Input: 20, Output: 3, CacheRead: 1000, CacheWrite: 50})
	if _, _, err := collect(t, f.router, context.Background()); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, `"msg":"ai answer"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no ai answer line in %s", buf.String())
	}
	for k, want := range map[string]float64{"input_tokens": 20, "output_tokens": 3, "cache_read_tokens": 1000, "cache_write_tokens": 50} {
		if got, ok := line[k].(float64); !ok || got != want {
			t.Errorf("%s: got %v, want %v", k, line[k], want)
		}
	}
	for _, k := range []string{"first_token_ms", "latency_ms", "cost_usd"} {
		if got, ok := line[k].(float64); !ok || got <= 0 {
			t.Errorf("%s: got %v, want a positive number", k, line[k])
		}
	}
	if strings.Contains(buf.String(), obs.Redacted) {
		t.Errorf("the answer line has redactions: %s", buf.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
