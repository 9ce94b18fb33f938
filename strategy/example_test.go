package strategy_test

import (
	"context"
	"fmt"

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
