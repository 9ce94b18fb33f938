package logs_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
)

func ExampleMiner() {
	var m logs.Miner
	for _, line := range []string{
		"connection pool exhausted for shard 7",
		"GET /basket 200 in 12ms",
		"connection pool exhausted for shard 12",
		"POST /basket 500 in 3ms",
	} {
		id := m.Add(line)
		fmt.Println(id, m.Template(id))
	}
	// Output:
	// 1 connection pool exhausted for shard <*>
	// 2 GET /basket <*> in <*>
	// 1 connection pool exhausted for shard <*>
	// 3 POST /basket <*> in <*>
}

func ExampleParse() {
	r := logs.Parse(`{"time":"2025-03-01T12:00:00Z","level":"ERROR","msg":"checkout failed","err":"nil pointer dereference in basket.Total","user":"ada"}`)
	fmt.Println(r.Level, r.Message)
	r = logs.Parse(`2025-03-01 12:00:00,123 WARN [pool] connection pool exhausted for shard 7`)
	fmt.Println(r.Level)
	// Output:
	// ERROR checkout failed: nil pointer dereference in basket.Total
	// WARN
}

// A canary at 5% of the traffic: the collector has both versions' lines;
// the detector compares them interval by interval.
func ExampleDetector() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var c logs.Collector
	for s := range 300 {
		at := start.Add(time.Duration(s) * time.Second)
		c.Add("v1", at, fmt.Sprintf(`{"level":"ERROR","msg":"request failed","err":"upstream timeout after %dms"}`, 100+s))
		if s%20 == 0 {
			c.Add("v2", at, `{"level":"ERROR","msg":"request failed","err":"upstream timeout after 250ms"}`)
		}
		if s%60 == 30 {
			c.Add("v2", at, fmt.Sprintf(`{"level":"ERROR","msg":"checkout degraded","err":"connection pool exhausted for shard %d"}`, s%16))
		}
	}
	d, _ := logs.NewDetector(logs.Policy{}, nil)
	for minute := range 5 {
		from := start.Add(time.Duration(minute) * time.Minute)
		q := func(v string) logs.Observation {
			o, _ := c.Patterns(context.Background(), verify.Query{Version: v, Start: from, End: from.Add(time.Minute)})
			return o
		}
		// The exposures: requests served, from the metric source.
		old := logs.Sample{Exposure: 5700, Observation: q("v1")}
		for _, f := range d.Observe(logs.Interval{Start: from, End: from.Add(time.Minute), New: logs.Sample{Exposure: 300, Observation: q("v2")}, Old: &old}) {
			fmt.Printf("minute %d: %s (%.0f new lines, %.0f old)\n", minute+1, f.Template, f.NewCount, f.OldCount)
			return
		}
	}
	// Output:
	// minute 5: checkout degraded: connection pool exhausted for shard <*> (5 new lines, 0 old)
}

func ExampleCompare() {
	old := logs.Sample{Exposure: 10000, Observation: logs.Observation{Lines: 10000, Patterns: []logs.Pattern{
		{ID: "timeout", Template: "upstream timeout after <*>", Level: slog.LevelError, Count: 50},
	}}}
	cur := logs.Sample{Exposure: 500, Observation: logs.Observation{Lines: 500, Patterns: []logs.Pattern{
		{ID: "timeout", Template: "upstream timeout after <*>", Level: slog.LevelError, Count: 3},
		{ID: "pool", Template: "connection pool exhausted for shard <*>", Level: slog.LevelError, Count: 5, Example: "connection pool exhausted for shard 7"},
	}}}
	found, _ := logs.Compare(logs.Policy{}, old, cur)
	for _, f := range found {
		fmt.Printf("%s: %.0f new, %.0f old\n", f.Template, f.NewCount, f.OldCount)
	}
	// Output:
	// connection pool exhausted for shard <*>: 5 new, 0 old
}
