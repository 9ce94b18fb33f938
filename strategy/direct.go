package strategy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// Default observation windows, used when a strategy's window field is zero.
const (
	DefaultCanaryStepWindow = 5 * time.Minute
	DefaultWindow           = 15 * time.Minute
)

// Direct replaces every instance at once: it starts as many new instances as
// there are old ones, waits for all to be ready, stops the old ones, then
// observes the result. Going back means starting the old version again (a
// redeploy), so a plan using Direct needs a flag to turn off or must accept
// the slow way back. The zero value is ready to use.
type Direct struct {
	// Window is how long the new version is observed after the switch;
	// zero means 15 minutes.
	Window time.Duration
	// ReadyTimeout bounds how long each new instance may take to become
	// ready, from its Start; zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Concurrency bounds how many instances are started or stopped at
	// once, by the deployment and by its undo; zero means
	// DefaultConcurrency.
	Concurrency int
}

// Deploy implements Strategy.
func (d Direct) Deploy(ctx context.Context, t Target, r Release, g Gate) (Undo, error) {
	if err := d.Validate(t); err != nil {
		return nil, err
	}
	l := newLedger(t, r, d.Concurrency)
	old, err := l.oldInstances(ctx)
	if err != nil {
		return nil, err
	}
	return l.undo, d.from(ctx, l, g, len(old), old, 0)
}

// StepsFor implements Resumer: one step, all instances.
func (d Direct) StepsFor(Target, int) []Step {
	return []Step{{Name: "all instances", Weight: 100, Window: cmp.Or(d.Window, DefaultWindow), Final: true}}
}

// Resume implements Resumer. No more new instances than ran before; and
// while some are missing, every old one must still run (Direct starts them
// all before it stops any).
func (d Direct) Resume(ctx context.Context, t Target, r Release, at Position, g Gate) (Undo, error) {
	if err := d.Validate(t); err != nil {
		return nil, err
	}
	steps := d.StepsFor(t, len(at.Before))
	l, old, running, err := adopt(ctx, t, r, d.Concurrency, at, len(steps))
	if err != nil {
		return nil, err
	}
	n, name := len(at.Before), stepName(steps, at.Step)
	switch {
	case running > n:
		return nil, cannot(name, "%d instance(s) of %s run, more than the %d that ran before", running, r.To, n)
	case running < n && len(old) != n:
		return nil, cannot(name, "%d instance(s) of %s and %d of %s run; the old are stopped only once all the new run", running, r.To, len(old), r.From)
	case at.Step == len(steps):
		return l.undo, nil // observed: nothing left to do
	}
	return l.undo, d.from(ctx, l, g, n, old, running)
}

// from starts the new instances missing of n, stops the old ones and
// observes the result.
func (d Direct) from(ctx context.Context, l *ledger, g Gate, n int, old []Instance, running int) error {
	if err := l.startNew(ctx, n-running, d.ReadyTimeout); err != nil {
		return err
	}
	if err := l.stopOld(ctx, old); err != nil {
		return err
	}
	return g.Check(ctx, d.StepsFor(l.t, n)[0])
}

// Describe implements Describer: Direct goes back by redeploying.
func (d Direct) Describe(t Target) Description {
	return Description{
		Name: "direct",
		Steps: []string{
			"start the new version on as many instances as run now, and wait until they are ready",
			"stop every previous-version instance",
			fmt.Sprintf("observe all traffic on the new version for %s", cmp.Or(d.Window, DefaultWindow)),
		},
		Back:     "start the previous version on every instance again (a redeploy), then stop the new ones",
		BackTime: cmp.Or(d.ReadyTimeout, DefaultReadyTimeout),
	}
}

// Validate implements Validator.
func (d Direct) Validate(t Target) error {
	return errlist.Join(needFleet(t), nonNegative("Window", d.Window), nonNegative("ReadyTimeout", d.ReadyTimeout),
		nonNegativeCount("Concurrency", d.Concurrency))
}

func nonNegative(field string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s = %s: must not be negative", field, d)
	}
	return nil
}

func nonNegativeCount(field string, n int) error {
	if n < 0 {
		return fmt.Errorf("%s = %d: must not be negative (zero means the default)", field, n)
	}
	return nil
}

func needFleet(t Target) error {
	if t.Fleet == nil {
		return errors.New("Target.Fleet = nil: the strategy needs a fleet of instances")
	}
	return nil
}
