package loki

import (
	"fmt"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/lokitest"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
	"github.com/safedeploy/safedeploy/verify/logs/logstest"
)

// TestLoki runs the logs.Source conformance suite and a canary's new
// pattern against a real Loki on loopback.
func TestLoki(t *testing.T) {
	srv := lokitest.Start(t)
	// Recent times: Loki rejects lines older than its ingester window.
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	lines := map[string][]logstest.Line{}
	for v, ls := range served() {
		for _, l := range ls {
			lines[v] = append(lines[v], logstest.Line{At: base.Add(l.At.Sub(start)), Text: l.Text})
		}
	}
	for v, ls := range lines {
		for inst := range 2 {
			var entries []lokitest.Entry
			for i, l := range ls {
				if i%2 == inst {
					entries = append(entries, lokitest.Entry{At: l.At, Line: l.Text})
				}
			}
			if err := srv.Push(t.Context(), map[string]string{"app": "shop", "version": v, "instance": fmt.Sprint(inst)}, entries); err != nil {
				t.Fatal(err)
			}
		}
	}
	src := &Source{URL: srv.URL, Selector: `{app="shop"}`, Limit: 7}
	logstest.Run(t, logstest.Harness{Source: src, Start: base, End: base.Add(time.Minute), Served: lines, Missing: "v0"})

	t.Run("NewPattern", func(t *testing.T) {
		q := func(v string) logs.Sample {
			o, err := src.Patterns(t.Context(), verify.Query{Version: v, Start: base, End: base.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			return logs.Sample{Exposure: o.Lines, Observation: o}
		}
		// v2 at 5% of the traffic, as a canary: scale its exposure.
		old, cur := q("v1"), q("v2")
		cur.Exposure = old.Exposure / 19
		found, err := logs.Compare(logs.Policy{}, old, cur)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found[0].Template != "checkout degraded: connection pool exhausted for shard <*>" || found[0].OldCount != 0 || found[0].NewCount != 4 {
			t.Errorf("findings %v; want the pool error, 4 lines from v2 and none from v1", found)
		}
	})
}
