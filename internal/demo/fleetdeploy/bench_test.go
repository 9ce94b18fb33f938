package fleetdeploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/internal/demo/fleetdeploy"
	"github.com/safedeploy/safedeploy/internal/testserver/pgtest"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// counting is a Journal that counts its writes: each call that changes
// the journal, and the entries appended.
type counting struct {
	journal.Journal
	writes, entries atomic.Int64
}

func (c *counting) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (journal.Lease, error) {
	c.writes.Add(1)
	return c.Journal.Acquire(ctx, key, holder, ttl)
}

func (c *counting) Renew(ctx context.Context, l journal.Lease, ttl time.Duration) (journal.Lease, error) {
	c.writes.Add(1)
	return c.Journal.Renew(ctx, l, ttl)
}

func (c *counting) Release(ctx context.Context, l journal.Lease) error {
	c.writes.Add(1)
	return c.Journal.Release(ctx, l)
}

func (c *counting) Begin(ctx context.Context, l journal.Lease, r journal.Run) error {
	c.writes.Add(1)
	return c.Journal.Begin(ctx, l, r)
}

func (c *counting) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	c.writes.Add(1)
	c.entries.Add(int64(len(es)))
	return c.Journal.Append(ctx, l, run, es...)
}

func (c *counting) Finish(ctx context.Context, l journal.Lease, run, outcome, reason string, rec runbook.Record) error {
	c.writes.Add(1)
	return c.Journal.Finish(ctx, l, run, outcome, reason, rec)
}

// The benchmark's plan: a canary of 8 instances through 1, 5, 25, 50 and
// 100%, each step observed for benchStep, judged every benchInterval.
const (
	benchSteps    = 5
	benchStep     = 20 * time.Millisecond
	benchInterval = 5 * time.Millisecond
)

// BenchmarkJournalCost runs the same deployment with no journal and with
// each kind, side by side: ns/op is one whole deployment's wall time,
// ms/step that divided by its steps, writes/deploy the journal calls that
// write (lease, begin, append, finish) and entries/deploy the entries
// appended. The steps' windows are real: work the judge does inside an
// interval is hidden by the interval's wait, as in a real deployment, so
// the difference in ms/step between rows is the wall time the journal adds
// to each step. The PostgreSQL row is skipped without the server's
// binaries (see internal/testserver/pgtest).
func BenchmarkJournalCost(b *testing.B) {
	kinds := []struct {
		name string
		open func(b *testing.B) journal.Journal
	}{
		{"none", func(*testing.B) journal.Journal { return nil }},
		{"memory", func(*testing.B) journal.Journal { return new(journal.Memory) }},
		{"sqlite", func(b *testing.B) journal.Journal {
			return openBench(b, "sqlite:"+filepath.Join(b.TempDir(), "journal.db"))
		}},
		{"postgres", func(b *testing.B) journal.Journal { return openBench(b, pgURL(b, pgtest.Database(b))) }},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			j := k.open(b)
			var c *counting
			if j != nil {
				c = &counting{Journal: j}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				b.StopTimer()
				p := benchPlan(fmt.Sprintf("shop-%d", i))
				if c != nil {
					p.Journal = c
				}
				b.StartTimer()
				if rep, err := deploy.Run(b.Context(), p); err != nil {
					b.Fatalf("%s: %v (%s)", rep.Outcome, err, rep.Reason)
				}
			}
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(perOp/1e6/benchSteps, "ms/step")
			if c != nil {
				b.ReportMetric(float64(c.writes.Load())/float64(b.N), "writes/deploy")
				b.ReportMetric(float64(c.entries.Load())/float64(b.N), "entries/deploy")
			}
		})
	}
}

// openBench opens a journal for a benchmark, closed after it.
func openBench(b *testing.B, dsn string) journal.Journal {
	b.Helper()
	j, err := fleetdeploy.OpenJournal(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	return j
}

// benchPlan returns the benchmark's deployment of service to a fresh
// in-process fleet.
func benchPlan(service string) *deploy.Plan {
	behave := strategytest.Behavior{ErrorRate: 0.01, Latency: 20 * time.Millisecond, BusinessRate: 0.1}
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 8, RPS: 1_000_000,
		Behaviors: map[string]strategytest.Behavior{"v1": behave, "v2": behave},
	})
	return &deploy.Plan{
		Service: service, Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change: deploy.Change{Engineer: "ana", What: "benchmark", Why: "journal cost", Expected: "no change"},
		Tests: deploy.Named("ci", deploy.CheckFunc(func(context.Context, *deploy.Plan) error {
			return nil
		})),
		Strategy: strategy.Canary{StepWindow: benchStep},
		Target:   strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:  fleet,
		Verify:   verify.Policy{Interval: benchInterval, BaselineWindow: time.Minute},
		Holder:   "bench",
	}
}
