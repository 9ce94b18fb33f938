package strategytest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

var errBoom = errors.New("boom")

// do makes one call of op about version (Stop stops the instance id) and
// says what happened: "ok", "err" for an error wrapping errBoom, "hung" for
// an error wrapping the context's cause an hour later, "panic: <value>",
// or any other error.
func do(f *strategytest.Fleet, op strategytest.Op, version, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	t0 := time.Now()
	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("panic: %v", v)
			}
		}()
		switch op {
		case strategytest.OpInstances:
			_, err = f.Instances(ctx)
		case strategytest.OpStart:
			_, err = f.Start(ctx, version)
		case strategytest.OpStop:
			err = f.Stop(ctx, id)
		case strategytest.OpRoute:
			err = f.Route(ctx, "v1", version, 10)
		case strategytest.OpSwitch:
			err = f.Switch(ctx, version)
		}
	}()
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errBoom):
		return "err"
	case errors.Is(err, context.DeadlineExceeded) && time.Since(t0) == time.Hour:
		return "hung"
	}
	return err.Error()
}

// TestFaults breaks each method with each kind of fault, in turn, and
// checks what every call did and what it changed.
func TestFaults(t *testing.T) {
	for _, op := range []strategytest.Op{strategytest.OpInstances, strategytest.OpStart, strategytest.OpStop, strategytest.OpRoute, strategytest.OpSwitch} {
		t.Run(string(op), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 1})
				version := "v2"
				if op == strategytest.OpInstances {
					version = ""
				}
				// Calls 2 and 3 fail, 4 hangs, 5 panics, then all pass.
				must(t, f.SetFaults(
					strategytest.Fault{Op: op, Version: version, After: 1, Times: 2, Err: errBoom},
					strategytest.Fault{Op: op, Version: version, After: 3, Times: 1, Hang: true},
					strategytest.Fault{Op: op, Version: version, After: 4, Times: 1, Panic: "oops"},
				))
				want := []string{"ok", "err", "err", "hung", "panic: oops", "ok"}
				for i, w := range want {
					var id string
					if op == strategytest.OpStop {
						id = start(t, f, "v2")
					}
					before := f.State()
					got := do(f, op, "v2", id)
					if got != w {
						t.Errorf("call %d of %s = %s, want %s", i+1, op, got, w)
					}
					after := f.State()
					switch {
					case w == "ok":
					case op == strategytest.OpStart && w != "panic: oops":
						// An instance is created that never becomes ready.
						if after.Instances["v2"] != before.Instances["v2"]+1 || after.Unready["v2"] != before.Unready["v2"]+1 {
							t.Errorf("call %d (%s) of Start went from %s to %s; want one more unready v2 instance", i+1, w, before, after)
						}
					default:
						if diff := cmp.Diff(before, after); diff != "" {
							t.Errorf("call %d (%s) of %s changed the fleet (-before +after):\n%s", i+1, w, op, diff)
						}
					}
				}
				// Calls about another version are not affected, nor counted.
				if op != strategytest.OpInstances {
					must(t, f.SetFaults(strategytest.Fault{Op: op, Version: "v2", Times: 1, Err: errBoom}))
					var id string
					if op == strategytest.OpStop {
						id = start(t, f, "v3")
					}
					if got := do(f, op, "v3", id); got != "ok" {
						t.Errorf("%s of v3 with a fault on v2 = %s, want ok", op, got)
					}
					if op == strategytest.OpStop {
						id = start(t, f, "v2")
					}
					if got := do(f, op, "v2", id); got != "err" {
						t.Errorf("first %s of v2 = %s, want err", op, got)
					}
				}
			})
		})
	}
}

// TestFaultStartErr checks that a Start the fault fails still takes the
// version's StartDelay, as a crash does.
func TestFaultStartErr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 1,
			Behaviors: map[string]strategytest.Behavior{"v2": {StartDelay: time.Minute}}})
		must(t, f.SetFaults(strategytest.Fault{Op: strategytest.OpStart, Err: errBoom}))
		t0 := time.Now()
		id, err := f.Start(t.Context(), "v2")
		if !errors.Is(err, errBoom) || id == "" || time.Since(t0) != time.Minute {
			t.Errorf("Start = %q, %v after %s; want an ID and %v after 1m", id, err, time.Since(t0), errBoom)
		}
		if !strings.Contains(err.Error(), id) {
			t.Errorf("Start error %q does not name instance %s", err, id)
		}
	})
}

// TestFaultBack checks that a fault with Back affects only the calls that
// move traffic back, as an undo does.
func TestFaultBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 2})
		start(t, f, "v2")
		must(t, f.SetFaults(
			strategytest.Fault{Op: strategytest.OpRoute, Back: true, Err: errBoom},
			strategytest.Fault{Op: strategytest.OpSwitch, Back: true, Err: errBoom},
		))
		// A canary: 0 (hold), up, up; then back down.
		for _, w := range []float64{0, 5, 50} {
			must(t, f.Route(ctx, "v1", "v2", w))
		}
		must(t, f.Route(ctx, "v1", "v2", 50)) // not lower
		if err := f.Route(ctx, "v1", "v2", 0); !errors.Is(err, errBoom) {
			t.Errorf("Route back to 0 = %v, want %v", err, errBoom)
		}
		// Blue/green: hold on v1, switch to v2, then back to v1.
		must(t, f.Switch(ctx, "v1"))
		must(t, f.Switch(ctx, "v2"))
		must(t, f.Switch(ctx, "v2")) // already there
		if err := f.Switch(ctx, "v1"); !errors.Is(err, errBoom) {
			t.Errorf("Switch back to v1 = %v, want %v", err, errBoom)
		}
		// A later deployment, v2 to v3: holding on v2 is not going back.
		must(t, f.Switch(ctx, "v2"))
		must(t, f.Switch(ctx, "v3"))
		if err := f.Switch(ctx, "v2"); !errors.Is(err, errBoom) {
			t.Errorf("Switch back to v2 = %v, want %v", err, errBoom)
		}
	})
}

func TestSetFaultsInvalid(t *testing.T) {
	f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 1})
	must(t, f.SetFaults(strategytest.Fault{Op: strategytest.OpStop, Err: errBoom}))
	err := f.SetFaults(
		strategytest.Fault{Op: strategytest.OpRoute, Err: errBoom}, // valid
		strategytest.Fault{Op: "Restart", After: -1, Times: -2},
		strategytest.Fault{Op: strategytest.OpInstances, Version: "v1", Back: true, Hang: true, Panic: 1},
	)
	if err == nil {
		t.Fatal("SetFaults accepted invalid faults")
	}
	for _, want := range []string{
		`faults[1].Op = "Restart"`,
		"faults[1].After = -1",
		"faults[1].Times = -2",
		"faults[1].Err = <nil>, faults[1].Hang = false, faults[1].Panic = <nil>: set exactly one",
		`faults[2].Version = "v1"`,
		"faults[2].Back = true",
		"faults[2].Err = <nil>, faults[2].Hang = true, faults[2].Panic = 1: set exactly one",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("SetFaults error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "faults[0]") {
		t.Errorf("SetFaults error names the valid fault:\n%v", err)
	}
	// Nothing was applied: the earlier fault still holds, the route works.
	if err := f.Route(t.Context(), "v1", "v2", 0); err != nil {
		t.Errorf("Route after a refused SetFaults: %v", err)
	}
	insts, _ := f.Instances(t.Context())
	if err := f.Stop(t.Context(), insts[0].ID); !errors.Is(err, errBoom) {
		t.Errorf("Stop after a refused SetFaults = %v, want the earlier fault's %v", err, errBoom)
	}
}
