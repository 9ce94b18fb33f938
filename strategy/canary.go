package strategy

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Canary sends a small share of traffic to the new version first and grows
// it step by step, observing each step; on failure the weight goes back to 0
// and the canary instances are stopped, while the old version never stopped
// serving. The zero value goes through 1%, 5%, 25%, 50% and 100% of traffic,
// observing each step for 5 minutes.
//
// With a Target.Router the weights are traffic percentages, and enough new
// instances are started to carry each step. Without one the split is by
// instance count: each step runs the number of new instances whose share of
// the fleet is closest to the weight (ties round up; between 1 and 99%, a
// fleet of two or more keeps at least one instance of each version), and a
// step that would run no new instance is skipped.
type Canary struct {
	// Steps are increasing weights in (0, 100]. If the last is below 100, a
	// final step at 100 is added. Empty means 1, 5, 25, 50, 100.
	Steps []float64
	// StepWindow is how long each step is observed; zero means 5 minutes.
	StepWindow time.Duration
	// ReadyTimeout bounds how long new instances may take to become ready;
	// zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// steps returns the weights to go through, ending at 100.
func (c Canary) steps() []float64 {
	s := c.Steps
	if len(s) == 0 {
		s = []float64{1, 5, 25, 50, 100}
	}
	if s[len(s)-1] < 100 {
		s = append(s[:len(s):len(s)], 100)
	}
	return s
}

// splitCounts returns how many of n instances should run the canary so that
// its share is closest to weight percent.
func splitCounts(n int, weight float64) (canary, stable int) {
	exact := float64(n) * weight / 100
	lo, hi := math.Floor(exact), math.Ceil(exact)
	c := hi
	if exact-lo < hi-exact {
		c = lo
	}
	if weight > 0 && weight < 100 && n >= 2 {
		c = min(max(c, 1), float64(n-1))
	}
	return int(c), n - int(c)
}

// Deploy implements Strategy.
func (c Canary) Deploy(ctx context.Context, t Target, r Release, g Gate) (Undo, error) {
	l := newLedger(t, r)
	old, err := l.oldInstances(ctx)
	if err != nil {
		return nil, err
	}
	n := len(old)
	window := orDefault(c.StepWindow, DefaultCanaryStepWindow)
	steps := c.steps()
	running := 0 // new instances running
	for i, w := range steps {
		final := i == len(steps)-1
		want, stable := splitCounts(n, w)
		if t.Router != nil {
			want = min(n, max(1, int(math.Ceil(float64(n)*w/100))))
		} else if want == 0 {
			continue
		}
		if err := l.startNew(ctx, want-running, c.ReadyTimeout); err != nil {
			return l.undo, fmt.Errorf("canary %g%%: %w", w, err)
		}
		running = want
		weight := w
		if t.Router != nil {
			if err := l.route(ctx, w); err != nil {
				return l.undo, err
			}
		} else {
			if err := l.stopOld(ctx, old[:len(old)-stable]); err != nil {
				return l.undo, err
			}
			old = old[len(old)-stable:]
			weight = 100 * float64(want) / float64(n)
		}
		step := Step{Name: fmt.Sprintf("canary %g%%", weight), Weight: weight, Window: window, Final: final}
		if err := g.Check(ctx, step); err != nil {
			return l.undo, err
		}
	}
	return l.undo, l.stopOld(ctx, old)
}

// Describe implements Describer: the old version serves until the canary has
// passed every step, so going back is a traffic change.
func (c Canary) Describe() Description {
	window := orDefault(c.StepWindow, DefaultCanaryStepWindow)
	var steps []string
	for _, w := range c.steps() {
		steps = append(steps, fmt.Sprintf("send %g%% of traffic to the new version and observe it for %s", w, window))
	}
	steps = append(steps, "stop the previous version's instances")
	return Description{
		Name:    "canary",
		Steps:   steps,
		Instant: true,
		Back:    "set the new version's traffic weight to 0 and stop the canary instances; the previous version never stopped serving",
	}
}

// Validate implements Validator.
func (c Canary) Validate(t Target) error {
	var errs []error
	prev := 0.0
	for i, w := range c.Steps {
		if !(w > 0 && w <= 100) {
			errs = append(errs, fmt.Errorf("Steps[%d] = %g: weight must be in (0, 100]", i, w))
		} else if w <= prev {
			errs = append(errs, fmt.Errorf("Steps[%d] = %g: weights must increase (previous step is %g)", i, w, prev))
		}
		if w > prev {
			prev = w
		}
	}
	errs = append(errs, needFleet(t), nonNegative("StepWindow", c.StepWindow), nonNegative("ReadyTimeout", c.ReadyTimeout))
	return join(errs...)
}
