package main

import (
	"math"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

func TestSimulateCounts(t *testing.T) {
	s := scenario{share: 0.05, errors: 3, latency: 1.5, seasonal: true, incident: true, noise: 0.3}
	d := simulate(s, seedFor(1, s.name(), 0))
	check := func(where string, c counts) {
		t.Helper()
		if c.latency[len(bounds)-1] != c.requests || c.errors > c.requests || c.errors < 0 {
			t.Errorf("%s: %+v: want errors within requests, le=+Inf equal to requests", where, c)
		}
		for i := 1; i < len(bounds); i++ {
			if c.latency[i] < c.latency[i-1] {
				t.Errorf("%s: histogram not cumulative: %v", where, c.latency)
			}
		}
	}
	check("baseline", d.baseline)
	var canary, control float64
	for i, m := range d.minutes {
		check("canary", m.canary)
		check("control", m.control)
		if m.missing || m.noControl {
			t.Errorf("minute %d: a gap in a cell without gaps", i)
		}
		canary += m.canary.requests
		control += m.control.requests
	}
	// 5% of about 1,000 requests a minute, give or take the season.
	if share := canary / (canary + control); math.Abs(share-0.05) > 0.01 {
		t.Errorf("canary share %.3f, want about 0.05", share)
	}
	if b := d.baseline.requests; b < 10000 || b > 20000 {
		t.Errorf("baseline: %g requests over 15 minutes, want about 15,000", b)
	}
}

func TestSimulateDeterministic(t *testing.T) {
	s := scenario{share: 0.5, errors: 1, gaps: true, resets: true}
	a, b := simulate(s, seedFor(7, s.name(), 3)), simulate(s, seedFor(7, s.name(), 3))
	if *a != *b {
		t.Error("the same seed drew two different deployments")
	}
}

func TestSimulateResets(t *testing.T) {
	s := scenario{share: 0.5, errors: 1, resets: true}
	d := simulate(s, seedFor(1, s.name(), 0))
	var canary, control int
	for _, m := range d.minutes {
		if !m.canary.usable() {
			canary++
			if m.served <= 0 {
				t.Errorf("a reset interval served %g requests: the served count must stay true", m.served)
			}
		}
		if !m.control.usable() {
			control++
		}
	}
	if canary != 1 || control != 1 {
		t.Errorf("%d canary and %d control intervals with negative counts, want 1 each", canary, control)
	}
}

func TestLatencyModel(t *testing.T) {
	base, tail := latencyModel{scale: 1}, latencyModel{scale: 1, tail: true}
	for _, l := range []latencyModel{base, tail, {scale: 1.5}} {
		sum := 0.0
		for _, m := range l.masses() {
			sum += m
		}
		if !near(sum, 1, 1e-12) {
			t.Errorf("%+v: bucket masses sum to %g", l, sum)
		}
	}
	// The median is 50 ms; the tail-only regression starts past the 98th
	// percentile (141 ms), so it leaves 100 ms alone and moves all of the
	// 2% beyond 250 ms.
	if got := base.cdf(latencyMedian); !near(got, 0.5, 1e-12) {
		t.Errorf("cdf(median) = %g", got)
	}
	if a, b := base.cdf(0.1), tail.cdf(0.1); !near(a, b, 1e-12) {
		t.Errorf("tail-only moved the share under 100 ms: %g → %g", a, b)
	}
	if got := 1 - tail.cdf(0.25); !near(got, tailShare, 1e-9) {
		t.Errorf("tail-only: %g above 250 ms, want %g", got, tailShare)
	}
	// Scaling every latency by 1.5 moves the P95 by 50%.
	p95 := latencyMedian * math.Exp(latencySigma*1.6448536269514722)
	if got := (latencyModel{scale: 1.5}).cdf(1.5 * p95); !near(got, 0.95, 1e-9) {
		t.Errorf("scaled cdf at 1.5×P95 = %g, want 0.95", got)
	}
}

func TestRegression(t *testing.T) {
	for _, c := range []struct {
		s    scenario
		want bool
	}{
		{scenario{errors: 1}, false},
		{scenario{errors: 2}, false}, // at the limit
		{scenario{errors: 3}, true},
		{scenario{errors: 1, latency: 1.1}, false},
		{scenario{errors: 1, latency: 1.5}, true},
		{scenario{errors: 1, tail: true}, true},
	} {
		if got := c.s.regression(); got != c.want {
			t.Errorf("%s: regression() = %v, want %v (%s)", c.s.name(), got, c.want, describe(c.s))
		}
	}
}

// TestErrorAlpha checks the α the fixed-horizon test and the oracle use
// against the evidence bar the default judge sets for the error rate.
func TestErrorAlpha(t *testing.T) {
	s := scenario{share: 0.05, errors: 1}
	d := simulate(s, seedFor(1, s.name(), 0))
	j := verify.NewSequentialJudge(verify.Policy{}, d.baselineFor())
	j.Begin(verify.Window{Start: start, Length: runMinutes * time.Minute, Weight: 5})
	ctl := d.minutes[0].control.observation()
	v := j.Observe(verify.Interval{Start: start, End: start.Add(time.Minute), Canary: d.minutes[0].canary.observation(), Control: &ctl})
	if len(v.Measurements) != len(metricNames) {
		t.Fatalf("the default judge measured %d metrics, want %d", len(v.Measurements), len(metricNames))
	}
	for i, m := range v.Measurements {
		if m.Metric != metricNames[i] {
			t.Errorf("metric %d is %q, want %q", i, m.Metric, metricNames[i])
		}
		if !near(m.EvidenceBar, 1/errorAlpha, 1e-6) {
			t.Errorf("%s: evidence bar %g, want 1/%g", m.Metric, m.EvidenceBar, errorAlpha)
		}
	}
}
