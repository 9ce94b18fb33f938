// Package safedeploy makes fast production deployments safe: reversible,
// observed in real time, exposed to a few users first, and undone without a
// code change when they go wrong.
//
// This package holds only this overview. The library is a set of small
// interfaces that compose into a deploy.Plan, which deploy.Run carries
// through five phases:
//
//  1. Pre-flight (deploy.Check): the tests passed for exactly this
//     version; no pending migration removes what running code uses; a
//     risky change has a kill-switch flag in place; there is a fast way
//     back (a flag to turn off, or a strategy that keeps the old version
//     serving; a redeploy only when the plan says why it is acceptable);
//     the team is notified of visible disruption; production only takes
//     versions that completed in staging. Every failing check is reported
//     at once, and the pre-deploy metric baseline is captured here.
//  2. Database first (migrate.Runner): migrations are applied before any
//     code changes, lock timeouts retried with backoff, and the database
//     verified healthy. A failure stops the deployment with code untouched.
//  3. Deploy (strategy.Strategy): strategy.Direct, strategy.Rolling,
//     strategy.BlueGreen or strategy.Canary moves a strategy.Target
//     (a fleet, and a router or switch) step by step, and can undo every
//     step it took.
//  4. Verify (verify.Judge): at each step the executor reads a
//     verify.MetricSource interval by interval and judges the new version
//     against the baseline: error rate, latency P50/P95/P99, a business
//     metric and critical-path probes, over 5 minutes per canary step and
//     15 minutes otherwise (a day for significant features); and, with a
//     verify.LogSource (deploy.Plan.Logs), the logs, for error patterns the
//     old version did not log (package verify/logs).
//  5. Complete or roll back (deploy.Decide): complete when every window
//     held, all instances run the new version and the plan's flags are
//     cleaned up; otherwise turn the kill switch off, then roll back — or
//     roll forward when the new version has already written data the old one
//     cannot read, or fix forward when a migration failed.
//
// Every step is an deploy.Event sent to observers (deploy.Printer,
// deploy.SlogObserver) and kept in a runbook.Record; deploy.Plan.Runbook
// fills the team's runbook from the plan.
//
// A deployment, end to end, against the simulated fleet of
// strategytest.Fleet (put your own fleet, router, metrics, migrations and
// flag store behind the same interfaces):
//
//	fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 8, RPS: 100})
//	plan := &deploy.Plan{
//		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
//		Change: deploy.Change{Engineer: "ana", What: "server-side basket", Why: "faster first paint"},
//		Tests: deploy.CheckFunc(func(ctx context.Context, p *deploy.Plan) error {
//			return ci.Passed(ctx, p.Version) // your CI
//		}),
//		Strategy:  strategy.Canary{}, // 1% → 5% → 25% → 50% → 100%, 5 minutes each
//		Target:    strategy.Target{Fleet: fleet, Router: fleet},
//		Metrics:   fleet,
//		Observers: []deploy.Observer{deploy.Printer(os.Stdout)},
//	}
//	report, err := deploy.Run(ctx, plan)
//	switch {
//	case errors.Is(err, deploy.ErrRolledBack):
//		// v2 was worse than v1; traffic is back on v1. report.Verdict has the numbers.
//	case err != nil:
//		// see report.Outcome: aborted in pre-flight, roll forward required, …
//	}
//
// Deployments outlive the process that runs them with a journal
// (deploy.Plan.Journal; package journal, in SQLite or PostgreSQL): one
// deployment per service at a time, crash recovery, and operators' pause,
// promote and abort from another process. Package report renders a run's
// record as an HTML page; package notify tells a team channel, off the
// run's path. Every call into your code is bounded and recovered from
// panic: a fault in it is a failure the decision table answers.
//
// Test kits: verifytest scripts metric sources and checks your own with a
// conformance suite; flagstest, migratetest and journaltest do the same for
// flag stores, migration runners and journals; strategytest simulates
// fleets that can be told to fail, and checks your own.
package safedeploy
