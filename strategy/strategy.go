package strategy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnhealthy is returned (wrapped) when new instances do not become ready
// in time, so that a deployment stops and undoes itself.
var ErrUnhealthy = errors.New("strategy: instance not healthy")

// An Instance is one running copy of the service.
type Instance struct {
	ID      string
	Version string
}

// A Fleet is the set of instances a strategy moves between versions.
// Implementations are safe for concurrent use: strategies start and stop
// instances of one batch at the same time.
type Fleet interface {
	// Instances lists the running instances.
	Instances(ctx context.Context) ([]Instance, error)
	// Start launches one instance of version and returns once it is ready
	// to serve. When it cannot become ready (it crashes, fails its health
	// check, or ctx ends first) Start returns an error, together with the ID
	// of the instance it created, if any, so that the caller can stop it.
	Start(ctx context.Context, version string) (id string, err error)
	// Stop drains and removes the instance.
	Stop(ctx context.Context, id string) error
}

// A Router splits traffic between two versions by weight.
type Router interface {
	// Route sends weight percent (0 to 100) of requests to version canary
	// and the rest to version stable.
	Route(ctx context.Context, stable, canary string, weight float64) error
}

// A Switch sends all traffic to one version at once, as the router in front
// of a blue/green pair does.
type Switch interface {
	// Switch sends every request to version.
	Switch(ctx context.Context, version string) error
}

// A RouterState is a Router that can say how it routes now, so that a
// deployment interrupted by a crash can be reconciled with what the router
// really does rather than with what the journal says was asked of it.
type RouterState interface {
	Router
	// Routing returns the versions the router splits between and the
	// weight in percent on canary; weight 0 with empty versions when it
	// sends everything to one version it does not name.
	Routing(ctx context.Context) (stable, canary string, weight float64, err error)
}

// A SwitchState is a Switch that can say where it sends traffic now.
type SwitchState interface {
	Switch
	// Current returns the version every request goes to.
	Current(ctx context.Context) (string, error)
}

// A Target is what a strategy acts on. Fleet is always needed; Router lets
// Canary split by traffic rather than by instance count; BlueGreen needs a
// Switch, or a Router it sets to 0 or 100.
type Target struct {
	Fleet  Fleet
	Router Router
	Switch Switch
}

// A Release names the versions a deployment moves between.
type Release struct {
	// From is the version serving now, To the version being deployed.
	From, To string
}

// A Step is a point where a strategy stops to ask its Gate whether to go on.
type Step struct {
	// Name describes the step for people: "canary 5%", "batch 2/4".
	Name string
	// Weight is the percentage of traffic (or of instances, for a fleet
	// without a router) the new version serves during the step.
	Weight float64
	// Window is how long the strategy wants the step observed. Zero asks
	// for no observation, only one run of the critical-path probes; a step
	// with Weight 0 has no traffic to measure and is only probed.
	Window time.Duration
	// Final marks the step that completes the rollout: all traffic on the
	// new version, observed for the deployment's main window (a full day
	// for a significant feature). A strategy may observe a short step after
	// it, such as blue/green's keep-warm.
	Final bool
}

// A Gate observes a step and says whether the deployment may go on. The
// executor supplies it; it returns nil to proceed and an error (such as a
// failing verification verdict) to stop.
type Gate interface {
	Check(ctx context.Context, s Step) error
}

// GateFunc turns a function into a Gate.
type GateFunc func(ctx context.Context, s Step) error

// Check calls f(ctx, s).
func (f GateFunc) Check(ctx context.Context, s Step) error { return f(ctx, s) }

// An Undo reverts everything a Deploy changed. It must be able to run with a
// context that is not the (possibly cancelled) one Deploy had. When it cannot
// finish it returns an *UndoError naming everything left in an unexpected
// state.
type Undo func(ctx context.Context) error

// A Strategy moves a Target from one version to another step by step,
// asking the Gate at each step, and knows how to undo every step it took.
//
// Deploy returns an Undo even when it fails (it may be nil if nothing was
// changed). The caller decides whether to run it: the executor undoes on
// failure or cancellation, unless the decision table says to roll forward.
type Strategy interface {
	Deploy(ctx context.Context, t Target, r Release, g Gate) (Undo, error)
}

// A Description says what a strategy will do and how it goes back, for the
// pre-flight check that a fast rollback path exists and for the runbook.
type Description struct {
	// Name is the strategy's name: "canary", "rolling"…
	Name string
	// Steps lists what the strategy does, in order, with the observation
	// window of each observed step.
	Steps []string
	// Instant reports whether the old version keeps serving until the
	// deployment completes, so that going back is a traffic change rather
	// than a redeploy.
	Instant bool
	// Back says what the undo does.
	Back string
	// BackTime bounds how long going back takes, when it is more than a
	// traffic change (zero when Instant): one wave of starts, each given
	// the strategy's ReadyTimeout. Describe does not list the fleet, so a
	// fleet larger than the strategy's Concurrency, which goes back in
	// several waves, can take a multiple of it.
	BackTime time.Duration
}

// A Describer is a Strategy that describes what it would do to a target.
// Strategies that do not implement it are taken to go back only by
// redeploying.
type Describer interface {
	Describe(t Target) Description
}

// A Validator is a Strategy that can check its configuration and the target
// it is given before anything runs. Validate returns one error listing every
// invalid field with its value.
type Validator interface {
	Validate(t Target) error
}

// A Leftover is something an undo could not put back.
type Leftover struct {
	// Item names the thing: "instance web-7", "router", "switch".
	Item string
	// State says what it was left as: "running v2", "5% of traffic on v2".
	State string
	// Err is why it could not be put back.
	Err error
}

// An UndoError reports an undo that did not finish, naming every instance,
// weight or switch left in an unexpected state.
type UndoError struct {
	Left []Leftover
}

// Error lists every leftover.
func (e *UndoError) Error() string {
	parts := make([]string, len(e.Left))
	for i, l := range e.Left {
		parts[i] = fmt.Sprintf("%s left %s", l.Item, l.State)
		if l.Err != nil {
			parts[i] += " (" + l.Err.Error() + ")"
		}
	}
	return fmt.Sprintf("undo incomplete, %d left in an unexpected state: %s", len(e.Left), strings.Join(parts, "; "))
}

// Unwrap returns the errors behind the leftovers.
func (e *UndoError) Unwrap() []error {
	var errs []error
	for _, l := range e.Left {
		if l.Err != nil {
			errs = append(errs, l.Err)
		}
	}
	return errs
}
