package verifytest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

// Routed has the methods the strategies look for.
var (
	_ strategy.Router     = (*verifytest.Routed)(nil)
	_ strategy.Switch     = (*verifytest.Routed)(nil)
	_ verify.MetricSource = (*verifytest.Routed)(nil)
)

// TestRoutedFollowsRoutes: each version serves the share of RPS the router
// gave it, from the moment it was given, with its script's rates.
func TestRoutedFollowsRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		t0 := time.Now()
		r := &verifytest.Routed{RPS: 100, Serving: "v1", Script: verifytest.Script{
			"v1": {{ErrorRate: 0.01, Latency: lat}},
			"v2": {{ErrorRate: 0.1, Latency: lat}, {At: t0.Add(150 * time.Second), Gap: true}},
		}}
		time.Sleep(time.Minute)
		if err := r.Route(ctx, "v1", "v2", 10); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if err := r.Route(ctx, "v1", "v2", 50); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if err := r.Switch(ctx, "v2"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)

		for _, c := range []struct {
			version  string
			from, to time.Duration // from t0
			want     float64       // requests
		}{
			{"v1", 0, time.Minute, 6000},                     // all of it
			{"v1", 0, 2 * time.Minute, 6000 + 5400},          // then 90%
			{"v2", 30 * time.Second, 90 * time.Second, 300},  // 10% for 30s
			{"v2", time.Minute, 3 * time.Minute, 600 + 1500}, // 10%, then 50% until its gap at 2m30
			{"v1", 2 * time.Minute, 4 * time.Minute, 3000},   // 50%, then nothing
			{"v1", 3 * time.Minute, 4 * time.Minute, 0},      // switched away: idle, not missing
		} {
			q := verify.Query{Version: c.version, Start: t0.Add(c.from), End: t0.Add(c.to)}
			o, err := r.Observe(ctx, q)
			if err != nil {
				t.Errorf("%s over +%s–+%s: %v", c.version, c.from, c.to, err)
				continue
			}
			rate := 0.01
			if c.version == "v2" {
				rate = 0.1
			}
			want := verify.Observation{Requests: c.want, Errors: rate * c.want}
			if c.want > 0 {
				want.Latency = hist(c.want)
			}
			if diff := cmp.Diff(want, o, approx); diff != "" {
				t.Errorf("%s over +%s–+%s (-want +got):\n%s", c.version, c.from, c.to, diff)
			}
		}
		if _, err := r.Observe(ctx, verify.Query{Version: "v2", Start: t0.Add(3 * time.Minute), End: t0.Add(4 * time.Minute)}); !errors.Is(err, verify.ErrNoData) {
			t.Errorf("v2 in its gap: %v, want ErrNoData", err)
		}
		if _, err := r.Observe(ctx, verify.Query{Version: "v3", Start: t0, End: t0.Add(time.Minute)}); !errors.Is(err, verify.ErrNoData) {
			t.Errorf("a version not in the script: %v, want ErrNoData", err)
		}
	})
}

func TestRoutedFails(t *testing.T) {
	r := &verifytest.Routed{RPS: 100, Serving: "v1", Script: verifytest.Script{"v1": {{ErrorRate: 0.01}}}}
	if err := r.Route(context.Background(), "v1", "v2", 101); err == nil || !strings.Contains(err.Error(), "weight = 101") {
		t.Errorf("Route(weight 101) = %v, want an error naming the weight", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Route(ctx, "v1", "v2", 5); !errors.Is(err, context.Canceled) {
		t.Errorf("Route(cancelled) = %v, want context.Canceled", err)
	}
	if err := r.Switch(ctx, "v2"); !errors.Is(err, context.Canceled) {
		t.Errorf("Switch(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := r.Observe(ctx, verify.Query{Version: "v1", Start: start, End: at(1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Observe(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := r.Observe(context.Background(), verify.Query{Version: "v1", Start: at(1), End: at(1)}); err == nil {
		t.Error("Observe(empty window) = nil error")
	}
	// Nothing was routed: v1 still serves everything.
	if o, err := r.Observe(context.Background(), verify.Query{Version: "v1", Start: start, End: at(1)}); err != nil || o.Requests != 6000 {
		t.Errorf("Observe after failed routes = %v, %v; want all 6000 requests on v1", o.Requests, err)
	}
}

// TestCanaryMetricSources is issue 9's trap (item 10) and its way out. A
// Script with a constant traffic per version, as one writes it without
// thinking about the router, ends the first canary window whose weight
// differs from its split inconclusive on a sample-ratio mismatch: a test
// expecting a rollback would pass for the wrong reason. A Routed, also given as the router, follows every step: a
// good version completes and a bad one is rolled back on its error rate.
func TestCanaryMetricSources(t *testing.T) {
	behave := func(v2 float64) verifytest.Script {
		return verifytest.Script{
			"v1": {{RPS: 95, ErrorRate: 0.01, Latency: lat}},
			"v2": {{RPS: 5, ErrorRate: v2, Latency: lat}},
		}
	}
	deployment := func(t *testing.T, metrics verify.MetricSource, router strategy.Router) (*deploy.Report, error) {
		fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 4})
		return deploy.Run(t.Context(), &deploy.Plan{
			Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
			Change:   deploy.Change{Engineer: "ana", What: "server-side basket"},
			Tests:    deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil }),
			Strategy: strategy.Canary{Steps: []float64{5, 25, 100}},
			Target:   strategy.Target{Fleet: fleet, Router: router},
			Metrics:  metrics,
		})
	}
	t.Run("Script", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 4})
			_, err := deployment(t, behave(0.01), fleet)
			var v *verify.Verdict
			if !errors.Is(err, deploy.ErrRolledBack) || !errors.As(err, &v) || v.Outcome != verify.Inconclusive || !strings.Contains(v.Reason, "sample-ratio mismatch") {
				t.Errorf("a good v2 with a constant 5%% of the traffic: %v, want rolled back, inconclusive on a sample-ratio mismatch", err)
			}
		})
	})
	t.Run("Routed/good", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := &verifytest.Routed{RPS: 100, Serving: "v1", Script: behave(0.01)}
			if rep, err := deployment(t, r, r); err != nil {
				t.Errorf("a good v2: %v (%s), want completed", err, rep.Outcome)
			}
		})
	})
	t.Run("Routed/bad", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := &verifytest.Routed{RPS: 100, Serving: "v1", Script: behave(0.08)}
			_, err := deployment(t, r, r)
			var v *verify.Verdict
			if !errors.Is(err, deploy.ErrRolledBack) || !errors.As(err, &v) || v.Outcome != verify.Fail || !v.Measurements[0].Failed {
				t.Errorf("a v2 failing 8%% against 1%%: %v, want rolled back on a failed error rate", err)
			}
		})
	})
}
