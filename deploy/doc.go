// Package deploy runs a deployment Plan through the five phases and decides
// how it ends.
//
// A Plan says what is deployed (service, version, previous version,
// environment, the Change with its engineer, what, why and expected
// behaviour) and how: pre-flight Checks, migrations, a strategy.Strategy
// and its strategy.Target, a verify.MetricSource with a verify.Policy, a
// flags.Store with the kill switch and the flags to clean up, a Notifier and
// the Promotions history. Validate reports every invalid field at once; Run
// validates first and changes nothing for an invalid plan.
//
// Run is the only place that knows the order of the phases:
//
//  1. Pre-flight: promotion (production takes only versions that completed
//     in staging, unless Change.Trivial says why not), Tests for exactly
//     Plan.Version, pending migrations checked against Plan.Schema, a fast
//     rollback path (a kill switch present in the store, or a strategy that
//     keeps the previous version serving, or Plan.AcceptRedeploy), the
//     user's Checks, and the pre-deploy baseline. All failures come back in
//     one error wrapping ErrPreflight. The team is notified of declared
//     disruption last, once everything else has passed.
//  2. Database: each pending migration is applied in order; lock timeouts
//     (migrate.ErrLockTimeout) are retried with exponential backoff within
//     Plan.MigrationRetry; then nothing may be pending and the database must
//     verify healthy. A failure ends the run before code changes, with
//     ErrMigration and a fix-forward decision.
//  3. Deploy: the strategy moves the target. Every instance started or
//     stopped and every traffic change is an event.
//  4. Verify: at each step the strategy asks its Gate to go on. The gate
//     observes the step for its window, reading the new version (and the old
//     one where it still serves) every Policy.Interval, running the
//     critical-path probes and feeding the judge. A failing verdict, a probe
//     failure, or Policy.MaxConsecutiveErrors failed reads in a row stop the
//     deployment; a window that ends inconclusive rolls back unless
//     Policy.Escalate says to go on.
//  5. Decide: on success, the plan's Cleanup flags are deleted and the
//     promotion recorded. On failure, Decide's table chooses: turn the kill
//     switch off first, then roll back (the strategy's undo, on a context of
//     its own so that it runs even when the caller cancelled) — or leave the
//     new version in place when it has already mutated data, and report that
//     a roll forward is required.
//
// Callers branch on the returned error with errors.Is (ErrRolledBack,
// ErrRollForward, ErrPreflight…) and errors.As (*verify.Verdict for the
// numbers behind a failed verification, *strategy.UndoError for what an
// unfinished rollback left behind). The Report has the outcome, the
// decision, the baseline and the runbook.Record of every event.
//
// Waits use the time package and contexts only, so tests run 15-minute
// windows in microseconds inside testing/synctest bubbles.
package deploy
