// Package idea holds Coda's ideas: the domain types, the rules an idea must
// follow, the Store interface its SQL implementation (ideastore) satisfies,
// and the Service that the HTTP layer and the purge job call. Every
// operation is scoped to one user: another user's idea is "not found".
package idea

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// Limits on what an idea may hold.
const (
	MaxTitleRunes = 200
	MaxBodyBytes  = 100 * 1024
	MaxTags       = 20
	MaxTagRunes   = 40
	// DefaultUndoWindow is how long a deleted idea can be restored
	// (UNDO_WINDOW).
	DefaultUndoWindow = 10 * time.Minute
	// DefaultPageSize and MaxPageSize bound a list page.
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Idea is one captured idea.
type Idea struct {
	ID        string
	UserID    string
	Title     string
	Body      string // Markdown
	Tags      []string
	Version   int // starts at 1, +1 on every change
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletedAt and UndoExpiresAt are set while the idea is soft-deleted.
	DeletedAt     *time.Time
	UndoExpiresAt *time.Time
	// Highlight holds search highlights when the idea came from a search.
	Highlight *Highlight
}

// Highlight marks search matches. The texts hold MarkStart and MarkEnd
// around each match; callers escape the text and turn the marks into
// <mark> elements (see HighlightHTML).
type Highlight struct {
	Title   string
	Snippet string
}

// Search highlight marks: control characters that validation keeps out of
// every stored field, so they can only come from the search engine.
const (
	MarkStart = "\x01"
	MarkEnd   = "\x02"
)

// ContentHash identifies an idea's content for import duplicate
// detection: the title, the body and the sorted tags.
func ContentHash(title, body string, tags []string) string {
	t := append([]string(nil), tags...)
	sort.Strings(t)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", title, body, strings.Join(t, "\x00"))
	return hex.EncodeToString(h.Sum(nil))
}

// Fields is the content of an idea as a person writes it.
type Fields struct {
	Title string
	Body  string
	Tags  []string
}

// Input is a create or update request before validation. A nil pointer is
// a field left unchanged on update. The *Bad flags record fields whose raw
// bytes were not valid UTF-8 (the JSON decoder would otherwise replace them
// silently).
type Input struct {
	Title *string
	Body  *string
	Tags  *[]string
	// BadUTF8 names the fields whose raw input was not valid UTF-8.
	BadUTF8 map[string]bool
}

// Validate normalises in over base (the current idea, or zero for a new
// one) and reports every bad field at once as an apperr Invalid error.
func (in Input) Validate(base Fields, creating bool) (Fields, error) {
	out := base
	bad := map[string]string{}
	for f := range in.BadUTF8 {
		bad[f] = "must be valid UTF-8 text"
	}
	if in.Title != nil && bad["title"] == "" {
		t := strings.TrimSpace(*in.Title)
		switch {
		case !utf8.ValidString(t):
			bad["title"] = "must be valid UTF-8 text"
		case t == "":
			bad["title"] = "is required"
		case utf8.RuneCountInString(t) > MaxTitleRunes:
			bad["title"] = fmt.Sprintf("must be at most %d characters (it has %d)", MaxTitleRunes, utf8.RuneCountInString(t))
		case hasControl(t, false):
			bad["title"] = "must not contain control characters or line breaks"
		}
		out.Title = t
	} else if creating && in.Title == nil && bad["title"] == "" {
		bad["title"] = "is required"
	}
	if in.Body != nil && bad["body"] == "" {
		b := strings.ReplaceAll(*in.Body, "\r\n", "\n")
		switch {
		case !utf8.ValidString(b):
			bad["body"] = "must be valid UTF-8 text"
		case len(b) > MaxBodyBytes:
			bad["body"] = fmt.Sprintf("must be at most %d KB (it has %d bytes)", MaxBodyBytes/1024, len(b))
		case hasControl(b, true):
			bad["body"] = "must not contain control characters"
		}
		out.Body = b
	}
	if in.Tags != nil && bad["tags"] == "" {
		tags, msg := normaliseTags(*in.Tags)
		if msg != "" {
			bad["tags"] = msg
		}
		out.Tags = tags
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if len(bad) > 0 {
		return base, apperr.InvalidFields("Some fields need attention.", bad)
	}
	return out, nil
}

// normaliseTags trims, lower-cases and de-duplicates tags, keeping order.
func normaliseTags(in []string) ([]string, string) {
	if len(in) > MaxTags {
		return nil, fmt.Sprintf("must be at most %d tags (there are %d)", MaxTags, len(in))
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, raw := range in {
		t := strings.ToLower(strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(raw), "#")))
		switch {
		case !utf8.ValidString(t):
			return nil, "must be valid UTF-8 text"
		case t == "":
			continue
		case utf8.RuneCountInString(t) > MaxTagRunes:
			return nil, fmt.Sprintf("each tag must be at most %d characters", MaxTagRunes)
		case strings.ContainsFunc(t, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || unicode.IsControl(r) }):
			return nil, fmt.Sprintf("tag %q must not contain spaces, commas or control characters", t)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, ""
}

// ParseTags splits a comma- or space-separated tag line (the page form).
func ParseTags(line string) []string {
	return strings.FieldsFunc(line, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// hasControl reports control characters; multiline allows \n and \t.
func hasControl(s string, multiline bool) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		if multiline && (r == '\n' || r == '\t') {
			return false
		}
		return unicode.IsControl(r)
	})
}

// ListOptions narrow a list.
type ListOptions struct {
	Tag    string // only ideas with this tag
	Query  string // full-text search over title and body
	Cursor string // from the previous page's Next
	Limit  int    // DefaultPageSize if 0, at most MaxPageSize
}

// Page is one page of a list.
type Page struct {
	Ideas []Idea
	Next  string // cursor of the next page; empty on the last
}

// Deleted is what a soft delete returns: the idea and the undo token.
type Deleted struct {
	Idea      Idea
	UndoToken string
}

// PurgeResult reports a purge run.
type PurgeResult struct {
	Deleted int64
	Batches int
	Longest time.Duration // the longest single batch (the longest lock held)
}

// ImportResult reports an import.
type ImportResult struct {
	Imported   int `json:"imported"`
	Duplicates int `json:"duplicates"`
	// KeptIDs counts the imported ideas that kept the ID in the file.
	KeptIDs int `json:"keptIds"`
	// NewIDs lists the imported ideas whose ID in the file could not be
	// kept, with the ID each got instead (ideas without an ID in the
	// file get a new one and are not listed).
	NewIDs []IDChange `json:"newIds"`
	IDs    []string   `json:"-"`
}

// IDChange is an imported idea that got a new ID.
type IDChange struct {
	From string `json:"from"` // the ID in the file
	To   string `json:"to"`   // the ID it has now
	// Reason is "taken" (another account on this server has an idea with
	// that ID) or "invalid" (not an ID of the form Coda gives).
	Reason string `json:"reason"`
}

// Reasons an imported idea gets a new ID.
const (
	IDTaken   = "taken"
	IDInvalid = "invalid"
)

// ValidID reports whether id has the form of a Coda idea ID (a UUID in
// lower case: 36 characters of hex digits and dashes).
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if dash != (c == '-') || !dash && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ConflictError is returned by an update based on a stale version; it
// carries the idea as it is now so the caller can show both.
type ConflictError struct {
	Current Idea
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("idea %s changed: now at version %d", e.Current.ID, e.Current.Version)
}

// Store keeps ideas. Every method is scoped to userID; a missing or
// another user's idea is an apperr NotFound.
type Store interface {
	Insert(ctx context.Context, it Idea) error
	Get(ctx context.Context, userID, id string) (Idea, error)
	List(ctx context.Context, userID string, o ListOptions) (Page, error)
	// Update writes f if the idea is live and at version expect; it
	// returns *ConflictError (wrapped in an apperr Conflict) otherwise.
	Update(ctx context.Context, userID, id string, expect int, f Fields, now time.Time) (Idea, error)
	SoftDelete(ctx context.Context, userID, id string, now, expires time.Time, tokenHash string) (Idea, error)
	// Restore brings back a deleted idea found by id or by undo token
	// hash, if its window (ending at UndoExpiresAt, inclusive) is open at now.
	Restore(ctx context.Context, userID, id, tokenHash string, now time.Time) (Idea, error)
	ListDeleted(ctx context.Context, userID string, now time.Time) ([]Idea, error)
	// PurgeBatch hard-deletes at most limit ideas whose undo window ended
	// strictly before now, and reports how many.
	PurgeBatch(ctx context.Context, now time.Time, limit int) (int64, error)
	// Each calls fn with every live idea of the user, oldest first,
	// reading in batches so memory stays flat.
	Each(ctx context.Context, userID string, fn func(Idea) error) error
	// Import inserts ideas from next (until io.EOF) in one transaction,
	// skipping duplicates (same ID or same content for the user).
	Import(ctx context.Context, userID string, next func() (Idea, error)) (ImportResult, error)
	// Tags lists the tags on the user's live ideas with their counts,
	// most used first.
	Tags(ctx context.Context, userID string, limit int) ([]TagCount, error)
}

// TagCount is a tag and how many live ideas carry it.
type TagCount struct {
	Tag   string
	Count int
}
