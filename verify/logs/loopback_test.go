package logs_test

import (
	"context"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
	"github.com/safedeploy/safedeploy/internal/demo/loopback"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
)

// TestCollectorOnLoopbackFleet runs old and new versions of the demo app as
// real HTTP servers on loopback, their logs going to a Collector, sends
// them traffic, and finds the error pattern only the new version logs
// while its error rate stays the old one's.
func TestCollectorOnLoopbackFleet(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var c logs.Collector
	v1, v2 := c.Writer("v1"), c.Writer("v2")
	defer v1.Close()
	defer v2.Close()
	fleet, err := loopback.New(ctx, loopback.Config{
		Version:   "v1",
		Instances: 2,
		Apps: map[string]demoapp.Config{
			"v1": {ErrorRate: 0.01, Latency: time.Millisecond, Log: v1},
			"v2": {ErrorRate: 0.01, Latency: time.Millisecond, Log: v2, LogBugShare: 0.1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.Start(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	load := loopback.Drive(ctx, fleet.URL(), 300)
	time.Sleep(3 * time.Second)
	cancel()
	load.Wait()
	end := time.Now()

	sample := func(v string) logs.Sample {
		o, err := c.Patterns(t.Context(), verify.Query{Version: v, Start: start, End: end})
		if err != nil {
			t.Fatal(err)
		}
		return logs.Sample{Exposure: o.Lines, Observation: o} // one INFO line per request
	}
	old, cur := sample("v1"), sample("v2")
	if old.Lines < 100 || cur.Lines < 50 {
		t.Fatalf("only %g and %g lines logged by v1 and v2 in 3s at 300 rps", old.Lines, cur.Lines)
	}
	found, err := logs.Compare(logs.Policy{}, old, cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Template != "checkout degraded: connection pool exhausted for shard <*>" || found[0].OldCount != 0 {
		t.Errorf("findings %v; want the pool error alone, never logged by v1 (v1 %g lines, v2 %g)", found, old.Lines, cur.Lines)
	}
}
