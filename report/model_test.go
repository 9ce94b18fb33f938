package report

import (
	"context"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// The page reads the steps' weights and windows, the traffic changes and
// the baseline's error rate from the executor's messages: this fails when
// the executor writes them differently.
func TestModelReadsExecutorMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ok := strategytest.Behavior{ErrorRate: 0.01, Latency: 40 * time.Millisecond, BusinessRate: 0.05}
		fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 4, RPS: 100,
			Behaviors: map[string]strategytest.Behavior{"v1": ok, "v2": ok}})
		rep, err := deploy.Run(context.Background(), &deploy.Plan{
			Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
			Change:   deploy.Change{Engineer: "ana", What: "a change"},
			Tests:    deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil }),
			Strategy: strategy.Canary{Steps: []float64{10, 100}, StepWindow: 2 * time.Minute},
			Target:   strategy.Target{Fleet: fleet, Router: fleet},
			Metrics:  fleet,
			Verify:   verify.Policy{Interval: time.Minute, BaselineWindow: 15 * time.Minute},
		})
		if err != nil {
			t.Fatal(err)
		}
		m := newModel(&rep.Record)
		if len(m.steps) != 2 {
			t.Fatalf("%d steps, want 2", len(m.steps))
		}
		for i, want := range []float64{10, 100} {
			if s := m.steps[i]; s.weight != want || s.window != 2*time.Minute || s.verdict != "pass" {
				t.Errorf("step %d: weight %v, window %v, verdict %q; want %v, 2m, pass", i, s.weight, s.window, s.verdict, want)
			}
		}
		var routed []float64
		for _, w := range m.weights {
			routed = append(routed, w.weight)
		}
		if len(routed) < 3 || routed[len(routed)-1] != 100 {
			t.Errorf("traffic weights %v: want the steps' and the router's, ending at 100", routed)
		}
		var errRate *metric
		for _, mt := range m.metrics {
			if mt.name == "error-rate" {
				errRate = mt
			}
		}
		if errRate == nil {
			t.Fatal("no error-rate series")
		}
		if math.Abs(errRate.baseline-0.01) > 1e-9 {
			t.Errorf("pre-deploy baseline error rate %v, want 0.01", errRate.baseline)
		}
		if len(errRate.points) != 4 || math.Abs(errRate.points[3].interval-0.01) > 1e-9 {
			t.Errorf("error-rate points %d (want 4), last interval's rate %v (want 0.01)", len(errRate.points), errRate.points[len(errRate.points)-1].interval)
		}
		if want := []string{"preflight", "deploy", "decide"}; len(m.phases) != 3 || m.phases[0].name != want[0] || m.phases[1].name != want[1] || m.phases[2].name != want[2] {
			t.Errorf("phases %v, want %v", m.phases, want)
		}
	})
}
