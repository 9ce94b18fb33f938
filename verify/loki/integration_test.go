package loki

import (
	"fmt"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/lokitest"
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
		// A canary at 5%: v2 serves 50 requests to v1's 950, both log
		// timeouts at 2%, and v2 logs a pool error on 10% of its requests.
		push := func(v string, requests, timeouts, pool int) {
			var entries []lokitest.Entry
			for i := range requests {
				at := base.Add(time.Duration(i) * time.Minute / time.Duration(requests))
				entries = append(entries, lokitest.Entry{At: at, Line: fmt.Sprintf(`{"level":"INFO","msg":"request served","id":%d}`, i)})
				if i < timeouts {
					entries = append(entries, lokitest.Entry{At: at, Line: fmt.Sprintf(`{"level":"ERROR","msg":"request failed","err":"upstream timeout after %dms"}`, 100+i)})
				}
				if i < pool {
					entries = append(entries, lokitest.Entry{At: at, Line: fmt.Sprintf(`{"level":"ERROR","msg":"checkout degraded","err":"connection pool exhausted for shard %d"}`, i)})
				}
			}
			if err := srv.Push(t.Context(), map[string]string{"app": "canary", "version": v}, entries); err != nil {
				t.Fatal(err)
			}
		}
		push("v1", 950, 19, 0)
		push("v2", 50, 1, 5)
		src := &Source{URL: srv.URL, Selector: `{app="canary"}`}
		q := func(v string) logs.Sample {
			o, err := src.Patterns(t.Context(), verify.Query{Version: v, Start: base, End: base.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			return logs.Sample{Exposure: o.Lines, Observation: o}
		}
		found, err := logs.Compare(logs.Policy{}, q("v1"), q("v2"))
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found[0].Template != "checkout degraded: connection pool exhausted for shard <*>" || found[0].OldCount != 0 || found[0].NewCount != 5 {
			t.Errorf("findings %v; want the pool error, 5 lines from v2 and none from v1", found)
		}
	})

	t.Run("Pipeline", func(t *testing.T) {
		src := &Source{URL: srv.URL, Selector: `{app="canary"}`, Pipeline: `|= "ERROR"`}
		o, err := src.Patterns(t.Context(), verify.Query{Version: "v2", Start: base, End: base.Add(time.Minute)})
		if err != nil || o.Lines != 6 {
			t.Errorf("with a pipeline keeping error lines: %+v, %v; want 6 lines", o, err)
		}
	})
}
