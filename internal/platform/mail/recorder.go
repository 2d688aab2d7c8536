package mail

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Recorder is a Sender that keeps messages in memory instead of sending
// them, for other packages' tests. It validates each message as the real
// senders do, so a test fails on mail a server would refuse. The zero value
// is ready to use; a Recorder must not be copied after first use. It is safe
// for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	msgs    []Message
	changed chan struct{} // closed (and dropped) when a message arrives; nil if nobody waits
}

var _ Sender = (*Recorder)(nil)

// Send records m, or returns the error a real sender would give for it.
func (r *Recorder) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := prepare(m); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	return nil
}

// Messages returns a copy of the messages recorded so far, oldest first.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Wait blocks until at least n messages have been recorded and returns them
// all, oldest first. If ctx ends first it returns what has arrived and an
// error saying how many were missing.
func (r *Recorder) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		r.mu.Lock()
		if len(r.msgs) >= n {
			msgs := slices.Clone(r.msgs)
			r.mu.Unlock()
			return msgs, nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		changed := r.changed
		r.mu.Unlock()

		select {
		case <-changed:
		case <-ctx.Done():
			msgs := r.Messages()
			return msgs, fmt.Errorf("mail: wait for %d messages: got %d: %w", n, len(msgs), context.Cause(ctx))
		}
	}
}
