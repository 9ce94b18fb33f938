package strategy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// Without a router a canary splits by instance count: on 4 instances, 1%, 5%
// and 25% all come to one instance, 25% of the fleet, which is observed once.
func ExampleCanary() {
	ctx := context.Background()
	fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 4})
	gate := strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
		fmt.Printf("%-12s %v observed for %s final=%t\n", s.Name, fleet.Versions(), s.Window, s.Final)
		return nil
	})
	_, err := strategy.Canary{}.Deploy(ctx, strategy.Target{Fleet: fleet}, strategy.Release{From: "v1", To: "v2"}, gate)
	fmt.Println(err, fleet.Versions())
	// Output:
	// canary 25%   map[v1:3 v2:1] observed for 5m0s final=false
	// canary 50%   map[v1:2 v2:2] observed for 5m0s final=false
	// canary 100%  map[v2:4] observed for 5m0s final=true
	// <nil> map[v2:4]
}

// The zero Rolling replaces 8 instances two up, two down at a time (25%
// surge, 25% unavailable), in two batches.
func ExampleRolling() {
	ctx := context.Background()
	fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 8})
	gate := strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
		fmt.Printf("%s: %g%% %v, observed for %s\n", s.Name, s.Weight, fleet.Versions(), s.Window)
		return nil
	})
	_, err := strategy.Rolling{}.Deploy(ctx, strategy.Target{Fleet: fleet}, strategy.Release{From: "v1", To: "v2"}, gate)
	fmt.Println(err, fleet.Versions())
	// Output:
	// batch 1/2: 50% map[v1:4 v2:4], observed for 0s
	// batch 2/2: all instances: 100% map[v2:8], observed for 15m0s
	// <nil> map[v2:8]
}

// A canary whose process died while it observed 50% is resumed there by
// another: the Position says which step it was in and which instances ran
// before it began. The 50% step is observed again from its start, then
// 100% follows.
func ExampleCanary_Resume() {
	ctx := context.Background()
	fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 4})
	t := strategy.Target{Fleet: fleet}
	rel := strategy.Release{From: "v1", To: "v2"}
	before, _ := fleet.Instances(ctx)
	var ids []string
	for _, in := range before {
		ids = append(ids, in.ID)
	}
	crash := errors.New("killed")
	_, _ = strategy.Canary{}.Deploy(ctx, t, rel, strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
		if s.Name == "canary 50%" {
			return crash // the process dies here: no undo runs
		}
		return nil
	}))
	fmt.Println("left:", fleet.Versions())

	c := strategy.Canary{}
	at := slices.IndexFunc(c.StepsFor(t, len(ids)), func(s strategy.Step) bool { return s.Name == "canary 50%" })
	_, err := c.Resume(ctx, t, rel, strategy.Position{Step: at, Before: ids}, strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
		fmt.Printf("%-12s %v\n", s.Name, fleet.Versions())
		return nil
	}))
	fmt.Println(err, fleet.Versions())
	// Output:
	// left: map[v1:2 v2:2]
	// canary 50%   map[v1:2 v2:2]
	// canary 100%  map[v2:4]
	// <nil> map[v2:4]
}
