package fleetdeploy

import (
	"context"

	"github.com/safedeploy/safedeploy/journal/dsn"
)

// A Journal is a journal that holds a file or connections until closed.
type Journal = dsn.Journal

// OpenJournal opens the journal a DSN names, for the demo's commands and
// tests: sqlite:PATH, a postgres:// URL, or memory: (this process only).
// An unknown scheme is an error listing the supported ones.
func OpenJournal(ctx context.Context, s string) (Journal, error) {
	return dsn.Open(ctx, s)
}
