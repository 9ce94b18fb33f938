package strategy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultReadyTimeout bounds how long a batch of new instances may take to
// become ready when a strategy does not set its own.
const DefaultReadyTimeout = 10 * time.Minute

// A ledger carries out a deployment's changes to a Target and remembers
// them, so that undo reverts exactly what was done and nothing else.
type ledger struct {
	t Target
	r Release

	mu       sync.Mutex
	started  []string // new-version instances created, ready or not
	stopped  []string // old-version instances removed
	broken   []string // replacements an undo started that never became ready
	weight   float64  // router weight last set on r.To
	routed   bool
	switched bool
}

func newLedger(t Target, r Release) *ledger { return &ledger{t: t, r: r} }

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

// startNew starts n instances of r.To at once and waits until all are ready,
// at most timeout. A health failure wraps ErrUnhealthy; the caller's own
// cancellation is returned as the context's cause.
func (l *ledger) startNew(ctx context.Context, n int, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	g, gctx := errgroup.WithContext(tctx)
	for range n {
		g.Go(func() error {
			id, err := l.t.Fleet.Start(gctx, l.r.To)
			if id != "" {
				l.mu.Lock()
				l.started = append(l.started, id)
				l.mu.Unlock()
			}
			return err
		})
	}
	err := g.Wait()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(err, context.DeadlineExceeded) && tctx.Err() != nil:
		return fmt.Errorf("%w: %d instance(s) of %s not ready within %s", ErrUnhealthy, n, l.r.To, timeout)
	default:
		return fmt.Errorf("%w: starting %s: %w", ErrUnhealthy, l.r.To, err)
	}
}

// stopOld stops the given old-version instances at once.
func (l *ledger) stopOld(ctx context.Context, insts []Instance) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, in := range insts {
		g.Go(func() error {
			if err := l.t.Fleet.Stop(gctx, in.ID); err != nil {
				return fmt.Errorf("stop instance %s (%s): %w", in.ID, in.Version, err)
			}
			l.mu.Lock()
			l.stopped = append(l.stopped, in.ID)
			l.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
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
// with nowhere to go.
func (l *ledger) undo(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var left []Leftover
	trafficBack := true
	if l.switched {
		if err := l.t.Switch.Switch(ctx, l.r.From); err != nil {
			left = append(left, Leftover{Item: "switch", State: "sending traffic to " + l.r.To, Err: err})
			trafficBack = false
		} else {
			l.switched = false
		}
	}
	if l.routed {
		if err := l.t.Router.Route(ctx, l.r.From, l.r.To, 0); err != nil {
			left = append(left, Leftover{Item: "router", State: fmt.Sprintf("%g%% of traffic on %s", l.weight, l.r.To), Err: err})
			trafficBack = false
		} else {
			l.routed, l.weight = false, 0
		}
	}

	// Remove replacements a previous undo started that never became ready,
	// replace every stopped old instance, then remove the new ones; each
	// stage all at once. Whatever fails stays on the ledger for a retry.
	traffic := len(left)
	var mu sync.Mutex
	var g errgroup.Group
	var stillStopped, kept, broken []string
	for _, id := range l.broken {
		g.Go(func() error {
			if err := l.t.Fleet.Stop(ctx, id); err != nil {
				mu.Lock()
				defer mu.Unlock()
				broken = append(broken, id)
				left = append(left, Leftover{Item: "instance " + id, State: "started as " + l.r.From + " but not ready", Err: err})
			}
			return nil
		})
	}
	g.Wait()
	for _, id := range l.stopped {
		g.Go(func() error {
			newID, err := l.t.Fleet.Start(ctx, l.r.From)
			if err == nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			stillStopped = append(stillStopped, id)
			left = append(left, Leftover{Item: "instance " + id, State: "stopped, not replaced by " + l.r.From, Err: err})
			if newID != "" {
				broken = append(broken, newID)
				left = append(left, Leftover{Item: "instance " + newID, State: "started as " + l.r.From + " but not ready"})
			}
			return nil
		})
	}
	g.Wait()
	for _, id := range l.started {
		if !trafficBack || len(stillStopped) > 0 {
			why := "traffic could not be moved back"
			if trafficBack {
				why = "the previous version could not be restored"
			}
			kept = append(kept, id)
			left = append(left, Leftover{Item: "instance " + id, State: "running " + l.r.To + " (kept: " + why + ")"})
			continue
		}
		g.Go(func() error {
			if err := l.t.Fleet.Stop(ctx, id); err != nil {
				mu.Lock()
				defer mu.Unlock()
				kept = append(kept, id)
				left = append(left, Leftover{Item: "instance " + id, State: "running " + l.r.To, Err: err})
			}
			return nil
		})
	}
	g.Wait()
	l.stopped, l.started, l.broken = stillStopped, kept, broken
	slices.SortStableFunc(left[traffic:], func(a, b Leftover) int { return cmp.Compare(a.Item, b.Item) })
	if len(left) > 0 {
		return &UndoError{Left: left}
	}
	return nil
}
