package strategytest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// A simulated fleet is a fleet, a router and a metric source at once: route
// 10% of traffic to a canary and read what each version served.
func ExampleFleet() {
	ctx := context.Background()
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 3, RPS: 1000,
		Behaviors: map[string]strategytest.Behavior{"v2": {ErrorRate: 0.05}},
	})
	fleet.Route(ctx, "v1", "v2", 0)
	id, _ := fleet.Start(ctx, "v2")
	fleet.Route(ctx, "v1", "v2", 10)
	fmt.Println("started", id, fleet.Versions(), fleet.Shares())

	// The initial fleet has served since the beginning of time; v2 only now.
	now := time.Now()
	before := verify.Query{Version: "v2", Start: now.Add(-time.Hour), End: now.Add(-time.Minute)}
	_, err := fleet.Observe(ctx, before)
	fmt.Println("v2 an hour ago:", errors.Is(err, verify.ErrNoData))
	// Output:
	// started v2-4 map[v1:3 v2:1] map[v1:0.9 v2:0.1]
	// v2 an hour ago: true
}

// forgivingFleet is a fleet adapter with a mistake: it reports success when
// asked to stop an instance it does not know, so a strategy that believes it
// stopped something never learns that it is still running elsewhere.
type forgivingFleet struct{ *strategytest.Fleet }

func (f forgivingFleet) Stop(ctx context.Context, id string) error {
	f.Fleet.Stop(ctx, id)
	return nil
}

// Check names each check a fleet fails and what the fleet did wrong.
func ExampleCheck() {
	check := func(newFleet func() (strategy.Fleet, error)) {
		if err := strategytest.Check(context.Background(), "v1", newFleet); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("ok")
	}
	check(func() (strategy.Fleet, error) {
		return strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 2}), nil
	})
	check(func() (strategy.Fleet, error) {
		return forgivingFleet{strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 2})}, nil
	})
	// Output:
	// ok
	// StopUnknown: Stop("strategytest-no-such-instance") = nil, want an error for an unknown instance
}

// A canary whose undo cannot move traffic back: the fault is armed from the
// start but breaks only the call that lowers the weight, and State says where
// everything was left.
func ExampleFleet_SetFaults() {
	ctx := context.Background()
	fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 4})
	err := fleet.SetFaults(strategytest.Fault{Op: strategytest.OpRoute, Back: true, Err: errors.New("router API: 503")})
	if err != nil {
		panic(err)
	}
	target := strategy.Target{Fleet: fleet, Router: fleet}
	failAt25 := strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
		if s.Weight == 25 {
			return errors.New("error rate doubled")
		}
		return nil
	})
	undo, err := strategy.Canary{}.Deploy(ctx, target, strategy.Release{From: "v1", To: "v2"}, failAt25)
	fmt.Println("deploy:", err)
	fmt.Println("undo:", undo(ctx) != nil)
	fmt.Println(fleet.State())

	fleet.SetFaults() // the router recovers
	fmt.Println("undo again:", undo(ctx))
	fmt.Println(fleet.State().AllOn("v1"))
	// Output:
	// deploy: error rate doubled
	// undo: true
	// instances v1=4 v2=1; route v1→v2 at 25%; shares v1=75% v2=25%
	// undo again: <nil>
	// <nil>
}

// AllOn says in one error everything that keeps a fleet from being settled
// on a version.
func ExampleState_AllOn() {
	ctx := context.Background()
	fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 2})
	fmt.Println(fleet.State().AllOn("v1"))
	fleet.Route(ctx, "v1", "v2", 0)
	id, _ := fleet.Start(ctx, "v2")
	fleet.Route(ctx, "v1", "v2", 10)
	fmt.Println(fleet.State().AllOn("v1"))
	fleet.Route(ctx, "v1", "v2", 0)
	fleet.Stop(ctx, id)
	fmt.Println(fleet.State().AllOn("v1"))
	// Output:
	// <nil>
	// strategytest: fleet not settled on v1: 1 instance(s) of v2; router sends 10% to v2; v1 serves 90% of requests (instances v1=2 v2=1; route v1→v2 at 10%; shares v1=90% v2=10%)
	// <nil>
}
