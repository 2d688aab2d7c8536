package obs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
)

// SentryOptions configure WithSentry.
type SentryOptions struct {
	DSN         string // SENTRY_DSN
	Environment string // APP_ENV
	Release     string // the build's version
	Service     string // "coda" or "voyager", a tag on every event
	// Transport replaces the HTTP transport (tests).
	Transport sentry.Transport
}

// WithSentry returns a logger that also reports every record at error
// level or above to Sentry, with the record's attributes (sensitive ones
// redacted, as in the log) and the request ID as a tag. Panics recovered
// by the server are logged at error level with their stack, so they reach
// Sentry too. flush waits for queued events at shutdown.
func WithSentry(l *slog.Logger, o SentryOptions) (_ *slog.Logger, flush func(), err error) {
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:              o.DSN,
		Environment:      o.Environment,
		Release:          o.Release,
		Transport:        o.Transport,
		AttachStacktrace: false, // the stack of the logging call says nothing useful
		SendDefaultPII:   false,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("SENTRY_DSN: %w", err)
	}
	h := &sentryHandler{next: l.Handler(), client: client, service: o.Service}
	return slog.New(h), func() { client.Flush(3 * time.Second) }, nil
}

type sentryHandler struct {
	next    slog.Handler
	client  *sentry.Client
	service string
	attrs   []slog.Attr // from WithAttrs, already prefixed by groups
	group   string
}

func (h *sentryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *sentryHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.report(ctx, r)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// personal lists the keys of attributes that name a person's address or
// device and never go to Sentry (the log keeps them for the operator).
var personal = map[string]bool{"ip": true, "client_ip": true, "remote_addr": true, "x_forwarded_for": true, "user_agent": true, "email": true}

func (h *sentryHandler) report(ctx context.Context, r slog.Record) {
	// One failed request is one event: the first error logged for it (the
	// error itself), not also the access-log line that follows.
	if !firstReport(ctx) {
		return
	}
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	ev.Message = r.Message
	ev.Timestamp = r.Time
	ev.Tags = map[string]string{}
	if h.service != "" {
		ev.Tags["service"] = h.service
	}
	if id := RequestID(ctx); id != "" {
		ev.Tags["request_id"] = id
	}
	extra := map[string]any{}
	var add func(prefix string, a slog.Attr)
	add = func(prefix string, a slog.Attr) {
		key := a.Key
		if prefix != "" {
			key = prefix + "." + key
		}
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			for _, g := range v.Group() {
				add(key, g)
			}
			return
		}
		if personal[strings.ToLower(a.Key)] {
			return
		}
		if Sensitive(a.Key) {
			extra[key] = Redacted
			return
		}
		extra[key] = v.String()
	}
	for _, a := range h.attrs {
		add("", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		add(h.group, a)
		return true
	})
	if route := Route(ctx); route != "" {
		ev.Transaction = route
		ev.Tags["route"] = route
	} else if route, ok := extra["route"].(string); ok {
		ev.Transaction = route
	}
	if _, ok := ev.Tags["request_id"]; !ok {
		if id, ok := extra["request_id"].(string); ok {
			ev.Tags["request_id"] = id
		}
	}
	ev.Contexts = map[string]sentry.Context{"log": extra}
	scope := sentry.NewScope()
	h.client.CaptureEvent(ev, nil, scope)
}

func (h *sentryHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		if h.group != "" {
			a = slog.Attr{Key: h.group + "." + a.Key, Value: a.Value}
		}
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *sentryHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	if h.group != "" {
		name = h.group + "." + name
	}
	c.group = name
	return &c
}
