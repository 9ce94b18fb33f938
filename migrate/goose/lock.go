package goose

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/safedeploy/safedeploy/migrate"
)

// DefaultLockWait is how long Apply waits for its turn, while another
// runner applies migrations to the same database, when Config.LockWait is
// zero.
const DefaultLockWait = 3 * time.Second

// A Locker makes runners that share a database apply migrations one at a
// time, whichever process they run in: a PostgreSQL advisory lock, a file
// lock. Without one, two runners can both find a migration pending and
// both apply it. Apply holds the lock from before it reads what is pending
// until the migration is applied or has failed (and what it left is
// cleaned up).
type Locker interface {
	// TryLock takes the lock if no one holds it, without waiting, and
	// returns the function that releases it. When someone else holds it,
	// TryLock returns a nil function and a nil error; any error means the
	// lock could not be asked for. Release is called once, with a
	// context that is not cancelled; when it fails, it must make sure the
	// lock is not left held (closing the session that holds it, say).
	TryLock(ctx context.Context) (release func(context.Context) error, err error)
}

// A Holder is a Locker that can say who holds the lock, as a clause
// ("backend 4242 (safedeploy-migrate, from 10.0.0.7) holds the lock"), for
// the error Apply returns when it gives up waiting. An error or "" means
// it cannot say, or no one holds it.
type Holder interface {
	Holder(ctx context.Context) (string, error)
}

// ErrBusy is wrapped by Apply's error when another runner held the
// migration lock (Config.Locker) for all of Config.LockWait. That error
// wraps migrate.ErrLockTimeout too: nothing of the migration ran, so the
// executor retries it with backoff.
var ErrBusy = errors.New("another runner is applying migrations to this database")

// errHeld is TryLock's "someone else has it", for the backoff loop.
var errHeld = errors.New("held")

// acquire takes l, trying again with backoff while someone else holds it,
// for about wait, and returns l's release function. The error when it
// gives up wraps ErrBusy and migrate.ErrLockTimeout and says who holds
// the lock, if l can say; when ctx ends first, it wraps ctx's error (and
// its cause).
func acquire(ctx context.Context, l Locker, wait time.Duration) (func(context.Context) error, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 10 * time.Millisecond
	b.MaxInterval = 250 * time.Millisecond
	b.MaxElapsedTime = wait
	var release func(context.Context) error
	err := backoff.Retry(func() error {
		rel, err := l.TryLock(ctx)
		switch {
		case err != nil:
			return backoff.Permanent(fmt.Errorf("taking the migration lock: %w", err))
		case rel == nil:
			return errHeld
		}
		release = rel
		return nil
	}, backoff.WithContext(b, ctx))
	switch {
	case err == nil:
		return release, nil
	case ctx.Err() != nil:
		// TryLock's own error, if any, is the context's in other words.
		ctxErr := ctx.Err()
		if cause := context.Cause(ctx); cause != ctxErr {
			return nil, fmt.Errorf("stopped waiting for the migration lock%s: %w (%w)", holder(context.WithoutCancel(ctx), l), ctxErr, cause)
		}
		return nil, fmt.Errorf("stopped waiting for the migration lock%s: %w", holder(context.WithoutCancel(ctx), l), ctxErr)
	case errors.Is(err, errHeld):
		return nil, fmt.Errorf("gave up after %s waiting for its turn: %w%s; nothing of it ran: %w", wait, ErrBusy, holder(ctx, l), migrate.ErrLockTimeout)
	default:
		return nil, err
	}
}

// holder says who holds l, as ": …", or "" if l cannot say or no one
// holds it. It asks for at most a second.
func holder(ctx context.Context, l Locker) string {
	h, ok := l.(Holder)
	if !ok {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s, err := h.Holder(ctx)
	if err != nil || s == "" {
		return ""
	}
	return ": " + s
}
