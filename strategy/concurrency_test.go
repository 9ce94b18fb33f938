package strategy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// A gauge wraps a fleet to measure how many Start and Stop calls are under
// way at once. Each Stop takes a second, so that stops overlap as starts
// with a StartDelay do.
type gauge struct {
	strategy.Fleet

	mu           sync.Mutex
	now, peak    int
	starts, stop int
}

func (g *gauge) enter(start bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now++
	g.peak = max(g.peak, g.now)
	if start {
		g.starts++
	} else {
		g.stop++
	}
}

func (g *gauge) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now--
}

// reset returns the most calls under way at once, and how many Starts and
// Stops were made, since the last reset.
func (g *gauge) reset() (peak, starts, stops int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	peak, starts, stops = g.peak, g.starts, g.stop
	g.peak, g.starts, g.stop = 0, 0, 0
	return peak, starts, stops
}

func (g *gauge) Start(ctx context.Context, version string) (string, error) {
	g.enter(true)
	defer g.leave()
	return g.Fleet.Start(ctx, version)
}

func (g *gauge) Stop(ctx context.Context, id string) error {
	g.enter(false)
	defer g.leave()
	time.Sleep(time.Second)
	return g.Fleet.Stop(ctx, id)
}

func withConcurrency(s strategy.Strategy, n int) strategy.Strategy {
	switch s := s.(type) {
	case strategy.Direct:
		s.Concurrency = n
		return s
	case strategy.Rolling:
		s.Concurrency = n
		return s
	case strategy.BlueGreen:
		s.Concurrency = n
		return s
	case strategy.Canary:
		s.Concurrency = n
		return s
	}
	panic(fmt.Sprintf("withConcurrency: %T", s))
}

// TestConcurrency checks that every strategy, and its undo, starts and
// stops at most Concurrency instances at once, and uses that many.
func TestConcurrency(t *testing.T) {
	for _, su := range setups() {
		for _, tt := range []struct {
			concurrency, n, want int
		}{
			{3, 10, 3},
			{0, 400, strategy.DefaultConcurrency},
		} {
			t.Run(fmt.Sprintf("%s/concurrency=%d", su.name, tt.concurrency), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					f := newFleet(tt.n)
					f.SetBehavior("v2", strategytest.Behavior{StartDelay: 10 * time.Second})
					g := &gauge{Fleet: f}
					target := su.target(f)
					target.Fleet = g
					s := withConcurrency(su.s, tt.concurrency)
					// Failing at the final step, with every new instance
					// running, leaves the most for the undo.
					atFinal := strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
						if s.Final {
							return errGate
						}
						return nil
					})
					undo, err := s.Deploy(t.Context(), target, rel, atFinal)
					if !errors.Is(err, errGate) {
						t.Fatalf("Deploy error = %v, want the gate's", err)
					}
					if peak, _, _ := g.reset(); peak != tt.want {
						t.Errorf("deployment made up to %d calls at once, want %d", peak, tt.want)
					}
					if err := undo(t.Context()); err != nil {
						t.Fatalf("Undo: %v", err)
					}
					if peak, _, _ := g.reset(); peak != tt.want {
						t.Errorf("undo made up to %d calls at once, want %d", peak, tt.want)
					}
					assertOriginal(t, f, tt.n)
				})
			})
		}
	}
}

// TestReadyTimeoutPerInstance checks that ReadyTimeout bounds each
// instance's start, not a batch that takes several waves.
func TestReadyTimeoutPerInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(6)
		f.SetBehavior("v2", strategytest.Behavior{StartDelay: 50 * time.Second})
		d := strategy.Direct{Concurrency: 2, ReadyTimeout: time.Minute}
		t0 := time.Now()
		deploy(t, d, strategy.Target{Fleet: f}, newGate(f))
		if took := time.Since(t0); took != 150*time.Second {
			t.Errorf("6 starts of 50s, 2 at once, took %s; want 2m30s", took)
		}
		assertVersions(t, f, map[string]int{"v2": 6})
	})

	synctest.Test(t, func(t *testing.T) {
		// The fourth instance, in the second wave, never becomes ready.
		f := newFleet(6)
		f.SetBehavior("v2", strategytest.Behavior{StartDelay: 50 * time.Second})
		if err := f.SetFaults(strategytest.Fault{Op: strategytest.OpStart, Version: "v2", After: 3, Times: 1, Hang: true}); err != nil {
			t.Fatal(err)
		}
		d := strategy.Direct{Concurrency: 2, ReadyTimeout: time.Minute}
		t0 := time.Now()
		undo, err := d.Deploy(t.Context(), strategy.Target{Fleet: f}, rel, newGate(f))
		if !errors.Is(err, strategy.ErrUnhealthy) || !strings.Contains(err.Error(), "v2-10 of v2 not ready within 1m0s") {
			t.Errorf("Deploy error = %v, want ErrUnhealthy naming instance v2-10 and the timeout", err)
		}
		if err == nil || !strings.Contains(err.Error(), "instance v2-10 not ready: ") {
			t.Errorf("Deploy error = %v, want it to carry the fleet's own error, which says why", err)
		}
		if took := time.Since(t0); took != 110*time.Second {
			t.Errorf("Deploy failed after %s, want 1m50s: the hung instance started at 50s", took)
		}
		if err := undo(t.Context()); err != nil {
			t.Fatalf("Undo: %v", err)
		}
		assertOriginal(t, f, 6)
	})
}

// TestStopsAtFirstFailure checks that once a Start fails, no more are made.
func TestStopsAtFirstFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(5)
		if err := f.SetFaults(strategytest.Fault{Op: strategytest.OpStart, Version: "v2", After: 1, Times: 1, Err: errCrash}); err != nil {
			t.Fatal(err)
		}
		g := &gauge{Fleet: f}
		undo, err := strategy.Direct{Concurrency: 1}.Deploy(t.Context(), strategy.Target{Fleet: g}, rel, newGate(f))
		if !errors.Is(err, strategy.ErrUnhealthy) || !errors.Is(err, errCrash) {
			t.Errorf("Deploy error = %v, want ErrUnhealthy and the crash", err)
		}
		if _, starts, _ := g.reset(); starts != 2 {
			t.Errorf("%d Starts, want 2: none after the one that failed", starts)
		}
		if err := undo(t.Context()); err != nil {
			t.Fatalf("Undo: %v", err)
		}
		assertOriginal(t, f, 5)
	})
}
