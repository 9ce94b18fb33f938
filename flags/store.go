package flags

import (
	"context"
	"errors"
)

// ErrNotFound is returned (wrapped) by a Store when the named flag does not exist.
var ErrNotFound = errors.New("flags: flag not found")

// A Flag is one boolean feature flag.
type Flag struct {
	// Name identifies the flag in its store. It is non-empty; see
	// [Flag.Validate] for the characters it may contain.
	Name string `json:"name"`
	// Enabled reports whether the guarded code path is on.
	Enabled bool `json:"enabled"`
	// Description says what the flag guards, for people reading the store.
	Description string `json:"description,omitempty"`
}

// A Reader reads feature flags: what an application, or a check that a
// kill switch is in place, needs.
type Reader interface {
	// Get returns the named flag, or an error wrapping ErrNotFound.
	Get(ctx context.Context, name string) (Flag, error)
	// List returns every flag, sorted by name (byte-wise, as by
	// strings.Compare).
	List(ctx context.Context) ([]Flag, error)
}

// A Writer changes feature flags.
type Writer interface {
	// Set creates or replaces the flag with f.Name. It returns an error
	// wrapping ErrInvalid, and stores nothing, if f.Validate fails.
	Set(ctx context.Context, f Flag) error
	// Delete removes the named flag, or returns an error wrapping ErrNotFound.
	Delete(ctx context.Context, name string) error
}

// A Store reads and writes feature flags. Implementations are safe for
// concurrent use. Every method that fails returns an error that wraps the
// cause; Get and Delete wrap ErrNotFound for a missing flag.
//
// A Store may stop early when its context is cancelled, returning an error
// that wraps the context's error, but need not. Package
// [github.com/safedeploy/safedeploy/flags/flagstest] tests an implementation
// against this contract.
type Store interface {
	Reader
	Writer
}
