package idea

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// DefaultPurgeBatch is how many ideas one purge statement deletes, so a
// million expired rows never hold one long lock.
const DefaultPurgeBatch = 1000

// Options configure a Service.
type Options struct {
	Store      Store
	Now        func() time.Time // default time.Now
	UndoWindow time.Duration    // default DefaultUndoWindow
	PurgeBatch int              // default DefaultPurgeBatch
	Logger     *slog.Logger
}

// Service is what callers use: it validates input, applies the rules
// (versions, the undo window) and calls the Store.
type Service struct {
	o Options
}

// NewService returns a Service with defaults filled in.
func NewService(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UndoWindow <= 0 {
		o.UndoWindow = DefaultUndoWindow
	}
	if o.PurgeBatch <= 0 {
		o.PurgeBatch = DefaultPurgeBatch
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}
}

// UndoWindow is how long a deleted idea can be restored.
func (s *Service) UndoWindow() time.Duration { return s.o.UndoWindow }

// now is the clock in UTC at the precision both stores keep.
func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Microsecond) }

// NewID returns a fresh idea ID (a UUIDv7: random, never sequential).
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Create validates and stores a new idea.
func (s *Service) Create(ctx context.Context, userID string, in Input) (Idea, error) {
	f, err := in.Validate(Fields{}, true)
	if err != nil {
		return Idea{}, err
	}
	now := s.now()
	it := Idea{ID: NewID(), UserID: userID, Title: f.Title, Body: f.Body, Tags: f.Tags, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := s.o.Store.Insert(ctx, it); err != nil {
		return Idea{}, err
	}
	return it, nil
}

// Get returns one live idea.
func (s *Service) Get(ctx context.Context, userID, id string) (Idea, error) {
	return s.o.Store.Get(ctx, userID, id)
}

// List returns a page of live ideas, newest first, or by relevance when
// searching.
func (s *Service) List(ctx context.Context, userID string, o ListOptions) (Page, error) {
	if o.Limit <= 0 {
		o.Limit = DefaultPageSize
	}
	o.Limit = min(o.Limit, MaxPageSize)
	o.Query = strings.TrimSpace(o.Query)
	if len(o.Query) > 500 {
		return Page{}, apperr.InvalidFields("The search is too long.", map[string]string{"q": "must be at most 500 bytes"})
	}
	o.Tag = strings.ToLower(strings.TrimSpace(o.Tag))
	return s.o.Store.List(ctx, userID, o)
}

// Update changes the fields present in in, if expect is the idea's
// current version; otherwise it answers a Conflict carrying the current
// idea (*ConflictError).
func (s *Service) Update(ctx context.Context, userID, id string, expect int, in Input) (Idea, error) {
	if expect < 1 {
		return Idea{}, apperr.InvalidFields("Say which version the change is based on.", map[string]string{"version": "is required (the version you last saw)"})
	}
	cur, err := s.o.Store.Get(ctx, userID, id)
	if err != nil {
		return Idea{}, err
	}
	f, err := in.Validate(Fields{Title: cur.Title, Body: cur.Body, Tags: cur.Tags}, false)
	if err != nil {
		return Idea{}, err
	}
	if cur.Version != expect {
		return Idea{}, conflict(cur)
	}
	return s.o.Store.Update(ctx, userID, id, expect, f, s.now())
}

// conflict wraps a ConflictError in an apperr Conflict.
func conflict(cur Idea) error {
	return &apperr.Error{Kind: apperr.Conflict, Message: fmt.Sprintf("This idea was changed elsewhere; it is now at version %d.", cur.Version), Err: &ConflictError{Current: cur}}
}

// Conflict returns the Conflict error a store answers for a stale version.
func Conflict(cur Idea) error { return conflict(cur) }

// Delete soft-deletes an idea and returns an undo token valid for the
// undo window.
func (s *Service) Delete(ctx context.Context, userID, id string) (Deleted, error) {
	tok := newToken()
	now := s.now()
	it, err := s.o.Store.SoftDelete(ctx, userID, id, now, now.Add(s.o.UndoWindow), HashToken(tok))
	if err != nil {
		return Deleted{}, err
	}
	return Deleted{Idea: it, UndoToken: tok}, nil
}

// Undo restores the idea an undo token names; after the window it answers
// Gone and says when the window ended.
func (s *Service) Undo(ctx context.Context, userID, token string) (Idea, error) {
	if strings.TrimSpace(token) == "" {
		return Idea{}, apperr.InvalidFields("An undo token is required.", map[string]string{"token": "is required"})
	}
	return s.o.Store.Restore(ctx, userID, "", HashToken(token), s.now())
}

// Restore brings back a recently deleted idea by its ID.
func (s *Service) Restore(ctx context.Context, userID, id string) (Idea, error) {
	return s.o.Store.Restore(ctx, userID, id, "", s.now())
}

// RecentlyDeleted lists the user's deleted ideas that can still be restored.
func (s *Service) RecentlyDeleted(ctx context.Context, userID string) ([]Idea, error) {
	return s.o.Store.ListDeleted(ctx, userID, s.now())
}

// purgeTarget is how long one purge batch should hold the write lock; the
// batch size starts at 250, halves when a batch takes more than twice this
// and doubles (up to Options.PurgeBatch) when it takes less than half.
const purgeTarget = 100 * time.Millisecond

// Purge hard-deletes every idea whose undo window has ended, in batches
// sized so none holds the write lock for long, and reports how many, how
// many batches and the longest batch.
func (s *Service) Purge(ctx context.Context) (PurgeResult, error) {
	var res PurgeResult
	now := s.now()
	// Start small and grow while batches are quick: the first batch's
	// cost is unknown, and it should not be the one that holds the lock.
	size := min(s.o.PurgeBatch, 250)
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		t0 := time.Now()
		n, err := s.o.Store.PurgeBatch(ctx, now, size)
		d := time.Since(t0)
		if d > res.Longest {
			res.Longest = d
		}
		if err != nil {
			return res, fmt.Errorf("purge soft-deleted ideas: %w", err)
		}
		res.Deleted += n
		res.Batches++
		if n < int64(size) {
			return res, nil
		}
		switch {
		case d > 2*purgeTarget && size > 50:
			size = max(size/2, 50)
		case d < purgeTarget/2 && size < s.o.PurgeBatch:
			size = min(size*2, s.o.PurgeBatch)
		}
	}
}

// Tags lists the user's most used tags.
func (s *Service) Tags(ctx context.Context, userID string) ([]TagCount, error) {
	return s.o.Store.Tags(ctx, userID, 50)
}

// Each calls fn with every live idea of the user, oldest first.
func (s *Service) Each(ctx context.Context, userID string, fn func(Idea) error) error {
	return s.o.Store.Each(ctx, userID, fn)
}

// newToken returns 24 random bytes, base64url-encoded.
func newToken() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is what the database keeps of an undo or API token.
func HashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}
