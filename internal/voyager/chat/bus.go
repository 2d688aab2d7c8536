package chat

import "context"

// Bus shares answers in progress between server instances (Redis when
// REDIS_URL is set), so a reload that lands on another instance still
// follows the answer, and stop works from any instance. Without a Bus the
// Hub alone serves one instance.
type Bus interface {
	// Start marks answer id live; Delta adds text at byte offset; Done
	// publishes the final message and ends it.
	Start(ctx context.Context, id string) error
	Delta(ctx context.Context, id string, offset int, text string) error
	Done(ctx context.Context, id string, m Message) error
	// Follow is Hub.Subscribe across instances.
	Follow(ctx context.Context, id string) (snapshot string, events <-chan Event, cancel func(), live bool, err error)
	// RequestStop asks whichever instance generates id to stop it.
	RequestStop(ctx context.Context, id string) error
	// Stops delivers the ids whose stop was requested, until ctx ends.
	Stops(ctx context.Context) <-chan string
}

// Follow follows answer id: in this process if it is generated here, else
// through the Bus. live is false when the answer is not in progress: read
// it from the store.
func (s *Service) Follow(ctx context.Context, id string) (snapshot string, events <-chan Event, cancel func(), live bool) {
	snapshot, events, cancel, live = s.o.Hub.Subscribe(id)
	if live || s.o.Bus == nil {
		return snapshot, events, cancel, live
	}
	snapshot, events, cancel, live, err := s.o.Bus.Follow(ctx, id)
	if err != nil {
		s.log.Warn("follow answer through the bus", "message_id", id, "err", err.Error())
		return "", nil, func() {}, false
	}
	return snapshot, events, cancel, live
}

// watchStops stops answers generated here when another instance asks.
func (s *Service) watchStops() {
	for id := range s.o.Bus.Stops(s.base) {
		s.stopLocal(id)
	}
}
