package strategy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// deploy runs s on a target and fails the test if it does not complete.
func deploy(t *testing.T, s strategy.Strategy, target strategy.Target, g strategy.Gate) strategy.Undo {
	t.Helper()
	undo, err := s.Deploy(t.Context(), target, rel, g)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if undo == nil {
		t.Fatal("Deploy returned a nil Undo after changing the fleet")
	}
	return undo
}

func checkSteps(t *testing.T, want, got []strategy.Step) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps mismatch (-want +got):\n%s", diff)
	}
}

// checkSnaps compares what the gate saw of the fleet at each step.
func checkSnaps(t *testing.T, want, got []snapshot) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("fleet at each step mismatch (-want +got):\n%s", diff)
	}
}

func TestDirect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(3)
		g := newGate(f)
		deploy(t, strategy.Direct{}, strategy.Target{Fleet: f}, g)
		steps, snaps := g.seen()
		checkSteps(t, []strategy.Step{{Name: "all instances", Weight: 100, Window: strategy.DefaultWindow, Final: true}}, steps)
		checkSnaps(t, []snapshot{{Versions: map[string]int{"v2": 3}, Shares: map[string]float64{"v2": 1}, Weight: -1}}, snaps)
		assertVersions(t, f, map[string]int{"v2": 3})
	})
}

func TestRollingSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The zero value on 4 instances: 1 surge and 1 unavailable, so two
		// batches of two.
		f := newFleet(4)
		g := newGate(f)
		deploy(t, strategy.Rolling{}, strategy.Target{Fleet: f}, g)
		steps, snaps := g.seen()
		checkSteps(t, []strategy.Step{
			{Name: "batch 1/2", Weight: 50},
			{Name: "batch 2/2: all instances", Weight: 100, Window: strategy.DefaultWindow, Final: true},
		}, steps)
		checkSnaps(t, []snapshot{
			{Versions: map[string]int{"v1": 2, "v2": 2}, Shares: map[string]float64{"v1": .5, "v2": .5}, Weight: -1},
			{Versions: map[string]int{"v2": 4}, Shares: map[string]float64{"v2": 1}, Weight: -1},
		}, snaps)
		assertVersions(t, f, map[string]int{"v2": 4})

		// One at a time, each batch observed.
		f = newFleet(10)
		g = newGate(f)
		r := strategy.Rolling{MaxSurge: "1", MaxUnavailable: "0", BatchWindow: 2 * time.Minute, Window: 10 * time.Minute}
		deploy(t, r, strategy.Target{Fleet: f}, g)
		var want []strategy.Step
		for i := 1; i < 10; i++ {
			want = append(want, strategy.Step{Name: fmt.Sprintf("batch %d/10", i), Weight: float64(10 * i), Window: 2 * time.Minute})
		}
		want = append(want, strategy.Step{Name: "batch 10/10: all instances", Weight: 100, Window: 10 * time.Minute, Final: true})
		steps, _ = g.seen()
		checkSteps(t, want, steps)
		assertVersions(t, f, map[string]int{"v2": 10})
	})
}

// TestRollingBounds watches every Start and Stop of a rolling update and
// checks that it stays within its surge and unavailability limits, and
// uses them.
func TestRollingBounds(t *testing.T) {
	tests := []struct {
		n                  int
		surge, unavailable strategy.Amount
		maxTotal, minReady int
	}{
		{10, "", "", 13, 8}, // 25% up = 3, 25% down = 2
		{10, "1", "0", 11, 10},
		{10, "0", "30%", 10, 7},
		{7, "50%", "50%", 11, 4},
		{5, "0%", "10%", 5, 4}, // both resolve to 0: one unavailable
		{3, "100%", "0", 6, 3},
		{1, "", "", 2, 1},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("n=%d surge=%q unavailable=%q", tt.n, tt.surge, tt.unavailable)
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: tt.n,
					Behaviors: map[string]strategytest.Behavior{"v2": {StartDelay: 20 * time.Second}}})
				tr := track(t, f)
				r := strategy.Rolling{MaxSurge: tt.surge, MaxUnavailable: tt.unavailable}
				deploy(t, r, strategy.Target{Fleet: tr}, newGate(f))
				assertVersions(t, f, map[string]int{"v2": tt.n})
				maxTotal, minReady := tr.bounds()
				if maxTotal != tt.maxTotal {
					t.Errorf("at most %d instances at once, want %d", maxTotal, tt.maxTotal)
				}
				if minReady != tt.minReady {
					t.Errorf("at least %d ready instances at all times, want %d", minReady, tt.minReady)
				}
			})
		})
	}
}

func TestBlueGreen(t *testing.T) {
	targets := map[string]func(f *strategytest.Fleet) strategy.Target{
		"switch": func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Switch: f} },
		"router": func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Router: f} },
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(3)
				g := newGate(f)
				g.wait = true
				b := strategy.BlueGreen{PreviewWindow: time.Minute, Window: 2 * time.Minute, KeepWarm: 10 * time.Minute}
				done := make(chan error, 1)
				go func() {
					_, err := b.Deploy(t.Context(), target(f), rel, g)
					done <- err
				}()

				// Until KeepWarm has passed after the window, the old side
				// runs beside the new one, which takes every request.
				time.Sleep(time.Minute + 2*time.Minute + 10*time.Minute - time.Second)
				synctest.Wait()
				select {
				case err := <-done:
					t.Fatalf("Deploy returned (%v) before KeepWarm had passed", err)
				default:
				}
				assertVersions(t, f, map[string]int{"v1": 3, "v2": 3})
				if got := f.Shares(); got["v2"] != 1 {
					t.Errorf("during KeepWarm, shares = %v, want all on v2", got)
				}

				time.Sleep(time.Second)
				synctest.Wait()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Deploy: %v", err)
					}
				default:
					t.Fatal("Deploy still running after KeepWarm")
				}
				assertVersions(t, f, map[string]int{"v2": 3})

				steps, snaps := g.seen()
				checkSteps(t, []strategy.Step{
					{Name: "preview (no traffic)", Weight: 0, Window: time.Minute},
					{Name: "switched", Weight: 100, Window: 2 * time.Minute, Final: true},
					{Name: "old side warm", Weight: 100, Window: 10 * time.Minute},
				}, steps)
				both := map[string]int{"v1": 3, "v2": 3}
				want := []snapshot{
					{Versions: both, Shares: map[string]float64{"v1": 1}, Weight: -1},
					{Versions: both, Shares: map[string]float64{"v2": 1}, Weight: -1},
					{Versions: both, Shares: map[string]float64{"v2": 1}, Weight: -1},
				}
				if name == "router" {
					want[0].Weight, want[1].Weight, want[2].Weight = 0, 100, 100
				}
				checkSnaps(t, want, snaps)
			})
		})
	}
}

func TestBlueGreenDefaultKeepWarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(2)
		g := newGate(f)
		g.wait = true
		done := make(chan error, 1)
		go func() {
			_, err := strategy.BlueGreen{Window: time.Minute}.Deploy(t.Context(), strategy.Target{Fleet: f, Switch: f}, rel, g)
			done <- err
		}()
		time.Sleep(time.Minute + strategy.DefaultKeepWarm - time.Nanosecond)
		synctest.Wait()
		assertVersions(t, f, map[string]int{"v1": 2, "v2": 2})
		time.Sleep(time.Nanosecond)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		assertVersions(t, f, map[string]int{"v2": 2})
	})
}

// A negative KeepWarm keeps the old side no longer than the window: it
// stops as soon as the window passes, with no "old side warm" step.
func TestBlueGreenNoKeepWarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(2)
		g := newGate(f)
		g.wait = true
		done := make(chan error, 1)
		b := strategy.BlueGreen{Window: time.Minute, KeepWarm: -1}
		if err := b.Validate(strategy.Target{Fleet: f, Switch: f}); err != nil {
			t.Errorf("Validate() = %v, want nil: a negative KeepWarm means none", err)
		}
		go func() {
			_, err := b.Deploy(t.Context(), strategy.Target{Fleet: f, Switch: f}, rel, g)
			done <- err
		}()
		time.Sleep(time.Minute)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		assertVersions(t, f, map[string]int{"v2": 2})
		if steps, _ := g.seen(); len(steps) != 1 || steps[0].Name != "switched" {
			t.Errorf("steps %+v, want only the switch", steps)
		}
		if d := b.Describe(strategy.Target{Fleet: f, Switch: f}); d.Steps[len(d.Steps)-1] != "stop the old side" {
			t.Errorf("described steps %q, want the old side stopped at once", d.Steps)
		}
	})
}

func TestCanaryRouter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(10)
		g := newGate(f)
		deploy(t, strategy.Canary{}, strategy.Target{Fleet: f, Router: f}, g)

		steps, snaps := g.seen()
		weights := []float64{1, 5, 25, 50, 100}
		canaries := []int{1, 1, 3, 5, 10} // enough to carry each weight
		var wantSteps []strategy.Step
		var wantSnaps []snapshot
		for i, w := range weights {
			wantSteps = append(wantSteps, strategy.Step{Name: fmt.Sprintf("canary %g%%", w), Weight: w, Window: strategy.DefaultCanaryStepWindow, Final: i == len(weights)-1})
			shares := map[string]float64{"v1": 1 - w/100, "v2": w / 100}
			if w == 100 {
				delete(shares, "v1")
			}
			// The old version keeps every instance until the end.
			wantSnaps = append(wantSnaps, snapshot{Versions: map[string]int{"v1": 10, "v2": canaries[i]}, Shares: shares, Weight: w})
		}
		checkSteps(t, wantSteps, steps)
		checkSnaps(t, wantSnaps, snaps)
		assertVersions(t, f, map[string]int{"v2": 10})
	})
}

func TestCanaryByInstanceCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(4)
		g := newGate(f)
		deploy(t, strategy.Canary{}, strategy.Target{Fleet: f}, g)

		steps, snaps := g.seen()
		// 1%, 5% and 25% of 4 instances all round to one instance, 25%:
		// that split is observed once.
		w := strategy.DefaultCanaryStepWindow
		checkSteps(t, []strategy.Step{
			{Name: "canary 25%", Weight: 25, Window: w},
			{Name: "canary 50%", Weight: 50, Window: w},
			{Name: "canary 100%", Weight: 100, Window: w, Final: true},
		}, steps)
		quarter := snapshot{Versions: map[string]int{"v1": 3, "v2": 1}, Shares: map[string]float64{"v1": .75, "v2": .25}, Weight: -1}
		checkSnaps(t, []snapshot{quarter,
			{Versions: map[string]int{"v1": 2, "v2": 2}, Shares: map[string]float64{"v1": .5, "v2": .5}, Weight: -1},
			{Versions: map[string]int{"v2": 4}, Shares: map[string]float64{"v2": 1}, Weight: -1},
		}, snaps)
		assertVersions(t, f, map[string]int{"v2": 4})
	})
}

func TestCanaryCustomSteps(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		router   bool
		steps    []float64
		weights  []float64 // of the steps seen
		canaries []int     // new instances at each step
	}{
		{"router, implicit 100", 10, true, []float64{10, 50}, []float64{10, 50, 100}, []int{1, 5, 10}},
		{"count, implicit 100", 10, false, []float64{10, 50}, []float64{10, 50, 100}, []int{1, 5, 10}},
		{"count, explicit 100", 10, false, []float64{20, 100}, []float64{20, 100}, []int{2, 10}},
		{"router, one step", 3, true, []float64{100}, []float64{100}, []int{3}},
		// On one instance, 10% and 40% would run no canary: skipped.
		{"count, steps without a canary skipped", 1, false, []float64{10, 40}, []float64{100}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(tt.n)
				g := newGate(f)
				target := strategy.Target{Fleet: f}
				if tt.router {
					target.Router = f
				}
				deploy(t, strategy.Canary{Steps: tt.steps, StepWindow: time.Minute}, target, g)
				steps, snaps := g.seen()
				var want []strategy.Step
				for i, w := range tt.weights {
					want = append(want, strategy.Step{Name: fmt.Sprintf("canary %g%%", w), Weight: w, Window: time.Minute, Final: i == len(tt.weights)-1})
				}
				checkSteps(t, want, steps)
				for i, s := range snaps {
					if i < len(tt.canaries) && s.Versions["v2"] != tt.canaries[i] {
						t.Errorf("step %d runs %d canaries, want %d", i+1, s.Versions["v2"], tt.canaries[i])
					}
				}
				assertVersions(t, f, map[string]int{"v2": tt.n})
			})
		})
	}
}

// exposing wraps a fleet to record the share of traffic the new version
// has each time one of its instances becomes ready.
type exposing struct {
	*strategytest.Fleet
	g *gate

	mu     sync.Mutex
	shares []float64 // before the first step
}

func (e *exposing) Start(ctx context.Context, version string) (string, error) {
	id, err := e.Fleet.Start(ctx, version)
	if steps, _ := e.g.seen(); len(steps) == 0 && version == rel.To {
		e.mu.Lock()
		e.shares = append(e.shares, e.Fleet.Shares()[version])
		e.mu.Unlock()
	}
	return id, err
}

// TestNoTrafficBeforeFirstStep checks that strategies with a switch or a
// router hold every request on the old version until they route to the new
// one, even though the fleet's load balancer, left alone, spreads requests
// over every ready instance.
func TestNoTrafficBeforeFirstStep(t *testing.T) {
	tests := map[string]struct {
		s      strategy.Strategy
		target func(f strategy.Fleet, r *strategytest.Fleet) strategy.Target
	}{
		"canary/router": {strategy.Canary{}, func(f strategy.Fleet, r *strategytest.Fleet) strategy.Target {
			return strategy.Target{Fleet: f, Router: r}
		}},
		"blue-green/router": {strategy.BlueGreen{PreviewWindow: time.Minute}, func(f strategy.Fleet, r *strategytest.Fleet) strategy.Target {
			return strategy.Target{Fleet: f, Router: r}
		}},
		"blue-green/switch": {strategy.BlueGreen{PreviewWindow: time.Minute}, func(f strategy.Fleet, r *strategytest.Fleet) strategy.Target {
			return strategy.Target{Fleet: f, Switch: r}
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(10)
				g := newGate(f)
				e := &exposing{Fleet: f, g: g}
				deploy(t, tt.s, tt.target(e, f), g)
				if len(e.shares) == 0 {
					t.Fatal("no new instance started before the first step")
				}
				for i, s := range e.shares {
					if s != 0 {
						t.Errorf("new instance %d served %g of requests before the first step", i+1, s)
					}
				}
			})
		})
	}
}

// TestUndoAfterSuccess rolls back a completed deployment, as the executor
// does when a later check fails.
func TestUndoAfterSuccess(t *testing.T) {
	for _, su := range setups() {
		t.Run(su.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(4)
				undo := deploy(t, su.s, su.target(f), newGate(f))
				assertVersions(t, f, map[string]int{"v2": 4})
				if err := undo(t.Context()); err != nil {
					t.Fatalf("Undo: %v", err)
				}
				assertOriginal(t, f, 4)
				if err := undo(t.Context()); err != nil {
					t.Fatalf("second Undo: %v", err)
				}
				assertOriginal(t, f, 4)
			})
		})
	}
}
