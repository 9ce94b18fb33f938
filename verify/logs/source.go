package logs

import (
	"context"
	"log/slog"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

// A Pattern is one template's lines from one version over one window.
type Pattern struct {
	// ID identifies the template within its source, across versions and
	// windows: the old and the new version's lines of one template have
	// the same ID, and so do one version's lines of it in two windows.
	ID string `json:"id"`
	// Template is the template's text, variables as "<*>".
	Template string `json:"template"`
	// Level is the highest level among the lines.
	Level slog.Level `json:"level"`
	// Count is how many lines of the window had this template.
	Count float64 `json:"count"`
	// Example is one of the lines, as it was written.
	Example string `json:"example"`
	// FirstSeen is the time of the window's first line of the template.
	FirstSeen time.Time `json:"first_seen"`
}

// An Observation is what a Source saw of one version's logs over one
// window.
type Observation struct {
	// Lines counts every line of the window, at every level: the
	// exposure to fall back on when requests are not known.
	Lines float64 `json:"lines"`
	// Patterns are the templates of the window's lines at or above the
	// source's level (warnings and errors, by default), in no particular
	// order, each once.
	Patterns []Pattern `json:"patterns,omitempty"`
	// Warnings are what the source's backend warned about while
	// answering: the answer stands, but a person may want to know.
	Warnings []string `json:"warnings,omitempty"`
}

// A Source reports the templates of one version's log lines over a window.
// Like verify.MetricSource, it returns an error wrapping verify.ErrNoData
// when it has nothing for that version and window, any other error when it
// could not tell, and never a zero Observation to stand for either. A
// version that is known to run but logged nothing in the window has an
// Observation with Lines 0.
//
// Template IDs must be consistent across the calls made to one Source, so
// that an old version's template can be matched with the new one's.
type Source interface {
	Patterns(ctx context.Context, q verify.Query) (Observation, error)
}

// SourceFunc turns a function into a Source.
type SourceFunc func(ctx context.Context, q verify.Query) (Observation, error)

// Patterns calls f(ctx, q).
func (f SourceFunc) Patterns(ctx context.Context, q verify.Query) (Observation, error) {
	return f(ctx, q)
}
