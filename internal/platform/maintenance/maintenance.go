// Package maintenance is the operator's maintenance mode: a switch kept in
// the database, so every instance sees it within a second, and middleware
// that answers 503 while it is on. Health checks, metrics, cron triggers,
// static assets and sign-in keep working, and operators (admins) can still
// use the site to check their work.
package maintenance

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/store"
)

const settingKey = "maintenance"

// DefaultMessage is shown when the operator gives none.
const DefaultMessage = "We're doing some maintenance and will be back shortly."

// RetryAfter is the Retry-After sent with every 503.
const RetryAfter = 300

// State is the switch's value.
type State struct {
	On    bool      `json:"on"`
	Since time.Time `json:"since"`
	// Message is shown to visitors.
	Message string `json:"message"`
}

// Mode reads and writes the switch and caches it briefly.
type Mode struct {
	db  *store.DB
	now func() time.Time
	ttl time.Duration

	mu         sync.Mutex
	cached     State
	fetched    time.Time
	refreshing bool
}

// New returns a Mode on db; the state is re-read at most once per ttl
// (one second when zero).
func New(db *store.DB, now func() time.Time, ttl time.Duration) *Mode {
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		ttl = time.Second
	}
	return &Mode{db: db, now: now, ttl: ttl}
}

// Status reads the switch from the database.
func (m *Mode) Status(ctx context.Context) (State, error) {
	var raw string
	err := m.db.QueryRow(ctx, "SELECT value FROM platform_settings WHERE key = ?", settingKey).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read maintenance mode: %w", err)
	}
	var st State
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return State{}, fmt.Errorf("read maintenance mode: %w", err)
	}
	return st, nil
}

// Set turns maintenance mode on (with message, or DefaultMessage) or off.
func (m *Mode) Set(ctx context.Context, on bool, message string) (State, error) {
	st := State{On: on, Since: m.now().UTC()}
	if on {
		st.Message = strings.TrimSpace(message)
		if st.Message == "" {
			st.Message = DefaultMessage
		}
		if len(st.Message) > 500 {
			return State{}, apperr.InvalidFields("The message is too long.", map[string]string{"message": "at most 500 characters"})
		}
	}
	b, _ := json.Marshal(st)
	err := m.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM platform_settings WHERE key = ?", settingKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO platform_settings (key, value, updated_at) VALUES (?, ?, ?)", settingKey, string(b), st.Since)
		return err
	})
	if err != nil {
		return State{}, fmt.Errorf("set maintenance mode: %w", err)
	}
	m.mu.Lock()
	m.cached, m.fetched = st, m.now()
	m.mu.Unlock()
	return st, nil
}

// current returns the cached state, re-reading it when older than ttl.
// One request re-reads while the others go on with the cached value, so a
// slow or unreachable database never queues requests here; if the read
// fails, the last known state stands (the readiness check reports the
// database separately).
func (m *Mode) current(ctx context.Context) State {
	m.mu.Lock()
	st, fresh := m.cached, m.refreshing || m.now().Sub(m.fetched) < m.ttl
	m.mu.Unlock()
	if fresh {
		return st
	}
	return m.refresh(context.WithoutCancel(ctx))
}

// Keep re-reads the switch every half ttl until ctx ends, so requests
// find the cached state fresh and none of them waits for the database
// (without it, the first request after each ttl re-reads it on its way).
// The state still changes within ttl of the switch on any instance.
func (m *Mode) Keep(ctx context.Context) {
	t := time.NewTicker(m.ttl / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.refresh(ctx)
		}
	}
}

// refresh re-reads the switch unless a request or Keep is already doing
// so, and returns the state it then knows.
func (m *Mode) refresh(ctx context.Context) State {
	m.mu.Lock()
	if m.refreshing {
		defer m.mu.Unlock()
		return m.cached
	}
	m.refreshing = true
	now := m.now()
	m.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	fresh, err := m.Status(ctx)
	cancel()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshing = false
	m.fetched = now
	if err == nil {
		m.cached = fresh
	}
	return m.cached
}

// exempt lists the path prefixes served during maintenance.
var exempt = []string{"/healthz", "/readyz", "/metrics", "/api/cron/", "/assets/", "/signin", "/auth/", "/api/auth/", "/signout"}

// Options configure Middleware.
type Options struct {
	// Bypass lets a request through anyway (an operator checking the site).
	Bypass func(*http.Request) bool
	// Page renders the HTML maintenance page; nil writes plain text.
	Page func(w http.ResponseWriter, r *http.Request, st State)
}

// Middleware answers 503 with Retry-After while maintenance mode is on:
// JSON under /api/, the page elsewhere.
func (m *Mode) Middleware(next http.Handler, o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := m.current(r.Context())
		if !st.On || isExempt(r.URL.Path) || (o.Bypass != nil && o.Bypass(r)) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", fmt.Sprint(RetryAfter))
		w.Header().Set("Cache-Control", "no-store")
		if strings.HasPrefix(r.URL.Path, "/api/") || o.Page == nil {
			httpapi.Error(w, r, &apperr.Error{Kind: apperr.Unavailable, Code: "maintenance", Message: st.Message})
			return
		}
		o.Page(w, r, st)
	})
}

func isExempt(p string) bool {
	for _, e := range exempt {
		if p == e || strings.HasPrefix(p, e) {
			return true
		}
	}
	return false
}

// SettingKey is the platform_settings row that holds the switch.
const SettingKey = settingKey

// Closed returns the platform_settings value that turns maintenance mode
// on with message (DefaultMessage when empty), for writing into a database
// image before it goes live: `restore` writes it into the restored
// database so the site stays closed until the operator says
// `maintenance off`, whatever the backup's own switch said.
func Closed(message string, since time.Time) string {
	message = strings.TrimSpace(message)
	if message == "" {
		message = DefaultMessage
	}
	b, _ := json.Marshal(State{On: true, Since: since.UTC(), Message: message})
	return string(b)
}
