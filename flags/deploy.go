package flags

import (
	"context"
	"errors"
	"fmt"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// KillSwitch turns the named flag off, keeping its description: the fastest
// rollback, since the old code path returns as soon as the application next
// reads the flag. Turning off a flag that is already off succeeds.
//
// A kill switch missing from the store is a failure, never a silent success:
// the error then wraps ErrNotFound. Any other error from s is wrapped and
// returned. KillSwitch reads the flag and then writes it, so a change made to
// the flag's description in between can be lost.
func KillSwitch(ctx context.Context, s Store, name string) error {
	flag, err := s.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("flags: kill switch %q: %w", name, err)
	}
	flag.Enabled = false
	if err := s.Set(ctx, flag); err != nil {
		return fmt.Errorf("flags: kill switch %q: %w", name, err)
	}
	return nil
}

// Cleanup deletes the named flags from s, as when a deployment completes.
// A flag that is already absent is not an error. Cleanup tries every name,
// even after a failure, and returns nil or an error listing each flag it
// could not remove, one per line (a *multierror.Error, wrapped); errors.Is
// and errors.As see through it to the store's errors.
func Cleanup(ctx context.Context, s Writer, names ...string) error {
	var failed []error
	for _, name := range names {
		if err := s.Delete(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
			failed = append(failed, fmt.Errorf("%q: %w", name, err))
		}
	}
	if err := errlist.Join(failed...); err != nil {
		return fmt.Errorf("flags: clean up: could not remove every flag: %w", err)
	}
	return nil
}
