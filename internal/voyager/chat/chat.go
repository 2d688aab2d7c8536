// Package chat holds Voyager's members, conversations and messages: the
// domain types, the Store interface (SQL in chatstore) and the Service that
// sends a message, streams the coach's answer through a Hub so any page can
// follow it, stops it and regenerates it.
package chat

import (
	"context"
	"time"

	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/coach"
)

// Role is a member's role in a community.
type Role string

// The membership roles.
const (
	RoleMember Role = "member"
	RoleCoach  Role = "coach"
	RoleAdmin  Role = "admin"
)

// Membership is a user's place in a community.
type Membership struct {
	CommunityID string    `json:"community_id"`
	UserID      string    `json:"-"`
	Role        Role      `json:"role"`
	CreatedAt   time.Time `json:"joined_at"`
}

// Invite is a link that lets its holder join a private community.
type Invite struct {
	ID          string    `json:"id"`
	CommunityID string    `json:"community_id"`
	Role        Role      `json:"role"`
	MaxUses     int       `json:"max_uses"`
	Uses        int       `json:"uses"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// TokenHash is the stored hash of the link's secret (Invites fills it).
	TokenHash string `json:"-"`
}

// Conversation is a member's thread with the coach in one community.
type Conversation struct {
	ID          string    `json:"id"`
	CommunityID string    `json:"community_id"`
	UserID      string    `json:"-"`
	Title       string    `json:"title"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Snippet is, in search results, the text around the first message
	// that matches.
	Snippet string `json:"snippet,omitempty"`
}

// Status is an answer's state.
type Status string

// Message statuses.
const (
	Complete    Status = "complete"
	Streaming   Status = "streaming"
	Stopped     Status = "stopped"     // the member pressed stop; content is partial
	Interrupted Status = "interrupted" // the provider failed mid-answer; content is partial
	Failed      Status = "failed"      // no provider answered; content is empty
)

// Message is one turn.
type Message struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	UserID         string    `json:"-"`
	CommunityID    string    `json:"community_id"`
	Role           ai.Role   `json:"role"`
	Content        string    `json:"content"`
	Status         Status    `json:"status"`
	Provider       string    `json:"provider,omitempty"`
	Model          string    `json:"model,omitempty"`
	Usage          ai.Usage  `json:"tokens"`
	LatencyMS      int64     `json:"latency_ms"`
	FirstTokenMS   int64     `json:"first_token_ms"`
	FinishReason   string    `json:"finish_reason,omitempty"`
	CostMicros     int64     `json:"cost_micros"`
	Error          string    `json:"error,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	// Proposal is a fact the coach proposed remembering in this answer
	// (only on the answer as it finishes; it is kept in coach's store).
	Proposal *coach.Memory `json:"memory_proposal,omitempty"`
}

// FinishCached marks an answer served from the answer cache.
const FinishCached = "cached"

// Turn is one send or regenerate, written by Store.StartTurn.
type Turn struct {
	Day       string   // UTC day, YYYY-MM-DD
	Limit     int      // answers per day; 0: unlimited
	User      *Message // the member's message; nil when regenerating
	ReplaceID string   // the answer being regenerated, or ""
	Answer    Message  // the placeholder, status streaming
	Title     string   // new conversation title, or ""
}

// UsageDay is how many answers a member asked for in a community on one
// UTC day (YYYY-MM-DD).
type UsageDay struct {
	CommunityID string `json:"community_id"`
	Day         string `json:"day"`
	Answers     int    `json:"answers"`
}

// Store keeps memberships, invites, conversations and messages. Lookups
// that a member makes are scoped by community and user, so a row of
// someone else is simply not found.
type Store interface {
	Membership(ctx context.Context, communityID, userID string) (Membership, error)
	Join(ctx context.Context, m Membership) (Membership, error) // idempotent; keeps an existing role
	SetRole(ctx context.Context, communityID, userID string, role Role) error
	Memberships(ctx context.Context, userID string) ([]Membership, error)

	CreateInvite(ctx context.Context, inv Invite, tokenHash string) error
	// InviteByToken returns the invite with tokenHash in the community,
	// used or not, without counting a use (NotFound when there is none).
	InviteByToken(ctx context.Context, communityID, tokenHash string) (Invite, error)
	// UseInvite counts one use of the invite with tokenHash if it is for
	// communityID, unexpired and not used up, and returns it.
	UseInvite(ctx context.Context, communityID, tokenHash string, now time.Time) (Invite, error)
	// Invites lists the community's invites, newest first.
	Invites(ctx context.Context, communityID string) ([]Invite, error)
	// RevokeInvite deletes the community's invite id, so its link stops working.
	RevokeInvite(ctx context.Context, communityID, id string) error

	CreateConversation(ctx context.Context, c Conversation) error
	Conversation(ctx context.Context, communityID, userID, id string) (Conversation, error)
	Conversations(ctx context.Context, communityID, userID string) ([]Conversation, error)
	// FindConversations lists the member's conversations that have
	// messages, newest first; with a non-empty query, only those whose title
	// or any message contains it (case-insensitive), each with a snippet.
	FindConversations(ctx context.Context, communityID, userID, query string, limit int) ([]Conversation, error)
	// EmptyConversation returns the member's newest conversation without
	// messages (NotFound when there is none), so "New conversation" does
	// not pile up empty ones.
	EmptyConversation(ctx context.Context, communityID, userID string) (Conversation, error)
	RenameConversation(ctx context.Context, communityID, userID, id, title string, now time.Time) error
	DeleteConversation(ctx context.Context, communityID, userID, id string) error

	// AddMessage inserts m and touches its conversation.
	AddMessage(ctx context.Context, m Message) error
	// FinishMessage stores an answer's final content, status and accounting.
	FinishMessage(ctx context.Context, m Message) error
	Message(ctx context.Context, communityID, userID, id string) (Message, error)
	// Messages returns the conversation's last limit messages, oldest first
	// (limit <= 0: all).
	Messages(ctx context.Context, conversationID string, limit int) ([]Message, error)
	// History returns the last limit messages of the member's conversation
	// in the community, oldest first, with only what a request's context
	// needs: ID, Role, Content and Status.
	History(ctx context.Context, communityID, userID, conversationID string, limit int) ([]Message, error)
	DeleteMessage(ctx context.Context, conversationID, id string) error
	// Usage returns how many answers the member asked for in the community on day (YYYY-MM-DD).
	Usage(ctx context.Context, communityID, userID, day string) (int, error)
	// UsageHistory returns every daily count kept for the member, oldest
	// day first (the account download).
	UsageHistory(ctx context.Context, userID string) ([]UsageDay, error)
	// TakeAnswer counts one more answer on day unless limit (> 0) is
	// reached; it returns the count after and whether it was taken.
	TakeAnswer(ctx context.Context, communityID, userID, day string, limit int) (int, bool, error)
	// StartTurn does a turn's writes in one transaction: count the answer
	// against the daily limit (nothing else is written when it is reached),
	// delete the answer being regenerated, insert the member's message, the
	// streaming answer placeholder, and retitle the conversation.
	StartTurn(ctx context.Context, t Turn) (used int, took bool, err error)
	// CreateHandoff stores a one-time sign-in handoff to a custom domain,
	// bound to the browser that started it (binding: a hash of its
	// handoff cookie). UseHandoff spends it and returns its user if it is
	// unexpired, for communityID and presented with the same binding; a
	// token presented with another binding is spent too, signing no one in.
	CreateHandoff(ctx context.Context, tokenHash, binding, userID, communityID string, expires time.Time) error
	UseHandoff(ctx context.Context, tokenHash, binding, communityID string, now time.Time) (userID string, err error)
	// InterruptStreaming marks answers left streaming (by a process that
	// died) as interrupted; it returns how many.
	InterruptStreaming(ctx context.Context, before time.Time) (int64, error)
}
