package community

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Registry holds the current set of communities. Reload swaps in a new set
// only when every file is valid, so a mistake in an edit never takes a
// community offline. It is safe for concurrent use.
type Registry struct {
	dir    string
	log    *slog.Logger
	cur    atomic.Pointer[Set]
	mu     sync.Mutex // serialises reloads
	digest [32]byte
	// OnReload, if set, is called after each reload with its outcome.
	OnReload func(err error)
}

// Open loads dir; it fails, with every problem, when a file is invalid.
func Open(dir string, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{dir: dir, log: log}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// No folder yet: serve the platform with no communities (the
		// folder is watched, so creating it later works).
		log.Warn("communities folder does not exist; serving no communities", "dir", dir)
		r.cur.Store(NewSet(nil))
		return r, nil
	}
	s, err := LoadDir(dir)
	if err != nil {
		return nil, err
	}
	r.cur.Store(s)
	r.digest, _ = dirDigest(dir)
	return r, nil
}

// Static returns a Registry over a fixed set (tests, benchmarks).
func Static(list ...*Community) *Registry {
	r := &Registry{log: slog.New(slog.DiscardHandler)}
	r.cur.Store(NewSet(list))
	return r
}

// Current returns the set in force.
func (r *Registry) Current() *Set { return r.cur.Load() }

// Dir is the folder the communities come from.
func (r *Registry) Dir() string { return r.dir }

// Reload reads the folder again. On problems it keeps the current set,
// logs every problem and returns them.
func (r *Registry) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *Registry) reloadLocked() error {
	if r.dir == "" {
		return nil
	}
	d, _ := dirDigest(r.dir)
	r.digest = d
	s, err := LoadDir(r.dir)
	if err != nil {
		var ps Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				r.log.Error("community file invalid; keeping the last good set", "file", p.File, "field", p.Field, "problem", p.Issue, "fix", p.Fix)
			}
		}
		if r.OnReload != nil {
			r.OnReload(err)
		}
		return err
	}
	r.cur.Store(s)
	r.log.Info("communities reloaded", "dir", r.dir, "count", len(s.All()), "domains", len(s.Domains()))
	if r.OnReload != nil {
		r.OnReload(nil)
	}
	return nil
}

// CheckChanged reloads when the folder's files changed since the last load.
func (r *Registry) CheckChanged() {
	d, err := dirDigest(r.dir)
	if err != nil {
		d = [32]byte{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d != r.digest {
		_ = r.reloadLocked()
	}
}

// Watch reloads on SIGHUP and when files change (polled every interval)
// until ctx ends.
func (r *Registry) Watch(ctx context.Context, interval time.Duration) {
	if r.dir == "" {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.log.Info("SIGHUP: reloading communities", "dir", r.dir)
			_ = r.Reload()
		case <-t.C:
			r.CheckChanged()
		}
	}
}

// dirDigest fingerprints the folder's files (community JSON, logos,
// favicons) by name, size and mtime.
func dirDigest(dir string) ([32]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return [32]byte{}, err
	}
	var names []string
	for _, e := range entries {
		// Logos and favicons beside the JSON files count too.
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		names = append(names, fmt.Sprintf("%s|%d|%d", e.Name(), info.Size(), info.ModTime().UnixNano()))
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}
