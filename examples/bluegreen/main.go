// Command bluegreen deploys v2 of a service to a simulated fleet by
// blue/green: a full v2 side comes up beside v1, traffic switches at once,
// and v1 stays warm until v2 has held. A good v2 completes; with -bad,
// verification fails, traffic switches back to v1 instantly and the command
// exits 1. -report FILE.html writes the run's report, an HTML page.
//
// The fleet is strategytest's simulation, so the run takes seconds and needs
// nothing installed; examples/canary deploys to real servers on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/progress"
	"github.com/safedeploy/safedeploy/report"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

// run is the command, testable: it returns the exit code, 0 when the
// deployment completed, 1 when it did not or its report could not be
// written, 2 for a bad command line.
func run(ctx context.Context, args []string, w io.Writer) int {
	fs := flag.NewFlagSet("bluegreen", flag.ContinueOnError)
	fs.SetOutput(w)
	bad := fs.Bool("bad", false, "deploy a faulty v2 (8% errors instead of 1%), which must be rolled back")
	reportFile := fs.String("report", "", "write the run's report, an HTML page, to this `file`")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	// The fleet: 8 simulated instances of v1 serving 10,000 requests a
	// second. It is the Target (its instances, and a switch between the
	// blue and the green side) and the MetricSource.
	v1 := strategytest.Behavior{ErrorRate: 0.01, Latency: 40 * time.Millisecond, BusinessRate: 0.05, StartDelay: 150 * time.Millisecond}
	v2, quality := v1, "a good v2 (1% errors, like v1)"
	if *bad {
		v2.ErrorRate, quality = 0.08, "a faulty v2 (8% errors against v1's 1%)"
	}
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 8, RPS: 10000,
		Behaviors: map[string]strategytest.Behavior{"v1": v1, "v2": v2},
	})

	// The plan. Windows are shortened so that the demo takes seconds.
	plan := &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change: deploy.Change{
			Engineer: "ana@example.com",
			What:     "checkout page renders the basket server-side",
			Why:      "halve time to first paint on mobile",
			Expected: "same error rate and business events; P95 latency no worse",
		},
		Tests: deploy.Named("CI passed for v2", deploy.CheckFunc(func(ctx context.Context, p *deploy.Plan) error {
			return nil // a real plan asks the CI system about exactly p.Version
		})),
		// Observe v2 for 4s after the switch, then 1s more with v1 still
		// warm, so that switching back stays instant (defaults: 15m, 30s).
		Strategy: strategy.BlueGreen{Window: 4 * time.Second, KeepWarm: time.Second},
		Target:   strategy.Target{Fleet: fleet, Switch: fleet},
		Metrics:  fleet,
		// The seed's rollback policy (error rate above 2× v1's, latency
		// significantly up, business events down 20%), read every 250ms
		// against a one-minute baseline (defaults: every 1m, 15m).
		Verify: verify.Policy{
			Interval:       250 * time.Millisecond,
			BaselineWindow: time.Minute,
		},
		Observers: []deploy.Observer{progress.New(w)},
	}
	fmt.Fprintf(w, "Deploying %s by blue/green to a simulated fleet of 8 instances of v1 at 10,000 req/s.\n", quality)
	fmt.Fprintf(w, "Windows are shortened for the demo: 4s after the switch, old side kept warm 1s, metrics read every 250ms (defaults: 15m, 30s, every 1m).\n\n")

	start := time.Now()
	rep, err := deploy.Run(ctx, plan)
	fmt.Fprintf(w, "\n%s after %s: %s\n", rep.Outcome, time.Since(start).Round(time.Millisecond), rep.Reason)
	if err != nil {
		fmt.Fprintf(w, "error: %v\n", err)
	}
	var v *verify.Verdict
	if errors.As(err, &v) {
		fmt.Fprintf(w, "the verdict that decided it: %s\n", v.Reason)
	}
	fmt.Fprintf(w, "fleet now: %v\n\nThe runbook for this deployment:\n\n", fleet.Versions())
	fmt.Fprint(w, rep.Record.Runbook.Markdown())
	if *reportFile != "" {
		n, werr := report.WriteFile(*reportFile, &rep.Record)
		if werr != nil {
			fmt.Fprintf(w, "\nthe report was not written: %v\n", werr)
			return 1
		}
		fmt.Fprintf(w, "\nThe report of this run: %s (%d KiB)\n", *reportFile, (n+1023)/1024)
	}
	if err != nil {
		return 1
	}
	return 0
}
