package strategytest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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
