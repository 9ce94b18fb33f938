package safedeploy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// A canary deployment of a good version to a simulated fleet, through all
// five phases. Windows are shortened to milliseconds; by default each
// canary step is observed for five minutes.
func Example() {
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 4, RPS: 1e6,
		Behaviors: map[string]strategytest.Behavior{"v1": {ErrorRate: 0.01}, "v2": {ErrorRate: 0.01}},
	})
	plan := &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change: deploy.Change{Engineer: "ana", What: "server-side basket", Why: "faster first paint"},
		Tests: deploy.CheckFunc(func(ctx context.Context, p *deploy.Plan) error {
			return nil // ask CI whether exactly p.Version passed
		}),
		Strategy: strategy.Canary{StepWindow: 10 * time.Millisecond},
		Target:   strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:  fleet,
		Verify:   verify.Policy{Interval: 5 * time.Millisecond},
	}
	report, err := deploy.Run(context.Background(), plan)
	fmt.Println(report.Outcome, err, fleet.Versions())
	fmt.Println(report.Record.Runbook.Rollback[0])
	// Output:
	// completed <nil> map[v2:4]
	// set the new version's traffic weight to 0 and stop the canary instances; the previous version never stopped serving
}
