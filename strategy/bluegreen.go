package strategy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// DefaultKeepWarm is how long BlueGreen keeps the old side running after a
// successful switch when KeepWarm is zero (a negative KeepWarm means none).
const DefaultKeepWarm = 30 * time.Second

// BlueGreen brings up a full copy of the fleet on the new version beside the
// old one, switches all traffic to it at once, observes it, and keeps
// observing for KeepWarm with the old side warm, so that switching back is
// instant, before retiring it. It needs Target.Switch, or a Target.Router it sets to 0% or 100%.
// The zero value is ready to use.
type BlueGreen struct {
	// PreviewWindow, if set, is how long the new side is observed before the
	// switch, while it serves no user traffic (probes can still reach it).
	PreviewWindow time.Duration
	// Window is how long the new side is observed after the switch; zero
	// means 15 minutes.
	Window time.Duration
	// KeepWarm is how long the old side stays up after the window passes,
	// while the new side is still observed; zero means DefaultKeepWarm. A
	// negative value means none: the old side stops as soon as the window
	// passes.
	KeepWarm time.Duration
	// ReadyTimeout bounds how long each instance of the new side may take
	// to become ready, from its Start; zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Concurrency bounds how many instances are started or stopped at
	// once, by the deployment and by its undo; zero means
	// DefaultConcurrency.
	Concurrency int
}

// Deploy implements Strategy.
func (b BlueGreen) Deploy(ctx context.Context, t Target, r Release, g Gate) (Undo, error) {
	if err := b.Validate(t); err != nil {
		return nil, err
	}
	l := newLedger(t, r, b.Concurrency)
	old, err := l.oldInstances(ctx)
	if err != nil {
		return nil, err
	}
	return l.undo, b.from(ctx, l, g, 0, old, 0)
}

// StepsFor implements Resumer: the preview, when there is one, then
// "switched" and, unless KeepWarm is negative, "old side warm", whatever
// the fleet's size.
func (b BlueGreen) StepsFor(Target, int) []Step {
	var steps []Step
	if b.PreviewWindow > 0 {
		steps = append(steps, Step{Name: "preview (no traffic)", Weight: 0, Window: b.PreviewWindow})
	}
	steps = append(steps, Step{Name: "switched", Weight: 100, Window: cmp.Or(b.Window, DefaultWindow), Final: true})
	if warm := cmp.Or(b.KeepWarm, DefaultKeepWarm); warm > 0 {
		steps = append(steps, Step{Name: "old side warm", Weight: 100, Window: warm})
	}
	return steps
}

// Resume implements Resumer. The old side must still run whole, and the
// new side have no more instances than the old; from the switch on, the
// new side must be whole.
func (b BlueGreen) Resume(ctx context.Context, t Target, r Release, at Position, g Gate) (Undo, error) {
	if err := b.Validate(t); err != nil {
		return nil, err
	}
	steps := b.StepsFor(t, len(at.Before))
	l, old, running, err := adopt(ctx, t, r, b.Concurrency, at, len(steps))
	if err != nil {
		return nil, err
	}
	n, name := len(at.Before), stepName(steps, at.Step)
	switch {
	case at.Step < len(steps) && len(old) != n:
		return nil, cannot(name, "%d of the %d instance(s) of %s run; the old side is stopped only after the last step", len(old), n, r.From)
	case running > n:
		return nil, cannot(name, "%d instance(s) of %s run, more than the old side's %d", running, r.To, n)
	case at.Step > 0 && running != n:
		return nil, cannot(name, "%d instance(s) of %s run; the new side was whole, with %d, before the first step", running, r.To, n)
	}
	return l.undo, b.from(ctx, l, g, at.Step, old, running)
}

// from carries out the steps from step first on (as StepsFor numbers
// them), with old the old side and running instances of the new side
// already started.
func (b BlueGreen) from(ctx context.Context, l *ledger, g Gate, first int, old []Instance, running int) error {
	t := l.t
	steps := b.StepsFor(t, len(old))
	switched := 0 // the index of "switched", after the preview if any
	if b.PreviewWindow > 0 {
		switched = 1
	}
	if first == 0 {
		// Before the switch: no traffic on the new side while it starts.
		// A resumed run whose new side is whole held traffic before it
		// started it, and may have switched since: holding again would
		// send all traffic back to the old side for a moment.
		if running < len(old) {
			if err := l.hold(ctx); err != nil {
				return err
			}
			if err := l.startNew(ctx, len(old)-running, b.ReadyTimeout); err != nil {
				return err
			}
		}
		if b.PreviewWindow > 0 {
			if err := g.Check(ctx, steps[0]); err != nil {
				return err
			}
		}
	}
	if first <= switched {
		var err error
		if t.Switch != nil {
			err = l.switchTo(ctx)
		} else {
			err = l.route(ctx, 100)
		}
		if err != nil {
			return err
		}
		if err := g.Check(ctx, steps[switched]); err != nil {
			return err
		}
	}
	if first <= switched+1 && switched+1 < len(steps) {
		// Keep watching while the old side is still warm: a failure now
		// still switches back in one step.
		if err := g.Check(ctx, steps[switched+1]); err != nil {
			return err
		}
	}
	return l.stopOld(ctx, old)
}

// Describe implements Describer: the old side keeps running until the new
// one has held for its window, so going back is one switch.
func (b BlueGreen) Describe(t Target) Description {
	steps := []string{"start a full new side beside the old one and wait until it is ready"}
	if b.PreviewWindow > 0 {
		steps = append(steps, fmt.Sprintf("observe the new side without user traffic for %s", b.PreviewWindow))
	}
	steps = append(steps, fmt.Sprintf("switch all traffic to the new side and observe it for %s", cmp.Or(b.Window, DefaultWindow)))
	if warm := cmp.Or(b.KeepWarm, DefaultKeepWarm); warm > 0 {
		steps = append(steps, fmt.Sprintf("keep observing for %s with the old side warm, then stop it", warm))
	} else {
		steps = append(steps, "stop the old side")
	}
	return Description{
		Name:    "blue/green",
		Steps:   steps,
		Instant: true,
		Back:    "switch traffic back to the previous version's side, still running, then stop the new side",
	}
}

// Validate implements Validator.
func (b BlueGreen) Validate(t Target) error {
	var noSwitch error
	if t.Switch == nil && t.Router == nil {
		noSwitch = errors.New("Target.Switch = nil: blue/green needs a Switch or a Router to move traffic between sides")
	}
	return errlist.Join(needFleet(t), noSwitch, nonNegative("PreviewWindow", b.PreviewWindow),
		nonNegative("Window", b.Window), nonNegative("ReadyTimeout", b.ReadyTimeout),
		nonNegativeCount("Concurrency", b.Concurrency))
}
