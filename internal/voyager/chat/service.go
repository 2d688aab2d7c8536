package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/coach"
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
	Bus          Bus // nil: answers are followed in this process only
	// Coach, if set, adds what the coach knows about the member (profile,
	// memories, documents) to each request, keeps the facts it proposes,
	// and serves cacheable first questions from the answer cache.
	Coach *coach.Service
	// CacheMetrics counts answer-cache hits and misses (nil: none).
	CacheMetrics *CacheMetrics
	// Gate, if set, may refuse new messages in a community (billing: a
	// paid community that is read-only).
	Gate Gate
}

// Gate decides whether members may send new messages in a community.
type Gate interface {
	CanSend(ctx context.Context, c *community.Community) error
}

// gate asks the Gate, if any.
func (s *Service) gate(ctx context.Context, c *community.Community) error {
	if s.o.Gate == nil {
		return nil
	}
	return s.o.Gate.CanSend(ctx, c)
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
	s := &Service{o: o, log: o.Logger, base: ctx, cancel: cancel, stops: map[string]bool{}}
	if o.Bus != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watchStops()
		}()
	}
	return s
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

// DailyLimitCode is the JSON error code of a message refused at the
// member's daily limit (the per-IP request limit answers rate_limited).
const DailyLimitCode = "daily_limit_reached"

// DailyLimitError is the cause inside a refusal at the daily limit: when
// the allowance comes back (the next midnight UTC).
type DailyLimitError struct {
	Limit  int
	Resets time.Time
}

func (e *DailyLimitError) Error() string {
	return fmt.Sprintf("daily limit of %d reached; resets %s", e.Limit, e.Resets.Format(time.RFC3339))
}

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

// StartConversation creates an empty conversation.
func (s *Service) StartConversation(ctx context.Context, c *community.Community, userID, title string) (Conversation, error) {
	title, err := checkTitle(title)
	if err != nil {
		return Conversation{}, err
	}
	if title == "" {
		title = DefaultTitle
	}
	now := s.now()
	conv := Conversation{ID: newID(), CommunityID: c.ID, UserID: userID, Title: title, CreatedAt: now, UpdatedAt: now}
	return conv, s.o.Store.CreateConversation(ctx, conv)
}

// Rename sets a conversation's title.
func (s *Service) Rename(ctx context.Context, c *community.Community, userID, id, title string) error {
	title, err := checkTitle(title)
	if err != nil {
		return err
	}
	if title == "" {
		return apperr.InvalidFields("Check the title.", map[string]string{"title": "Give the conversation a title."})
	}
	return s.o.Store.RenameConversation(ctx, c.ID, userID, id, title, s.now())
}

// MaxTitleLen is the longest conversation title a member may give, in
// characters (after runs of spaces are folded into one).
const MaxTitleLen = 80

// checkTitle folds whitespace in a title the member gave and refuses one
// longer than MaxTitleLen, or one whose bytes cannot be stored, with a
// field error (it is never cut silently).
func checkTitle(t string) (string, error) {
	if p := apperr.TextProblem(t); p != "" {
		return "", apperr.InvalidText(map[string]string{"title": p})
	}
	t = strings.Join(strings.Fields(t), " ")
	if n := utf8.RuneCountInString(t); n > MaxTitleLen {
		return "", apperr.InvalidFields("Check the title.", map[string]string{"title": fmt.Sprintf("Keep it to %d characters (it has %d).", MaxTitleLen, n)})
	}
	return t, nil
}

// cleanTitle makes a title from the first message: folded whitespace, cut
// to MaxTitleLen characters with an ellipsis.
func cleanTitle(t string) string {
	t = strings.Join(strings.Fields(t), " ")
	if utf8.RuneCountInString(t) > MaxTitleLen {
		r := []rune(t)
		t = strings.TrimSpace(string(r[:MaxTitleLen-1])) + "…"
	}
	return t
}

// checkMessage trims a member's message and refuses one that is empty,
// longer than MaxMessageLen or holds bytes a database cannot store (a NUL,
// invalid UTF-8), each with a field error on "content".
func checkMessage(text string) (string, error) {
	text = strings.TrimSpace(text)
	switch {
	case apperr.TextProblem(text) != "":
		return "", apperr.InvalidText(map[string]string{"content": apperr.TextProblem(text)})
	case text == "":
		return "", apperr.InvalidFields("Write a message first.", map[string]string{"content": "Write a message."})
	case utf8.RuneCountInString(text) > MaxMessageLen:
		return "", apperr.InvalidFields("That message is too long.", map[string]string{"content": fmt.Sprintf("Keep it under %d characters.", MaxMessageLen)})
	}
	return text, nil
}

// Sent is what Send and Regenerate return.
type Sent struct {
	User   *Message `json:"user_message,omitempty"`
	Answer Message  `json:"answer"`
	Quota  Quota    `json:"quota"`
}

// Sink receives one answer's pieces straight from the provider's reader
// (no hop through the Hub), then the final message. Piece may be called
// before the turn is committed: the sink holds what it gets until its
// owner has Send's answer. Piece and Done are called from the goroutine
// generating the answer, one after another.
type Sink interface {
	Piece(text string)
	Done(m Message)
}

// Send stores the member's message and starts the coach's answer, which
// streams through the Hub; it returns at once.
func (s *Service) Send(ctx context.Context, c *community.Community, conv Conversation, text string) (Sent, error) {
	return s.SendTo(ctx, c, conv, text, nil)
}

// SendTo is Send whose answer also goes to sink (nil: none) as it is
// generated; sink gets Done unless SendTo fails.
func (s *Service) SendTo(ctx context.Context, c *community.Community, conv Conversation, text string, sink Sink) (Sent, error) {
	text, err := checkMessage(text)
	switch {
	case err != nil:
		return Sent{}, err
	case !s.o.AI.Configured():
		return Sent{}, apperr.E(apperr.Unavailable, "The coach is not set up yet: the operator needs to set ANTHROPIC_API_KEY or OPENAI_API_KEY.")
	}
	if err := s.gate(ctx, c); err != nil {
		return Sent{}, err
	}
	kc, err := s.coachContext(ctx, c, conv)
	if err != nil {
		return Sent{}, err
	}
	hist, err := s.o.Store.History(ctx, c.ID, conv.UserID, conv.ID, s.o.HistoryLimit)
	if err != nil {
		return Sent{}, err
	}
	if s.busy(hist) {
		return Sent{}, apperr.E(apperr.Conflict, "The coach is still answering. Wait for it or stop it first.")
	}
	um := Message{ID: newID(), ConversationID: conv.ID, UserID: conv.UserID, CommunityID: c.ID, Role: ai.User, Content: text, Status: Complete, CreatedAt: s.now()}
	// The context: the last HistoryLimit messages, this one included.
	hist = append(hist, um)
	if len(hist) > s.o.HistoryLimit {
		hist = hist[len(hist)-s.o.HistoryLimit:]
	}
	t := Turn{User: &um}
	if conv.Title == DefaultTitle {
		t.Title = cleanTitle(text)
	}
	return s.start(ctx, c, conv, t, hist, len(hist) == 1, kc, sink)
}

// Regenerate replaces the conversation's last answer with a new one.
func (s *Service) Regenerate(ctx context.Context, c *community.Community, conv Conversation) (Sent, error) {
	return s.RegenerateTo(ctx, c, conv, nil)
}

// RegenerateTo is Regenerate whose answer also goes to sink (see SendTo).
func (s *Service) RegenerateTo(ctx context.Context, c *community.Community, conv Conversation, sink Sink) (Sent, error) {
	if !s.o.AI.Configured() {
		return Sent{}, apperr.E(apperr.Unavailable, "The coach is not set up yet: the operator needs to set ANTHROPIC_API_KEY or OPENAI_API_KEY.")
	}
	if err := s.gate(ctx, c); err != nil {
		return Sent{}, err
	}
	kc, err := s.coachContext(ctx, c, conv)
	if err != nil {
		return Sent{}, err
	}
	hist, err := s.o.Store.History(ctx, c.ID, conv.UserID, conv.ID, s.o.HistoryLimit+1)
	if err != nil {
		return Sent{}, err
	}
	if s.busy(hist) {
		return Sent{}, apperr.E(apperr.Conflict, "The coach is still answering. Wait for it or stop it first.")
	}
	if len(hist) == 0 || hist[len(hist)-1].Role != ai.Assistant {
		return Sent{}, apperr.E(apperr.Conflict, "There is no answer to regenerate.")
	}
	last := hist[len(hist)-1]
	hist = hist[:len(hist)-1]
	if s.o.Coach != nil {
		if err := s.o.Coach.DropProposals(ctx, c.ID, conv.UserID, last.ID); err != nil {
			return Sent{}, err
		}
	}
	if len(hist) > s.o.HistoryLimit {
		hist = hist[len(hist)-s.o.HistoryLimit:]
	}
	// Regenerate always asks the provider, never the answer cache.
	return s.start(ctx, c, conv, Turn{ReplaceID: last.ID}, hist, false, kc, sink)
}

// busy reports whether the conversation's last message is an answer still
// being generated.
func (s *Service) busy(hist []Message) bool {
	if len(hist) == 0 {
		return false
	}
	last := hist[len(hist)-1]
	return last.Status == Streaming && s.o.Hub.get(last.ID) != nil
}

// coachContext reads what the coach knows about the member (the profile,
// memories and documents: one query, and the documents only if there are
// any) on the sending goroutine. (It ran on a goroutine of its own beside
// the history read while it was three queries; as one, the hand-over cost
// more than it saved: bench/README.md, round four.)
func (s *Service) coachContext(ctx context.Context, c *community.Community, conv Conversation) (coach.Context, error) {
	if s.o.Coach == nil {
		return coach.Context{}, nil
	}
	return s.o.Coach.Build(ctx, c.ID, conv.UserID, conv.ID, c.MemoryOn())
}

// start writes the turn in one transaction (the daily limit is checked
// there) and starts generating into the answer placeholder.
func (s *Service) start(ctx context.Context, c *community.Community, conv Conversation, t Turn, hist []Message, first bool, kc coach.Context, sink Sink) (Sent, error) {
	req := ai.Request{
		System:      c.Coach.SystemPrompt,
		Models:      map[string]string{"anthropic": c.Coach.Models.Anthropic, "openai": c.Coach.Models.OpenAI},
		Temperature: c.Coach.Temperature,
		MaxTokens:   c.AnswerTokens(),
		Community:   c.ID,
	}
	g := gen{sink: sink}
	if s.o.Coach != nil {
		req.Profile, req.Documents = kc.Block, kc.Documents
		if c.MemoryOn() {
			req.System += coach.MemoryInstruction
			g.memory = true
		}
		if ttl := c.CacheTTL(); ttl > 0 && first && !kc.Personal() && t.User != nil {
			g.cacheKey, g.cacheTTL = coach.CacheKey(c.ID, req.Models["anthropic"]+"|"+req.Models["openai"], c.Coach.SystemPrompt, t.User.Content), ttl
			hit, ok, err := s.o.Coach.Store().CachedAnswer(ctx, g.cacheKey, s.now())
			if err != nil {
				s.log.Warn("answer cache", "err", err.Error())
			} else if ok {
				g.hit = &hit
			}
			s.o.CacheMetrics.observe(c.ID, g.hit)
		}
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
	t.Answer, t.Day, t.Limit = ans, s.day(), c.Limits.MessagesPerDay
	refused := func(used int) error {
		day, _ := time.Parse(time.DateOnly, t.Day)
		return &apperr.Error{Kind: apperr.RateLimited, Code: DailyLimitCode,
			Message: fmt.Sprintf("You have used all %d messages for today in %s. The limit resets at midnight UTC.", t.Limit, c.Name),
			Err:     &DailyLimitError{Limit: t.Limit, Resets: day.AddDate(0, 0, 1)}}
	}
	if t.Limit > 0 {
		// A cheap read first, so a member over the limit costs no provider call.
		if used, err := s.o.Store.Usage(ctx, c.ID, conv.UserID, t.Day); err != nil {
			return Sent{}, err
		} else if used >= t.Limit {
			return Sent{}, refused(used)
		}
	}
	// The provider call starts now, while the turn is written, so the
	// write is not on the path to the first token. The answer is saved
	// only once the turn is committed; a refused turn cancels it.
	committed := make(chan bool, 1)
	gctx, cancel := context.WithCancel(s.base)
	st := s.o.Hub.start(ans.ID, cancel)
	if s.o.Bus != nil {
		if err := s.o.Bus.Start(ctx, ans.ID); err != nil {
			s.log.Warn("bus start", "message_id", ans.ID, "err", err.Error())
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.generate(gctx, st, ans, req, committed, g)
	}()
	// Let the provider call go out before this goroutine writes the turn:
	// on a busy machine the new goroutine would otherwise wait until the
	// write blocks.
	runtime.Gosched()
	n, took, err := s.o.Store.StartTurn(ctx, t)
	if err != nil || !took {
		committed <- false
		cancel()
		if err != nil {
			return Sent{}, err
		}
		return Sent{}, refused(n)
	}
	committed <- true
	return Sent{User: t.User, Answer: ans, Quota: quota(t.Limit, n)}, nil
}

// gen is how one answer is produced besides its request.
type gen struct {
	memory   bool                // split off a proposed fact
	cacheKey string              // cacheable first question, or ""
	cacheTTL time.Duration       // how long to keep the answer
	hit      *coach.CachedAnswer // the cached answer to serve instead of the provider
	sink     Sink                // the sender's stream, or nil
}

func (s *Service) generate(ctx context.Context, st *stream, ans Message, req ai.Request, committed <-chan bool, g gen) {
	emit := st.append
	if s.o.Bus != nil {
		emit = func(text string) {
			off := st.appendAt(text)
			if err := s.o.Bus.Delta(ctx, ans.ID, off, text); err != nil {
				s.log.Warn("bus delta", "message_id", ans.ID, "err", err.Error())
			}
		}
	}
	if g.sink != nil {
		hubEmit := emit
		emit = func(text string) {
			hubEmit(text)
			g.sink.Piece(text)
		}
	}
	var res ai.Result
	var err error
	if g.hit != nil {
		// A cached answer streams at once and costs nothing.
		emit(g.hit.Content)
		res = ai.Result{Provider: g.hit.Provider, Model: g.hit.Model, FinishReason: FinishCached}
	} else {
		res, err = s.o.AI.Stream(ctx, req, emit)
	}
	if !<-committed {
		// The turn was refused (limit reached in a race, or a write error).
		st.finish(Message{ID: ans.ID, Status: Failed, Error: "not sent"})
		s.o.Hub.remove(ans.ID)
		return
	}
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
	if g.memory && ans.Status == Complete {
		content, fact := coach.SplitProposal(ans.Content)
		ans.Content = content
		if fact != "" {
			if m, err := s.o.Coach.Propose(sctx, ans.CommunityID, ans.UserID, ans.ID, fact); err == nil {
				ans.Proposal = &m
			} else {
				s.log.Warn("keep proposed memory", "message_id", ans.ID, "err", err.Error())
			}
		}
	}
	if g.cacheKey != "" && g.hit == nil && ans.Status == Complete && ans.Proposal == nil {
		now := s.now()
		a := coach.CachedAnswer{Key: g.cacheKey, CommunityID: ans.CommunityID, Content: ans.Content, Provider: ans.Provider, Model: ans.Model,
			Usage: ans.Usage, CostMicros: ans.CostMicros, CreatedAt: now, ExpiresAt: now.Add(g.cacheTTL)}
		if err := s.o.Coach.Store().PutCachedAnswer(sctx, a); err != nil {
			s.log.Warn("answer cache", "err", err.Error())
		}
	}
	if g.hit != nil {
		s.o.CacheMetrics.saved(ans.CommunityID, g.hit)
	}
	if err := s.o.Store.FinishMessage(sctx, ans); err != nil {
		s.log.Error("save answer", "message_id", ans.ID, "err", err.Error())
	}
	st.finish(ans)
	s.o.Hub.remove(ans.ID)
	if g.sink != nil {
		g.sink.Done(ans)
	}
	if s.o.Bus != nil {
		if err := s.o.Bus.Done(sctx, ans.ID, ans); err != nil {
			s.log.Warn("bus done", "message_id", ans.ID, "err", err.Error())
		}
	}
}

// Stop ends the answer id, here or (through the Bus) on the instance
// generating it; the partial answer is kept and marked stopped.
func (s *Service) Stop(ctx context.Context, id string) bool {
	if s.stopLocal(id) {
		return true
	}
	if s.o.Bus == nil {
		return false
	}
	if err := s.o.Bus.RequestStop(ctx, id); err != nil {
		s.log.Warn("bus stop", "message_id", id, "err", err.Error())
		return false
	}
	return true
}

func (s *Service) stopLocal(id string) bool {
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
