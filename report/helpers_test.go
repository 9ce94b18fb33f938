package report_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// runRecord carries out a canary deployment of a good or a bad v2 on the
// simulated fleet, one migration first, in a synctest bubble, and returns
// its record: the record a real run writes, in milliseconds.
func runRecord(t *testing.T, bad bool) *runbook.Record {
	t.Helper()
	var rec runbook.Record
	synctest.Test(t, func(t *testing.T) {
		v2 := strategytest.Behavior{ErrorRate: 0.01, Latency: 40 * time.Millisecond, BusinessRate: 0.05}
		if bad {
			v2.ErrorRate = 0.03
		}
		fleet := strategytest.NewFleet(strategytest.Config{
			Version: "v1", Instances: 8, RPS: 200,
			Behaviors: map[string]strategytest.Behavior{
				"v1": {ErrorRate: 0.01, Latency: 40 * time.Millisecond, BusinessRate: 0.05},
				"v2": v2,
			},
		})
		plan := &deploy.Plan{
			Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
			Change:     deploy.Change{Engineer: "ana@example.com", What: "checkout renders the basket server-side", Why: "halve time to first paint", Expected: "same error rate and latency"},
			Tests:      deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil }),
			Migrations: migratetest.NewMemory(migrate.Migration{ID: "0042_add_orders_status", SQL: "ALTER TABLE orders ADD COLUMN status text"}),
			Strategy:   strategy.Canary{Steps: []float64{5, 25, 100}, StepWindow: 5 * time.Minute},
			Target:     strategy.Target{Fleet: fleet, Router: fleet},
			Metrics:    fleet,
			Verify:     verify.Policy{Interval: time.Minute, BaselineWindow: 15 * time.Minute},
		}
		rep, err := deploy.Run(context.Background(), plan)
		if (err != nil) != bad {
			t.Fatalf("Run: %v (bad v2: %v)", err, bad)
		}
		rec = rep.Record
	})
	return &rec
}

// dayRecord returns a record shaped as the executor writes one, of a run
// whose final window lasts a day: steps of 5%, 25% and 50% for 5 minutes,
// then 100% for 1,440 one-minute intervals, five metrics judged at each.
func dayRecord() *runbook.Record {
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rec := &runbook.Record{
		Runbook: runbook.Runbook{Service: "shop", Version: "v2", Previous: "v1", Environment: "production", Strategy: "canary",
			Date: start, Engineer: "ana", Changes: "a significant feature", Why: "users asked", Expected: "no change",
			Verify: []string{"error rate at most 2×"}, Rollback: []string{"route all traffic to v1"}, RollbackTime: 10 * time.Second},
		Started: start, Outcome: "completed", Reason: "v2 serves all traffic in production",
	}
	t := start
	add := func(e runbook.Entry) {
		e.Time = t
		rec.Entries = append(rec.Entries, e)
	}
	add(runbook.Entry{Phase: "preflight", Kind: "phase", Message: "pre-flight for shop v1 → v2 in production"})
	add(runbook.Entry{Phase: "preflight", Kind: "baseline", Message: "baseline v1 over 15m0s: 90000 requests, error rate 1%, P95 97ms"})
	add(runbook.Entry{Phase: "deploy", Kind: "phase", Message: "deploying v2 by canary"})
	metrics := []struct {
		name  string
		above float64
		rate  float64
		limit float64
	}{{"error-rate", 0, 0.01, 2}, {"latency-p50", 0.05, 0.5, 1.2}, {"latency-p95", 0.1, 0.05, 2}, {"latency-p99", 0.25, 0.01, 3}, {"business-rate", 0, 0.05, 0.8}}
	var requests float64
	for _, s := range []struct {
		weight    float64
		intervals int
	}{{5, 5}, {25, 5}, {50, 5}, {100, 1440}} {
		name := fmt.Sprintf("canary %g%%", s.weight)
		window := time.Duration(s.intervals) * time.Minute
		add(runbook.Entry{Phase: "deploy", Kind: "action", Message: fmt.Sprintf("routed %g%% of traffic to v2, the rest to v1", s.weight)})
		add(runbook.Entry{Phase: "deploy", Kind: "step", Step: name, Message: fmt.Sprintf("%g%% on v2; observing for %s", s.weight, window)})
		var nums []runbook.Number
		for i := range s.intervals {
			t = t.Add(time.Minute)
			requests += 60 * s.weight
			nums = make([]runbook.Number, len(metrics))
			for j, m := range metrics {
				wobble := 1 + 0.1*math.Sin(float64(i)/37+float64(j))
				width := 1 + 8/math.Sqrt(requests/100)
				nums[j] = runbook.Number{
					Metric: m.name, Unit: runbook.UnitRate, Above: m.above, Value: m.rate * wobble, Baseline: m.rate,
					Threshold: m.rate * m.limit, Requests: requests, Start: start, End: t,
					Ratio: wobble, Lower: wobble / width, Upper: wobble * width, Limit: m.limit,
					Evidence: 1 / width, EvidenceBar: 111.1,
				}
			}
			add(runbook.Entry{Phase: "verify", Kind: "measurement", Step: name, Message: fmt.Sprintf("continue: no limit crossed: 5 metric(s), %.0f requests on the new version", requests), Numbers: nums})
		}
		add(runbook.Entry{Phase: "verify", Kind: "verdict", Step: name, Message: "pass: no limit crossed", Numbers: nums})
	}
	add(runbook.Entry{Phase: "decide", Kind: "phase", Message: "metrics held for every window and all instances run v2: completing"})
	add(runbook.Entry{Phase: "decide", Kind: "outcome", Message: "completed: v2 serves all traffic in production"})
	rec.Finished = t
	return rec
}
