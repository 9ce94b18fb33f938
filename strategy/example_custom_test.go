package strategy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// oneFirst replaces one instance, asks the gate, then replaces the rest. It
// uses only the public interfaces, and keeps its own record of what it
// changed so that its Undo reverts exactly that.
type oneFirst struct{}

func (oneFirst) Deploy(ctx context.Context, t strategy.Target, r strategy.Release, g strategy.Gate) (strategy.Undo, error) {
	old, err := t.Fleet.Instances(ctx)
	if err != nil || len(old) == 0 {
		return nil, fmt.Errorf("nothing to replace: %v", err)
	}
	var started []string // instances of r.To
	stopped := 0         // instances of r.From
	undo := func(ctx context.Context) error {
		var left []strategy.Leftover
		for ; stopped > 0; stopped-- { // old capacity first
			if id, err := t.Fleet.Start(ctx, r.From); err != nil {
				if id != "" {
					t.Fleet.Stop(ctx, id) // a replacement that never got ready
				}
				left = append(left, strategy.Leftover{Item: "instance of " + r.From, State: "not restarted", Err: err})
				break
			}
		}
		if stopped > 0 {
			// The old version is short of capacity: keep the new
			// instances serving rather than leave requests nowhere to go.
			for _, id := range started {
				left = append(left, strategy.Leftover{Item: "instance " + id, State: "running " + r.To + " (kept)"})
			}
			return &strategy.UndoError{Left: left}
		}
		var kept []string
		for _, id := range started {
			if err := t.Fleet.Stop(ctx, id); err != nil {
				kept = append(kept, id)
				left = append(left, strategy.Leftover{Item: "instance " + id, State: "running " + r.To, Err: err})
			}
		}
		started = kept // a retry stops only what is left
		if len(left) > 0 {
			return &strategy.UndoError{Left: left}
		}
		return nil
	}
	replace := func(in strategy.Instance) error {
		id, err := t.Fleet.Start(ctx, r.To)
		if id != "" {
			started = append(started, id)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", strategy.ErrUnhealthy, err)
		}
		if err := t.Fleet.Stop(ctx, in.ID); err != nil {
			return err
		}
		stopped++
		return nil
	}

	if err := replace(old[0]); err != nil {
		return undo, err
	}
	first := strategy.Step{Name: "one instance", Weight: 100 / float64(len(old)), Window: 10 * time.Minute}
	if err := g.Check(ctx, first); err != nil {
		return undo, err
	}
	for _, in := range old[1:] {
		if err := replace(in); err != nil {
			return undo, err
		}
	}
	return undo, g.Check(ctx, strategy.Step{Name: "all instances", Weight: 100, Window: 30 * time.Minute, Final: true})
}

// A user-written strategy, first on a good release, then on one whose first
// instance fails its observation and is undone.
func Example_customStrategy() {
	ctx := context.Background()
	for _, verdict := range []error{nil, errors.New("error rate 4× baseline")} {
		fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 4})
		gate := strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
			fmt.Printf("%s: %g%% for %s, final %t\n", s.Name, s.Weight, s.Window, s.Final)
			return verdict
		})
		undo, err := oneFirst{}.Deploy(ctx, strategy.Target{Fleet: fleet}, strategy.Release{From: "v1", To: "v2"}, gate)
		if err != nil {
			fmt.Println("failed:", err)
			if err := undo(ctx); err != nil {
				fmt.Println("undo:", err)
			}
		}
		fmt.Println(fleet.Versions())
	}
	// Output:
	// one instance: 25% for 10m0s, final false
	// all instances: 100% for 30m0s, final true
	// map[v2:4]
	// one instance: 25% for 10m0s, final false
	// failed: error rate 4× baseline
	// map[v1:4]
}
