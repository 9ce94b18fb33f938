package verify

import (
	"math"
	"testing"
	"time"
)

// The cost target: a judge update of at most 1 µs and no
// allocation per metric. Run with
//
//	uptime; go test -run '^$' -bench 'RatioTestObserve|SequentialJudgeObserve' -benchmem -count 5 ./verify/
//
// and state the machine and its load (uptime's load averages) next to any
// figure you quote: on a shared machine the same code measures twice as
// slow under load. To compare two versions, build both test binaries
// (go test -c) and run them alternately in one session.
//
// Each benchmark restarts its tests' state every deployment (60 intervals):
// left to run for millions of intervals, the log-likelihoods drift so far
// apart that exp underflows to its fast path and the numbers flatter.
const benchDeployment = 60

// BenchmarkRatioTestObserve is one metric's update: observe an interval and
// check the evidence; "+measurement" adds the numbers a verdict reports
// (the confidence interval's two walks over the grid, the e-value).
func BenchmarkRatioTestObserve(b *testing.B) {
	for _, c := range []struct {
		name        string
		robust      bool
		x, n, y, m  float64
		ref         float64
		measurement bool
	}{
		{name: "concurrent", robust: true, x: 3, n: 100, y: 10, m: 900},
		{name: "concurrent/binomial", x: 3, n: 100, y: 10, m: 900},
		{name: "reference", robust: true, x: 3, n: 100, ref: 0.01},
		{name: "concurrent+measurement", robust: true, x: 3, n: 100, y: 10, m: 900, measurement: true},
		{name: "reference+measurement", robust: true, x: 3, n: 100, ref: 0.01, measurement: true},
	} {
		b.Run(c.name, func(b *testing.B) {
			rt := newRatioTest("error-rate", 2, true, 0.01, c.robust)
			rt.ref = reference{rate: c.ref, low: c.ref / 2, high: 2 * c.ref}
			fresh := *rt
			var sink Measurement
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%benchDeployment == 0 {
					*rt = fresh
				}
				if c.ref > 0 {
					rt.observeReference(c.x, c.n)
				} else {
					rt.observeControl(c.x, c.n, c.y, c.m)
				}
				rt.check()
				if c.measurement {
					sink = rt.measurement(time.Time{}, time.Time{})
				}
			}
			if math.IsNaN(sink.Ratio) {
				b.Fatal("NaN ratio")
			}
		})
	}
}

// BenchmarkSequentialJudgeObserve is the whole judge's update with five
// metrics (error rate, three latency quantiles, business events) against a
// concurrent control, verdict included; ns/metric divides by five.
func BenchmarkSequentialJudgeObserve(b *testing.B) {
	h := func(n, slow float64) Histogram {
		return Histogram{{UpperBound: 0.001, Count: 0.5 * n}, {UpperBound: 0.1, Count: (1 - slow) * n}, {UpperBound: 1, Count: 0.99 * n}, {UpperBound: math.Inf(1), Count: n}}
	}
	base := Baseline{Observation: Observation{Requests: 15000, Errors: 150, Business: 1500, Latency: h(15000, 0.05)}}
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name    string
		control *Observation
	}{
		{"concurrent", &Observation{Requests: 950, Errors: 10, Business: 95, Latency: h(950, 0.05)}},
		{"reference", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			j := NewSequentialJudge(Policy{}, base)
			var tests []*ratioTest
			j.(*sequentialJudge).each(func(t *ratioTest) { tests = append(tests, t) })
			if len(tests) != 5 {
				b.Fatalf("%d metrics, want 5", len(tests))
			}
			var fresh [5]ratioTest
			for i, t := range tests {
				fresh[i] = *t
			}
			j.Begin(Window{Start: start, Length: time.Hour, Weight: 5})
			iv := Interval{Start: start, End: start.Add(time.Minute),
				Canary:  Observation{Requests: 50, Errors: 1, Business: 5, Latency: h(50, 0.06)},
				Control: c.control}
			var v Verdict
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%benchDeployment == 0 {
					for k, t := range tests {
						*t = fresh[k]
					}
				}
				v = j.Observe(iv)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/5, "ns/metric")
			if v.Outcome != Continue {
				b.Fatalf("%v (%s), want Continue", v.Outcome, v.Reason)
			}
		})
	}
}
