// Package deploy runs a deployment Plan through the five phases and decides
// how it ends.
//
// A Plan says what is deployed (service, version, previous version,
// environment, the Change with its engineer, what, why and expected
// behaviour) and how: pre-flight Checks, migrations, a strategy.Strategy
// and its strategy.Target, a verify.MetricSource with a verify.Policy (and,
// optionally, a verify.LogSource for the log-pattern rule), a
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
//     user's Checks, and the pre-deploy baseline (with Plan.Logs, the old
//     version's logs over the same window too). All failures come back in
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
//     Policy.Escalate says to go on. With Plan.Logs, each interval also reads
//     both versions' logs into a logs.Detector, weighed by the requests the
//     metric source counted (the old version alongside where it serves,
//     else its logs over the baseline window); each new error pattern is a
//     KindPattern event and is listed in the verdicts, and
//     Policy.Patterns.Action decides what it does: by default it holds the
//     step (the window cannot pass: it ends inconclusive, escalated or
//     rolled back), verify.PatternRollback fails the interval,
//     verify.PatternReport only lists it. A pattern held and escalated to a
//     person who says to go on does not hold the later steps. A log source
//     that fails MaxConsecutiveErrors reads in a row keeps the window from
//     passing under Hold, and fails it under Rollback.
//  5. Decide: on success, the plan's Cleanup flags are deleted and the
//     promotion recorded. On failure, Decide's table chooses: turn the kill
//     switch off first, then roll back (the strategy's undo, on a context of
//     its own so that it runs even when the caller cancelled) — or leave the
//     new version in place when it has already mutated data, and report that
//     a roll forward is required.
//
// A deployment that stops before it asks the target for any change — the
// strategy refuses the fleet's state, the caller cancels — changes nothing
// on its way out, not even the kill switch another deployment may depend
// on, and ends Aborted with ErrAborted. Plan.Schema without a linter for
// the pending migrations is refused in pre-flight: nothing could tell what
// they remove.
//
// # User code is a fault domain
//
// Every call into code the plan supplies — metric and log sources, checks, probes,
// the fleet, router and switch, the flag store, the migration runner, the
// judge, the escalate hook, observers — is recovered from panic where Run
// calls it (a *PanicError carrying the stack) and, where it can block,
// bounded by Plan.Timeouts (an error wrapping ErrTimeout). Either counts as
// that call failing: a failed read, a failed check, a failed instance start.
// So a source that hangs, or a probe that panics, rolls back like any other
// failure instead of hanging the run or unwinding through it with traffic
// on the new version. An observer that panics or hangs is detached and the
// record says so; the deployment goes on, since watching it is not part of
// it. Observers are called in order, outside the run's state lock, with the
// context of the work that produced each event; a Flusher observer (a
// notifier with a queue of its own) is flushed, with Plan.FlushTimeout,
// when the run ends.
//
// An impossible pre-deploy baseline (NaN, infinite or negative counts, more
// errors than requests, a histogram that is not cumulative) is refused in
// pre-flight, naming the field and its value: a rule compared with NaN
// never fails, so accepting it would silently turn the rule off.
//
// # Deployments that outlive the process
//
// With Plan.Journal (package journal: in memory, SQLite or PostgreSQL), Run
// takes a lease on the service in its environment with a fencing token, so
// that one deployment runs at a time across processes and hosts (a second
// fails fast with ErrInProgress); writes an intent before every change to
// the target and the result after it; obeys operators' pause, resume,
// promote and abort at every interval; and finishes with the record in the
// journal. A holder that loses its lease stops without touching the target
// again (Superseded, ErrFenced). A run left unfinished by a crashed process
// is taken over by the next Run once its lease expires: the journal is
// reconciled with what the target reports, and the takeover recorded. A
// rerun of a completed plan changes nothing.
//
// Plan.Recover chooses what the takeover does. RecoverResume resumes the
// run at the step it was in: the strategy (a strategy.Resumer: Canary,
// Rolling, BlueGreen and Direct are) checks that the target's instances fit
// that step and completes its changes, the step's window is observed again
// from its start — what the crashed process saw is not counted, so no
// observation is skipped — against a fresh baseline of the previous
// version where it still serves traffic (else the interrupted run's own
// baseline, kept in the journal), and the remaining steps follow, in the
// same journal run. Where that is impossible (another plan's run; one that
// had decided to roll back, failed a verdict, ended a step inconclusive
// with no one letting it go on, or was aborted by an operator, even after
// the crash; a strategy that cannot resume; a target whose state fits no
// step; an instance never seen ready that cannot be stopped; a failing
// pre-flight) the run is rolled back, and the takeover entry, the record
// and the report's reason say why.
//
// RecoverRollBack, the default, puts the target back on the previous
// version at once. It is the default because the crash left the new
// version serving traffic that no one observed for as long as the lease
// took to lapse, and a resume keeps it serving while the new holder
// re-reads a baseline and observes the step all over again: the version
// known to be good is the safe answer when no one chose otherwise. A team
// that trusts its canary steps, or whose steps are long and costly to
// repeat from the start, sets RecoverResume.
//
// Callers branch on the returned error with errors.Is (ErrRolledBack,
// ErrRollForward, ErrPreflight, ErrAborted, ErrTimeout…) and errors.As (*verify.Verdict for the
// numbers behind a failed verification, *strategy.UndoError for what an
// unfinished rollback left behind, *PanicError for a panic in user code).
// The Report has the outcome, the decision, the baseline and the
// runbook.Record of every event. Outcomes and actions are short stable
// tokens ("rolled_back", "flag_off") as stored in the record's JSON; their
// String methods give the words.
//
// Waits use the time package and contexts only, so tests run 15-minute
// windows in microseconds inside testing/synctest bubbles.
package deploy
