package verify_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/verify"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// latency returns a histogram of n requests whose P50 is 1ms, P95 is p95 and
// P99 is 1s exactly, so that only the P95 differs between two of them.
func latency(p95 time.Duration, n float64) verify.Histogram {
	return verify.Histogram{
		{UpperBound: 0.001, Count: 0.5 * n},
		{UpperBound: p95.Seconds(), Count: 0.95 * n},
		{UpperBound: 1, Count: 0.99 * n},
		{UpperBound: inf, Count: n},
	}
}

// slower returns o with a latency histogram on the bounds latency uses,
// where share of the requests take more than 100ms.
func slower(o verify.Observation, share float64) verify.Observation {
	n := o.Requests
	o.Latency = verify.Histogram{
		{UpperBound: 0.001, Count: 0.5 * n},
		{UpperBound: 0.1, Count: (1 - share) * n},
		{UpperBound: 1, Count: 0.99 * n},
		{UpperBound: inf, Count: n},
	}
	return o
}

// half scales o by ½, histogram included.
func half(o verify.Observation) verify.Observation {
	h := verify.Observation{Requests: o.Requests / 2, Errors: o.Errors / 2, Business: o.Business / 2}
	for _, b := range o.Latency {
		h.Latency = append(h.Latency, verify.Bucket{UpperBound: b.UpperBound, Count: b.Count / 2})
	}
	return h
}

// run feeds canary to a threshold judge as two one-minute intervals from t0
// and returns both Observe verdicts and the Conclude verdict.
func run(p verify.Policy, base, canary verify.Observation) (observed [2]verify.Verdict, concluded verify.Verdict) {
	j := verify.NewThresholdJudge(p, verify.Baseline{Version: "v1", Start: t0.Add(-15 * time.Minute), End: t0, Observation: base})
	for i := range observed {
		start := t0.Add(time.Duration(i) * time.Minute)
		observed[i] = j.Observe(verify.Interval{Start: start, End: start.Add(time.Minute), Canary: half(canary)})
	}
	return observed, j.Conclude()
}

func TestThresholdJudgeRules(t *testing.T) {
	base := verify.Observation{Requests: 10000, Errors: 100, Business: 1000} // 1% errors, 0.1 orders per request
	clean := verify.Observation{Requests: 10000, Business: 1000}
	onlyP95 := verify.Policy{Latency: verify.LatencyLimits{P50: inf, P99: inf}}
	withLatency := func(o verify.Observation, p95 time.Duration) verify.Observation {
		o.Latency = latency(p95, o.Requests)
		return o
	}

	tests := []struct {
		name   string
		policy verify.Policy
		base   verify.Observation
		canary verify.Observation
		want   verify.Outcome
		// m is the measurement the row is about; Requests, Start and End
		// are filled in from the canary and the window.
		m verify.Measurement
		// absent names a metric that must not have been measured.
		absent string
	}{{
		name:   "error rate exactly at 2× baseline passes",
		base:   base,
		canary: verify.Observation{Requests: 1000, Errors: 20, Business: 100},
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "error-rate", Unit: "rate", Value: 0.02, Baseline: 0.01, Threshold: 0.02},
	}, {
		name:   "error rate above 2× baseline fails",
		base:   base,
		canary: verify.Observation{Requests: 1000, Errors: 21, Business: 100},
		want:   verify.Fail,
		m:      verify.Measurement{Metric: "error-rate", Unit: "rate", Value: 0.021, Baseline: 0.01, Threshold: 0.02, Failed: true},
	}, {
		name:   "MaxErrorRatio is honoured",
		policy: verify.Policy{MaxErrorRatio: 3},
		base:   base,
		canary: verify.Observation{Requests: 1000, Errors: 25, Business: 100},
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "error-rate", Unit: "rate", Value: 0.025, Baseline: 0.01, Threshold: 0.03},
	}, {
		name:   "zero-error baseline floored at MinErrorRate: at the floor passes",
		base:   clean,
		canary: verify.Observation{Requests: 1000, Errors: 2, Business: 100},
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "error-rate", Unit: "rate", Value: 0.002, Baseline: 0, Threshold: 0.002},
	}, {
		name:   "zero-error baseline floored at MinErrorRate: above fails",
		base:   clean,
		canary: verify.Observation{Requests: 1000, Errors: 3, Business: 100},
		want:   verify.Fail,
		m:      verify.Measurement{Metric: "error-rate", Unit: "rate", Value: 0.003, Baseline: 0, Threshold: 0.002, Failed: true},
	}, {
		name:   "zero-error baseline with a custom floor",
		policy: verify.Policy{MinErrorRate: 0.01},
		base:   clean,
		canary: verify.Observation{Requests: 1000, Errors: 15, Business: 100},
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "error-rate", Unit: "rate", Value: 0.015, Baseline: 0, Threshold: 0.02},
	}, {
		name:   "share slower than the baseline P95 at exactly 2× passes",
		policy: onlyP95,
		base:   withLatency(clean, 100*time.Millisecond),
		canary: slower(clean, 0.10),
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "latency-p95", Unit: "rate", Above: 0.1, Value: 0.10, Baseline: 0.05, Threshold: 0.10},
	}, {
		name:   "share slower than the baseline P95 above 2× fails",
		policy: onlyP95,
		base:   withLatency(clean, 100*time.Millisecond),
		canary: slower(clean, 0.11),
		want:   verify.Fail,
		m:      verify.Measurement{Metric: "latency-p95", Unit: "rate", Above: 0.1, Value: 0.11, Baseline: 0.05, Threshold: 0.10, Failed: true},
	}, {
		name:   "a P95 limit of 3 is honoured",
		policy: verify.Policy{Latency: verify.LatencyLimits{P50: inf, P95: 3, P99: inf}},
		base:   withLatency(clean, 100*time.Millisecond),
		canary: slower(clean, 0.12),
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "latency-p95", Unit: "rate", Above: 0.1, Value: 0.12, Baseline: 0.05, Threshold: 0.15},
	}, {
		name:   "P95 with default limits: only the P95 share moved",
		base:   withLatency(clean, 100*time.Millisecond),
		canary: slower(clean, 0.20),
		want:   verify.Fail,
		m:      verify.Measurement{Metric: "latency-p95", Unit: "rate", Above: 0.1, Value: 0.20, Baseline: 0.05, Threshold: 0.10, Failed: true},
	}, {
		name:   "+Inf P95 limit disables the rule",
		policy: verify.Policy{Latency: verify.LatencyLimits{P95: inf}},
		base:   withLatency(clean, 100*time.Millisecond),
		canary: slower(clean, 0.20),
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "latency-p50", Unit: "rate", Above: 0.001, Value: 0.5, Baseline: 0.5, Threshold: 0.6},
		absent: "latency-p95",
	}, {
		name:   "business rate down 25% fails",
		base:   base,
		canary: verify.Observation{Requests: 1000, Business: 75},
		want:   verify.Fail,
		m:      verify.Measurement{Metric: "business-rate", Unit: "rate", Value: 0.075, Baseline: 0.1, Threshold: 0.08, Failed: true},
	}, {
		name:   "business rate down exactly 20% passes",
		base:   base,
		canary: verify.Observation{Requests: 1000, Business: 80},
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "business-rate", Unit: "rate", Value: 0.08, Baseline: 0.1, Threshold: 0.08},
	}, {
		name:   "business rate down 15% passes",
		base:   base,
		canary: verify.Observation{Requests: 1000, Business: 85},
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "business-rate", Unit: "rate", Value: 0.085, Baseline: 0.1, Threshold: 0.08},
	}, {
		name:   "MaxBusinessDrop 1 disables the business rule",
		policy: verify.Policy{MaxBusinessDrop: 1},
		base:   base,
		canary: verify.Observation{Requests: 1000, Business: 0},
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "error-rate", Unit: "rate", Value: 0, Baseline: 0.01, Threshold: 0.02},
		absent: "business-rate",
	}, {
		name:   "no business in the baseline: no business rule",
		base:   verify.Observation{Requests: 10000, Errors: 100},
		canary: verify.Observation{Requests: 1000},
		want:   verify.Pass,
		m:      verify.Measurement{Metric: "error-rate", Unit: "rate", Value: 0, Baseline: 0.01, Threshold: 0.02},
		absent: "business-rate",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			observed, got := run(tt.policy, tt.base, tt.canary)
			if got.Outcome != tt.want {
				t.Errorf("Conclude() = %v (%s), want %v", got.Outcome, got.Reason, tt.want)
			}
			// Both intervals reach MinRequests, so Observe already decides a Fail.
			wantObserve := verify.Continue
			if tt.want == verify.Fail {
				wantObserve = verify.Fail
			}
			if o := observed[1].Outcome; o != wantObserve {
				t.Errorf("second Observe() = %v (%s), want %v", o, observed[1].Reason, wantObserve)
			}
			want := tt.m
			want.Against = "baseline" // the threshold judge has no other comparison
			want.Requests, want.Start, want.End = tt.canary.Requests, t0, t0.Add(2*time.Minute)
			for _, v := range []verify.Verdict{observed[1], got} {
				m, ok := find(v, want.Metric)
				if !ok {
					t.Fatalf("%v verdict has no %q measurement: %+v", v.Outcome, want.Metric, v.Measurements)
				}
				if diff := cmp.Diff(want, m, approx); diff != "" {
					t.Errorf("%v verdict's %s measurement mismatch (-want +got):\n%s", v.Outcome, want.Metric, diff)
				}
				if tt.absent != "" {
					if m, ok := find(v, tt.absent); ok {
						t.Errorf("%v verdict measured %s, which the policy disables: %v", v.Outcome, tt.absent, m)
					}
				}
			}
			if tt.want == verify.Fail && !strings.Contains(got.Reason, want.Metric) {
				t.Errorf("Fail reason %q does not name %s", got.Reason, want.Metric)
			}
		})
	}
}

func find(v verify.Verdict, metric string) (verify.Measurement, bool) {
	for _, m := range v.Measurements {
		if m.Metric == metric {
			return m, true
		}
	}
	return verify.Measurement{}, false
}

func TestThresholdJudgeMeasurementsComplete(t *testing.T) {
	base := verify.Observation{Requests: 10000, Errors: 100, Business: 1000, Latency: latency(100*time.Millisecond, 10000)}
	canary := verify.Observation{Requests: 1000, Errors: 30, Business: 90, Latency: latency(100*time.Millisecond, 1000)}
	observed, concluded := run(verify.Policy{}, base, canary)
	for _, v := range []verify.Verdict{observed[0], observed[1], concluded} {
		var metrics []string
		for _, m := range v.Measurements {
			metrics = append(metrics, m.Metric)
			if m.Requests == 0 || m.Start.IsZero() || m.End.IsZero() || m.Threshold == 0 || m.Baseline == 0 || m.Value == 0 || m.Unit == "" {
				t.Errorf("%v verdict: incomplete measurement %+v", v.Outcome, m)
			}
		}
		want := []string{"error-rate", "latency-p50", "latency-p95", "latency-p99", "business-rate"}
		if diff := cmp.Diff(want, metrics); diff != "" {
			t.Errorf("%v verdict: measured metrics mismatch (-want +got):\n%s", v.Outcome, diff)
		}
	}
	// The first interval alone covers the first minute only.
	if m := observed[0].Measurements[0]; m.Requests != 500 || !m.Start.Equal(t0) || !m.End.Equal(t0.Add(time.Minute)) {
		t.Errorf("first Observe: measurement covers %v requests over [%v, %v), want 500 over the first minute", m.Requests, m.Start, m.End)
	}
}

func TestThresholdJudgeMinRequests(t *testing.T) {
	base := verify.Observation{Requests: 10000, Errors: 100}
	bad := verify.Observation{Requests: 80, Errors: 40} // 50% errors, but too little traffic
	observed, concluded := run(verify.Policy{}, base, bad)
	for i, v := range observed {
		if v.Outcome != verify.Continue || len(v.Measurements) != 0 {
			t.Errorf("Observe #%d with %v of 100 requests = %v %+v, want Continue without measurements", i+1, (i+1)*40, v.Outcome, v.Measurements)
		}
	}
	if concluded.Outcome != verify.Inconclusive || !strings.Contains(concluded.Reason, "80 of 100 requests") {
		t.Errorf("Conclude() = %v (%s), want Inconclusive naming 80 of 100 requests", concluded.Outcome, concluded.Reason)
	}

	// A lower MinRequests judges the same traffic.
	_, concluded = run(verify.Policy{MinRequests: 50}, base, bad)
	if concluded.Outcome != verify.Fail {
		t.Errorf("MinRequests 50: Conclude() = %v (%s), want Fail", concluded.Outcome, concluded.Reason)
	}

	// No interval at all is Inconclusive too, never a Pass.
	j := verify.NewThresholdJudge(verify.Policy{}, verify.Baseline{Observation: base})
	if v := j.Conclude(); v.Outcome != verify.Inconclusive {
		t.Errorf("Conclude() without observations = %v, want Inconclusive", v.Outcome)
	}
}

func TestThresholdJudgeFailsEarly(t *testing.T) {
	j := verify.NewThresholdJudge(verify.Policy{}, verify.Baseline{Observation: verify.Observation{Requests: 10000, Errors: 100}})
	v := j.Observe(verify.Interval{Start: t0, End: t0.Add(time.Minute), Canary: verify.Observation{Requests: 200, Errors: 20}})
	if v.Outcome != verify.Fail {
		t.Fatalf("Observe() with 10%% errors over 200 requests = %v (%s), want Fail", v.Outcome, v.Reason)
	}
	// Good later traffic dilutes the total below the limit: the judge sums.
	v = j.Observe(verify.Interval{Start: t0.Add(time.Minute), End: t0.Add(2 * time.Minute), Canary: verify.Observation{Requests: 9800}})
	if v.Outcome != verify.Continue {
		t.Errorf("Observe() after 20 errors in 10000 requests = %v (%s), want Continue", v.Outcome, v.Reason)
	}
}

func TestVerdictIsError(t *testing.T) {
	_, v := run(verify.Policy{}, verify.Observation{Requests: 10000, Errors: 100}, verify.Observation{Requests: 1000, Errors: 50})
	if v.Outcome != verify.Fail {
		t.Fatalf("Conclude() = %v, want Fail", v.Outcome)
	}
	err := fmt.Errorf("deploy v2: %w", &v)
	var got *verify.Verdict
	if !errors.As(err, &got) {
		t.Fatalf("errors.As(%v, *Verdict) = false", err)
	}
	if got.Outcome != verify.Fail || len(got.Measurements) == 0 {
		t.Errorf("errors.As found %+v, want the Fail verdict with its measurements", got)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "deploy v2: verification fail: error-rate 5% vs baseline 1% (limit 2%), 1000 requests") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestMeasurementString(t *testing.T) {
	m := verify.Measurement{Metric: "latency-p95", Unit: verify.UnitSeconds, Value: 0.25, Baseline: 0.1, Threshold: 0.125,
		Requests: 1234, Start: t0, End: t0.Add(5 * time.Minute), Failed: true}
	want := "latency-p95 250ms vs baseline 100ms (limit 125ms), 1234 requests over 5m0s: FAILED"
	if got := m.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	m = verify.Measurement{Metric: "error-rate", Unit: verify.UnitRate, Value: 0.0041, Baseline: 0.01, Threshold: 0.02,
		Requests: 10, Start: t0, End: t0.Add(time.Minute)}
	want = "error-rate 0.41% vs baseline 1% (limit 2%), 10 requests over 1m0s: ok"
	if got := m.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// A sequential judge's line: the comparison named, the ratio of the two
	// rates, the interval and which side of the limit it lies.
	for _, c := range []struct {
		m    verify.Measurement
		want string
	}{
		{verify.Measurement{Metric: "error-rate", Unit: verify.UnitRate, Against: "control", Value: 0.041, Baseline: 0.01, Threshold: 0.02,
			Requests: 1200, Start: t0, End: t0.Add(5 * time.Minute), Failed: true, Ratio: 4.1, Lower: 2.3, Upper: 7.5, Limit: 2, Evidence: 210, EvidenceBar: 111},
			"error-rate 4.1% vs control 1%: ratio 4.1 in [2.3, 7.5], above the limit 2× (2%): evidence 210 of 111, 1200 requests over 5m0s: FAILED"},
		{verify.Measurement{Metric: "business-rate", Unit: verify.UnitRate, Against: "control+baseline", Value: 0.0475, Baseline: 0.0475, Threshold: 0.038,
			Requests: 3000, Start: t0, End: t0.Add(5 * time.Minute), Ratio: 1, Lower: 0.84, Upper: 1.19, Limit: 0.8, Evidence: 0.01, EvidenceBar: 111},
			"business-rate 4.75% vs control+baseline 4.75%: ratio 1 in [0.84, 1.19], not shown below the limit 0.8× (3.8%): evidence 0.01 of 111, 3000 requests over 5m0s: ok"},
	} {
		if got := c.m.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

// TestThresholdJudgeWindows: each window is judged on its own traffic, so a
// regression in a later step is not diluted by the good steps before it.
func TestThresholdJudgeWindows(t *testing.T) {
	j := verify.NewThresholdJudge(verify.Policy{}, verify.Baseline{Observation: verify.Observation{Requests: 100000, Errors: 1000}})
	window := func(i int, errors float64) verify.Verdict {
		start := t0.Add(time.Duration(i) * time.Minute)
		j.Begin(verify.Window{Name: "step", Start: start, Length: time.Minute, Weight: 50})
		j.Observe(verify.Interval{Start: start, End: start.Add(time.Minute), Canary: verify.Observation{Requests: 1000, Errors: errors}})
		return j.Conclude()
	}
	for i := range 5 {
		if v := window(i, 10); v.Outcome != verify.Pass {
			t.Fatalf("good window %d: %v (%s)", i, v.Outcome, v.Reason)
		}
	}
	v := window(5, 25) // 2.5% against a 2% limit
	if v.Outcome != verify.Fail {
		t.Fatalf("bad window after good ones: %v (%s), want Fail", v.Outcome, v.Reason)
	}
	if m := v.Measurements[0]; m.Requests != 1000 || !m.Start.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("measurement covers %g requests from %s, want the last window's 1000", m.Requests, m.Start)
	}
}
