// Package chatredis is chat.Bus on Redis: the text of each answer in
// progress in a key (APPEND), its pieces and end published on a channel,
// and stop requests on a shared channel, so any instance can follow or
// stop an answer that another generates.
package chatredis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaywork/suite/internal/voyager/chat"
)

// Bus implements chat.Bus.
type Bus struct {
	c      redis.UniversalClient
	prefix string
}

var _ chat.Bus = (*Bus)(nil)

// TTL bounds how long an abandoned answer's text stays in Redis.
const TTL = time.Hour

// New returns a Bus on c; prefix namespaces keys and channels ("voyager:").
func New(c redis.UniversalClient, prefix string) *Bus {
	if prefix == "" {
		prefix = "voyager:"
	}
	return &Bus{c: c, prefix: prefix}
}

func (b *Bus) key(id string) string    { return b.prefix + "answer:" + id }
func (b *Bus) events(id string) string { return b.prefix + "answer:" + id + ":events" }
func (b *Bus) stops() string           { return b.prefix + "stops" }

type wire struct {
	Offset int           `json:"o"`
	Text   string        `json:"t,omitempty"`
	Done   *chat.Message `json:"done,omitempty"`
}

// Start implements chat.Bus.
func (b *Bus) Start(ctx context.Context, id string) error {
	return b.c.Set(ctx, b.key(id), "", TTL).Err()
}

// Delta implements chat.Bus.
func (b *Bus) Delta(ctx context.Context, id string, offset int, text string) error {
	msg, _ := json.Marshal(wire{Offset: offset, Text: text})
	_, err := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Append(ctx, b.key(id), text)
		p.Publish(ctx, b.events(id), msg)
		return nil
	})
	return err
}

// Done implements chat.Bus. The key goes before the publish, so a follower
// that still saw the key is already subscribed and gets the end.
func (b *Bus) Done(ctx context.Context, id string, m chat.Message) error {
	msg, _ := json.Marshal(wire{Done: &m})
	if err := b.c.Del(ctx, b.key(id)).Err(); err != nil {
		return err
	}
	return b.c.Publish(ctx, b.events(id), msg).Err()
}

// Follow implements chat.Bus: subscribe, then read the text so far; pieces
// already in the snapshot are skipped by offset.
func (b *Bus) Follow(ctx context.Context, id string) (string, <-chan chat.Event, func(), bool, error) {
	ps := b.c.Subscribe(ctx, b.events(id))
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return "", nil, func() {}, false, fmt.Errorf("subscribe: %w", err)
	}
	snap, err := b.c.Get(ctx, b.key(id)).Result()
	if errors.Is(err, redis.Nil) {
		ps.Close()
		return "", nil, func() {}, false, nil
	}
	if err != nil {
		ps.Close()
		return "", nil, func() {}, false, err
	}
	out := make(chan chat.Event, 512)
	fctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(out)
		defer ps.Close()
		have := len(snap)
		in := ps.Channel()
		for {
			select {
			case <-fctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				var w wire
				if json.Unmarshal([]byte(m.Payload), &w) != nil {
					continue
				}
				if w.Done != nil {
					out <- chat.Event{Kind: "done", Message: w.Done}
					return
				}
				end := w.Offset + len(w.Text)
				if end <= have {
					continue // already in the snapshot
				}
				text := w.Text
				if w.Offset < have {
					text = text[have-w.Offset:]
				}
				have = end
				select {
				case out <- chat.Event{Kind: "delta", Text: text}:
				default:
					return // lagging: the client reconnects for a fresh snapshot
				}
			}
		}
	}()
	return snap, out, cancel, true, nil
}

// RequestStop implements chat.Bus.
func (b *Bus) RequestStop(ctx context.Context, id string) error {
	return b.c.Publish(ctx, b.stops(), id).Err()
}

// Stops implements chat.Bus.
func (b *Bus) Stops(ctx context.Context) <-chan string {
	out := make(chan string, 16)
	ps := b.c.Subscribe(ctx, b.stops())
	go func() {
		defer close(out)
		defer ps.Close()
		in := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- m.Payload:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
