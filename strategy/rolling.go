package strategy

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// An Amount is a number of instances ("2") or a percentage of the fleet
// ("25%"), as in a Kubernetes Deployment's maxSurge and maxUnavailable.
// Empty means DefaultAmount; "0" is zero.
type Amount string

// DefaultAmount is Rolling's MaxSurge and MaxUnavailable when empty, as in
// Kubernetes.
const DefaultAmount Amount = "25%"

// resolve turns a into a count for a fleet of n, rounding percentages up or down.
func (a Amount) resolve(n int, roundUp bool) (int, error) {
	s := strings.TrimSpace(string(a))
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || v > 100 || math.IsNaN(v) {
			return 0, fmt.Errorf("%q: want a percentage from 0%% to 100%%", string(a))
		}
		x := v * float64(n) / 100
		if roundUp {
			return int(math.Ceil(x)), nil
		}
		return int(math.Floor(x)), nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want a non-negative count or a percentage such as \"25%%\"", string(a))
	}
	return v, nil
}

// Rolling replaces instances in health-gated batches, bounded like a
// Kubernetes rolling update: at most MaxSurge instances above the fleet's
// size, at most MaxUnavailable below it. Each new instance must become ready
// within ReadyTimeout; if one does not, Deploy stops and its Undo restores
// the old instances. The zero value is 25% surge and 25% unavailable.
type Rolling struct {
	// MaxSurge is how many instances may run above the fleet's size; a
	// percentage rounds up. Empty means DefaultAmount ("25%").
	MaxSurge Amount
	// MaxUnavailable is how many instances may be missing below the fleet's
	// size; a percentage rounds down. Empty means DefaultAmount ("25%"). If both resolve to
	// zero, MaxUnavailable is taken as 1.
	MaxUnavailable Amount
	// BatchWindow is how long each batch is observed before the next one;
	// zero means the batch is only health-gated and probed.
	BatchWindow time.Duration
	// Window is how long the whole new fleet is observed at the end; zero
	// means 15 minutes.
	Window time.Duration
	// ReadyTimeout bounds how long each new instance may take to become
	// ready, from its Start; zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Concurrency bounds how many instances are started or stopped at
	// once, by the deployment and by its undo; zero means
	// DefaultConcurrency.
	Concurrency int
}

// A batch is one round of a rolling update: stop Down old instances, start
// Up new ones, then stop Extra old ones the new ones have made surplus.
type batch struct{ Down, Up, Extra int }

// batches plans a rolling update of n instances with the given surge and
// unavailability. The fleet never exceeds n+surge instances nor has fewer
// than n-unavailable ready ones.
func batches(n, surge, unavailable int) []batch {
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	var plan []batch
	old, updated := n, 0
	for old > 0 {
		b := batch{Down: min(unavailable, old)}
		old -= b.Down
		b.Up = min(surge+b.Down, n-updated)
		updated += b.Up
		b.Extra = max(0, old+updated-n)
		old -= b.Extra
		plan = append(plan, b)
	}
	return plan
}

func (r Rolling) limits(n int) (surge, unavailable int, err error) {
	surge, err1 := cmp.Or(r.MaxSurge, DefaultAmount).resolve(n, true)
	unavailable, err2 := cmp.Or(r.MaxUnavailable, DefaultAmount).resolve(n, false)
	if err1 != nil {
		err1 = fmt.Errorf("MaxSurge = %w", err1)
	}
	if err2 != nil {
		err2 = fmt.Errorf("MaxUnavailable = %w", err2)
	}
	return surge, unavailable, errlist.Join(err1, err2)
}

// Deploy implements Strategy.
func (r Rolling) Deploy(ctx context.Context, t Target, rel Release, g Gate) (Undo, error) {
	if err := r.Validate(t); err != nil {
		return nil, err
	}
	l := newLedger(t, rel, r.Concurrency)
	old, err := l.oldInstances(ctx)
	if err != nil {
		return nil, err
	}
	n := len(old)
	surge, unavailable, err := r.limits(n)
	if err != nil {
		return nil, err
	}
	return l.undo, r.from(ctx, l, g, batches(n, surge, unavailable), 0, old, 0)
}

// from carries out the plan's batches from batch first on, with old the
// previous version's instances still running and updated new ones.
func (r Rolling) from(ctx context.Context, l *ledger, g Gate, plan []batch, first int, old []Instance, updated int) error {
	n := 0
	for _, b := range plan {
		n += b.Up
	}
	for i := first; i < len(plan); i++ {
		b := plan[i]
		if err := l.stopOld(ctx, old[:b.Down]); err != nil {
			return err
		}
		old = old[b.Down:]
		if err := l.startNew(ctx, b.Up, r.ReadyTimeout); err != nil {
			return fmt.Errorf("batch %d/%d: %w", i+1, len(plan), err)
		}
		updated += b.Up
		if err := l.stopOld(ctx, old[:b.Extra]); err != nil {
			return err
		}
		old = old[b.Extra:]
		if err := g.Check(ctx, r.step(plan, i, n, updated)); err != nil {
			return err
		}
	}
	return nil
}

// step returns the Step the Gate is asked about after batch i of a fleet
// of n, once updated instances run the new version: the last batch's is
// the final observation of the whole new fleet.
func (r Rolling) step(plan []batch, i, n, updated int) Step {
	if i == len(plan)-1 {
		return Step{Name: fmt.Sprintf("batch %d/%d: all instances", len(plan), len(plan)), Weight: 100, Window: cmp.Or(r.Window, DefaultWindow), Final: true}
	}
	return Step{Name: fmt.Sprintf("batch %d/%d", i+1, len(plan)), Weight: 100 * float64(updated) / float64(n), Window: r.BatchWindow}
}

// StepsFor implements Resumer.
func (r Rolling) StepsFor(t Target, n int) []Step {
	surge, unavailable, err := r.limits(n)
	if err != nil || n <= 0 {
		return nil
	}
	plan := batches(n, surge, unavailable)
	steps := make([]Step, len(plan))
	updated := 0
	for i, b := range plan {
		updated += b.Up
		steps[i] = r.step(plan, i, n, updated)
	}
	return steps
}

// Resume implements Resumer. The fleet must be within the batch it was
// in: no more new instances than the batch leaves updated and no fewer
// than the batches before it did, and as many old ones. Resume finishes
// the batch within the surge and unavailability bounds — old instances
// stopped first only as far as the surge needs room — and goes on.
func (r Rolling) Resume(ctx context.Context, t Target, rel Release, at Position, g Gate) (Undo, error) {
	if err := r.Validate(t); err != nil {
		return nil, err
	}
	n := len(at.Before)
	surge, unavailable, err := r.limits(n)
	if err != nil {
		return nil, err
	}
	plan := batches(n, surge, unavailable)
	l, old, running, err := adopt(ctx, t, rel, r.Concurrency, at, len(plan))
	if err != nil {
		return nil, err
	}
	if at.Step == len(plan) {
		if running != n || len(old) != 0 {
			return nil, cannot(stepName(nil, 0), "%d instance(s) of %s and %d of %s run; every batch had passed", running, rel.To, len(old), rel.From)
		}
		return l.undo, nil
	}
	name := fmt.Sprintf("batch %d/%d", at.Step+1, len(plan))
	updatedAfter, oldAfter := 0, n
	for _, b := range plan[:at.Step+1] {
		updatedAfter += b.Up
		oldAfter -= b.Down + b.Extra
	}
	b := plan[at.Step]
	updatedBefore, oldBefore := updatedAfter-b.Up, oldAfter+b.Down+b.Extra
	switch {
	case running < updatedBefore || running > updatedAfter:
		return nil, cannot(name, "%d instance(s) of %s run; the batch has from %d to %d", running, rel.To, updatedBefore, updatedAfter)
	case len(old) < oldAfter || len(old) > oldBefore:
		return nil, cannot(name, "%d instance(s) of %s run; the batch has from %d to %d", len(old), rel.From, oldAfter, oldBefore)
	}
	down := min(len(old)-oldAfter, max(0, len(old)+updatedAfter-(n+surge)))
	if err := l.stopOld(ctx, old[:down]); err != nil {
		return l.undo, err
	}
	old = old[down:]
	if err := l.startNew(ctx, updatedAfter-running, r.ReadyTimeout); err != nil {
		return l.undo, fmt.Errorf("%s: %w", name, err)
	}
	if err := l.stopOld(ctx, old[:len(old)-oldAfter]); err != nil {
		return l.undo, err
	}
	old = old[len(old)-oldAfter:]
	if err := g.Check(ctx, r.step(plan, at.Step, n, updatedAfter)); err != nil {
		return l.undo, err
	}
	return l.undo, r.from(ctx, l, g, plan, at.Step+1, old, updatedAfter)
}

// Describe implements Describer: a rolling update goes back by starting the
// old version again, which is a redeploy.
func (r Rolling) Describe(t Target) Description {
	batch := "health-gated only"
	if r.BatchWindow > 0 {
		batch = fmt.Sprintf("each observed for %s", r.BatchWindow)
	}
	return Description{
		Name: "rolling",
		Steps: []string{
			fmt.Sprintf("replace instances in batches of at most %s surge and %s unavailable, %s",
				cmp.Or(r.MaxSurge, DefaultAmount), cmp.Or(r.MaxUnavailable, DefaultAmount), batch),
			fmt.Sprintf("observe the whole new fleet for %s", cmp.Or(r.Window, DefaultWindow)),
		},
		Back:     "start the previous version on every replaced instance (a redeploy), then stop the new ones",
		BackTime: cmp.Or(r.ReadyTimeout, DefaultReadyTimeout),
	}
}

// Validate implements Validator.
func (r Rolling) Validate(t Target) error {
	// Resolving against a fleet of 100 checks syntax and the both-zero case
	// in one go: a positive percentage never rounds to zero surge there.
	surge, unavailable, err := r.limits(100)
	if err == nil && surge == 0 && unavailable == 0 {
		err = fmt.Errorf("MaxSurge = %q, MaxUnavailable = %q: both zero, so no instance could ever be replaced", r.MaxSurge, r.MaxUnavailable)
	}
	return errlist.Join(needFleet(t), err, nonNegative("BatchWindow", r.BatchWindow),
		nonNegative("Window", r.Window), nonNegative("ReadyTimeout", r.ReadyTimeout), nonNegativeCount("Concurrency", r.Concurrency))
}
