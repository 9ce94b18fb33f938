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
	if err := l.startNew(ctx, len(old), d.ReadyTimeout); err != nil {
		return l.undo, err
	}
	if err := l.stopOld(ctx, old); err != nil {
		return l.undo, err
	}
	return l.undo, g.Check(ctx, Step{Name: "all instances", Weight: 100, Window: cmp.Or(d.Window, DefaultWindow), Final: true})
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
