// Package demo runs the simulated example programs (examples/bluegreen,
// examples/rolling, and a simulated canary for tests): a deployment of a
// good or a bad v2 to a simulated fleet, with the phases, steps and numbers
// printed as they happen and the runbook at the end.
package demo

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/atomicfile"
	"github.com/safedeploy/safedeploy/progress"
	"github.com/safedeploy/safedeploy/report"
	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// Canary is a canary on the simulated fleet: 1% → 5% → 25% → 50% → 100%
// through a router. (examples/canary runs on a real fleet on loopback; this
// is the simulated variant, kept for tests.)
func Canary() Example {
	return Example{
		Name:     "canary",
		Strategy: strategy.Canary{StepWindow: 2 * time.Second},
		Target:   func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Router: f} },
		Windows:  "2s per canary step",
	}
}

// BlueGreen is examples/bluegreen: a full new side, one switch, the old side
// kept warm.
func BlueGreen() Example {
	return Example{
		Name:     "blue/green",
		Strategy: strategy.BlueGreen{Window: 4 * time.Second, KeepWarm: time.Second},
		Target:   func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Switch: f} },
		Windows:  "4s after the switch, old side kept warm 1s",
	}
}

// Rolling is examples/rolling: health-gated batches, guarded by a kill
// switch since a rolling update goes back only by redeploying.
func Rolling() Example {
	return Example{
		Name:       "rolling update",
		Strategy:   strategy.Rolling{BatchWindow: 2 * time.Second, Window: 4 * time.Second},
		Target:     func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f} },
		Windows:    "2s per batch, 4s for the whole fleet",
		KillSwitch: true,
	}
}

// An Example is one example program.
type Example struct {
	// Name names the strategy for the output.
	Name string
	// Strategy deploys v2.
	Strategy strategy.Strategy
	// Target picks the parts of the simulated fleet the strategy uses.
	Target func(f *strategytest.Fleet) strategy.Target
	// Windows describes the shortened windows, for the output.
	Windows string
	// KillSwitch guards the change with a flag, the fast way back for
	// strategies that redeploy.
	KillSwitch bool
}

// Main parses the command line (-bad, -report FILE.html), runs the example
// and returns the exit code: 0 when the deployment completed, 1 when it did
// not or its report could not be written.
func (ex Example) Main(args []string, stdout io.Writer) int {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o Options
	fs.BoolVar(&o.Bad, "bad", false, "deploy a faulty v2 (8% errors instead of 1%), which must be rolled back")
	fs.StringVar(&o.Report, "report", "", "write the run's report, an HTML page, to this `file`")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return ex.RunWith(ctx, o, stdout)
}

// Options are the example programs' command-line options.
type Options struct {
	// Bad deploys a faulty v2.
	Bad bool
	// Report, if not empty, is the file the run's HTML report is written to.
	Report string
}

// Run deploys a good v2, or a bad one, printing to w, and returns the exit
// code.
func (ex Example) Run(ctx context.Context, bad bool, w io.Writer) int {
	return ex.RunWith(ctx, Options{Bad: bad}, w)
}

// RunWith is Run with all the options.
func (ex Example) RunWith(ctx context.Context, o Options, w io.Writer) int {
	bad := o.Bad
	v2 := strategytest.Behavior{ErrorRate: 0.01, Latency: 40 * time.Millisecond, BusinessRate: 0.05, StartDelay: 150 * time.Millisecond}
	if bad {
		v2.ErrorRate = 0.08
	}
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 8, RPS: 10000,
		Behaviors: map[string]strategytest.Behavior{
			"v1": {ErrorRate: 0.01, Latency: 40 * time.Millisecond, BusinessRate: 0.05, StartDelay: 150 * time.Millisecond},
			"v2": v2,
		},
	})
	var store flags.Memory
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
		Strategy: ex.Strategy,
		Target:   ex.Target(fleet),
		Metrics:  fleet,
		Verify: verify.Policy{
			Interval:       250 * time.Millisecond,
			BaselineWindow: time.Minute,
		},
		Flags:     &store,
		Observers: []deploy.Observer{progress.New(w)},
	}
	if ex.KillSwitch {
		store.Set(ctx, flags.Flag{Name: "server-side-basket", Enabled: true, Description: "render the basket on the server"})
		plan.KillSwitch = "server-side-basket"
	}
	quality := "a good v2 (1% errors, like v1)"
	if bad {
		quality = "a faulty v2 (8% errors against v1's 1%)"
	}
	fmt.Fprintf(w, "Deploying %s by %s to a simulated fleet of 8 instances of v1 at 10,000 req/s.\n", quality, ex.Name)
	fmt.Fprintf(w, "Windows are shortened for the demo: %s, metrics read every 250ms (defaults: 5m per canary step, 15m otherwise, every 1m).\n\n", ex.Windows)

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
	if o.Report != "" {
		if err := WriteReport(w, o.Report, &rep.Record); err != nil {
			return 1
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

// WriteReport writes rec's HTML report to the file at path (replacing it
// whole, or leaving it as it was) and says so on w, or says why it could
// not and returns the error.
func WriteReport(w io.Writer, path string, rec *runbook.Record) error {
	var page bytes.Buffer
	err := report.Write(&page, rec)
	if err == nil {
		err = atomicfile.Write(path, page.Bytes())
	}
	if err != nil {
		fmt.Fprintf(w, "\nthe report was not written: %v\n", err)
		return err
	}
	fmt.Fprintf(w, "\nThe report of this run: %s (%d KiB)\n", path, (page.Len()+1023)/1024)
	return nil
}
