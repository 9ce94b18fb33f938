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
	if err := l.hold(ctx); err != nil {
		return l.undo, err
	}
	if err := l.startNew(ctx, len(old), b.ReadyTimeout); err != nil {
		return l.undo, err
	}
	if b.PreviewWindow > 0 {
		if err := g.Check(ctx, Step{Name: "preview (no traffic)", Weight: 0, Window: b.PreviewWindow}); err != nil {
			return l.undo, err
		}
	}
	if t.Switch != nil {
		err = l.switchTo(ctx)
	} else {
		err = l.route(ctx, 100)
	}
	if err != nil {
		return l.undo, err
	}
	if err := g.Check(ctx, Step{Name: "switched", Weight: 100, Window: cmp.Or(b.Window, DefaultWindow), Final: true}); err != nil {
		return l.undo, err
	}
	// Keep watching while the old side is still warm: a failure now still
	// switches back in one step.
	if warm := cmp.Or(b.KeepWarm, DefaultKeepWarm); warm > 0 {
		if err := g.Check(ctx, Step{Name: "old side warm", Weight: 100, Window: warm}); err != nil {
			return l.undo, err
		}
	}
	return l.undo, l.stopOld(ctx, old)
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
