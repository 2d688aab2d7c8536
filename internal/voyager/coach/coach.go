// Package coach holds what the coach knows about a member in a community —
// a profile they keep, facts they chose to have remembered, the CVs and job
// descriptions they attached — and turns it into the context a provider
// receives: a cached block after the community's system prompt, and
// document blocks (PDFs natively on Anthropic, extracted text elsewhere).
// It also keeps the opt-in cache of answers to common first questions.
package coach

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/blob"
	"github.com/relaywork/suite/internal/voyager/ai"
)

// Profile is what a member tells the coach about themselves, per community.
type Profile struct {
	CommunityID string    `json:"-"`
	UserID      string    `json:"-"`
	CurrentRole string    `json:"current_role"`
	Experience  string    `json:"experience"`
	Goals       string    `json:"goals"`
	TargetRoles string    `json:"target_roles"`
	Location    string    `json:"location"`
	Notes       string    `json:"notes"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Empty reports whether nothing is filled in.
func (p Profile) Empty() bool {
	return strings.TrimSpace(p.CurrentRole+p.Experience+p.Goals+p.TargetRoles+p.Location+p.Notes) == ""
}

// Memory statuses.
const (
	Proposed = "proposed" // suggested by the coach, not yet accepted
	Kept     = "kept"     // accepted (or written) by the member
)

// Memory is one remembered fact.
type Memory struct {
	ID          string    `json:"id"`
	CommunityID string    `json:"-"`
	UserID      string    `json:"-"`
	Text        string    `json:"text"`
	Status      string    `json:"status"`
	MessageID   string    `json:"message_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Document is an attached file; Data is loaded only when asked for.
type Document struct {
	ID             string    `json:"id"`
	CommunityID    string    `json:"-"`
	UserID         string    `json:"-"`
	ConversationID string    `json:"conversation_id,omitempty"` // empty: attached to the profile
	Name           string    `json:"name"`
	Kind           string    `json:"kind"`
	MediaType      string    `json:"media_type"`
	Size           int64     `json:"size"`
	Pages          int       `json:"pages"`
	Tokens         int       `json:"tokens"`
	Text           string    `json:"-"`
	Data           []byte    `json:"-"`
	BlobKey        string    `json:"-"` // where Data is kept when FILES_URL is set
	CreatedAt      time.Time `json:"created_at"`
}

// CachedAnswer is a stored answer to a common first question.
type CachedAnswer struct {
	Key, CommunityID, Content, Provider, Model string
	Usage                                      ai.Usage
	CostMicros                                 int64
	CreatedAt, ExpiresAt                       time.Time
}

// Store keeps profiles, memories, documents and cached answers. Every
// method is scoped to (community, user); another member's rows are
// apperr.NotFound.
type Store interface {
	Profile(ctx context.Context, communityID, userID string) (Profile, error)
	PutProfile(ctx context.Context, p Profile) error
	Memories(ctx context.Context, communityID, userID string) ([]Memory, error)
	AddMemory(ctx context.Context, m Memory) error
	UpdateMemory(ctx context.Context, communityID, userID, id, text, status string, now time.Time) (Memory, error)
	DeleteMemory(ctx context.Context, communityID, userID, id string) error
	// AddDocument stores d and adds its tokens to the member's usage of
	// day, refusing (false) when that would pass limit (0: no limit).
	AddDocument(ctx context.Context, d Document, day string, limit int) (used int, ok bool, err error)
	Documents(ctx context.Context, communityID, userID, conversationID string) ([]Document, error)
	// DocumentsForContext returns the profile's documents and the
	// conversation's, with their text and data.
	DocumentsForContext(ctx context.Context, communityID, userID, conversationID string) ([]Document, error)
	// Known reads, in one query, the member's profile, their memories
	// (oldest first; ID, Text and Status) and whether DocumentsForContext
	// would return any document.
	Known(ctx context.Context, communityID, userID, conversationID string) (p Profile, ms []Memory, docs bool, err error)
	Document(ctx context.Context, communityID, userID, id string) (Document, error)
	DeleteDocument(ctx context.Context, communityID, userID, id string) error
	// BlobKeys lists the member's files kept in the blob store.
	BlobKeys(ctx context.Context, userID string) ([]string, error)
	CachedAnswer(ctx context.Context, key string, now time.Time) (CachedAnswer, bool, error)
	PutCachedAnswer(ctx context.Context, a CachedAnswer) error
	PurgeCache(ctx context.Context, now time.Time) (int64, error)
}

// Settings are the operator's limits (internal/platform/config).
type Settings struct {
	ContextTokens int // COACH_CONTEXT_TOKENS: budget of the profile-and-memory block
	Limits        Limits
	// Files, if set, keeps uploaded files (FILES_URL: a folder or S3)
	// instead of the database; their extracted text stays in the database.
	Files blob.Store
}

// Service is the coach's memory of members.
type Service struct {
	st  Store
	set Settings
	now func() time.Time
}

// NewService returns a Service. now may be nil.
func NewService(st Store, set Settings, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if set.ContextTokens <= 0 {
		set.ContextTokens = 2000
	}
	if set.Limits.MaxBytes <= 0 {
		set.Limits.MaxBytes = 10 << 20
	}
	if set.Limits.MaxPages <= 0 {
		set.Limits.MaxPages = 50
	}
	return &Service{st: st, set: set, now: now}
}

// Store returns the service's store.
func (s *Service) Store() Store { return s.st }

// Settings returns the service's settings.
func (s *Service) Settings() Settings { return s.set }

// Field limits.
const (
	maxField   = 2000
	maxMemory  = 500
	maxDocName = 200
)

// SaveProfile validates and stores p.
func (s *Service) SaveProfile(ctx context.Context, p Profile) (Profile, error) {
	fields := map[string]string{}
	for name, v := range map[string]*string{"current_role": &p.CurrentRole, "experience": &p.Experience, "goals": &p.Goals, "target_roles": &p.TargetRoles, "location": &p.Location, "notes": &p.Notes} {
		*v = strings.TrimSpace(*v)
		if utf8.RuneCountInString(*v) > maxField {
			fields[name] = fmt.Sprintf("Keep it under %d characters.", maxField)
		}
	}
	if len(fields) > 0 {
		return Profile{}, apperr.InvalidFields("Some fields are too long.", fields)
	}
	p.UpdatedAt = s.now().UTC()
	return p, s.st.PutProfile(ctx, p)
}

// Remember stores a fact the member wrote (kept at once).
func (s *Service) Remember(ctx context.Context, communityID, userID, text string) (Memory, error) {
	text, err := memoryText(text)
	if err != nil {
		return Memory{}, err
	}
	now := s.now().UTC()
	m := Memory{ID: uuid.Must(uuid.NewV7()).String(), CommunityID: communityID, UserID: userID, Text: text, Status: Kept, CreatedAt: now, UpdatedAt: now}
	return m, s.st.AddMemory(ctx, m)
}

// Propose stores a fact the coach suggested, for the member to accept.
func (s *Service) Propose(ctx context.Context, communityID, userID, messageID, text string) (Memory, error) {
	text, err := memoryText(text)
	if err != nil {
		return Memory{}, err
	}
	now := s.now().UTC()
	m := Memory{ID: uuid.Must(uuid.NewV7()).String(), CommunityID: communityID, UserID: userID, Text: text, Status: Proposed, MessageID: messageID, CreatedAt: now, UpdatedAt: now}
	return m, s.st.AddMemory(ctx, m)
}

// DropProposals deletes the facts an answer proposed that the member has
// not decided on: an answer that is regenerated takes its card with it.
func (s *Service) DropProposals(ctx context.Context, communityID, userID, messageID string) error {
	ms, err := s.st.Memories(ctx, communityID, userID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Status == Proposed && m.MessageID == messageID {
			if err := s.st.DeleteMemory(ctx, communityID, userID, m.ID); err != nil && !apperr.Is(err, apperr.NotFound) {
				return err
			}
		}
	}
	return nil
}

// UpdateMemory edits a memory's text and/or accepts it (status kept).
func (s *Service) UpdateMemory(ctx context.Context, communityID, userID, id string, text *string, keep bool) (Memory, error) {
	t := ""
	if text != nil {
		var err error
		if t, err = memoryText(*text); err != nil {
			return Memory{}, err
		}
	}
	status := ""
	if keep {
		status = Kept
	}
	return s.st.UpdateMemory(ctx, communityID, userID, id, t, status, s.now().UTC())
}

func memoryText(t string) (string, error) {
	t = strings.Join(strings.Fields(t), " ")
	switch {
	case t == "":
		return "", apperr.InvalidFields("Write the fact to remember.", map[string]string{"text": "Write something."})
	case utf8.RuneCountInString(t) > maxMemory:
		return "", apperr.InvalidFields("That is too long to remember.", map[string]string{"text": fmt.Sprintf("Keep it under %d characters.", maxMemory)})
	}
	return t, nil
}

// Attach extracts and stores an uploaded document. conversationID empty
// attaches it to the profile. limit is the community's daily document
// tokens (0: none).
func (s *Service) Attach(ctx context.Context, communityID, userID, conversationID, name string, data []byte, limit int) (Document, error) {
	name = strings.TrimSpace(strings.ToValidUTF8(name, ""))
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		name = "document"
	}
	if r := []rune(name); len(r) > maxDocName {
		name = string(r[:maxDocName])
	}
	ex, err := Extract(name, data, s.set.Limits)
	if err != nil {
		return Document{}, err
	}
	now := s.now().UTC()
	d := Document{ID: uuid.Must(uuid.NewV7()).String(), CommunityID: communityID, UserID: userID, ConversationID: conversationID,
		Name: name, Kind: ex.Kind, MediaType: ex.MediaType, Size: int64(len(data)), Pages: ex.Pages, Text: ex.Text,
		Tokens: EstimateTokens(ex.Text), Data: data, CreatedAt: now}
	if s.set.Files != nil {
		d.BlobKey = communityID + "/" + userID + "/" + d.ID
		if err := s.set.Files.Put(ctx, d.BlobKey, data); err != nil {
			return Document{}, apperr.Wrap(apperr.Unavailable, err, "The file could not be stored right now. Please try again.")
		}
		d.Data = nil
	}
	used, ok, err := s.st.AddDocument(ctx, d, now.Format(time.DateOnly), limit)
	if (err != nil || !ok) && d.BlobKey != "" {
		_ = s.set.Files.Delete(context.WithoutCancel(ctx), d.BlobKey)
	}
	if err != nil {
		return Document{}, err
	}
	if !ok {
		return Document{}, apperr.E(apperr.RateLimited, "This document (about %d tokens) would pass today's limit of %d document tokens (%d used). The limit resets at midnight UTC.", d.Tokens, limit, used)
	}
	d.Data, d.Text = nil, ""
	return d, nil
}

// load reads a document's file from the blob store when it is kept there.
func (s *Service) load(ctx context.Context, d *Document) error {
	if d.BlobKey == "" || s.set.Files == nil {
		return nil
	}
	b, err := s.set.Files.Get(ctx, d.BlobKey)
	if err != nil {
		return apperr.Wrap(apperr.Unavailable, err, "An attached file could not be read right now. Please try again.")
	}
	d.Data = b
	return nil
}

// Document returns the member's document id with its file.
func (s *Service) Document(ctx context.Context, communityID, userID, id string) (Document, error) {
	d, err := s.st.Document(ctx, communityID, userID, id)
	if err != nil {
		return Document{}, err
	}
	return d, s.load(ctx, &d)
}

// DeleteDocument removes the member's document and its file.
func (s *Service) DeleteDocument(ctx context.Context, communityID, userID, id string) error {
	d, err := s.st.Document(ctx, communityID, userID, id)
	if err != nil {
		return err
	}
	if err := s.st.DeleteDocument(ctx, communityID, userID, id); err != nil {
		return err
	}
	if d.BlobKey != "" && s.set.Files != nil {
		return s.set.Files.Delete(ctx, d.BlobKey)
	}
	return nil
}

// DeleteFiles removes every file of userID kept in the blob store (account
// deletion; the rows go with the user).
func (s *Service) DeleteFiles(ctx context.Context, userID string) error {
	if s.set.Files == nil {
		return nil
	}
	keys, err := s.st.BlobKeys(ctx, userID)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		errs = append(errs, s.set.Files.Delete(ctx, k))
	}
	return errors.Join(errs...)
}

// Context is what goes to the provider besides the conversation.
type Context struct {
	Block     string        // profile and memories, within the token budget
	Documents []ai.Document // profile documents, then the conversation's
}

// Personal reports whether anything about the member is in play (then no
// cached answer may be used).
func (c Context) Personal() bool { return c.Block != "" || len(c.Documents) > 0 }

// Build assembles the member's context. memory false (the community turned
// it off) leaves profile and memories out; documents still go.
func (s *Service) Build(ctx context.Context, communityID, userID, conversationID string, memory bool) (Context, error) {
	var out Context
	hasDocs := true
	if memory {
		// One query on the way to every provider call, and the documents
		// (text and data) only for a member who has some.
		p, ms, found, err := s.st.Known(ctx, communityID, userID, conversationID)
		if err != nil {
			return Context{}, err
		}
		out.Block, hasDocs = block(p, ms, s.set.ContextTokens), found
	}
	if !hasDocs {
		return out, nil
	}
	docs, err := s.st.DocumentsForContext(ctx, communityID, userID, conversationID)
	if err != nil {
		return Context{}, err
	}
	for i := range docs {
		if err := s.load(ctx, &docs[i]); err != nil {
			return Context{}, err
		}
	}
	for _, d := range docs {
		out.Documents = append(out.Documents, ai.Document{Name: d.Name, MediaType: d.MediaType, Data: d.Data, Text: d.Text})
	}
	return out, nil
}

// block writes the profile and kept memories, newest memories first when
// the budget runs out.
func block(p Profile, ms []Memory, budget int) string {
	var b strings.Builder
	if !p.Empty() {
		b.WriteString("About the member (from their profile):\n")
		for _, f := range [][2]string{{"Current role", p.CurrentRole}, {"Experience", p.Experience}, {"Goals", p.Goals}, {"Target roles", p.TargetRoles}, {"Location", p.Location}, {"Also", p.Notes}} {
			if f[1] != "" {
				fmt.Fprintf(&b, "- %s: %s\n", f[0], f[1])
			}
		}
	}
	var kept []string
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Status == Kept {
			kept = append(kept, ms[i].Text)
		}
	}
	if len(kept) > 0 {
		b.WriteString("What the member asked you to remember:\n")
		for _, k := range kept {
			line := "- " + k + "\n"
			if EstimateTokens(b.String()+line) > budget {
				break
			}
			b.WriteString(line)
		}
	}
	s := b.String()
	for EstimateTokens(s) > budget {
		r := []rune(s)
		s = string(r[:len(r)*9/10])
	}
	return strings.TrimSpace(s)
}

// MemoryInstruction is added to the system prompt when memory is on: how the
// coach proposes a fact.
const MemoryInstruction = "\n\nIf the member tells you a lasting fact about themselves that would help in later conversations (their situation, goal, or preference) and it is not already in what you know about them, end your answer with one line of exactly this form: [remember: the fact, in one sentence addressed to them]. At most one such line, and none when there is nothing new."

var rememberLine = regexp.MustCompile(`(?s)\n*\[remember:\s*([^\]\n]{1,500})\]\s*$`)

// SplitProposal removes a trailing [remember: …] line from an answer and
// returns the fact it proposes ("" when none).
func SplitProposal(answer string) (string, string) {
	m := rememberLine.FindStringSubmatchIndex(answer)
	if m == nil {
		return answer, ""
	}
	return strings.TrimRight(answer[:m[0]], " \n"), strings.TrimSpace(answer[m[2]:m[3]])
}

// CacheKey identifies a cacheable first question: the community, the
// model, the system prompt's version and the question normalised (case,
// spacing and trailing punctuation).
func CacheKey(communityID, model, systemPrompt, question string) string {
	h := sha256.New()
	sp := sha256.Sum256([]byte(systemPrompt))
	fmt.Fprintf(h, "%s\x00%s\x00%x\x00%s", communityID, model, sp[:8], NormalizeQuestion(question))
	return hex.EncodeToString(h.Sum(nil))
}

// NormalizeQuestion folds case and spacing and drops trailing punctuation.
func NormalizeQuestion(q string) string {
	q = strings.ToLower(strings.Join(strings.Fields(q), " "))
	return strings.TrimRight(q, " ?!.。？！")
}
