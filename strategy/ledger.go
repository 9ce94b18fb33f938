package strategy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultReadyTimeout bounds how long a new instance may take to become
// ready when a strategy does not set its own.
const DefaultReadyTimeout = 10 * time.Minute

// DefaultConcurrency bounds how many instances a strategy starts or stops
// at once when it does not set its own: enough to bring up a batch of
// dozens in one go, few enough not to flood a cloud API or a scheduler with
// a batch of thousands. A batch larger than the bound is started (or
// stopped) in waves as calls return.
const DefaultConcurrency = 64

// errNotReady is the cause of a Start's context ending at its ReadyTimeout.
var errNotReady = errors.New("ready timeout")

// A ledger carries out a deployment's changes to a Target and remembers
// them, so that undo reverts exactly what was done and nothing else.
type ledger struct {
	t     Target
	r     Release
	limit int // Start or Stop calls at once

	mu       sync.Mutex
	started  []string // new-version instances created, ready or not
	stopped  []string // old-version instances removed
	broken   []string // replacements an undo started that never became ready
	weight   float64  // router weight last set on r.To
	routed   bool
	switched bool
}

// newLedger returns a ledger for moving t through r, calling the fleet at
// most concurrency times at once (DefaultConcurrency if zero). The
// strategy has validated concurrency: it is not negative.
func newLedger(t Target, r Release, concurrency int) *ledger {
	return &ledger{t: t, r: r, limit: cmp.Or(concurrency, DefaultConcurrency)}
}

// oldInstances returns the fleet's instances, all of which must run r.From:
// a strategy that does not know what it is replacing must not start.
func (l *ledger) oldInstances(ctx context.Context) ([]Instance, error) {
	insts, err := l.t.Fleet.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	for _, in := range insts {
		if in.Version != l.r.From {
			return nil, fmt.Errorf("instance %s runs %q, not the previous version %q: finish or undo the other deployment first", in.ID, in.Version, l.r.From)
		}
	}
	if len(insts) == 0 {
		return nil, fmt.Errorf("no instances of %q to replace", l.r.From)
	}
	return insts, nil
}

// startNew starts n instances of r.To, at most l.limit at once, and waits
// until all are ready; each must be ready within timeout of its Start. At
// the first failure it starts no more. A health failure wraps ErrUnhealthy;
// the caller's own cancellation is returned as the context's cause.
func (l *ledger) startNew(ctx context.Context, n int, timeout time.Duration) error {
	timeout = cmp.Or(timeout, DefaultReadyTimeout) // validated: not negative
	ids := make([]string, n)                       // each goroutine writes its own
	err := l.each(ctx, n, func(ctx context.Context, i int) error {
		sctx, cancel := context.WithTimeoutCause(ctx, timeout, errNotReady)
		defer cancel()
		id, err := l.t.Fleet.Start(sctx, l.r.To)
		ids[i] = id
		if err != nil && ctx.Err() == nil && context.Cause(sctx) == errNotReady {
			what := "an instance of " + l.r.To
			if id != "" {
				what = "instance " + id + " of " + l.r.To
			}
			// The fleet's own error says why (a pod's reason, say).
			return fmt.Errorf("%w: %s not ready within %s: %w", ErrUnhealthy, what, timeout, err)
		}
		return err
	})
	l.mu.Lock()
	for _, id := range ids {
		if id != "" {
			l.started = append(l.started, id)
		}
	}
	l.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(err, ErrUnhealthy):
		return err
	default:
		return fmt.Errorf("%w: starting %s: %w", ErrUnhealthy, l.r.To, err)
	}
}

// stopOld stops the given old-version instances, at most l.limit at once.
// At the first failure it stops no more.
func (l *ledger) stopOld(ctx context.Context, insts []Instance) error {
	stopped := make([]bool, len(insts)) // each goroutine writes its own
	err := l.each(ctx, len(insts), func(ctx context.Context, i int) error {
		in := insts[i]
		if err := l.t.Fleet.Stop(ctx, in.ID); err != nil {
			return fmt.Errorf("stop instance %s (%s): %w", in.ID, in.Version, err)
		}
		stopped[i] = true
		return nil
	})
	l.mu.Lock()
	for i, ok := range stopped {
		if ok {
			l.stopped = append(l.stopped, insts[i].ID)
		}
	}
	l.mu.Unlock()
	return err
}

// each calls fn(ctx, i) for i in [0, n) and returns the first error. It
// runs at most l.limit workers, each making one call after another, so that
// a batch of thousands costs a few goroutines rather than one each. After an
// error, or once ctx ends, it makes no more calls, and returns the error or
// the context's cause.
func (l *ledger) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(l.limit, n) {
		g.Go(func() error {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if gctx.Err() != nil {
					return context.Cause(gctx)
				}
				if err := fn(gctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// all calls fn(i) for i in [0, n), on at most l.limit workers as each
// does, and returns each call's error at its index. Unlike each, it does
// not stop at a failure: an undo tries everything. Once ctx ends it makes
// no more calls, and gives those not made the context's cause.
func (l *ledger) all(ctx context.Context, n int, fn func(i int) error) []error {
	errs := make([]error, n) // each call writes its own
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(l.limit, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if ctx.Err() != nil {
					errs[i] = context.Cause(ctx)
					continue
				}
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	return errs
}

// route sets the router's weight on r.To.
func (l *ledger) route(ctx context.Context, weight float64) error {
	l.mu.Lock()
	l.routed = true // even a failed call may have changed the router
	l.mu.Unlock()
	if err := l.t.Router.Route(ctx, l.r.From, l.r.To, weight); err != nil {
		return fmt.Errorf("route %g%% to %s: %w", weight, l.r.To, err)
	}
	l.mu.Lock()
	l.weight = weight
	l.mu.Unlock()
	return nil
}

// hold sends every request to r.From before a new instance starts, so that
// none reaches the new version before the strategy routes or switches to it:
// the switch or router may have been left in any state, and a load balancer
// spreads requests over every ready instance until told otherwise. It uses
// the Switch if there is one, else the Router.
func (l *ledger) hold(ctx context.Context) error {
	if l.t.Switch == nil {
		return l.route(ctx, 0)
	}
	if err := l.t.Switch.Switch(ctx, l.r.From); err != nil {
		return fmt.Errorf("switch to %s: %w", l.r.From, err)
	}
	return nil
}

// switchTo sends all traffic to r.To.
func (l *ledger) switchTo(ctx context.Context) error {
	l.mu.Lock()
	l.switched = true
	l.mu.Unlock()
	if err := l.t.Switch.Switch(ctx, l.r.To); err != nil {
		return fmt.Errorf("switch to %s: %w", l.r.To, err)
	}
	return nil
}

// undo puts the target back: traffic first, then old capacity, and only
// then removes the new instances, so the old version never runs short. If
// traffic cannot be moved back, or the old capacity cannot be restored, the
// new instances are left running, since stopping them would leave requests
// with nowhere to go. Whatever fails stays on the ledger for a retry.
func (l *ledger) undo(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	left := l.moveTrafficBack(ctx)
	var instances []Leftover
	instances = append(instances, l.stopBroken(ctx)...)
	instances = append(instances, l.restoreOld(ctx)...)
	keep := ""
	switch {
	case len(left) > 0:
		keep = "traffic could not be moved back"
	case len(l.stopped) > 0:
		keep = "the previous version could not be restored"
	}
	instances = append(instances, l.stopNew(ctx, keep)...)
	slices.SortStableFunc(instances, func(a, b Leftover) int { return cmp.Compare(a.Item, b.Item) })
	if left = append(left, instances...); len(left) > 0 {
		return &UndoError{Left: left}
	}
	return nil
}

// The stages of undo. Each calls the fleet concurrently, through all; the
// calls write only their own results, which the stage reads once all have
// returned. Each leaves on the ledger what it could not undo.

// moveTrafficBack sends every request to r.From again.
func (l *ledger) moveTrafficBack(ctx context.Context) []Leftover {
	var left []Leftover
	if l.switched {
		if err := l.t.Switch.Switch(ctx, l.r.From); err != nil {
			left = append(left, Leftover{Item: "switch", State: "sending traffic to " + l.r.To, Err: err})
		} else {
			l.switched = false
		}
	}
	if l.routed {
		if err := l.t.Router.Route(ctx, l.r.From, l.r.To, 0); err != nil {
			left = append(left, Leftover{Item: "router", State: fmt.Sprintf("%g%% of traffic on %s", l.weight, l.r.To), Err: err})
		} else {
			l.routed, l.weight = false, 0
		}
	}
	return left
}

// stopBroken removes the replacements an earlier undo started that never
// became ready.
func (l *ledger) stopBroken(ctx context.Context) []Leftover {
	var left []Leftover
	var broken []string
	for i, err := range l.all(ctx, len(l.broken), func(i int) error { return l.t.Fleet.Stop(ctx, l.broken[i]) }) {
		if err != nil {
			broken = append(broken, l.broken[i])
			left = append(left, Leftover{Item: "instance " + l.broken[i], State: "started as " + l.r.From + " but not ready", Err: err})
		}
	}
	l.broken = broken
	return left
}

// restoreOld starts an instance of r.From for every one that was stopped.
func (l *ledger) restoreOld(ctx context.Context) []Leftover {
	var left []Leftover
	var stopped []string
	replacements := make([]string, len(l.stopped))
	errs := l.all(ctx, len(l.stopped), func(i int) (err error) {
		replacements[i], err = l.t.Fleet.Start(ctx, l.r.From)
		return err
	})
	for i, err := range errs {
		if err == nil {
			continue
		}
		stopped = append(stopped, l.stopped[i])
		left = append(left, Leftover{Item: "instance " + l.stopped[i], State: "stopped, not replaced by " + l.r.From, Err: err})
		if id := replacements[i]; id != "" {
			l.broken = append(l.broken, id)
			left = append(left, Leftover{Item: "instance " + id, State: "started as " + l.r.From + " but not ready"})
		}
	}
	l.stopped = stopped
	return left
}

// stopNew removes the instances of r.To, or, if keep gives a reason, keeps
// every one of them running.
func (l *ledger) stopNew(ctx context.Context, keep string) []Leftover {
	var left []Leftover
	if keep != "" {
		for _, id := range l.started {
			left = append(left, Leftover{Item: "instance " + id, State: "running " + l.r.To + " (kept: " + keep + ")"})
		}
		return left
	}
	var started []string
	for i, err := range l.all(ctx, len(l.started), func(i int) error { return l.t.Fleet.Stop(ctx, l.started[i]) }) {
		if err != nil {
			started = append(started, l.started[i])
			left = append(left, Leftover{Item: "instance " + l.started[i], State: "running " + l.r.To, Err: err})
		}
	}
	l.started = started
	return left
}
