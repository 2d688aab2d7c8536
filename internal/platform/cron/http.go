package cron

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

// Handler serves GET and POST /api/cron/{job}, the routes the hosted
// stack's cron service called, for an external scheduler or an operator.
// Callers present "Authorization: Bearer <secret>"; with an empty secret
// every call is refused, so a missing CRON_SECRET never leaves the routes
// open. Mount it at "/api/cron/" or on those patterns.
func (s *Scheduler) Handler(secret string) http.Handler {
	mux := http.NewServeMux()
	h := s.handleCronTrigger(secret)
	mux.Handle("GET /api/cron/{job}", h)
	mux.Handle("POST /api/cron/{job}", h)
	return mux
}

// handleCronTrigger handles GET and POST /api/cron/{job}.
func (s *Scheduler) handleCronTrigger(secret string) http.HandlerFunc {
	want := sha256.Sum256([]byte(secret))
	return func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r.Header.Get("Authorization"), secret, want) {
			s.log.Warn("cron trigger refused: bad or missing secret", "job", r.PathValue("job"), "ip", httpapi.ClientIP(r))
			w.Header().Set("WWW-Authenticate", "Bearer")
			httpapi.Error(w, r, apperr.E(apperr.Unauthorized, "A valid cron secret is required."))
			return
		}
		// The run outlives a caller that hangs up; Options.Timeout bounds it.
		run, err := s.RunNow(context.WithoutCancel(r.Context()), r.PathValue("job"), TriggerHTTP)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		ts := s.now().UTC().Format(time.RFC3339)
		if !run.OK {
			// The reason is in the log and in cron_runs, not in the answer.
			httpapi.Write(w, http.StatusInternalServerError, map[string]any{
				"success":   false,
				"error":     httpapi.ErrorDetail{Code: "internal", Message: "job failed; see server logs", RequestID: obs.RequestID(r.Context())},
				"timestamp": ts,
			})
			return
		}
		body := make(map[string]any, len(run.Result)+2)
		for k, v := range run.Result {
			body[k] = v
		}
		body["success"] = true
		body["timestamp"] = ts
		httpapi.Write(w, http.StatusOK, body)
	}
}

// authorized checks an Authorization header against the secret in constant
// time; hashing both sides first keeps the secret's length from leaking.
func authorized(header, secret string, want [sha256.Size]byte) bool {
	if secret == "" {
		return false
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
