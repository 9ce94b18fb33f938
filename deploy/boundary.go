package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// ErrTimeout is wrapped by the error of a call into code the plan supplies
// (a metric source, a check, the fleet, an observer…) that did not return
// within its bound in Plan.Timeouts. The call counts as failed: a metric
// read that times out is a failed read, a check that times out a failed
// check.
var ErrTimeout = errors.New("deploy: call did not return in time")

// A PanicError is a panic in code the plan supplies, recovered where the
// executor called it. The run treats it as that call failing — a failed
// read, a failed check, a failed instance start — and responds as to any
// other failure: a panic never unwinds through Run and never skips the
// undo.
type PanicError struct {
	// Call names what panicked: "metric source", "check \"schema\"",
	// "fleet Start"…
	Call string
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

// Error describes the panic in one line; the stack is in Stack.
func (e *PanicError) Error() string { return fmt.Sprintf("%s panicked: %v", e.Call, e.Value) }

// Unwrap returns the panic's value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Timeouts bound the calls Run makes into code the plan supplies. A call
// that does not return within its bound fails with an error wrapping
// ErrTimeout, and Run goes on as for any failure of that call; the call
// itself is left to finish on its own (Go cannot stop a goroutine), and
// what it returns then is ignored. Zero fields take the defaults;
// negative ones are invalid (a bound of zero would fail every call, so
// there is no zero to ask for).
type Timeouts struct {
	// Read bounds each metric and log read, including the baseline's, and
	// each critical-path probe. Default 30s.
	Read time.Duration
	// Call bounds every other short call: each pre-flight check (Tests,
	// Checks, the linter, pending migrations, the kill-switch lookup, the
	// promotion history), the notifier, the database verification, the
	// fleet's Instances and Stop, a router or switch change, and the flag
	// changes of completing or rolling back. Default 1m.
	Call time.Duration
	// Start bounds each instance start, which includes waiting for the
	// instance to be ready. Default 10m.
	Start time.Duration
	// Migration bounds each migration's Apply. Default 30m.
	Migration time.Duration
	// Escalate bounds the policy's Escalate hook, which may wait for a
	// person; a hook that does not answer in time rolls back. Default 1h.
	Escalate time.Duration
	// Observe bounds each observer call. An observer that panics, or does
	// not return in time, is detached: it gets no more events, the record
	// says so, and the deployment goes on. Default 10s.
	Observe time.Duration
}

// The defaults of Timeouts.
const (
	DefaultReadTimeout      = 30 * time.Second
	DefaultCallTimeout      = time.Minute
	DefaultStartTimeout     = 10 * time.Minute
	DefaultMigrationTimeout = 30 * time.Minute
	DefaultEscalateTimeout  = time.Hour
	DefaultObserveTimeout   = 10 * time.Second
)

// withDefaults returns t with zero fields set to the defaults.
func (t Timeouts) withDefaults() Timeouts {
	t.Read = cmp.Or(t.Read, DefaultReadTimeout)
	t.Call = cmp.Or(t.Call, DefaultCallTimeout)
	t.Start = cmp.Or(t.Start, DefaultStartTimeout)
	t.Migration = cmp.Or(t.Migration, DefaultMigrationTimeout)
	t.Escalate = cmp.Or(t.Escalate, DefaultEscalateTimeout)
	t.Observe = cmp.Or(t.Observe, DefaultObserveTimeout)
	return t
}

// validate reports every negative bound.
func (t Timeouts) validate(bad func(field string, value any, problem string)) {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"Read", t.Read}, {"Call", t.Call}, {"Start", t.Start}, {"Migration", t.Migration}, {"Escalate", t.Escalate}, {"Observe", t.Observe}} {
		if f.d < 0 {
			bad("Timeouts."+f.name, f.d, "must not be negative")
		}
	}
}

// call runs f, bounded by timeout, on a goroutine of its own, and turns a
// panic in it into a *PanicError. When the bound passes, or ctx ends,
// first, call returns at once with an error wrapping ErrTimeout or ctx's
// cause, and f's result, whenever it comes, is dropped. f gets a context
// that ends with the bound.
func call[T any](ctx context.Context, what string, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// why says why cctx ended: the caller's cause, or the bound. It is
	// built only when needed: most calls return in time.
	why := func() error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%s did not return within %s: %w", what, timeout, ErrTimeout)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // f's send never blocks, even when no one waits
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- result{err: &PanicError{Call: what, Value: v, Stack: debug.Stack()}}
			}
		}()
		v, err := f(cctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() == nil && cctx.Err() != nil && !errors.Is(r.err, ErrTimeout) {
			// f gave up because its bound passed: say so.
			r.err = fmt.Errorf("%w: %w", why(), r.err)
		}
		return r.v, r.err
	case <-cctx.Done():
	}
	// Give f a moment to return what it has — a Start that gives up still
	// names the instance it created, which the undo must stop — but no
	// more: f may not heed its context at all.
	cause := why()
	grace := time.NewTimer(callGrace)
	defer grace.Stop()
	select {
	case r := <-done:
		if r.err == nil {
			r.err = cause
		} else if !errors.Is(r.err, cause) {
			r.err = fmt.Errorf("%w: %w", cause, r.err)
		}
		return r.v, r.err
	case <-grace.C:
		var zero T
		return zero, cause
	}
}

// callGrace is how long call waits for a function whose context ended to
// return what it has.
const callGrace = time.Second

// call0 is call for functions that return only an error.
func call0(ctx context.Context, what string, timeout time.Duration, f func(context.Context) error) error {
	_, err := call(ctx, what, timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// guard runs f on the calling goroutine and turns a panic in it into a
// *PanicError, for code that cannot block (the judge) or that must run on
// the caller's goroutine (a strategy's Deploy and undo).
func guard(what string, f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Call: what, Value: v, Stack: debug.Stack()}
		}
	}()
	f()
	return nil
}
