package chatredis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/chat/chatredis"
	"github.com/relaywork/suite/internal/voyager/chat/chatstore"
	"github.com/relaywork/suite/internal/voyager/community"
)

// gated streams one piece per receive from gate until ctx ends.
type gated struct{ gate chan string }

func (g gated) Configured() bool { return true }

func (g gated) Stream(ctx context.Context, req ai.Request, emit func(string)) (ai.Result, error) {
	res := ai.Result{Provider: "fake", Model: "m"}
	for {
		select {
		case <-ctx.Done():
			return res, ai.ErrStopped
		case s, ok := <-g.gate:
			if !ok {
				res.FinishReason = "end_turn"
				return res, nil
			}
			emit(s)
		}
	}
}

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_REDIS_URL is not set; CI must provide Redis")
		}
		t.Skip("TEST_REDIS_URL is not set")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAnswerFollowedAndStoppedFromAnotherInstance runs two services (two
// "instances") on one database and one Redis: B follows and stops the
// answer A generates.
func TestAnswerFollowedAndStoppedFromAnotherInstance(t *testing.T) {
	t.Parallel()
	rc := redisClient(t)
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "voyagertest:" + hex.EncodeToString(b) + ":"
	db := storetest.Open(t, store.SQLite, voyager.Migrations())
	ctx := context.Background()
	db.Exec(ctx, `INSERT INTO users (id, email, created_at) VALUES ('u1', 'u1@example.com', ?)`, time.Now().UTC())
	st := chatstore.New(db)
	g := gated{gate: make(chan string)}
	a := chat.NewService(chat.Options{Store: st, AI: g, Bus: chatredis.New(rc, prefix)})
	bsvc := chat.NewService(chat.Options{Store: st, AI: g, Bus: chatredis.New(rc, prefix)})
	t.Cleanup(func() { a.Close(); bsvc.Close() })
	c := &community.Community{ID: "alpha", Name: "Alpha", Coach: community.Coach{SystemPrompt: "p"}}
	conv, err := a.StartConversation(ctx, c, "u1", "")
	if err != nil {
		t.Fatal(err)
	}
	sent, err := a.Send(ctx, c, conv, "hello")
	if err != nil {
		t.Fatal(err)
	}
	id := sent.Answer.ID
	g.gate <- "one "
	waitFor(t, "the first piece in Redis", func() bool { s, _ := rc.Get(ctx, prefix+"answer:"+id).Result(); return s == "one " })

	snap, events, cancel, live := bsvc.Follow(ctx, id)
	defer cancel()
	if !live || snap != "one " {
		t.Fatalf("follow on B: got %q live %v", snap, live)
	}
	g.gate <- "two"
	if ev := <-events; ev.Kind != "delta" || ev.Text != "two" {
		t.Fatalf("got %+v", ev)
	}
	// Both services subscribe to stop requests; wait until Redis has them.
	waitFor(t, "stop subscribers", func() bool {
		n, _ := rc.PubSubNumSub(ctx, prefix+"stops").Result()
		return n[prefix+"stops"] >= 2
	})
	if !bsvc.Stop(ctx, id) {
		t.Fatal("B could not ask to stop")
	}
	ev := <-events
	if ev.Kind != "done" || ev.Message.Status != chat.Stopped || ev.Message.Content != "one two" {
		t.Fatalf("got %+v", ev)
	}
	m, _ := st.Message(ctx, "alpha", "u1", id)
	if m.Status != chat.Stopped || !strings.HasPrefix(m.Content, "one two") {
		t.Fatalf("stored %+v", m)
	}
	// Finished: no longer live anywhere.
	if _, _, _, live := bsvc.Follow(ctx, id); live {
		t.Fatal("finished answer still live on B")
	}
}
