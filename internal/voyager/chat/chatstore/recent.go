package chatstore

import (
	"container/list"
	"sync"
	"time"

	"github.com/relaywork/suite/internal/voyager/chat"
)

// recent keeps the text of finished messages by id, so History (read
// before every provider call) asks the database only for the ids of a
// conversation's last messages, an index-only read, and fetches rows only
// when one of them is not here. It is exact without invalidation: a
// message's id never changes, and the text of a finished message (any
// status but streaming) never changes either (FinishMessage is the one
// update, from streaming); a streaming message is never kept. A message
// deleted anywhere drops out of the ids the database returns, so it is
// never served again; its copy here goes with this process's own deletes
// at once and otherwise within recentTTL or sooner by eviction.
type recent struct {
	mu    sync.Mutex
	max   int // bytes of text kept, at most
	size  int
	ttl   time.Duration
	now   func() time.Time
	order *list.List // front: most recently used
	byID  map[string]*list.Element
}

type recentMsg struct {
	m    chat.Message // ID, ConversationID, CommunityID, UserID, Role, Content, Status
	kept time.Time
}

// Defaults for the cache of recent message text (per process).
const (
	recentMaxBytes = 16 << 20
	recentTTL      = 10 * time.Minute
)

func newRecent(maxBytes int, ttl time.Duration) *recent {
	return &recent{max: maxBytes, ttl: ttl, now: time.Now, order: list.New(), byID: map[string]*list.Element{}}
}

func cost(m chat.Message) int { return len(m.Content) + len(m.ID) + 128 }

// put keeps a finished message.
func (r *recent) put(m chat.Message) {
	if m.Status == chat.Streaming || m.ID == "" {
		return
	}
	m = chat.Message{ID: m.ID, ConversationID: m.ConversationID, CommunityID: m.CommunityID, UserID: m.UserID, Role: m.Role, Content: m.Content, Status: m.Status}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byID[m.ID]; ok {
		r.size -= cost(e.Value.(*recentMsg).m)
		r.order.Remove(e)
		delete(r.byID, m.ID)
	}
	if cost(m) > r.max {
		return
	}
	r.byID[m.ID] = r.order.PushFront(&recentMsg{m: m, kept: r.now()})
	r.size += cost(m)
	for r.size > r.max {
		r.removeLocked(r.order.Back())
	}
}

func (r *recent) removeLocked(e *list.Element) {
	v := e.Value.(*recentMsg)
	r.order.Remove(e)
	delete(r.byID, v.m.ID)
	r.size -= cost(v.m)
}

// drop forgets the messages ids.
func (r *recent) drop(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if e, ok := r.byID[id]; ok {
			r.removeLocked(e)
		}
	}
}

// dropConversation forgets a conversation's messages.
func (r *recent) dropConversation(conversationID string) {
	r.dropWhere(func(m chat.Message) bool { return m.ConversationID == conversationID })
}

// dropUser forgets a member's messages (their account is being deleted).
func (r *recent) dropUser(userID string) {
	r.dropWhere(func(m chat.Message) bool { return m.UserID == userID })
}

func (r *recent) dropWhere(match func(chat.Message) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for e := r.order.Front(); e != nil; {
		next := e.Next()
		if match(e.Value.(*recentMsg).m) {
			r.removeLocked(e)
		}
		e = next
	}
}

// history returns the messages ids (oldest first) of the member's
// conversation if every one is here and fresh, else ok false.
func (r *recent) history(communityID, userID, conversationID string, ids []string) ([]chat.Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := make([]chat.Message, len(ids))
	for i, id := range ids {
		e, ok := r.byID[id]
		if !ok {
			return nil, false
		}
		v := e.Value.(*recentMsg)
		if now.Sub(v.kept) > r.ttl {
			r.removeLocked(e)
			return nil, false
		}
		if v.m.ConversationID != conversationID || v.m.CommunityID != communityID || v.m.UserID != userID {
			return nil, false
		}
		r.order.MoveToFront(e)
		out[len(ids)-1-i] = v.m // ids come newest first
	}
	return out, true
}
