package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
)

// ErrInvalidPlan is returned (wrapped) by Validate and Run for a plan with
// invalid fields; the error lists every one of them.
var ErrInvalidPlan = errors.New("deploy: invalid plan")

// An Environment is a stage code flows through: dev, then staging, then
// production.
type Environment string

// The environments, in promotion order.
const (
	Dev        Environment = "dev"
	Staging    Environment = "staging"
	Production Environment = "production"
)

// previous returns the environment a version must complete in first, or
// "": production requires staging; dev and staging take any version.
func (e Environment) previous() Environment {
	if e == Production {
		return Staging
	}
	return ""
}

// A Change describes what a deployment changes, for people and for the
// pre-flight checks.
type Change struct {
	// Engineer is the person responsible for the deployment.
	Engineer string
	// What changes, Why, and the Expected behaviour afterwards.
	What, Why, Expected string
	// Risky marks a change that must be guarded by a kill-switch flag.
	Risky bool
	// Significant marks a significant feature: its final observation
	// window is a full daily cycle (verify.Policy.SignificantWindow).
	Significant bool
	// Disruption, if set, describes disruption users will see (a
	// maintenance page, a slower endpoint); the team must be notified
	// before the deployment starts.
	Disruption string
	// MutatesData reports that the new version writes data the previous
	// version cannot read. Once it has served traffic, rolling back would
	// lose or corrupt data, so a failure is fixed by rolling forward.
	MutatesData bool
	// Trivial, if set, marks the change trivial and says why: a trivial
	// change may go to production without first completing in staging.
	Trivial string
}

// A Plan describes one deployment of one service. Run carries it out.
type Plan struct {
	// Service names the service being deployed.
	Service string
	// Version is the version being deployed; Previous is the one serving now.
	Version, Previous string
	// Environment is where the deployment happens.
	Environment Environment
	// Change describes the change.
	Change Change

	// Tests reports whether the tests passed for exactly Version. It is
	// required: no deployment without a tested version.
	Tests Check
	// Checks are further pre-flight checks.
	Checks []Check

	// Migrations, if set, holds the schema changes to apply before any code
	// changes.
	Migrations migrate.Runner
	// Linter, if set, lints every pending migration's SQL in pre-flight:
	// error findings stop the deployment, and the tables and columns it
	// finds removed are checked against Schema (migrate/pglint for
	// Postgres).
	Linter migrate.Linter
	// Schema declares the tables and columns each version uses, so that
	// pre-flight refuses a migration that removes what running code needs.
	Schema migrate.Usage
	// MigrationRetry bounds how long a migration meeting lock contention is
	// retried with backoff; zero means one minute.
	MigrationRetry time.Duration

	// Strategy moves Target from Previous to Version.
	Strategy strategy.Strategy
	Target   strategy.Target

	// Metrics reports how each version behaves; Verify says how to judge it.
	Metrics verify.MetricSource
	Verify  verify.Policy
	// Logs, if set, reports the templates of each version's log lines
	// (logs.Collector, the embedded default; loki.Source): the log-pattern
	// rule, Verify.Patterns, then compares the new version's warnings and
	// errors, per request, with the old version's at every interval —
	// the old version serving alongside where it does, else its logs over
	// the baseline window — and a new error pattern holds the step by
	// default (verify.PatternHold). Pre-flight reads the baseline's logs
	// and fails if it cannot.
	Logs verify.LogSource

	// Flags holds the feature flags the plan names.
	Flags flags.Store
	// KillSwitch names the flag that turns the change off. Turning it off is
	// the fastest rollback, and the first thing done on failure.
	KillSwitch string
	// Cleanup names flags to delete once the deployment completes.
	Cleanup []string
	// AcceptRedeploy, if set, says why a redeploy of Previous is an
	// acceptable way back for this change. Without it, a plan with neither a
	// kill switch nor a strategy that keeps Previous serving is refused.
	AcceptRedeploy string

	// Notifier tells the team about visible disruption before it starts.
	Notifier Notifier
	// Promotions records which versions completed in which environment. If
	// nil, promotion is not checked — and Validate refuses production.
	Promotions Promotions

	// UndoTimeout bounds an undo, which runs even when the caller's context
	// is done; zero means five minutes.
	UndoTimeout time.Duration
	// Timeouts bound each call into the code the plan supplies; zero
	// fields take the defaults.
	Timeouts Timeouts
	// Observers receive every event of the run.
	Observers []Observer
	// Journal, if set, keeps the run outside this process: Run takes the
	// service's lease in the environment (refusing with ErrInProgress
	// while another holder has it), finishes a run an earlier process left
	// unfinished (see Recover), writes every decision and every change to
	// the target before the next action that depends on it, and takes
	// operators' controls (journal.Pause, Resume, Promote, Abort) at every
	// interval. A rerun of a plan that already completed changes nothing.
	Journal journal.Journal
	// LeaseTTL is the lease's time-to-live; zero means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Holder names this process in the lease, for people; empty means
	// "host/pid".
	Holder string
	// Recover says what to do with a run an earlier process left
	// unfinished; empty means RecoverRollBack.
	Recover Recovery

	// FlushTimeout bounds the final Flush of each observer that is a
	// Flusher; zero means DefaultFlushTimeout.
	FlushTimeout time.Duration
}

// A Notice tells the team about a deployment that will visibly disrupt users.
type Notice struct {
	Service, Version string
	Environment      Environment
	Engineer         string
	Disruption       string
}

// A Notifier sends a Notice to the team (chat, e-mail, paging). Notify
// returns once the notice is delivered, or an error saying why it was not;
// a deployment with visible disruption does not start without it.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// NotifierFunc turns a function into a Notifier.
type NotifierFunc func(ctx context.Context, n Notice) error

// Notify calls f(ctx, n).
func (f NotifierFunc) Notify(ctx context.Context, n Notice) error { return f(ctx, n) }

// Validate returns nil or one error, wrapping ErrInvalidPlan, that names
// every invalid field and its value. It does no I/O.
func (p *Plan) Validate() error {
	if p == nil {
		return fmt.Errorf("%w: nil plan", ErrInvalidPlan)
	}
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", field, value, problem))
	}
	nested := func(prefix string, err error) {
		errs = append(errs, errlist.Prefix(prefix, err))
	}
	if p.Service == "" {
		bad("Service", `""`, "must name the service")
	}
	if p.Version == "" {
		bad("Version", `""`, "must name the version to deploy")
	}
	if p.Previous == "" {
		bad("Previous", `""`, "must name the version serving now")
	}
	if p.Version != "" && p.Version == p.Previous {
		bad("Version", fmt.Sprintf("%q", p.Version), "is the same as Previous: nothing to deploy")
	}
	switch p.Environment {
	case Dev, Staging, Production:
	default:
		bad("Environment", fmt.Sprintf("%q", p.Environment), `unknown; want "dev", "staging" or "production"`)
	}
	if p.Environment == Production && p.Promotions == nil && p.Change.Trivial == "" {
		bad("Promotions", "nil", "production needs the promotion history to check the version completed in staging")
	}
	if p.Change.Engineer == "" {
		bad("Change.Engineer", `""`, "every deployment has a responsible engineer")
	}
	if p.Change.What == "" {
		bad("Change.What", `""`, "must say what changes")
	}
	if p.Tests == nil {
		bad("Tests", "nil", "must check that the tests passed for this version")
	}
	for i, c := range p.Checks {
		if c == nil {
			bad(fmt.Sprintf("Checks[%d]", i), "nil", "must be a check")
		}
	}
	if p.MigrationRetry < 0 {
		bad("MigrationRetry", p.MigrationRetry, "must not be negative")
	}
	if p.UndoTimeout < 0 {
		bad("UndoTimeout", p.UndoTimeout, "must not be negative")
	}
	p.Timeouts.validate(bad)
	if p.LeaseTTL < 0 || p.LeaseTTL > 0 && p.LeaseTTL < 30*time.Millisecond {
		bad("LeaseTTL", p.LeaseTTL, "must be zero (the default) or at least 30ms")
	}
	switch p.Recover {
	case "", RecoverRollBack, RecoverResume:
	default:
		bad("Recover", fmt.Sprintf("%q", p.Recover), `unknown; want "roll_back" or "resume"`)
	}
	if p.FlushTimeout < 0 {
		bad("FlushTimeout", p.FlushTimeout, "must not be negative")
	}
	if p.Target.Fleet == nil {
		bad("Target.Fleet", "nil", "the executor confirms every instance runs the new version")
	}
	if p.Strategy == nil {
		bad("Strategy", "nil", "must say how to deploy")
	} else if v, ok := p.Strategy.(strategy.Validator); ok {
		// A strategy validates its own fields and the target it is given:
		// the target's problems are the plan's Target's, named once.
		for _, e := range errlist.Flatten(v.Validate(p.Target)) {
			switch {
			case strings.HasPrefix(e.Error(), "Target.Fleet = "):
				// reported above
			case strings.HasPrefix(e.Error(), "Target."):
				errs = append(errs, e)
			default:
				nested("Strategy.", e)
			}
		}
	}
	for i, o := range p.Observers {
		if o == nil {
			bad(fmt.Sprintf("Observers[%d]", i), "nil", "must be an observer")
		}
	}
	if p.Metrics == nil {
		bad("Metrics", "nil", "verification needs a metric source: compare with the baseline, never with nothing")
	}
	nested("Verify.", p.Verify.Validate())
	if (p.KillSwitch != "" || len(p.Cleanup) > 0) && p.Flags == nil {
		bad("Flags", "nil", "KillSwitch and Cleanup name flags, so a flag store is needed")
	}
	if p.Change.Risky && p.KillSwitch == "" {
		bad("KillSwitch", `""`, "a risky change must be guarded by a kill-switch flag")
	}
	if p.Change.Disruption != "" && p.Notifier == nil {
		bad("Notifier", "nil", "the change declares visible disruption, so the team must be notified")
	}
	if p.KillSwitch == "" && !p.describe().Instant && p.AcceptRedeploy == "" {
		bad("AcceptRedeploy", `""`, fmt.Sprintf("no fast rollback path: no kill switch, and strategy %s goes back only by redeploying; add a kill-switch flag, use a strategy that keeps the previous version serving (Canary with a Router, BlueGreen), or say why a redeploy is acceptable", strategyName(p.Strategy)))
	}
	if err := errlist.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPlan, err)
	}
	return nil
}

// describe returns what the strategy would do to the target; strategies
// that do not describe themselves are taken to go back by redeploying.
func (p *Plan) describe() strategy.Description {
	if d, ok := p.Strategy.(strategy.Describer); ok {
		return d.Describe(p.Target)
	}
	return strategy.Description{Name: strategyName(p.Strategy), Back: "redeploy the previous version"}
}

func strategyName(s strategy.Strategy) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%T", s)
}
