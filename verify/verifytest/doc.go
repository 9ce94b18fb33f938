// Package verifytest helps test code on both sides of [verify.MetricSource].
//
// To test code that reads metrics — a judge, a deploy gate, a whole
// deployment — give it a [Script]: a timeline of traffic per version, with
// the failures and gaps a real metrics backend has.
//
//	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
//	metrics := verifytest.Script{
//		"v1": {{RPS: 100, ErrorRate: 0.01}},
//		"v2": {
//			{At: start, RPS: 10, ErrorRate: 0.01},
//			{At: start.Add(5 * time.Minute), RPS: 10, ErrorRate: 0.08}, // starts failing
//			{At: start.Add(9 * time.Minute), Gap: true},                // scrapes lost
//		},
//	}
//
// To test a deployment that moves traffic by weight — a canary, a
// blue/green switch — use a [Routed]: the same per-version segments, but
// each version serves the share of the traffic the router gave it, and the
// Routed is the router too. A Script's split is fixed, so every canary step
// whose weight differs from it ends inconclusive on a sample-ratio mismatch.
//
//	r := &verifytest.Routed{RPS: 100, Serving: "v1", Script: verifytest.Script{
//		"v1": {{ErrorRate: 0.01}},
//		"v2": {{ErrorRate: 0.08}}, // a bad version
//	}}
//	plan.Metrics, plan.Target.Router = r, r
//
// To test a MetricSource of your own — an adapter for Prometheus, Datadog or
// your own warehouse — serve known traffic to your backend, then call [Run]
// from one of its tests, in the manner of testing/slogtest:
//
//	func TestPrometheusSource(t *testing.T) {
//		src := newSourceWithKnownTraffic(t) // 600 requests of v1 in [start, end), 6 failed
//		verifytest.Run(t, verifytest.Harness{
//			Source:    src,
//			Start:     start,
//			End:       end,
//			Served:    map[string]verify.Observation{"v1": {Requests: 600, Errors: 6}},
//			Missing:   "v0",
//			Tolerance: 0.05, // increase() extrapolates
//		})
//	}
//
// [Run] checks that the source reports what was served, that its
// observations are well formed and add up over adjacent windows, and that it
// tells missing data, bad queries and cancellation apart. [Check] runs the
// same checks outside a test, with a context of your own, and returns one
// error listing every failure, or nil.
package verifytest
