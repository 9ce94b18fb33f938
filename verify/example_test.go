package verify_test

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

func ExampleHistogram_Quantile() {
	// 10 requests took at most 100ms, 30 at most 200ms, all 40 finished.
	h := verify.Histogram{
		{UpperBound: 0.1, Count: 10},
		{UpperBound: 0.2, Count: 30},
		{UpperBound: math.Inf(1), Count: 40},
	}
	for _, q := range []float64{0.5, 0.75, 0.95} {
		v, _ := h.Quantile(q)
		fmt.Printf("P%.0f = %v\n", 100*q, time.Duration(v*float64(time.Second)).Round(time.Millisecond))
	}
	_, ok := verify.Histogram{}.Quantile(0.5)
	fmt.Println("empty:", ok)
	// Output:
	// P50 = 150ms
	// P75 = 200ms
	// P95 = 200ms
	// empty: false
}

func ExampleNewThresholdJudge() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// Before the deploy, v1 failed 1% of its requests.
	baseline := verify.Baseline{
		Version: "v1", Start: start.Add(-15 * time.Minute), End: start,
		Observation: verify.Observation{Requests: 90000, Errors: 900},
	}
	judge := verify.NewThresholdJudge(verify.Policy{}, baseline)

	// v2 fails 3% over its first five minutes: more than twice the baseline.
	for i := range 5 {
		from := start.Add(time.Duration(i) * time.Minute)
		v := judge.Observe(verify.Interval{
			Start: from, End: from.Add(time.Minute),
			Canary: verify.Observation{Requests: 600, Errors: 18},
		})
		fmt.Printf("minute %d: %v\n", i+1, v.Outcome)
		if v.Outcome == verify.Fail {
			break
		}
	}
	v := judge.Conclude()
	for _, m := range v.Measurements {
		fmt.Println(m)
	}

	// A failed verdict travels as an error.
	err := fmt.Errorf("deploy v2: %w", &v)
	var verdict *verify.Verdict
	fmt.Println(errors.As(err, &verdict), verdict.Outcome)
	// Output:
	// minute 1: fail
	// error-rate 3% vs baseline 1% (limit 2%), 600 requests over 1m0s: FAILED
	// true fail
}

// A window in which the logs showed a new error pattern: the metric rules
// held, but the default action, PatternHold, does not let it pass.
func ExamplePatternPolicy_Apply() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	found := []verify.PatternFinding{{
		ID: "7", Template: "checkout degraded: connection pool exhausted for shard <*>", Level: slog.LevelError,
		NewCount: 12, OldCount: 0, NewExposure: 3000, OldExposure: 57000,
		FirstSeen: start.Add(40 * time.Second), Found: start.Add(2 * time.Minute),
	}}
	window := verify.Verdict{Outcome: verify.Pass, Reason: "no limit crossed"}
	for _, a := range []verify.PatternAction{verify.PatternHold, verify.PatternRollback, verify.PatternReport} {
		v := verify.PatternPolicy{Action: a}.Apply(window, found, start)
		fmt.Printf("%s: %s: %s\n", a, v.Outcome, v.Reason)
	}
	// Output:
	// hold: inconclusive: held for a person to look: new error pattern "checkout degraded: connection pool exhausted for shard <*>" (12 lines from the new version, 0 from the old) (the metric rules held: no limit crossed)
	// rollback: fail: new error pattern "checkout degraded: connection pool exhausted for shard <*>" (12 lines from the new version, 0 from the old)
	// report: pass: no limit crossed; reported, not judged: new error pattern "checkout degraded: connection pool exhausted for shard <*>" (12 lines from the new version, 0 from the old)
}
