package coda

import (
	"context"

	"github.com/relaywork/suite/internal/platform/app"
)

// mountDevMode registers the DevMode pages, the relay and its jobs.
func (s *site) mountDevMode(ctx context.Context, m *app.Mounted) error {
	return nil
}
