package coda

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/relaywork/suite/internal/coda/apitoken"
	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/coda/idea/ideastore"
	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/cron"
	"github.com/relaywork/suite/internal/platform/ratelimit"
	"github.com/relaywork/suite/internal/platform/store"
)

// PurgeJob is the guide's cron job: daily at 08:00 UTC and on
// GET|POST /api/cron/purge-soft-deletes.
const (
	PurgeJob      = "purge-soft-deletes"
	PurgeSchedule = "0 8 * * *"
)

// ideasWritePolicy limits idea changes per signed-in user (per IP when
// anonymous). It is looser than the platform's 10 per 10 s because the
// editor autosaves while someone types.
var ideasWritePolicy = ratelimit.Policy{
	Name:  "ideas-write",
	Limit: ratelimit.PerPeriod(60, 10*time.Second),
	Key: func(r *http.Request) string {
		if u, ok := auth.UserFrom(r.Context()); ok {
			return "user:" + u.ID
		}
		return ""
	},
}

// ideasHTTP serves the ideas API and pages.
type ideasHTTP struct {
	s      *site
	svc    *idea.Service
	tokens *apitoken.Store
	audit  *audit.Log
}

// importMaxBytes bounds an import's request body: about 50,000 ideas of
// ordinary length.
const importMaxBytes = 16 << 20

// mountIdeas registers the ideas pages, API and jobs.
func (s *site) mountIdeas(ctx context.Context, m *app.Mounted) error {
	st := ideastore.New(s.p.DB)
	s.adminIdeas(m, st)
	svc := idea.NewService(idea.Options{Store: st, Now: s.p.Now, UndoWindow: s.p.Config.UndoWindow, Logger: s.p.Logger})
	h := &ideasHTTP{s: s, svc: svc, tokens: apitoken.New(s.p.DB, s.p.Now), audit: s.p.Audit}
	if err := s.p.Cron.Register(cron.Job{
		Name:        PurgeJob,
		Schedule:    PurgeSchedule,
		Description: "delete soft-deleted ideas whose undo window has passed, in batches",
		Run:         h.runPurge,
	}); err != nil {
		return err
	}
	s.ideaRoutes(h)
	// The account's "download my data" carries every idea in the export
	// format; deleting the account removes them (ideas reference users ON
	// DELETE CASCADE).
	s.p.Auth.AddDataSection(auth.DataSection{Name: "ideas", Export: func(ctx context.Context, userID string, w io.Writer) error {
		_, err := svc.ExportJSON(ctx, userID, w)
		return err
	},
		Tables: []string{"ideas", "idea_tags", "api_tokens", "devmode_runners", "devmode_pairings"},
		// SQLite's full-text index keeps a deleted idea's terms in its
		// segments until they are merged: merge them all.
		Scrub: func(ctx context.Context) error {
			if s.p.DB.Dialect != store.SQLite {
				return nil
			}
			_, err := s.p.DB.Exec(ctx, "INSERT INTO ideas_fts (ideas_fts) VALUES ('optimize')")
			return err
		}})
	// An import takes a whole export back, which outgrows MAX_BODY_BYTES
	// after a few thousand ideas.
	if m.BodyLimits == nil {
		m.BodyLimits = map[string]int64{}
	}
	m.BodyLimits["/api/ideas/import"] = importMaxBytes
	m.BodyLimits["/ideas/import"] = importMaxBytes
	return nil
}

// runPurge is the purge job: it deletes expired ideas batch by batch and
// records the run in the audit log.
func (h *ideasHTTP) runPurge(ctx context.Context) (map[string]any, error) {
	res, err := h.svc.Purge(ctx)
	meta := map[string]any{"deleted": res.Deleted, "batches": res.Batches, "longestBatchMs": res.Longest.Milliseconds()}
	if res.Deleted > 0 || err == nil {
		if aerr := h.audit.Record(context.WithoutCancel(ctx), audit.Entry{Action: "purge", Resource: "idea", Metadata: meta}); aerr != nil && err == nil {
			err = aerr
		}
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"deleted": res.Deleted, "batches": res.Batches, "longest_batch_ms": res.Longest.Milliseconds()}, nil
}
