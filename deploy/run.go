package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
)

// Sentinel errors a caller can branch on with errors.Is. A failed Run's
// error wraps one of them, together with the cause: a *verify.Verdict when
// verification failed, a *strategy.UndoError when the undo left things
// behind.
var (
	// ErrPreflight: a pre-flight check failed; nothing was changed.
	ErrPreflight = errors.New("deploy: pre-flight failed")
	// ErrMigration: a migration failed or left the database unhealthy; no
	// code was changed, and the fix is forward.
	ErrMigration = errors.New("deploy: migration failed")
	// ErrRolledBack: the deployment failed and was rolled back.
	ErrRolledBack = errors.New("deploy: rolled back")
	// ErrRollForward: the deployment failed after the new version mutated
	// data; it was left in place and a fix must roll forward.
	ErrRollForward = errors.New("deploy: roll forward required")
	// ErrRollbackFailed: the deployment failed and the rollback did not
	// finish; the error names everything left in an unexpected state.
	ErrRollbackFailed = errors.New("deploy: rollback failed")
	// ErrAborted: the deployment stopped before it asked the target for
	// any change — the strategy refused the target's state, or the caller
	// cancelled — so nothing was changed and nothing was undone.
	ErrAborted = errors.New("deploy: aborted before any change")
	// ErrIncomplete: the new version is fully deployed and verified, but
	// clean-up (removing the plan's flags) failed.
	ErrIncomplete = errors.New("deploy: deployed, clean-up incomplete")
)

// An Outcome is how a run ended. Its value is a short token that stays
// the same across releases, as stored in a runbook.Record; String gives the
// words for people.
type Outcome string

// The outcomes of a run.
const (
	// Completed: every window held, all instances run the new version, the
	// plan's flags are cleaned up.
	Completed Outcome = "completed"
	// Aborted: the plan was invalid, pre-flight failed, or the deployment
	// stopped before it asked the target for any change; nothing changed.
	Aborted Outcome = "aborted"
	// RolledBack: the deployment failed and everything it changed was undone.
	RolledBack Outcome = "rolled_back"
	// RollForwardRequired: the deployment failed after the new version
	// mutated data; it was left in place for a fix to roll forward.
	RollForwardRequired Outcome = "roll_forward_required"
	// FixForwardRequired: a migration failed; code was never changed.
	FixForwardRequired Outcome = "fix_forward_required"
	// RollbackFailed: the undo did not finish; the error names what is left.
	RollbackFailed Outcome = "rollback_failed"
	// Incomplete: deployed and verified, but clean-up failed.
	Incomplete Outcome = "incomplete"
	// Superseded: the run lost its lease (see Plan.Journal) and stopped
	// without touching the target again; the holder that took over
	// finishes the deployment.
	Superseded Outcome = "superseded"
)

// String returns the outcome in words: "rolled back", "deployed, clean-up
// incomplete"…; an unknown token is returned as it is.
func (o Outcome) String() string {
	switch o {
	case RolledBack:
		return "rolled back"
	case RollForwardRequired:
		return "roll forward required"
	case FixForwardRequired:
		return "fix forward required"
	case RollbackFailed:
		return "rollback failed"
	case Incomplete:
		return "deployed, clean-up incomplete"
	}
	return string(o)
}

// maxNamedChanges is how many of a run's changes it keeps by name, for an
// error that must say what could not be undone; the rest are counted.
const maxNamedChanges = 20

// DefaultUndoTimeout bounds an undo when Plan.UndoTimeout is zero.
const DefaultUndoTimeout = 5 * time.Minute

// A Report is the result of a run.
type Report struct {
	Outcome Outcome
	// Reason explains the outcome in one line.
	Reason string
	// Decision is the decision table's answer, when something failed.
	Decision *Decision
	// Baseline is the pre-deploy baseline, once captured.
	Baseline verify.Baseline
	// Verdict is the last verification verdict, if any.
	Verdict *verify.Verdict
	// Record is the run's record: the runbook and every event.
	Record runbook.Record
}

// Run carries out the plan through the five phases — pre-flight, database,
// deploy, verify, complete or roll back — and reports how it ended. It
// returns a nil error only when the deployment completed. Otherwise the
// error wraps ErrInvalidPlan, ErrPreflight, ErrMigration, ErrRolledBack,
// ErrRollForward, ErrRollbackFailed or ErrIncomplete, and the Report says
// what was done.
//
// Cancelling ctx stops the deployment and undoes what was changed; the
// undo runs on a context of its own, bounded by Plan.UndoTimeout.
func Run(ctx context.Context, p *Plan) (*Report, error) {
	r := &run{plan: p, report: &Report{}, timeouts: Timeouts{}.withDefaults()}
	r.report.Record.Started = time.Now()
	if p == nil {
		r.plan = &Plan{}
	}
	if err := p.Validate(); err != nil {
		return r.finish(ctx, Aborted, "the plan is invalid", err)
	}
	r.policy = p.Verify.WithDefaults()
	r.timeouts = p.Timeouts.withDefaults()
	r.report.Record.Runbook = p.Runbook(r.report.Record.Started)
	if p.Journal != nil {
		var rep *Report
		var err error
		ctx, rep, err = r.openJournal(ctx)
		defer r.journal.release()
		if rep != nil {
			return rep, err
		}
	}

	pending, err := r.preflight(ctx)
	if err != nil && r.resuming() != nil {
		return r.abandon(ctx, err)
	}
	if err != nil {
		r.decide(ctx, Failure{Phase: PhasePreflight}, nil)
		return r.finish(ctx, Aborted, "pre-flight failed; nothing was changed", err)
	}
	if err := r.migrate(ctx, pending); err != nil {
		if r.resuming() != nil {
			return r.abandon(ctx, err)
		}
		d := r.decide(ctx, Failure{Phase: PhaseDatabase}, nil)
		return r.finish(ctx, FixForwardRequired, d.Reason, err)
	}
	undo, err := r.deploy(ctx)
	if err != nil && r.resuming() != nil && (undo == nil || errors.Is(err, strategy.ErrCannotResume)) {
		// The strategy did not take the interrupted run over: reconcile
		// the target with the journal instead.
		return r.abandon(ctx, err)
	}
	if err != nil {
		return r.fail(ctx, undo, err)
	}
	return r.complete(ctx)
}

// run is the state of one Run.
type run struct {
	plan     *Plan
	policy   verify.Policy
	timeouts Timeouts
	journal  *journaled // nil without Plan.Journal
	report   *Report
	judge    verify.Judge
	patterns *logs.Detector // nil without Plan.Logs

	deliver sync.Mutex // serializes events, so observers see them in order
	mu      sync.Mutex // guards the fields below and the report
	current Phase      // the phase under way; guarded by mu
	exposed bool       // the new version has served traffic; guarded by mu
	changed int        // how many changes the run asked of the target; guarded by mu
	changes []string   // the first maxNamedChanges of them, named; guarded by mu
	muted   []bool     // observers detached after a panic or a timeout; guarded by deliver
	skipped string     // why the version skipped staging, if it did
}

// emit records an event and delivers it to the observers. The record is
// updated under mu; observers are called under deliver only, in the order
// the events were recorded, so that a slow observer holds up no one who
// reads or changes the run's state.
func (r *run) emit(ctx context.Context, e Event) {
	r.deliver.Lock()
	defer r.deliver.Unlock()
	r.mu.Lock()
	e.Time = time.Now()
	if e.Kind == KindPhase || e.Phase == PhaseDecide {
		r.current = e.Phase
	}
	if e.Phase == "" {
		e.Phase = r.current
	}
	r.report.Record.Entries = append(r.report.Record.Entries, entry(e))
	r.mu.Unlock()
	r.record(ctx, e)
	ctx = context.WithoutCancel(ctx)
	if r.muted == nil {
		r.muted = make([]bool, len(r.plan.Observers))
	}
	for i, o := range r.plan.Observers {
		if o == nil || r.muted[i] { // an invalid plan may hold nil observers
			continue
		}
		err := call0(ctx, "observer", r.timeouts.Observe, func(ctx context.Context) error {
			o.Observe(ctx, e)
			return nil
		})
		if err != nil {
			what := fmt.Sprintf("observer %d (%T)", i+1, o)
			r.muted[i] = true
			r.mu.Lock()
			r.report.Record.Entries = append(r.report.Record.Entries, entry(Event{Time: time.Now(), Kind: e.Kind, Phase: e.Phase, Step: e.Step,
				Message: what + " detached: it gets no more events; the deployment goes on", Err: err}))
			r.mu.Unlock()
		}
	}
}

func (r *run) phase(ctx context.Context, ph Phase, msg string) {
	r.emit(ctx, Event{Kind: KindPhase, Phase: ph, Message: msg})
}

// finish ends the run with an outcome.
func (r *run) finish(ctx context.Context, o Outcome, reason string, err error) (*Report, error) {
	if res := r.resuming(); res != nil {
		reason += fmt.Sprintf(" (run %s resumed at %s after its holder %s stopped)", res.crashed.ID, res.where, res.crashed.Holder)
	}
	r.report.Outcome, r.report.Reason = o, reason
	rec := &r.report.Record
	rec.Outcome, rec.Reason = string(o), reason
	r.emit(ctx, Event{Kind: KindOutcome, Phase: PhaseDecide, Outcome: o, Message: fmt.Sprintf("%s: %s", o, reason), Verdict: r.report.Verdict, Err: err})
	r.flush(ctx)
	rec.Finished = time.Now()
	r.finishJournal(ctx)
	return r.report, err
}

// flush gives each Flusher observer until the flush deadline to deliver
// what it queued, and records what it could not. The entry is written to
// the record only: the observers have already had the outcome.
func (r *run) flush(ctx context.Context) {
	timeout := cmp.Or(r.plan.FlushTimeout, DefaultFlushTimeout)
	for i, o := range r.plan.Observers {
		f, ok := o.(Flusher)
		if !ok {
			continue
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		err := f.Flush(fctx)
		cancel()
		msg := fmt.Sprintf("observer %d (%T) delivered every event", i+1, o)
		if err != nil {
			msg = fmt.Sprintf("observer %d (%T) did not deliver every event", i+1, o)
		}
		r.mu.Lock()
		r.report.Record.Entries = append(r.report.Record.Entries, entry(Event{Time: time.Now(), Kind: KindOutcome, Phase: PhaseDecide, Message: msg, Err: err}))
		r.mu.Unlock()
	}
}

// preflight runs every check, reports all failures together, and captures
// the baseline. It returns the pending migrations.
func (r *run) preflight(ctx context.Context) ([]migrate.Migration, error) {
	p := r.plan
	r.phase(ctx, PhasePreflight, fmt.Sprintf("pre-flight for %s %s → %s in %s", p.Service, p.Previous, p.Version, p.Environment))
	var errs []error
	check := func(name string, err error) {
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			errs = append(errs, err)
			r.emit(ctx, Event{Kind: KindCheck, Phase: PhasePreflight, Message: name + " failed", Err: err})
			return
		}
		r.emit(ctx, Event{Kind: KindCheck, Phase: PhasePreflight, Message: name + " passed"})
	}

	short := r.timeouts.Call
	check("promotion", r.checkPromotion(ctx))
	check("tests passed for "+p.Version, call0(ctx, "Tests", short, func(ctx context.Context) error { return p.Tests.Check(ctx, p) }))
	var pending []migrate.Migration
	if p.Migrations != nil {
		var err error
		pending, err = call(ctx, "Migrations.Pending", short, p.Migrations.Pending)
		if err == nil {
			err = r.checkMigrations(ctx, pending)
		}
		check(fmt.Sprintf("%d pending migration(s) safe for the running version", len(pending)), err)
	}
	check("fast rollback path", r.checkRollbackPath(ctx))
	for i, c := range p.Checks {
		name := checkName(c, fmt.Sprintf("check %d", i+1))
		check(name, call0(ctx, fmt.Sprintf("check %q", name), short, func(ctx context.Context) error { return c.Check(ctx, p) }))
	}
	check("baseline", r.captureBaseline(ctx))
	if p.Logs != nil {
		check("log baseline", r.captureLogBaseline(ctx))
	}

	// Notify last, so the team hears only of deployments that will start.
	if len(errs) == 0 && p.Change.Disruption != "" {
		check("team notified of disruption", call0(ctx, "Notifier", short, func(ctx context.Context) error {
			return p.Notifier.Notify(ctx, Notice{
				Service: p.Service, Version: p.Version, Environment: p.Environment,
				Engineer: p.Change.Engineer, Disruption: p.Change.Disruption,
			})
		}))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrPreflight, errlist.Join(errs...))
	}
	return pending, nil
}

// checkPromotion refuses a version that has not completed in the previous
// environment, unless the change is trivial.
func (r *run) checkPromotion(ctx context.Context) error {
	p := r.plan
	prev := p.Environment.previous()
	if prev == "" {
		return nil
	}
	done := false
	if p.Promotions != nil {
		var err error
		done, err = call(ctx, "Promotions", r.timeouts.Call, func(ctx context.Context) (bool, error) {
			return completedIn(ctx, p.Promotions, p.Service, p.Version, prev)
		})
		if err != nil {
			return fmt.Errorf("read promotion history: %w", err)
		}
	}
	switch {
	case done:
		return nil
	case p.Change.Trivial != "":
		r.skipped = p.Change.Trivial
		r.emit(ctx, Event{Kind: KindCheck, Phase: PhasePreflight, Message: fmt.Sprintf("%s has not completed in %s; going ahead as a trivial change: %s", p.Version, prev, p.Change.Trivial)})
		return nil
	}
	return fmt.Errorf("%s %s has not completed in %s; promote it there first, or mark the change trivial with a reason", p.Service, p.Version, prev)
}

// checkRollbackPath requires a fast way back — a kill switch that is in the
// store, or a strategy that keeps the previous version serving — or an
// explicit acceptance of a redeploy.
func (r *run) checkRollbackPath(ctx context.Context) error {
	p := r.plan
	d := p.describe()
	if p.KillSwitch != "" {
		_, err := call(ctx, "Flags.Get", r.timeouts.Call, func(ctx context.Context) (flags.Flag, error) { return p.Flags.Get(ctx, p.KillSwitch) })
		if err != nil {
			return fmt.Errorf("kill switch %q is not in place: %w", p.KillSwitch, err)
		}
		return nil
	}
	switch {
	case d.Instant:
		return nil
	case p.AcceptRedeploy != "":
		r.emit(ctx, Event{Kind: KindCheck, Phase: PhasePreflight, Message: "the only way back is a redeploy, accepted: " + p.AcceptRedeploy})
		return nil
	}
	return fmt.Errorf("no kill switch, and strategy %s goes back only by redeploying", d.Name)
}

// captureBaseline reads the previous version's behaviour before anything changes.
func (r *run) captureBaseline(ctx context.Context) error {
	if b, note, ok := r.resumedBaseline(); ok {
		return r.useBaseline(ctx, b, note)
	}
	end := time.Now()
	q := verify.Query{Version: r.plan.Previous, Start: end.Add(-r.policy.BaselineWindow), End: end}
	obs, err := call(ctx, "metric source", r.timeouts.Read, func(ctx context.Context) (verify.Observation, error) { return r.plan.Metrics.Observe(ctx, q) })
	if err == nil {
		// A rule compared with an impossible baseline never fails: refuse it.
		if verr := obs.Validate(); verr != nil {
			err = fmt.Errorf("impossible counts, so no rule could be judged against them: %w", verr)
		} else if obs.Requests == 0 {
			err = fmt.Errorf("no requests: %w", verify.ErrNoData)
		}
	}
	if err != nil {
		return fmt.Errorf("%s over the last %s: %w (verification compares against the baseline, never against zero)", q.Version, r.policy.BaselineWindow, err)
	}
	return r.useBaseline(ctx, verify.Baseline{Version: q.Version, Start: q.Start, End: q.End, Observation: obs}, "")
}

// useBaseline makes b the baseline the judge compares with, and records
// it; note, if set, says where it comes from.
func (r *run) useBaseline(ctx context.Context, b verify.Baseline, note string) error {
	obs := b.Observation
	r.report.Baseline = b
	if err := guard("Policy.Judge", func() { r.judge = r.policy.Judge(r.policy, b) }); err != nil {
		return err
	}
	if r.judge == nil {
		return errors.New("Policy.Judge returned a nil judge")
	}
	for _, w := range obs.Warnings {
		r.emit(ctx, Event{Kind: KindBaseline, Phase: PhasePreflight, Message: "metric source warned about the baseline: " + w})
	}
	for _, nf := range verify.MetricsNotFound(obs) {
		r.emit(ctx, Event{Kind: KindBaseline, Phase: PhasePreflight, Err: nf,
			Message: fmt.Sprintf("the %s rule cannot be judged: its metric %q was not found", nf.Use, nf.Metric)})
	}
	p95, _ := obs.Latency.Quantile(0.95)
	base := &verify.Verdict{Outcome: verify.Pass, Reason: "pre-deploy baseline", Measurements: baselineNumbers(b)}
	r.emit(ctx, Event{Kind: KindBaseline, Phase: PhasePreflight, Verdict: base, Message: fmt.Sprintf(
		"%sbaseline %s over %s: %.0f requests, error rate %.3g%%, P95 %s",
		note, b.Version, b.End.Sub(b.Start), obs.Requests, 100*obs.ErrorRate(), seconds(p95))})
	r.writeBaseline(ctx, b)
	return nil
}

// baselineNumbers are the baseline's figures as measurements: its error
// rate, its latency quantiles and its business rate.
func baselineNumbers(b verify.Baseline) []verify.Measurement {
	o := b.Observation
	m := func(metric, unit string, v float64) verify.Measurement {
		return verify.Measurement{Metric: metric, Unit: unit, Value: v, Baseline: v, Requests: o.Requests, Start: b.Start, End: b.End}
	}
	out := []verify.Measurement{m("error-rate", verify.UnitRate, o.ErrorRate())}
	for _, q := range []struct {
		name string
		q    float64
	}{{"latency-p50", 0.5}, {"latency-p95", 0.95}, {"latency-p99", 0.99}} {
		if v, ok := o.Latency.Quantile(q.q); ok {
			out = append(out, m(q.name, verify.UnitSeconds, v))
		}
	}
	if o.Business > 0 {
		out = append(out, m("business", verify.UnitRate, o.BusinessRate()))
	}
	return out
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond)
}

// checkMigrations lints the pending migrations, when the plan has a
// linter, and checks what they remove against what the code uses. Error
// findings fail the check; warnings are reported as events.
func (r *run) checkMigrations(ctx context.Context, pending []migrate.Migration) error {
	p := r.plan
	linter := p.Linter
	if l, ok := p.Migrations.(migrate.Linter); ok && linter == nil {
		linter = l // the runner can tell what its own migrations do
	}
	declared := len(p.Schema.Running)+len(p.Schema.New) > 0
	if linter == nil && declared && len(pending) > 0 {
		return fmt.Errorf("Plan.Schema declares what the code uses, but nothing can tell what the %d pending migration(s) remove: set Plan.Linter (migrate/pglint for PostgreSQL), or use a runner that lints its own migrations (migrate/sqlite)", len(pending))
	}
	var findings []migrate.Finding
	var lintErrs []error
	for i, m := range pending {
		if linter == nil {
			break
		}
		a, err := call(ctx, "Linter", r.timeouts.Call, func(ctx context.Context) (migrate.Analysis, error) { return linter.Lint(ctx, m) })
		if err != nil {
			lintErrs = append(lintErrs, fmt.Errorf("lint %s: %w", m.ID, err))
			continue
		}
		findings = append(findings, a.Findings...)
		removes := slices.Clip(m.Removes)
		for _, gone := range a.Removes {
			if !slices.Contains(removes, gone) {
				removes = append(removes, gone)
			}
		}
		pending[i].Removes = removes
	}
	findings = append(findings, migrate.CheckRemovals(pending, p.Schema)...)
	for _, f := range findings {
		if f.Severity != migrate.Error {
			r.emit(ctx, Event{Kind: KindCheck, Phase: PhasePreflight, Message: "migration warning: " + f.String()})
		}
	}
	return errlist.Join(append(lintErrs, findingsError(findings))...)
}

// findingsError turns error-severity findings into one error.
func findingsError(fs []migrate.Finding) error {
	var errs []error
	for _, f := range fs {
		if f.Severity == migrate.Error {
			errs = append(errs, errors.New(f.String()))
		}
	}
	return errlist.Join(errs...)
}

// migrate applies the pending migrations in order, retrying lock timeouts
// with backoff, then verifies the database.
func (r *run) migrate(ctx context.Context, pending []migrate.Migration) error {
	p := r.plan
	if p.Migrations == nil {
		return nil
	}
	r.phase(ctx, PhaseDatabase, fmt.Sprintf("applying %d migration(s) before any code changes", len(pending)))
	budget := p.MigrationRetry
	if budget == 0 {
		budget = time.Minute
	}
	for _, m := range pending {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval = time.Second
		b.MaxElapsedTime = budget
		change := journal.Change{Op: "migration", Name: m.ID}
		attempt := func() error {
			if err := r.intent(ctx, change, "apply migration "+m.ID); err != nil {
				return backoff.Permanent(err)
			}
			err := call0(ctx, "Migrations.Apply", r.timeouts.Migration, func(ctx context.Context) error { return p.Migrations.Apply(ctx, m) })
			r.done(ctx, change, "migration "+m.ID+" applied", err)
			if err != nil && !errors.Is(err, migrate.ErrLockTimeout) {
				return backoff.Permanent(err)
			}
			return err
		}
		retrying := func(err error, wait time.Duration) {
			r.emit(ctx, Event{Kind: KindMigration, Phase: PhaseDatabase, Message: fmt.Sprintf("%s met lock contention; retrying in %s", m.ID, wait), Err: err})
		}
		if err := backoff.RetryNotify(attempt, backoff.WithContext(b, ctx), retrying); err != nil {
			err = fmt.Errorf("%w: %s: %w", ErrMigration, m.ID, err)
			r.emit(ctx, Event{Kind: KindMigration, Phase: PhaseDatabase, Message: m.ID + " failed", Err: err})
			return err
		}
		r.emit(ctx, Event{Kind: KindMigration, Phase: PhaseDatabase, Message: m.ID + " applied"})
	}
	left, err := call(ctx, "Migrations.Pending", r.timeouts.Call, p.Migrations.Pending)
	if err == nil && len(left) > 0 {
		err = fmt.Errorf("%d migration(s) still pending after applying, first %s", len(left), left[0].ID)
	}
	if err == nil {
		err = call0(ctx, "Migrations.Verify", r.timeouts.Call, p.Migrations.Verify)
	}
	if err != nil {
		err = fmt.Errorf("%w: database not healthy after migrating: %w", ErrMigration, err)
		r.emit(ctx, Event{Kind: KindMigration, Phase: PhaseDatabase, Message: "verification failed", Err: err})
		return err
	}
	r.emit(ctx, Event{Kind: KindMigration, Phase: PhaseDatabase, Message: "all migrations applied; database healthy"})
	return nil
}

// deploy runs the strategy against the observed target.
func (r *run) deploy(ctx context.Context) (strategy.Undo, error) {
	p := r.plan
	var undo strategy.Undo
	var err error
	if r.resuming() != nil {
		undo, err = r.deployResumed(ctx)
	} else {
		undo, err = r.deployFresh(ctx)
	}
	if err != nil {
		return undo, err
	}
	insts, err := call(ctx, "Fleet.Instances", r.timeouts.Call, p.Target.Fleet.Instances)
	if err != nil {
		return undo, fmt.Errorf("confirm all instances updated: %w", err)
	}
	for _, in := range insts {
		if in.Version != p.Version {
			return undo, fmt.Errorf("instance %s still runs %s after the strategy finished", in.ID, in.Version)
		}
	}
	return undo, nil
}

// deployFresh records the fleet and runs the strategy from its start.
func (r *run) deployFresh(ctx context.Context) (strategy.Undo, error) {
	p := r.plan
	d := p.describe()
	r.phase(ctx, PhaseDeploy, fmt.Sprintf("deploying %s by %s", p.Version, d.Name))
	if err := r.recordFleet(ctx); err != nil {
		return nil, err
	}
	var undo strategy.Undo
	var err error
	if perr := guard("Strategy.Deploy", func() {
		undo, err = p.Strategy.Deploy(ctx, r.target(), strategy.Release{From: p.Previous, To: p.Version}, strategy.GateFunc(r.check))
	}); perr != nil {
		return nil, perr
	}
	return undo, err
}

// complete cleans up the plan's flags and records the promotion.
func (r *run) complete(ctx context.Context) (*Report, error) {
	p := r.plan
	r.phase(ctx, PhaseDecide, "metrics held for every window and all instances run "+p.Version+": completing")
	if len(p.Cleanup) > 0 {
		clean := func() error {
			return call0(ctx, "flag clean-up", r.timeouts.Call, func(ctx context.Context) error { return flags.Cleanup(ctx, p.Flags, p.Cleanup...) })
		}
		b := backoff.WithContext(backoff.WithMaxRetries(backoff.NewExponentialBackOff(), 3), ctx)
		if err := backoff.Retry(clean, b); err != nil {
			r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: "flag clean-up failed", Err: err})
			return r.finish(ctx, Incomplete, p.Version+" is deployed and verified but its flags were not all removed", fmt.Errorf("%w: %w", ErrIncomplete, err))
		}
		r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: "removed flags " + strings.Join(p.Cleanup, ", ")})
	}
	if p.Promotions != nil {
		err := call0(ctx, "Promotions.Record", r.timeouts.Call, func(ctx context.Context) error {
			return p.Promotions.Record(ctx, Promotion{Service: p.Service, Version: p.Version, Environment: p.Environment, Time: time.Now(), Trivial: r.skipped})
		})
		if err != nil {
			return r.finish(ctx, Incomplete, p.Version+" is deployed and verified but its promotion was not recorded", fmt.Errorf("%w: record promotion: %w", ErrIncomplete, err))
		}
	}
	return r.finish(ctx, Completed, fmt.Sprintf("%s serves all traffic in %s", p.Version, p.Environment), nil)
}

// fail responds to a failed deploy per the decision table.
func (r *run) fail(ctx context.Context, undo strategy.Undo, cause error) (*Report, error) {
	var v *verify.Verdict
	if errors.As(cause, &v) {
		r.mu.Lock()
		r.report.Verdict = v
		r.mu.Unlock()
	}
	if fenced := r.journal.isFenced(); fenced != nil {
		// Another holder owns the deployment now: touch nothing.
		return r.finish(ctx, Superseded, "the run lost its lease to another holder, which finishes the deployment; this process stopped without touching the target again", fmt.Errorf("%w (cause: %w)", fenced, cause))
	}
	cancelled := ctx.Err() != nil && !errors.Is(context.Cause(ctx), ErrOperatorAbort)
	if cancelled {
		cause = fmt.Errorf("deployment cancelled: %w", cause)
	}
	if r.journal != nil {
		r.journal.mu.Lock()
		r.journal.undoing = true
		r.journal.mu.Unlock()
	}
	r.mu.Lock()
	exposed, changed, changes := r.exposed, r.changed, slices.Clone(r.changes)
	r.mu.Unlock()
	phase := PhaseDeploy
	if v != nil {
		phase = PhaseVerify
	}
	d := r.decide(ctx, Failure{
		Phase:          phase,
		Refused:        changed == 0,
		Cancelled:      cancelled,
		Aborted:        errors.Is(cause, ErrOperatorAbort),
		FlagControlled: r.plan.KillSwitch != "",
		DataMutated:    r.plan.Change.MutatesData && exposed,
	}, cause)
	if changed == 0 {
		// Nothing was asked of the target, so there is nothing to undo —
		// and the kill switch, which another deployment may depend on,
		// stays as it is.
		return r.finish(ctx, Aborted, d.Reason, fmt.Errorf("%w: %w", ErrAborted, cause))
	}

	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(r.plan.UndoTimeout, DefaultUndoTimeout))
	defer cancel()
	var undoErrs []error
	outcome := RolledBack
	began := time.Now()
	for _, a := range d.Actions {
		switch a {
		case FlagOff:
			if err := r.flagOff(uctx); err != nil {
				undoErrs = append(undoErrs, err)
			}
		case RollBack:
			var err error
			if undo == nil {
				err = fmt.Errorf("the strategy returned no way to undo the %d change(s) it asked for: %s", changed, strings.Join(changes, "; "))
			} else if perr := guard("strategy undo", func() { err = undo(uctx) }); perr != nil {
				err = perr
			}
			if err == nil {
				err = r.sweep(uctx)
			}
			msg := "strategy undone: traffic and instances back on " + r.plan.Previous
			if err != nil {
				msg = "strategy undo did not finish"
				undoErrs = append(undoErrs, err)
			}
			r.emit(uctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: msg, Err: err})
		case RollForward:
			outcome = RollForwardRequired
		}
	}
	r.mu.Lock()
	r.report.Record.RollbackSeconds = time.Since(began).Seconds()
	r.mu.Unlock()
	if fenced := r.journal.isFenced(); fenced != nil {
		// Lost the lease during the undo, which stopped there: the new
		// holder finishes it.
		return r.finish(ctx, Superseded, "the run lost its lease to another holder during its rollback, and stopped touching the target; the holder that took over finishes the rollback", fmt.Errorf("%w (cause: %w)", fenced, cause))
	}
	switch {
	case len(undoErrs) > 0:
		return r.finish(ctx, RollbackFailed, d.Reason+"; but the rollback did not finish", fmt.Errorf("%w: %w (cause: %w)", ErrRollbackFailed, errlist.Join(undoErrs...), cause))
	case outcome == RollForwardRequired:
		return r.finish(ctx, RollForwardRequired, d.Reason, fmt.Errorf("%w: %w", ErrRollForward, cause))
	}
	return r.finish(ctx, RolledBack, d.Reason, fmt.Errorf("%w: %w", ErrRolledBack, cause))
}

// sweep checks, after an undo, what the target reports rather than what
// the strategy believes: an instance of the new version still running (one
// whose start never reported its ID, say) is stopped, and one that cannot
// be is a leftover the rollback's error names.
func (r *run) sweep(ctx context.Context) error {
	t := r.target()
	insts, err := t.Fleet.Instances(ctx)
	if err != nil {
		return fmt.Errorf("confirm the undo: list instances: %w", err)
	}
	var left []strategy.Leftover
	for _, in := range insts {
		if in.Version != r.plan.Version {
			continue
		}
		r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: fmt.Sprintf("instance %s of %s still ran after the undo: stopping it", in.ID, in.Version)})
		if err := t.Fleet.Stop(ctx, in.ID); err != nil {
			left = append(left, strategy.Leftover{Item: "instance " + in.ID, State: "running " + in.Version, Err: err})
		}
	}
	if len(left) > 0 {
		return &strategy.UndoError{Left: left}
	}
	return nil
}

// decide consults the decision table and reports its answer.
func (r *run) decide(ctx context.Context, f Failure, cause error) Decision {
	d := Decide(f)
	r.report.Decision = &d
	acts := make([]string, len(d.Actions))
	for i, a := range d.Actions {
		acts[i] = a.String()
	}
	msg := d.Reason
	if len(acts) > 0 {
		msg = strings.Join(acts, ", then ") + ": " + d.Reason
	}
	r.emit(ctx, Event{Kind: KindDecision, Phase: PhaseDecide, Message: msg, Verdict: r.report.Verdict, Err: cause})
	return d
}
