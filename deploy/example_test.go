package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// A canary deployment of a faulty version: it fails 8% of requests where
// the running version fails 1%, so verification stops it at the first step
// and the canary is rolled back. Windows are shortened to milliseconds.
func ExampleRun() {
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 4, RPS: 1e6,
		Behaviors: map[string]strategytest.Behavior{"v1": {ErrorRate: 0.01}, "v2": {ErrorRate: 0.08}},
	})
	plan := &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change: deploy.Change{Engineer: "ana", What: "server-side basket"},
		Tests: deploy.CheckFunc(func(ctx context.Context, p *deploy.Plan) error {
			return nil // ask CI whether p.Version passed
		}),
		Strategy: strategy.Canary{StepWindow: 20 * time.Millisecond},
		Target:   strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:  fleet,
		Verify:   verify.Policy{Interval: 5 * time.Millisecond},
	}
	report, err := deploy.Run(context.Background(), plan)
	fmt.Println(report.Outcome)
	var v *verify.Verdict
	if errors.Is(err, deploy.ErrRolledBack) && errors.As(err, &v) {
		m := v.Measurements[0]
		fmt.Printf("%s %.0f%% against a limit of %.0f%%\n", m.Metric, 100*m.Value, 100*m.Threshold)
	}
	fmt.Println(fleet.Versions())
	// Output:
	// rolled back
	// error-rate 8% against a limit of 2%
	// map[v1:4]
}

// The decision table: a failure after the new version has written data the
// old one cannot read is fixed by rolling forward, after turning the change
// off.
func ExampleDecide() {
	d := deploy.Decide(deploy.Failure{Phase: deploy.PhaseVerify, FlagControlled: true, DataMutated: true})
	fmt.Println(d.Actions)
	// Output: [turn the kill switch off roll forward]
}
