// Package fleetdeploy is the crash-proof demo's deployment: v1 → v2 of the
// shop service by canary, to a fleet in another process (examples/fleet,
// driven through internal/demo/fleethttp), kept in a journal so that a deployer
// killed at any moment is recovered by the next one. examples/canary runs
// it with -fleet and -journal; the crash tests of this package run it in
// child processes and kill them.
//
// What the demo chooses, and why:
//
//   - The lease lives DefaultLeaseTTL (3 s), the demo's time compression of
//     the library's 15 s: a deployer killed at any moment is taken over
//     within 3 s.
//   - A rerun right after a kill finds the dead deployer's lease still
//     live. When the lease's holder ("host/pid", the library's default
//     name) is a process of this host that no longer runs, Run says so and
//     waits for the lease to lapse, then takes over; a holder that runs, or
//     one on another host, is a deployment in progress, and Run exits at
//     once naming it.
//   - The interrupted deployment is resumed at the step it was in
//     (deploy.RecoverResume): that step's window observed again from its
//     start, against a fresh baseline of v1 where v1 still serves (the
//     scrapes need a baseline's worth of time first), then the steps after
//     it; so a good v2 killed halfway completes (exit 0) and a bad one is
//     rolled back (exit 1), as without the kill. A deployment that had
//     already decided to roll back is not deployed again: its rollback is
//     finished. Options.Recover = deploy.RecoverRollBack rolls the
//     interrupted deployment back instead, as soon as the dead deployer's
//     lease lapses, without waiting for a baseline.
//   - The kill switch is a flags.File next to the journal, so that the
//     next deployer sees what the dead one did to it. A new deployment (not
//     a recovery, not a rerun of one that completed) turns it on first.
package fleetdeploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/report"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
	"github.com/safedeploy/safedeploy/verify/scrape"
)

// The demo's names.
const (
	// Service is the service deployed.
	Service = "shop"
	// Environment is where: the lease key is journal.Key(Service,
	// Environment).
	Environment = deploy.Staging
	// KillSwitch names the flag that turns v2's change off.
	KillSwitch = "server-side-basket"
	// From and To are the versions.
	From, To = "v1", "v2"
	// DefaultLeaseTTL is the demo's lease time-to-live.
	DefaultLeaseTTL = 3 * time.Second
)

// Exit codes of Run.
const (
	ExitCompleted = 0 // v2 serves all traffic
	ExitFailed    = 1 // rolled back, or anything else short of completed
	ExitUsage     = 2 // bad options
)

// Options configure a deployment. Fleet, Journal and Flags are required.
type Options struct {
	// Fleet drives the fleet. Run sets its Behaviors for v2.
	Fleet *fleethttp.Client
	// Journal keeps the deployment; Flags holds the kill switch.
	Journal journal.Journal
	Flags   flags.Store
	// Bad deploys a v2 that fails 8% of requests; Slow one whose slowest
	// 10% take 250 ms.
	Bad, Slow bool
	// Steps are the canary's weights; nil means 5, 25, 50, 100.
	Steps []float64
	// StepWindow is each step's observation window (default 3 s), Interval
	// how often metrics are read (default 500 ms), BaselineWindow how much
	// history forms the baseline (default 12 s: some 10,000 requests at
	// examples/fleet's load of 1,000 a second, enough for the judge to
	// compare the final step, where no old version serves alongside, with
	// the baseline alone; at v1's 0.5% errors it needs about 6,000).
	StepWindow, Interval, BaselineWindow time.Duration
	// LeaseTTL is the lease's time-to-live; zero means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Recover says what to do with an interrupted deployment: recover it
	// and deploy again (deploy.RecoverResume, the default), or only
	// recover it (deploy.RecoverRollBack).
	Recover deploy.Recovery
	// Metrics reads how each version behaves; nil means scraping the
	// fleet's instances (verify/scrape), waiting first for a baseline.
	Metrics verify.MetricSource
	// Holder names this deployer in the lease; empty means "host/pid".
	Holder string
	// Observers receive the run's events.
	Observers []deploy.Observer
	// Report, if set, is the file the run's HTML report is written to.
	Report string
}

// V2 returns how v2 behaves: like v1 (0.5% errors, 5 ms), or bad (8%
// errors), or slow (a 250 ms tail for 10% of requests).
func V2(bad, slow bool) fleethttp.Behavior {
	b := fleethttp.Behavior{ErrorRate: 0.005, LatencyMS: 5, BusinessRate: 0.05}
	if bad {
		b.ErrorRate = 0.08
	}
	if slow {
		b.SlowShare, b.SlowLatencyMS = 0.1, 250
	}
	return b
}

// validate names every missing or out-of-range option.
func (o *Options) validate() error {
	var errs []error
	if o.Fleet == nil || o.Fleet.URL == "" {
		errs = append(errs, errors.New("Fleet: required: the fleet's URL"))
	}
	if o.Journal == nil {
		errs = append(errs, errors.New("Journal: required"))
	}
	if o.Flags == nil {
		errs = append(errs, errors.New("Flags: required: the kill switch's store"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"StepWindow", o.StepWindow}, {"Interval", o.Interval}, {"BaselineWindow", o.BaselineWindow}, {"LeaseTTL", o.LeaseTTL}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s = %s: must not be negative", d.name, d.v))
		}
	}
	switch o.Recover {
	case "", deploy.RecoverResume, deploy.RecoverRollBack:
	default:
		errs = append(errs, fmt.Errorf("Recover = %q: want %q or %q", o.Recover, deploy.RecoverResume, deploy.RecoverRollBack))
	}
	return errors.Join(errs...)
}

// Run deploys v2 and returns the exit code: ExitCompleted when v2 serves
// all traffic (now, or already before: a rerun changes nothing),
// ExitFailed otherwise, ExitUsage for invalid options. It writes what it
// does to w.
func Run(ctx context.Context, o Options, w io.Writer) int {
	if err := o.validate(); err != nil {
		fmt.Fprintf(w, "fleetdeploy: invalid options:\n%v\n", err)
		return ExitUsage
	}
	interval := cmp.Or(o.Interval, 500*time.Millisecond)
	baseline := cmp.Or(o.BaselineWindow, max(8*interval, 12*time.Second))
	steps := o.Steps
	if steps == nil {
		steps = []float64{5, 25, 50, 100}
	}
	fleet := *o.Fleet
	fleet.Behaviors = map[string]fleethttp.Behavior{To: V2(o.Bad, o.Slow)}
	key := journal.Key(Service, string(Environment))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	newest, err := newestRun(ctx, o.Journal, key)
	if err != nil {
		fmt.Fprintln(w, "fleetdeploy: reading the journal:", err)
		return ExitFailed
	}
	done := newest != nil && newest.Outcome == string(deploy.Completed) && newest.From == From && newest.To == To
	fresh, why := newest == nil || !newest.Finished.IsZero() && !done, ""
	if newest != nil {
		why = fmt.Sprintf("the last, run %s, ended %s", newest.ID, deploy.Outcome(newest.Outcome))
	}
	if err := armKillSwitch(ctx, o.Flags, fresh, why, w); err != nil {
		fmt.Fprintln(w, "fleetdeploy: the kill switch:", err)
		return ExitFailed
	}

	metrics := o.Metrics
	var warm time.Time // when the scrapes cover a baseline
	if metrics == nil {
		src := &scrape.Source{Targets: fleet.Targets, Metrics: promcount.Metrics{Business: "business_events_total"}}
		scraping := make(chan struct{})
		go func() {
			defer close(scraping)
			src.Run(ctx, interval/2)
		}()
		defer func() { cancel(); <-scraping }()
		metrics = src
		warm = time.Now().Add(baseline + interval)
		if !done {
			fmt.Fprintf(w, "Scraping the fleet's /metrics every %s: a %s baseline before deploying.\n", interval/2, baseline)
		}
	}

	plan := &deploy.Plan{
		Service: Service, Version: To, Previous: From, Environment: Environment,
		Change: deploy.Change{
			Engineer: "ana@example.com",
			What:     "checkout renders the basket server-side",
			Why:      "halve time to first paint on mobile",
			Expected: "same error rate and latency; same orders per request",
		},
		Tests: deploy.Named("CI passed for v2", deploy.CheckFunc(func(context.Context, *deploy.Plan) error {
			return nil // a real plan asks the CI system about exactly p.Version
		})),
		Strategy: strategy.Canary{Steps: steps, StepWindow: cmp.Or(o.StepWindow, 3*time.Second)},
		Target:   strategy.Target{Fleet: &fleet, Router: &fleet},
		Metrics:  metrics,
		// P99 is not judged: a demo's seconds-long baseline cannot bound a
		// 1% tail, and the judge would call every final step inconclusive.
		Verify:     verify.Policy{Interval: interval, BaselineWindow: baseline, Latency: verify.LatencyLimits{P99: math.Inf(1)}},
		Flags:      o.Flags,
		KillSwitch: KillSwitch,
		Observers:  o.Observers,
		Journal:    o.Journal,
		LeaseTTL:   cmp.Or(o.LeaseTTL, DefaultLeaseTTL),
		Holder:     o.Holder,
		Recover:    cmp.Or(o.Recover, deploy.RecoverResume),
	}
	start := time.Now()
	// A recovery that only rolls back needs no baseline: it goes at once.
	// Anything else — a new deployment, a resume — waits for the scrapes.
	rollBackOnly := newest != nil && newest.Finished.IsZero() && plan.Recover == deploy.RecoverRollBack
	if !done && !rollBackOnly && sleep(ctx, time.Until(warm)) != nil {
		return ExitFailed
	}
	rep, runErr := runPastDeadHolders(ctx, plan, key, w)
	fmt.Fprintf(w, "\n%s after %s: %s\n", rep.Outcome, time.Since(start).Round(time.Millisecond), rep.Reason)
	var held *journal.HeldError
	var v *verify.Verdict
	switch {
	case errors.As(runErr, &held):
		fmt.Fprintf(w, "%s is held by %s (lease until %s)", key, held.Lease.Holder, held.Lease.Expires.Format(time.RFC3339))
		if held.Run != "" {
			fmt.Fprintf(w, ", running %s since %s", held.Run, held.Started.Format(time.RFC3339))
		}
		fmt.Fprintln(w, ": nothing was changed.")
	case errors.Is(runErr, deploy.ErrFenced):
		fmt.Fprintln(w, "This deployer lost its lease and stopped without touching the fleet again; the holder that took over finishes the deployment.")
	case errors.As(runErr, &v):
		fmt.Fprintf(w, "the verdict that decided it: %s\n", v.Reason)
	case errors.Is(runErr, deploy.ErrOperatorAbort):
		fmt.Fprintln(w, "an operator aborted it.")
	}
	if s, err := fleet.State(context.WithoutCancel(ctx)); err == nil {
		fmt.Fprintf(w, "fleet now: %v, traffic %v\n", s.Versions(), s.Traffic)
	}
	if o.Report != "" && rep.Record.Runbook.Service != "" {
		n, err := report.WriteFile(o.Report, &rep.Record)
		if err != nil {
			fmt.Fprintf(w, "\nthe report was not written: %v\n", err)
			return ExitFailed
		}
		fmt.Fprintf(w, "\nThe report of this run: %s (%d KiB)\n", o.Report, (n+1023)/1024)
	}
	if runErr != nil {
		return ExitFailed
	}
	return ExitCompleted
}

// newestRun returns key's newest run, or nil when it has none.
func newestRun(ctx context.Context, j journal.Reader, key string) (*journal.Run, error) {
	runs, err := j.Runs(ctx, key, 1)
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	return &runs[0], nil
}

// armKillSwitch puts the kill switch in place: created on when the store
// lacks it, and, for a new deployment (fresh), turned on again when a
// rollback left it off, saying why. A recovery of an interrupted run, or a
// rerun of one that completed, finds it as it was.
func armKillSwitch(ctx context.Context, store flags.Store, fresh bool, why string, w io.Writer) error {
	f, err := store.Get(ctx, KillSwitch)
	switch {
	case errors.Is(err, flags.ErrNotFound):
		fmt.Fprintf(w, "Kill switch %q created, on.\n", KillSwitch)
		return store.Set(ctx, flags.Flag{Name: KillSwitch, Enabled: true, Description: "render the basket on the server (v2)"})
	case err != nil:
		return err
	case f.Enabled || !fresh:
		return nil
	}
	fmt.Fprintf(w, "Kill switch %q turned on again for a new deployment: %s.\n", KillSwitch, why)
	f.Enabled = true
	return store.Set(ctx, f)
}

// runPastDeadHolders runs the plan. When the lease is held by a process of
// this host that no longer runs, it waits for the lease to lapse and runs
// again; a live holder, or one elsewhere, ends it with ErrInProgress.
func runPastDeadHolders(ctx context.Context, p *deploy.Plan, key string, w io.Writer) (*deploy.Report, error) {
	for attempt := 0; ; attempt++ {
		if l, err := p.Journal.Holder(ctx, key); err == nil && attempt < 5 {
			if wait := time.Until(l.Expires); wait > 0 && Dead(l.Holder) {
				fmt.Fprintf(w, "%s is held by %s, a process of this host that no longer runs: waiting %s for its lease to lapse, then taking over.\n",
					key, l.Holder, wait.Round(time.Millisecond))
				if err := sleep(ctx, wait+10*time.Millisecond); err != nil {
					return &deploy.Report{Outcome: deploy.Aborted, Reason: "interrupted while waiting for a dead holder's lease to lapse; nothing was changed"},
						fmt.Errorf("%w: %w", deploy.ErrAborted, err)
				}
				continue
			}
		}
		rep, err := deploy.Run(ctx, p)
		var held *journal.HeldError
		if errors.As(err, &held) && Dead(held.Lease.Holder) && attempt < 5 {
			continue // lost a race with the lease's lapse
		}
		return rep, err
	}
}

// Dead reports whether holder, a lease holder's name in the library's
// default form "host/pid", names a process of this host that no longer
// runs. Any other name, another host's or a live process's, is not dead.
func Dead(holder string) bool {
	i := strings.LastIndexByte(holder, '/')
	if i < 0 {
		return false
	}
	host, err := os.Hostname()
	if err != nil || holder[:i] != host {
		return false
	}
	pid, err := strconv.Atoi(holder[i+1:])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return !running(pid)
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
