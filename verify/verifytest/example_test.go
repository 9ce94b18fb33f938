package verifytest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

func ExampleScript() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	minute := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	fast := verifytest.Latency(map[time.Duration]float64{20 * time.Millisecond: 0.5, 80 * time.Millisecond: 0.95})
	metrics := verifytest.Script{
		"v1": {{RPS: 100, ErrorRate: 0.01, Latency: fast}}, // since the beginning of time
		"v2": {
			{At: minute(0), RPS: 10, ErrorRate: 0.01, Latency: fast},
			{At: minute(5), RPS: 10, ErrorRate: 0.08, Latency: fast}, // starts failing
			{At: minute(8), Gap: true},                               // scrapes lost
			{At: minute(10), Err: errors.New("prometheus: 503")},     // backend down
		},
	}

	for _, w := range [][2]int{{0, 5}, {4, 6}, {7, 9}, {8, 10}, {9, 11}, {-5, 0}} {
		q := verify.Query{Version: "v2", Start: minute(w[0]), End: minute(w[1])}
		o, err := metrics.Observe(context.Background(), q)
		if err != nil {
			fmt.Printf("minutes %d–%d: no data: %v, error: %v\n", w[0], w[1], errors.Is(err, verify.ErrNoData), err)
			continue
		}
		p95, _ := o.Latency.Quantile(0.95)
		fmt.Printf("minutes %d–%d: %.0f requests, %.1f%% errors, P95 %.0fms\n", w[0], w[1], o.Requests, 100*o.ErrorRate(), 1000*p95)
	}
	// Output:
	// minutes 0–5: 3000 requests, 1.0% errors, P95 80ms
	// minutes 4–6: 1200 requests, 4.5% errors, P95 80ms
	// minutes 7–9: 600 requests, 8.0% errors, P95 80ms
	// minutes 8–10: no data: true, error: verifytest: version "v2" over [2025-03-01T12:08:00Z, 2025-03-01T12:10:00Z): only gaps: verify: no data
	// minutes 9–11: no data: false, error: verifytest: observe "v2" over [2025-03-01T12:09:00Z, 2025-03-01T12:11:00Z): prometheus: 503
	// minutes -5–0: no data: true, error: verifytest: version "v2" over [2025-03-01T11:55:00Z, 2025-03-01T12:00:00Z): only gaps: verify: no data
}

func ExampleLatency() {
	h := verifytest.Latency(map[time.Duration]float64{
		50 * time.Millisecond:  0.5,
		200 * time.Millisecond: 0.95,
		time.Second:            0.99,
	})
	for _, q := range []float64{0.5, 0.95, 0.99} {
		v, _ := h.Quantile(q)
		fmt.Printf("P%.0f = %v\n", 100*q, time.Duration(v*float64(time.Second)))
	}
	// Output:
	// P50 = 50ms
	// P95 = 200ms
	// P99 = 1s
}

// A source that answers a zero Observation when it has no series would make
// a judge read missing data as a clean, idle version. Check says so.
func ExampleCheck() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	script := verifytest.Script{"v1": {{RPS: 10, ErrorRate: 0.01}}}
	zeroForMissing := verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
		o, err := script.Observe(ctx, q)
		if errors.Is(err, verify.ErrNoData) {
			return verify.Observation{}, nil // the mistake
		}
		return o, err
	})
	err := verifytest.Check(context.Background(), verifytest.Harness{
		Source:  zeroForMissing,
		Start:   start,
		End:     start.Add(10 * time.Minute),
		Served:  map[string]verify.Observation{"v1": {Requests: 6000, Errors: 60}},
		Missing: "v0",
	})
	fmt.Println(err)
	// Output:
	// Missing: Observe("v0" over [2025-03-01T12:00:00Z, 2025-03-01T12:10:00Z)) = {Requests:0 Errors:0 Business:0 Latency:[] Warnings:[]}, nil error for a version without data; want an error wrapping verify.ErrNoData (an observation must never stand for missing data: a judge would take it as traffic)
}

// A Routed splits its traffic as the router says: here a canary at 25%.
// In a test it is given to deploy.Run as the plan's Metrics and as the
// target's Router, so that every step's split is right by construction.
func ExampleRouted() {
	ctx := context.Background()
	r := &verifytest.Routed{RPS: 100, Serving: "v1", Script: verifytest.Script{
		"v1": {{ErrorRate: 0.01}},
		"v2": {{ErrorRate: 0.08}},
	}}
	before := time.Now()
	if err := r.Route(ctx, "v1", "v2", 25); err != nil {
		fmt.Println(err)
		return
	}
	after := time.Now()
	for _, w := range []struct {
		name     string
		from, to time.Time
	}{{"the minute before", before.Add(-time.Minute), before}, {"a minute after", after, after.Add(time.Minute)}} {
		for _, v := range []string{"v1", "v2"} {
			o, err := r.Observe(ctx, verify.Query{Version: v, Start: w.from, End: w.to})
			fmt.Printf("%s, %s: %.0f requests, %.0f errors (err: %v)\n", w.name, v, o.Requests, o.Errors, err)
		}
	}
	// Output:
	// the minute before, v1: 6000 requests, 60 errors (err: <nil>)
	// the minute before, v2: 0 requests, 0 errors (err: <nil>)
	// a minute after, v1: 4500 requests, 45 errors (err: <nil>)
	// a minute after, v2: 1500 requests, 120 errors (err: <nil>)
}
