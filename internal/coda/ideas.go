package coda

import (
	"context"

	"github.com/relaywork/suite/internal/platform/app"
)

// mountIdeas registers the ideas pages, API and jobs.
func (s *site) mountIdeas(ctx context.Context, m *app.Mounted) error {
	return nil
}
