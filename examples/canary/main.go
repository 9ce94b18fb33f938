// Command canary deploys v2 of a service to a real fleet on the loopback
// interface: instances of an HTTP service on 127.0.0.1, a weighted reverse
// proxy in front of them, and a load generator sending it requests. Metrics
// are scraped from each instance's /metrics. v2 goes through canary steps of
// 5%, 25%, 50% and 100% of traffic and completes; with -bad it fails 8% of
// requests (-slow: 10% of them take 250ms), is caught, and traffic returns
// to v1; the command then exits 1. With -logbug v2 logs a new error,
// "connection pool exhausted for shard N", on 5% of requests without
// failing them: the error rate does not move, but the log-pattern rule
// holds the first step, which ends inconclusive and rolls back (exit 1).
// Every instance's log goes to a logs.Collector, the plan's log source. Afterwards it measures four ways back on
// the same fleet — kill switch, canary weight to zero, blue/green switch
// back, redeploy — and compares them. -report FILE.html writes the run's
// report, an HTML page.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
	"github.com/safedeploy/safedeploy/internal/demo/loopback"
	"github.com/safedeploy/safedeploy/progress"
	"github.com/safedeploy/safedeploy/report"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
	"github.com/safedeploy/safedeploy/verify/promcount"
	"github.com/safedeploy/safedeploy/verify/scrape"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

// run is the command, testable: it returns the exit code.
func run(ctx context.Context, args []string, w io.Writer) int {
	fs := flag.NewFlagSet("canary", flag.ContinueOnError)
	fs.SetOutput(w)
	bad := fs.Bool("bad", false, "deploy a v2 that fails 8% of requests (v1: 1%)")
	slow := fs.Bool("slow", false, "deploy a v2 whose slowest 10% of requests take 250ms")
	logbug := fs.Bool("logbug", false, "deploy a v2 that logs a new error on 5% of requests, without failing them")
	rps := fs.Float64("rps", 1000, "requests per second sent to the service")
	instances := fs.Int("instances", 4, "instances of v1")
	step := fs.Duration("step", 3*time.Second, "observation window of each canary step (default 5m outside demos)")
	interval := fs.Duration("interval", 500*time.Millisecond, "how often metrics are read (default 1m outside demos)")
	startup := fs.Duration("startup", 2*time.Second, "how long a new instance takes to start and warm up")
	speed := fs.Bool("speed", true, "measure the four ways back afterwards")
	reportFile := fs.String("report", "", "write the run's report, an HTML page, to this `file`")
	latency := fs.Bool("latency", true, "judge latency too (false: errors and business events only, for a machine too busy for latency to mean anything)")
	fleetURL := fs.String("fleet", "", "deploy to the fleet examples/fleet serves at this `URL`, kept in -journal: rerun after a kill, it recovers")
	journalDSN := fs.String("journal", "", "with -fleet: the journal, sqlite:PATH or a postgres:// URL")
	flagFile := fs.String("flags", "", "with -fleet: the kill switch's `file` (default: next to a sqlite journal)")
	var steps []float64
	fs.Func("steps", "canary weights in percent, comma-separated (default 5,25,50,100)", func(s string) error {
		for _, f := range strings.Split(s, ",") {
			w, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return err
			}
			steps = append(steps, w)
		}
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if steps == nil {
		steps = []float64{5, 25, 50, 100}
	}
	if *fleetURL != "" || *journalDSN != "" {
		return runFleet(ctx, fleetRun{URL: *fleetURL, Journal: *journalDSN, Flags: *flagFile, Bad: *bad, Slow: *slow,
			Steps: steps, Step: *step, Interval: *interval, Report: *reportFile}, w)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// v3 exists only for the rollback-speed measurement: its faulty code
	// path sits behind a kill switch.
	var store flags.Memory
	faulty := func() bool {
		f, err := store.Get(ctx, "new-basket")
		return err != nil || f.Enabled
	}
	// Every instance logs JSON lines, as log/slog writes them, into the
	// Collector: the log source that reads each version's error patterns.
	var collected logs.Collector
	v1Log, v2Log := collected.Writer("v1"), collected.Writer("v2")
	defer v1Log.Close()
	defer v2Log.Close()
	v2 := demoapp.Config{ErrorRate: 0.01, Latency: 5 * time.Millisecond, BusinessRate: 0.2, Log: v2Log}
	if *logbug {
		v2.LogBugShare = 0.05
	}
	if *bad {
		v2.ErrorRate = 0.08
	}
	if *slow {
		v2.SlowShare, v2.SlowLatency = 0.1, 250*time.Millisecond
	}
	fleet, err := loopback.New(ctx, loopback.Config{
		Version: "v1", Instances: *instances, Startup: *startup,
		Apps: map[string]demoapp.Config{
			"v1": {ErrorRate: 0.01, Latency: 5 * time.Millisecond, BusinessRate: 0.2, Log: v1Log},
			"v2": v2,
			"v3": {ErrorRate: 0.08, Latency: 5 * time.Millisecond, BusinessRate: 0.2, Faulty: faulty},
		},
	})
	if err != nil {
		fmt.Fprintln(w, "canary:", err)
		return 1
	}
	load := loopback.Drive(ctx, fleet.URL(), *rps)
	defer load.Wait()
	defer cancel()
	metrics := &scrape.Source{Targets: fleet.Targets, Metrics: promcount.Metrics{Business: "business_events_total"}}
	scraping := make(chan struct{})
	go func() {
		defer close(scraping)
		metrics.Run(ctx, *interval/2)
	}()
	defer func() { cancel(); <-scraping }()

	// The 100% step has no old version alongside: it is judged against the
	// baseline, which must be large enough to tell a regression from
	// chance — some 20 errors for the 2× limit, 240 business events for
	// the 20% one — or the step ends inconclusive. A busy machine takes
	// longer to serve it.
	const baselineRequests = 4000
	fmt.Fprintf(w, "Serving v1 on %d instances at %s behind a proxy at %s, %.0f req/s; scraping /metrics every %s.\n",
		*instances, "127.0.0.1", fleet.URL(), *rps, *interval/2)
	// One interval first, so that every instance has been scraped when the
	// baseline starts.
	if err := sleep(ctx, *interval); err != nil {
		return 1
	}
	began := time.Now()
	before, _ := load.Counts()
	for {
		if err := sleep(ctx, *interval); err != nil {
			return 1
		}
		if sent, _ := load.Counts(); sent-before >= baselineRequests && time.Since(began) >= 8**interval {
			break
		}
	}
	baseline := time.Since(began).Truncate(time.Millisecond)
	fmt.Fprintf(w, "Windows are shortened for the demo: %s per canary step, metrics read every %s, a %s baseline of some %d requests (defaults: 5m, 1m, 15m).\n\n", *step, *interval, baseline, baselineRequests)

	// P99 is judged only with -slow, whose v2 regresses in its tail: at the
	// final step no old version serves alongside, and a demo's seconds-long
	// baseline cannot bound a 1% tail, so the judge calls that step
	// inconclusive — which rolls back. The -slow v2 is caught earlier, at a
	// step where v1 still serves as the control. P50 and P95 are judged.
	policy := verify.Policy{Interval: *interval, BaselineWindow: baseline}
	if !*slow {
		policy.Latency.P99 = math.Inf(1)
	}
	if !*latency {
		policy.Latency = verify.LatencyLimits{P50: math.Inf(1), P95: math.Inf(1), P99: math.Inf(1)}
	}
	plan := &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change: deploy.Change{
			Engineer: "ana@example.com",
			What:     "checkout renders the basket server-side",
			Why:      "halve time to first paint on mobile",
			Expected: "same error rate and latency; same orders per request",
		},
		Tests: deploy.Named("CI passed for v2", deploy.CheckFunc(func(context.Context, *deploy.Plan) error {
			return nil // a real plan asks the CI system about exactly p.Version
		})),
		Strategy:  strategy.Canary{Steps: steps, StepWindow: *step},
		Target:    strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:   metrics,
		Logs:      &collected,
		Verify:    policy,
		Observers: []deploy.Observer{progress.New(w)},
	}
	start := time.Now()
	rep, runErr := deploy.Run(ctx, plan)
	fmt.Fprintf(w, "\n%s after %s: %s\n", rep.Outcome, time.Since(start).Round(time.Millisecond), rep.Reason)
	var v *verify.Verdict
	if errors.As(runErr, &v) {
		fmt.Fprintf(w, "the verdict that decided it: %s\n", v.Reason)
	}
	if first, back := fleet.FirstRequest("v2"), fleet.RoutedTo("v1"); runErr != nil && !first.IsZero() && back.After(first) {
		fmt.Fprintf(w, "v2's first request to traffic restored to v1: %s\n", back.Sub(first).Round(time.Millisecond))
	}
	sent, failed := load.Counts()
	fmt.Fprintf(w, "load so far: %d requests, %d failed\n", sent, failed)
	if *reportFile != "" {
		n, err := report.WriteFile(*reportFile, &rep.Record)
		if err != nil {
			fmt.Fprintf(w, "\nthe report was not written: %v\n", err)
			return 1
		}
		fmt.Fprintf(w, "\nThe report of this run: %s (%d KiB)\n", *reportFile, (n+1023)/1024)
	}

	if *speed {
		cur := "v2"
		if runErr != nil {
			cur = "v1"
		}
		fmt.Fprintf(w, "\nMeasuring the ways back on the same fleet (serving %s; a new instance takes %s to start):\n", cur, *startup)
		timings, err := loopback.MeasureRollbacks(ctx, fleet, &store, "new-basket", cur, "v3")
		if err != nil {
			fmt.Fprintln(w, "canary: measuring rollbacks:", err)
			return 1
		}
		redeploy := timings[len(timings)-1].D
		for _, t := range timings {
			fmt.Fprintf(w, "  %-28s %12s   %8.0f× faster than a redeploy\n", t.Name, t.D, float64(redeploy)/float64(t.D))
		}
	}
	fmt.Fprintf(w, "\nThe runbook for this deployment:\n\n%s", rep.Record.Runbook.Markdown())
	if runErr != nil {
		return 1
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
