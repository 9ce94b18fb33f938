package strategy

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// Canary sends a small share of traffic to the new version first and grows
// it step by step, observing each step. The zero value goes through 1%, 5%,
// 25%, 50% and 100% of traffic, observing each step for 5 minutes.
//
// With a Target.Router the weights are traffic percentages, and enough new
// instances are started to carry each step; the weight is set to 0 before the
// first of them starts, and the old instances all keep running until the
// last step has passed, so that going back is only a traffic change: the
// weight returns to 0 and the canary instances stop. Without one the split is by instance count: each step
// runs the number of new instances whose share of the fleet is closest to the
// weight (ties round up; between 1 and 99%, a fleet of two or more keeps at
// least one instance of each version); a step that would run no new
// instance, or the same split as the step before, is skipped. Each step then
// stops old instances, so going back means starting them again.
type Canary struct {
	// Steps are increasing weights in (0, 100]. If the last is below 100, a
	// final step at 100 is added. Empty means 1, 5, 25, 50, 100.
	Steps []float64
	// StepWindow is how long each step is observed; zero means 5 minutes.
	StepWindow time.Duration
	// ReadyTimeout bounds how long each new instance may take to become
	// ready, from its Start; zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Concurrency bounds how many instances are started or stopped at
	// once, by the deployment and by its undo; zero means
	// DefaultConcurrency.
	Concurrency int
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

// A canaryStep is one step as carried out on a fleet of a given size.
type canaryStep struct {
	weight         float64 // percent of traffic (or of instances) on the canary
	canary, stable int     // instances of each version
}

// plan turns the weights into steps for a fleet of n. With a router, enough
// new instances run to carry each weight and the old ones all keep running.
// Without one, the split is by instance count, so weights that round to the
// same split are observed once, and a split with no canary is skipped.
func (c Canary) plan(n int, router bool) []canaryStep {
	var out []canaryStep
	for _, w := range c.steps() {
		if router {
			out = append(out, canaryStep{weight: w, canary: min(n, max(1, int(math.Ceil(float64(n)*w/100)))), stable: n})
			continue
		}
		canary, stable := splitCounts(n, w)
		if canary == 0 || len(out) > 0 && out[len(out)-1].canary == canary {
			continue
		}
		out = append(out, canaryStep{weight: 100 * float64(canary) / float64(n), canary: canary, stable: stable})
	}
	return out
}

// Deploy implements Strategy.
func (c Canary) Deploy(ctx context.Context, t Target, r Release, g Gate) (Undo, error) {
	if err := c.Validate(t); err != nil {
		return nil, err
	}
	l := newLedger(t, r, c.Concurrency)
	old, err := l.oldInstances(ctx)
	if err != nil {
		return nil, err
	}
	if t.Router != nil {
		// Weight 0 before the first canary starts, so that it serves
		// nothing until its first step, whatever the router held before.
		if err := l.route(ctx, 0); err != nil {
			return l.undo, err
		}
	}
	return l.undo, c.from(ctx, l, g, c.plan(len(old), t.Router != nil), 0, old, 0)
}

// StepsFor implements Resumer.
func (c Canary) StepsFor(t Target, n int) []Step {
	plan := c.plan(n, t.Router != nil)
	steps := make([]Step, len(plan))
	for i := range plan {
		steps[i] = c.step(plan, i)
	}
	return steps
}

// step returns the Step the Gate is asked about at plan[i].
func (c Canary) step(plan []canaryStep, i int) Step {
	st := plan[i]
	return Step{Name: "canary " + weightName(plan, i), Weight: st.weight, Window: cmp.Or(c.StepWindow, DefaultCanaryStepWindow), Final: i == len(plan)-1}
}

// weightName returns plan[i]'s weight as a percentage with three
// significant digits, or more where that would name two steps alike (99.95
// and 100, or 33.31 and 33.33 of a large fleet split by instances): a
// resumed run finds its step by name.
func weightName(plan []canaryStep, i int) string {
	for prec := 3; prec < 17; prec++ {
		name := strconv.FormatFloat(plan[i].weight, 'g', prec, 64)
		if !slices.ContainsFunc(plan, func(o canaryStep) bool {
			return o.weight != plan[i].weight && strconv.FormatFloat(o.weight, 'g', prec, 64) == name
		}) {
			return name + "%"
		}
	}
	return strconv.FormatFloat(plan[i].weight, 'g', -1, 64) + "%"
}

// Resume implements Resumer. With a router, the previous version's
// instances must all still run (they are stopped only after the last step)
// and no more new instances than the step runs; without one, no more new
// instances and no fewer old ones than the step's split.
func (c Canary) Resume(ctx context.Context, t Target, r Release, at Position, g Gate) (Undo, error) {
	if err := c.Validate(t); err != nil {
		return nil, err
	}
	n := len(at.Before)
	plan := c.plan(n, t.Router != nil)
	l, old, running, err := adopt(ctx, t, r, c.Concurrency, at, len(plan))
	if err != nil {
		return nil, err
	}
	name := stepName(c.StepsFor(t, n), at.Step)
	if at.Step < len(plan) {
		st := plan[at.Step]
		switch {
		case running > st.canary:
			return nil, cannot(name, "%d instance(s) of %s run, more than the step's %d", running, r.To, st.canary)
		case t.Router != nil && len(old) != n:
			return nil, cannot(name, "%d of the %d instance(s) of %s run; with a router none is stopped before the last step passes", len(old), n, r.From)
		case len(old) < st.stable:
			return nil, cannot(name, "%d instance(s) of %s run, fewer than the step's %d", len(old), r.From, st.stable)
		}
		if at.Step == 0 && t.Router != nil {
			// As Deploy: nothing on the new version before its first step.
			if err := l.route(ctx, 0); err != nil {
				return l.undo, err
			}
		}
	} else if running != n {
		return nil, cannot(name, "%d instance(s) of %s run, not the %d of the last step", running, r.To, n)
	}
	return l.undo, c.from(ctx, l, g, plan, at.Step, old, running)
}

// from carries out the plan's steps from step first on, with old the
// previous version's instances still running and running new instances
// already started, then stops the old instances left.
func (c Canary) from(ctx context.Context, l *ledger, g Gate, plan []canaryStep, first int, old []Instance, running int) error {
	t := l.t
	for i := first; i < len(plan); i++ {
		st := plan[i]
		if err := l.startNew(ctx, st.canary-running, c.ReadyTimeout); err != nil {
			return fmt.Errorf("canary %s: %w", weightName(plan, i), err)
		}
		running = st.canary
		if t.Router != nil {
			if err := l.route(ctx, st.weight); err != nil {
				return err
			}
		} else {
			if err := l.stopOld(ctx, old[:len(old)-st.stable]); err != nil {
				return err
			}
			old = old[len(old)-st.stable:]
		}
		if err := g.Check(ctx, c.step(plan, i)); err != nil {
			return err
		}
	}
	return l.stopOld(ctx, old)
}

// Describe implements Describer. With a router the old version serves
// until the canary has passed every step, so going back is a traffic change;
// without one, each step replaces old instances, and going back means
// starting them again.
func (c Canary) Describe(t Target) Description {
	window := cmp.Or(c.StepWindow, DefaultCanaryStepWindow)
	var steps []string
	for _, st := range c.plan(0, t.Router != nil) {
		steps = append(steps, fmt.Sprintf("send %.3g%% of traffic to the new version and observe it for %s", st.weight, window))
	}
	if t.Router == nil {
		steps = []string{fmt.Sprintf("replace old instances with new ones so that the new version's share of instances comes closest to each of %s, observing each split for %s", weightList(c.steps()), window)}
	}
	steps = append(steps, "stop the previous version's instances")
	if t.Router == nil {
		return Description{
			Name:     "canary",
			Steps:    steps,
			Back:     "start the previous version on every replaced instance (a redeploy), then stop the canary instances",
			BackTime: cmp.Or(c.ReadyTimeout, DefaultReadyTimeout),
		}
	}
	return Description{
		Name:    "canary",
		Steps:   steps,
		Instant: true,
		Back:    "set the new version's traffic weight to 0 and stop the canary instances; the previous version never stopped serving",
	}
}

func weightList(ws []float64) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%g%%", w)
	}
	return strings.Join(parts, ", ")
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
	errs = append(errs, needFleet(t), nonNegative("StepWindow", c.StepWindow), nonNegative("ReadyTimeout", c.ReadyTimeout),
		nonNegativeCount("Concurrency", c.Concurrency))
	return errlist.Join(errs...)
}
