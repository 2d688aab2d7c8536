package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/community"
)

// Streamer generates an answer (ai.Router in production).
type Streamer interface {
	Configured() bool
	Stream(ctx context.Context, req ai.Request, emit func(string)) (ai.Result, error)
}

// Options configures a Service.
type Options struct {
	Store        Store
	AI           Streamer
	Hub          *Hub
	Logger       *slog.Logger
	Now          func() time.Time
	HistoryLimit int // messages of context sent (the guide's cost rule: 20)
}

// Service runs conversations.
type Service struct {
	o      Options
	log    *slog.Logger
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	stops  map[string]bool // answers the member asked to stop
}

// DefaultHistoryLimit is CHAT_HISTORY_LIMIT's default.
const DefaultHistoryLimit = 20

// MaxMessageLen bounds a member's message, in characters.
const MaxMessageLen = 8000

// DefaultTitle names a conversation until its first message.
const DefaultTitle = "New conversation"

// NewService returns a Service; Close ends its answers.
func NewService(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Hub == nil {
		o.Hub = NewHub()
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{o: o, log: o.Logger, base: ctx, cancel: cancel, stops: map[string]bool{}}
}

// Hub returns the hub answers stream through.
func (s *Service) Hub() *Hub { return s.o.Hub }

// Store returns the store.
func (s *Service) Store() Store { return s.o.Store }

// Close interrupts answers in progress and waits for them to be saved.
func (s *Service) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// Quota is a member's daily allowance in a community.
type Quota struct {
	Limit     int `json:"limit"` // 0: unlimited
	Used      int `json:"used"`
	Remaining int `json:"remaining"` // -1 when unlimited
}

func (s *Service) day() string { return s.now().Format(time.DateOnly) }

// Quota returns the member's allowance today (UTC).
func (s *Service) Quota(ctx context.Context, c *community.Community, userID string) (Quota, error) {
	n, err := s.o.Store.Usage(ctx, c.ID, userID, s.day())
	if err != nil {
		return Quota{}, err
	}
	return quota(c.Limits.MessagesPerDay, n), nil
}

func quota(limit, used int) Quota {
	q := Quota{Limit: limit, Used: used, Remaining: -1}
	if limit > 0 {
		q.Remaining = max(0, limit-used)
	}
	return q
}

// take counts one answer against the member's daily limit.
func (s *Service) take(ctx context.Context, c *community.Community, userID string) (Quota, error) {
	limit := c.Limits.MessagesPerDay
	n, ok, err := s.o.Store.TakeAnswer(ctx, c.ID, userID, s.day(), limit)
	if err != nil {
		return Quota{}, err
	}
	if !ok {
		return quota(limit, n), apperr.E(apperr.RateLimited, "You have used all %d messages for today in %s. The limit resets at midnight UTC.", limit, c.Name)
	}
	return quota(limit, n), nil
}

// StartConversation creates an empty conversation.
func (s *Service) StartConversation(ctx context.Context, c *community.Community, userID, title string) (Conversation, error) {
	title = cleanTitle(title)
	if title == "" {
		title = DefaultTitle
	}
	now := s.now()
	conv := Conversation{ID: newID(), CommunityID: c.ID, UserID: userID, Title: title, CreatedAt: now, UpdatedAt: now}
	return conv, s.o.Store.CreateConversation(ctx, conv)
}

// Rename sets a conversation's title.
func (s *Service) Rename(ctx context.Context, c *community.Community, userID, id, title string) error {
	title = cleanTitle(title)
	if title == "" {
		return apperr.InvalidFields("Check the title.", map[string]string{"title": "Give the conversation a title."})
	}
	return s.o.Store.RenameConversation(ctx, c.ID, userID, id, title, s.now())
}

func cleanTitle(t string) string {
	t = strings.Join(strings.Fields(t), " ")
	if utf8.RuneCountInString(t) > 80 {
		r := []rune(t)
		t = strings.TrimSpace(string(r[:79])) + "…"
	}
	return t
}

// Sent is what Send and Regenerate return.
type Sent struct {
	User   *Message `json:"user_message,omitempty"`
	Answer Message  `json:"answer"`
	Quota  Quota    `json:"quota"`
}

// Send stores the member's message and starts the coach's answer, which
// streams through the Hub; it returns at once.
func (s *Service) Send(ctx context.Context, c *community.Community, conv Conversation, text string) (Sent, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return Sent{}, apperr.InvalidFields("Write a message first.", map[string]string{"content": "Write a message."})
	case utf8.RuneCountInString(text) > MaxMessageLen:
		return Sent{}, apperr.InvalidFields("That message is too long.", map[string]string{"content": fmt.Sprintf("Keep it under %d characters.", MaxMessageLen)})
	case !s.o.AI.Configured():
		return Sent{}, apperr.E(apperr.Unavailable, "The coach is not set up yet: the operator needs to set ANTHROPIC_API_KEY or OPENAI_API_KEY.")
	}
	if s.busy(ctx, conv) {
		return Sent{}, apperr.E(apperr.Conflict, "The coach is still answering. Wait for it or stop it first.")
	}
	q, err := s.take(ctx, c, conv.UserID)
	if err != nil {
		return Sent{}, err
	}
	um := Message{ID: newID(), ConversationID: conv.ID, UserID: conv.UserID, CommunityID: c.ID, Role: ai.User, Content: text, Status: Complete, CreatedAt: s.now()}
	if err := s.o.Store.AddMessage(ctx, um); err != nil {
		return Sent{}, err
	}
	if conv.Title == DefaultTitle {
		_ = s.o.Store.RenameConversation(ctx, c.ID, conv.UserID, conv.ID, cleanTitle(text), s.now())
	}
	ans, err := s.answer(ctx, c, conv)
	if err != nil {
		return Sent{}, err
	}
	return Sent{User: &um, Answer: ans, Quota: q}, nil
}

// Regenerate replaces the conversation's last answer with a new one.
func (s *Service) Regenerate(ctx context.Context, c *community.Community, conv Conversation) (Sent, error) {
	if !s.o.AI.Configured() {
		return Sent{}, apperr.E(apperr.Unavailable, "The coach is not set up yet: the operator needs to set ANTHROPIC_API_KEY or OPENAI_API_KEY.")
	}
	if s.busy(ctx, conv) {
		return Sent{}, apperr.E(apperr.Conflict, "The coach is still answering. Wait for it or stop it first.")
	}
	last, err := s.o.Store.Messages(ctx, conv.ID, 1)
	if err != nil {
		return Sent{}, err
	}
	if len(last) == 0 || last[0].Role != ai.Assistant {
		return Sent{}, apperr.E(apperr.Conflict, "There is no answer to regenerate.")
	}
	q, err := s.take(ctx, c, conv.UserID)
	if err != nil {
		return Sent{}, err
	}
	if err := s.o.Store.DeleteMessage(ctx, conv.ID, last[0].ID); err != nil {
		return Sent{}, err
	}
	ans, err := s.answer(ctx, c, conv)
	if err != nil {
		return Sent{}, err
	}
	return Sent{Answer: ans, Quota: q}, nil
}

// busy reports whether the conversation's last message is an answer still
// being generated.
func (s *Service) busy(ctx context.Context, conv Conversation) bool {
	last, err := s.o.Store.Messages(ctx, conv.ID, 1)
	return err == nil && len(last) == 1 && last[0].Status == Streaming && s.o.Hub.get(last[0].ID) != nil
}

// answer stores a streaming placeholder and generates into it.
func (s *Service) answer(ctx context.Context, c *community.Community, conv Conversation) (Message, error) {
	hist, err := s.o.Store.Messages(ctx, conv.ID, s.o.HistoryLimit)
	if err != nil {
		return Message{}, err
	}
	req := ai.Request{
		System:      c.Coach.SystemPrompt,
		Models:      map[string]string{"anthropic": c.Coach.Models.Anthropic, "openai": c.Coach.Models.OpenAI},
		Temperature: c.Coach.Temperature,
		MaxTokens:   c.AnswerTokens(),
		Community:   c.ID,
	}
	for _, m := range hist {
		if m.Role == ai.Assistant && strings.TrimSpace(m.Content) == "" {
			continue
		}
		if len(req.Messages) == 0 && m.Role != ai.User {
			continue // the context must open with the member
		}
		req.Messages = append(req.Messages, ai.Message{Role: m.Role, Content: m.Content})
	}
	ans := Message{ID: newID(), ConversationID: conv.ID, UserID: conv.UserID, CommunityID: c.ID, Role: ai.Assistant, Status: Streaming, CreatedAt: s.now()}
	if err := s.o.Store.AddMessage(ctx, ans); err != nil {
		return Message{}, err
	}
	gctx, cancel := context.WithCancel(s.base)
	st := s.o.Hub.start(ans.ID, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.generate(gctx, st, ans, req)
	}()
	return ans, nil
}

func (s *Service) generate(ctx context.Context, st *stream, ans Message, req ai.Request) {
	res, err := s.o.AI.Stream(ctx, req, st.append)
	ans.Content = st.content()
	ans.Provider, ans.Model, ans.Usage = res.Provider, res.Model, res.Usage
	ans.LatencyMS, ans.FirstTokenMS = res.Latency.Milliseconds(), res.FirstToken.Milliseconds()
	ans.FinishReason, ans.CostMicros = res.FinishReason, res.CostMicros
	s.mu.Lock()
	stopped := s.stops[ans.ID]
	delete(s.stops, ans.ID)
	s.mu.Unlock()
	var ie *ai.InterruptedError
	var ue *ai.UnavailableError
	switch {
	case err == nil:
		ans.Status = Complete
	case errors.Is(err, ai.ErrStopped) && stopped:
		ans.Status, ans.FinishReason = Stopped, "stopped"
	case errors.Is(err, ai.ErrStopped):
		ans.Status, ans.FinishReason, ans.Error = Interrupted, "interrupted", "The server shut down during the answer."
	case errors.As(err, &ie):
		ans.Status, ans.Error = Interrupted, "The coach's connection failed part-way through ("+ie.Reason+")."
	case errors.As(err, &ue):
		ans.Status, ans.Error = Failed, "The coach is unavailable right now. Please try again in a minute."
	case errors.Is(err, ai.ErrNoProvider):
		ans.Status, ans.Error = Failed, "The coach is not set up yet: the operator needs to set ANTHROPIC_API_KEY or OPENAI_API_KEY."
	default:
		ans.Status, ans.Error = Failed, "The coach could not answer. Please try again."
		s.log.Error("chat answer failed", "message_id", ans.ID, "err", err.Error())
	}
	// Save even though the request (or the server) is gone.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.o.Store.FinishMessage(sctx, ans); err != nil {
		s.log.Error("save answer", "message_id", ans.ID, "err", err.Error())
	}
	st.finish(ans)
	s.o.Hub.remove(ans.ID)
}

// Stop ends the answer id if it is being generated here; the partial
// answer is kept and marked stopped.
func (s *Service) Stop(id string) bool {
	st := s.o.Hub.get(id)
	if st == nil {
		return false
	}
	s.mu.Lock()
	s.stops[id] = true
	s.mu.Unlock()
	st.cancel()
	return true
}
