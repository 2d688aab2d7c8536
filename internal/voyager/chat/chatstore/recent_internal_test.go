package chatstore

import (
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/voyager/chat"
)

// TestRecentBounds: the cache keeps at most its bytes (least recently used
// out first), never a streaming message, and nothing past its TTL.
func TestRecentBounds(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := newRecent(3*(1000+4+128), time.Minute)
	r.now = func() time.Time { return now }
	msg := func(id string) chat.Message {
		return chat.Message{ID: id, ConversationID: "c", CommunityID: "k", UserID: "u", Content: strings.Repeat("x", 1000), Status: chat.Complete}
	}
	for _, id := range []string{"m001", "m002", "m003"} {
		r.put(msg(id))
	}
	if _, ok := r.history("k", "u", "c", []string{"m001"}); !ok { // m001 is now the most recent
		t.Fatal("m001 not kept")
	}
	r.put(msg("m004")) // evicts m002, the least recently used
	if _, ok := r.history("k", "u", "c", []string{"m002"}); ok {
		t.Fatal("m002 kept past the byte cap")
	}
	if got, ok := r.history("k", "u", "c", []string{"m004", "m003", "m001"}); !ok || got[0].ID != "m001" || got[2].ID != "m004" {
		t.Fatalf("kept: %v %v", ok, got)
	}
	if r.size > r.max {
		t.Fatalf("size %d over max %d", r.size, r.max)
	}
	s := msg("m005")
	s.Status = chat.Streaming
	r.put(s)
	if _, ok := r.history("k", "u", "c", []string{"m005"}); ok {
		t.Fatal("a streaming message was kept")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := r.history("k", "u", "c", []string{"m004"}); ok {
		t.Fatal("served past its TTL")
	}
	r.drop("m003", "m001")
	if len(r.byID) != 0 || r.order.Len() != 0 {
		t.Fatalf("left after drop and expiry: %d", len(r.byID))
	}
	r.put(msg("m006"))
	other := msg("m007")
	other.UserID = "u2"
	r.put(other)
	r.dropUser("u")
	if _, ok := r.history("k", "u", "c", []string{"m006"}); ok || len(r.byID) != 1 {
		t.Fatalf("dropUser left the member's message or took another's: %d left", len(r.byID))
	}
}
