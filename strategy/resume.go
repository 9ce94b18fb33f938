package strategy

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrCannotResume is wrapped by Resume's error when the target's state does
// not fit the step the deployment is to resume at (an instance of a third
// version, more new instances than the step runs, previous-version
// instances stopped where the strategy never stops them). Resume then has
// changed nothing, and the caller rolls the interrupted deployment back
// instead.
var ErrCannotResume = errors.New("strategy: cannot resume from the target's state")

// A Position is where an interrupted deployment stood when another process
// took it over, as the executor reconciles it from its journal.
type Position struct {
	// Step indexes the strategy's StepsFor: the step the deployment was in,
	// its changes made or under way, its observation begun or not. Equal
	// to the number of steps, it means every step had passed and only the
	// strategy's closing changes (stopping the previous version) were under
	// way.
	Step int
	// Before lists the instances of the previous version that ran before
	// the deployment's first change. Those of them that no longer run were
	// stopped by the deployment, and an undo starts the previous version
	// again in their place.
	Before []string
}

// A Resumer is a Strategy that can continue a deployment another process
// began and left unfinished, at the step it was in, rather than only undo
// it. Canary, Rolling, BlueGreen and Direct are Resumers.
type Resumer interface {
	Strategy
	// StepsFor returns the steps Deploy asks its Gate about, in order, for a
	// fleet of n instances of the previous version: their names are what
	// the executor finds in an interrupted run's journal.
	StepsFor(t Target, n int) []Step
	// Resume lists the target's instances, checks that they fit step
	// at.Step, and goes on from there: it completes that step's changes,
	// asks the Gate about the step again (its window observed from its
	// start: the observation the interrupted run began is not counted),
	// and carries out the remaining steps as Deploy would. Its Undo
	// reverts everything the deployment did, the interrupted run's changes
	// included: traffic back, the instances in at.Before restored, every
	// new instance stopped. When the target's state does not fit the step,
	// Resume changes nothing and returns an error wrapping
	// ErrCannotResume, with a nil Undo.
	Resume(ctx context.Context, t Target, r Release, at Position, g Gate) (Undo, error)
}

// adopt takes over what an interrupted deployment did: it lists the
// target's instances and returns a ledger that knows the new instances as
// started by it, the instances of at.Before that no longer run as stopped
// by it, and traffic as moved by it, so that its undo reverts all of it.
// It also returns the previous version's instances still running, and how
// many run the new version. It refuses (ErrCannotResume) a step outside
// [0, steps], an empty at.Before, and an instance of a third version.
func adopt(ctx context.Context, t Target, r Release, concurrency int, at Position, steps int) (l *ledger, old []Instance, running int, err error) {
	if at.Step < 0 || at.Step > steps {
		return nil, nil, 0, fmt.Errorf("%w: step %d is not one of the strategy's %d steps", ErrCannotResume, at.Step, steps)
	}
	if len(at.Before) == 0 {
		return nil, nil, 0, fmt.Errorf("%w: no instances of %q are known to have run before the deployment", ErrCannotResume, r.From)
	}
	insts, err := t.Fleet.Instances(ctx)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list instances: %w", err)
	}
	l = newLedger(t, r, concurrency)
	for _, in := range insts {
		switch in.Version {
		case r.From:
			old = append(old, in)
		case r.To:
			l.started = append(l.started, in.ID)
		default:
			return nil, nil, 0, fmt.Errorf("%w: instance %s runs %q, neither %q nor %q", ErrCannotResume, in.ID, in.Version, r.From, r.To)
		}
	}
	for _, id := range at.Before {
		if !slices.ContainsFunc(old, func(in Instance) bool { return in.ID == id }) {
			l.stopped = append(l.stopped, id)
		}
	}
	// The interrupted run may have moved traffic: the undo sends it all
	// back, which is harmless where it had not.
	l.routed = t.Router != nil
	l.switched = t.Switch != nil
	return l, old, len(l.started), nil
}

// cannot returns an error wrapping ErrCannotResume for the step named.
func cannot(step string, format string, args ...any) error {
	return fmt.Errorf("%w at %q: %s", ErrCannotResume, step, fmt.Sprintf(format, args...))
}

// stepName names step i of steps, or the closing changes after them.
func stepName(steps []Step, i int) string {
	if i < len(steps) {
		return steps[i].Name
	}
	return "after the last step"
}
