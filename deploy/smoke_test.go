package deploy_test

import (
	"context"
	"os"
	"testing"
	"testing/synctest"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

func TestSmoke(t *testing.T) {
	for _, bad := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			b := map[string]strategytest.Behavior{"v1": {ErrorRate: 0.01}}
			if bad {
				b["v2"] = strategytest.Behavior{ErrorRate: 0.05}
			}
			fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 10, RPS: 100, Behaviors: b})
			p := &deploy.Plan{
				Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
				Change:    deploy.Change{Engineer: "ana", What: "new checkout"},
				Tests:     deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil }),
				Strategy:  strategy.Canary{},
				Target:    strategy.Target{Fleet: fleet, Router: fleet},
				Metrics:   fleet,
				Observers: []deploy.Observer{deploy.Printer(os.Stdout)},
			}
			rep, err := deploy.Run(t.Context(), p)
			t.Log(rep.Outcome, err, fleet.Versions())
		})
	}
}
