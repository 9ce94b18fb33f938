package strategy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// A setup is a strategy with the target it needs, for tests that run on
// every built-in. Steps is how many steps it takes on 4 instances, and
// middle one of them before the last (the only one for Direct).
type setup struct {
	name          string
	s             strategy.Strategy
	target        func(f *strategytest.Fleet) strategy.Target
	steps, middle int
	router, swtch bool
}

func setups() []setup {
	fleet := func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f} }
	router := func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Router: f} }
	swtch := func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Switch: f} }
	ready := time.Minute
	bg := strategy.BlueGreen{PreviewWindow: time.Minute, ReadyTimeout: ready}
	return []setup{
		{name: "direct", s: strategy.Direct{ReadyTimeout: ready}, target: fleet, steps: 1, middle: 0},
		{name: "rolling", s: strategy.Rolling{ReadyTimeout: ready}, target: fleet, steps: 2, middle: 0},
		{name: "blue-green/switch", s: bg, target: swtch, steps: 3, middle: 0, swtch: true},
		{name: "blue-green/router", s: bg, target: router, steps: 3, middle: 0, router: true},
		{name: "canary/router", s: strategy.Canary{ReadyTimeout: ready}, target: router, steps: 5, middle: 2, router: true},
		{name: "canary/count", s: strategy.Canary{ReadyTimeout: ready}, target: fleet, steps: 3, middle: 1},
	}
}

// TestFailureUndo breaks each strategy in each way it can break, and checks
// that the Undo it returns puts the fleet back exactly as it was.
func TestFailureUndo(t *testing.T) {
	type env struct {
		f      *strategytest.Fleet
		g      *gate
		cancel context.CancelCauseFunc
		su     setup
	}
	failures := []struct {
		name string
		// applies reports whether the failure can happen to su.
		applies func(su setup) bool
		arrange func(e env)
		want    []error // what the Deploy error must wrap
	}{{
		name:    "gate fails mid-way",
		arrange: func(e env) { e.g.failAt, e.g.err = e.su.middle, errGate },
		want:    []error{errGate},
	}, {
		name:    "gate fails at the final step",
		arrange: func(e env) { e.g.failAt, e.g.err = e.su.steps-1, errGate },
		want:    []error{errGate},
	}, {
		name:    "never ready",
		arrange: func(e env) { e.f.SetBehavior("v2", strategytest.Behavior{NeverReady: true}) },
		want:    []error{strategy.ErrUnhealthy},
	}, {
		name: "crashes at start",
		arrange: func(e env) {
			e.f.SetBehavior("v2", strategytest.Behavior{StartErr: errCrash, StartDelay: 5 * time.Second})
		},
		want: []error{strategy.ErrUnhealthy, errCrash},
	}, {
		name: "crashes in a later batch",
		applies: func(su setup) bool {
			return strings.HasPrefix(su.name, "rolling") || strings.HasPrefix(su.name, "canary")
		},
		arrange: func(e env) {
			e.g.during = func(i int, s strategy.Step) {
				if i == e.su.middle {
					e.f.SetBehavior("v2", strategytest.Behavior{StartErr: errCrash})
				}
			}
		},
		want: []error{strategy.ErrUnhealthy, errCrash},
	}, {
		name: "cancelled while starting",
		arrange: func(e env) {
			e.f.SetBehavior("v2", strategytest.Behavior{StartDelay: time.Minute})
			time.AfterFunc(30*time.Second, func() { e.cancel(errCancel) })
		},
		want: []error{errCancel},
	}, {
		name: "cancelled mid-step",
		arrange: func(e env) {
			e.g.wait = true
			e.g.during = func(i int, s strategy.Step) {
				if i == e.su.middle {
					e.cancel(errCancel)
				}
			}
		},
		want: []error{errCancel},
	}, {
		name:    "cancelled while keeping warm",
		applies: func(su setup) bool { return strings.HasPrefix(su.name, "blue-green") },
		arrange: func(e env) {
			e.g.wait = true
			e.g.during = func(i int, s strategy.Step) {
				if s.Final {
					time.AfterFunc(s.Window+time.Second, func() { e.cancel(errCancel) })
				}
			}
		},
		want: []error{errCancel},
	}, {
		name:    "router fails",
		applies: func(su setup) bool { return su.router },
		arrange: func(e env) {
			e.g.during = func(i int, s strategy.Step) {
				if i == e.su.middle {
					e.f.SetFaults(strategytest.Fault{Op: strategytest.OpRoute, Err: errRoute})
				}
			}
		},
		want: []error{errRoute},
	}, {
		name:    "switch fails",
		applies: func(su setup) bool { return su.swtch },
		arrange: func(e env) {
			e.g.during = func(i int, s strategy.Step) {
				if i == e.su.middle {
					e.f.SetFaults(strategytest.Fault{Op: strategytest.OpSwitch, Err: errSwitch})
				}
			}
		},
		want: []error{errSwitch},
	}}

	for _, su := range setups() {
		for _, fail := range failures {
			if fail.applies != nil && !fail.applies(su) {
				continue
			}
			t.Run(su.name+"/"+fail.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					f := newFleet(4)
					g := newGate(f)
					ctx, cancel := context.WithCancelCause(t.Context())
					defer cancel(nil)
					fail.arrange(env{f: f, g: g, cancel: cancel, su: su})

					undo, err := su.s.Deploy(ctx, su.target(f), rel, g)
					if err == nil {
						t.Fatal("Deploy succeeded")
					}
					for _, want := range fail.want {
						if !errors.Is(err, want) {
							t.Errorf("Deploy error %q does not wrap %q", err, want)
						}
					}
					if undo == nil {
						t.Fatal("Deploy changed the fleet and returned no Undo")
					}
					// The broken router or switch recovers; the deployment is
					// undone with a fresh context, since ctx may be cancelled.
					if err := f.SetFaults(); err != nil {
						t.Fatal(err)
					}
					fresh := context.Background()
					if err := undo(fresh); err != nil {
						t.Fatalf("Undo: %v", err)
					}
					assertOriginal(t, f, 4)
					if err := undo(fresh); err != nil {
						t.Fatalf("second Undo: %v", err)
					}
					assertOriginal(t, f, 4)
				})
			})
		}
	}
}

// instanceItems returns the Leftover items naming f's instances of version.
func instanceItems(t *testing.T, f *strategytest.Fleet, version string) []string {
	t.Helper()
	insts, err := f.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, in := range insts {
		if in.Version == version {
			items = append(items, "instance "+in.ID)
		}
	}
	slices.Sort(items)
	return items
}

func leftItems(left []strategy.Leftover) []string {
	var items []string
	for _, l := range left {
		items = append(items, l.Item)
	}
	return items
}

// TestUndoStopFails makes the new version's instances refuse to stop: the
// Undo must restore the old version, report every new instance still
// running, and finish the job when retried.
func TestUndoStopFails(t *testing.T) {
	for _, su := range setups() {
		t.Run(su.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(4)
				undo, err := su.s.Deploy(t.Context(), su.target(f), rel, failing(f, su.steps-1))
				if !errors.Is(err, errGate) {
					t.Fatalf("Deploy error = %v, want the gate's", err)
				}
				f.SetBehavior("v2", strategytest.Behavior{StopErr: errStop})
				err = undo(t.Context())
				var ue *strategy.UndoError
				if !errors.As(err, &ue) {
					t.Fatalf("Undo error = %v, want an *UndoError", err)
				}
				if !errors.Is(err, errStop) {
					t.Errorf("Undo error %q does not wrap the Stop error", err)
				}
				want := instanceItems(t, f, "v2")
				if len(want) != 4 {
					t.Fatalf("%d v2 instances running, want 4", len(want))
				}
				if diff := cmp.Diff(want, leftItems(ue.Left)); diff != "" {
					t.Errorf("leftovers mismatch (-want +got):\n%s", diff)
				}
				for _, l := range ue.Left {
					if !strings.Contains(l.State, "running v2") || !errors.Is(l.Err, errStop) {
						t.Errorf("leftover %+v, want it running v2 because of the Stop error", l)
					}
					if !strings.Contains(err.Error(), l.Item) {
						t.Errorf("Undo error %q does not name %s", err, l.Item)
					}
				}
				// The old version is back and takes the traffic.
				assertVersions(t, f, map[string]int{"v1": 4, "v2": 4})
				if got := f.Shares()["v1"]; (su.router || su.swtch) && got != 1 {
					t.Errorf("v1 serves %g of traffic after the undo, want all", got)
				}

				// Once the instances can stop, undoing again finishes.
				f.SetBehavior("v2", strategytest.Behavior{})
				if err := undo(t.Context()); err != nil {
					t.Fatalf("retried Undo: %v", err)
				}
				assertOriginal(t, f, 4)
				if err := undo(t.Context()); err != nil {
					t.Fatalf("third Undo: %v", err)
				}
				assertOriginal(t, f, 4)
			})
		})
	}
}

// TestUndoTrafficStuck makes the switch or router unable to go back: the
// new instances still take the traffic, so the Undo must keep them, name
// them, and name the switch or router.
func TestUndoTrafficStuck(t *testing.T) {
	tests := []struct {
		name   string
		su     setup
		op     strategytest.Op
		err    error
		item   string
		state  string
		failAt int
	}{
		{"blue-green/switch", setups()[2], strategytest.OpSwitch, errSwitch, "switch", "sending traffic to v2", 1},
		{"blue-green/router", setups()[3], strategytest.OpRoute, errRoute, "router", "100% of traffic on v2", 1},
		{"canary/router", setups()[4], strategytest.OpRoute, errRoute, "router", "25% of traffic on v2", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(4)
				// Armed from the start, the fault breaks only the call
				// that moves traffic back: the undo's.
				if err := f.SetFaults(strategytest.Fault{Op: tt.op, Back: true, Err: tt.err}); err != nil {
					t.Fatal(err)
				}
				undo, err := tt.su.s.Deploy(t.Context(), tt.su.target(f), rel, failing(f, tt.failAt))
				if !errors.Is(err, errGate) {
					t.Fatalf("Deploy error = %v, want the gate's", err)
				}
				before := f.Versions()
				shares := f.Shares()

				err = undo(t.Context())
				var ue *strategy.UndoError
				if !errors.As(err, &ue) {
					t.Fatalf("Undo error = %v, want an *UndoError", err)
				}
				if !errors.Is(err, tt.err) {
					t.Errorf("Undo error %q does not wrap %q", err, tt.err)
				}
				want := append([]string{tt.item}, instanceItems(t, f, "v2")...)
				if diff := cmp.Diff(want, leftItems(ue.Left)); diff != "" {
					t.Errorf("leftovers mismatch (-want +got):\n%s", diff)
				}
				if got := ue.Left[0].State; got != tt.state {
					t.Errorf("%s left %q, want %q", tt.item, got, tt.state)
				}
				for _, l := range ue.Left[1:] {
					if !strings.Contains(l.State, "kept") {
						t.Errorf("leftover %+v does not say it was kept", l)
					}
				}
				// Nothing was stopped: requests still have somewhere to go.
				assertVersions(t, f, before)
				if diff := cmp.Diff(shares, f.Shares()); diff != "" {
					t.Errorf("shares changed by an undo that could not move traffic (-before +after):\n%s", diff)
				}

				if err := f.SetFaults(); err != nil {
					t.Fatal(err)
				}
				if err := undo(t.Context()); err != nil {
					t.Fatalf("retried Undo: %v", err)
				}
				assertOriginal(t, f, 4)
			})
		})
	}
}

// TestRefusesForeignVersion checks that a fleet running anything but the
// previous version is left alone: another deployment is under way or
// half-done.
func TestRefusesForeignVersion(t *testing.T) {
	for _, su := range setups() {
		for _, stray := range []string{"v0", "v2"} {
			t.Run(su.name+"/"+stray, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					f := newFleet(3)
					id, err := f.Start(t.Context(), stray)
					if err != nil {
						t.Fatal(err)
					}
					shares := f.Shares()
					g := newGate(f)
					undo, err := su.s.Deploy(t.Context(), su.target(f), rel, g)
					if err == nil {
						t.Fatal("Deploy succeeded on a fleet running a third version")
					}
					if !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), `"`+stray+`"`) {
						t.Errorf("error %q does not name instance %s and its version %q", err, id, stray)
					}
					if undo != nil {
						t.Error("Deploy returned an Undo although it changed nothing")
					}
					if steps, _ := g.seen(); len(steps) != 0 {
						t.Errorf("gate asked about %v", steps)
					}
					assertVersions(t, f, map[string]int{"v1": 3, stray: 1})
					if r := f.State().Route; r != nil {
						t.Errorf("router was set: %+v", r)
					}
					if diff := cmp.Diff(shares, f.Shares()); diff != "" {
						t.Errorf("traffic moved (-before +after):\n%s", diff)
					}
				})
			})
		}
	}
}

// TestUndoRestoreFails: when the previous version cannot be started again,
// the new instances keep serving and the undo names every instance it left.
func TestUndoRestoreFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(4)
		undo, err := strategy.Direct{}.Deploy(t.Context(), strategy.Target{Fleet: f}, rel, failing(f, 0))
		if !errors.Is(err, errGate) {
			t.Fatalf("Deploy error = %v, want the gate's", err)
		}
		f.SetBehavior("v1", strategytest.Behavior{StartErr: errCrash})
		err = undo(t.Context())
		var ue *strategy.UndoError
		if !errors.As(err, &ue) || !errors.Is(err, errCrash) {
			t.Fatalf("Undo error = %v, want an *UndoError wrapping the crash", err)
		}
		if got := f.Versions()["v2"]; got != 4 {
			t.Errorf("%d v2 instances left, want all 4 kept: nothing else can serve", got)
		}
		for _, id := range instanceItems(t, f, "v2") {
			if !strings.Contains(err.Error(), id+" left running v2 (kept: the previous version could not be restored)") {
				t.Errorf("Undo error does not say why %s was kept:\n%v", id, err)
			}
		}
		if n := strings.Count(err.Error(), "stopped, not replaced by v1"); n != 4 {
			t.Errorf("Undo error names %d unreplaced v1 instances, want 4:\n%v", n, err)
		}

		// Once v1 starts again, a retry finishes the job and leaves none of
		// the failed replacements behind.
		f.SetBehavior("v1", strategytest.Behavior{})
		if err := undo(t.Context()); err != nil {
			t.Fatalf("retried Undo: %v", err)
		}
		assertOriginal(t, f, 4)
	})
}
