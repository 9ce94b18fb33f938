package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
)

// check is the Gate the executor gives strategies: it observes a step for
// its window, interval by interval, and returns nil to go on or the failing
// verdict to stop.
func (r *run) check(ctx context.Context, s strategy.Step) error {
	p := r.plan
	window := s.Window
	if window > 0 && r.policy.Window > 0 {
		window = r.policy.Window
	}
	if s.Final && p.Change.Significant {
		window = max(window, r.policy.SignificantWindow)
	}
	r.emit(Event{Kind: KindStep, Phase: PhaseDeploy, Step: s.Name, Message: fmt.Sprintf("%g%% on %s; observing for %s", s.Weight, p.Version, window)})
	if window == 0 {
		if v := r.probe(ctx, time.Now(), time.Now()); v != nil {
			return r.verdict(ctx, s, v)
		}
		return nil
	}

	interval := min(r.policy.Interval, window)
	start := time.Now()
	deadline := start.Add(window)
	failures := 0
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for from := start; from.Before(deadline); {
		to := from.Add(interval)
		if to.After(deadline) {
			to = deadline
		}
		timer.Reset(time.Until(to))
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-timer.C:
		}
		if v := r.probe(ctx, from, to); v != nil {
			return r.verdict(ctx, s, v)
		}
		iv, err := r.observe(ctx, s, from, to)
		switch {
		case errors.Is(err, verify.ErrNoData):
			failures = 0
			r.emit(Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: "no data for this interval", Err: err})
		case err != nil:
			failures++
			r.emit(Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: fmt.Sprintf("metric source failed (%d of %d in a row)", failures, r.policy.MaxConsecutiveErrors), Err: err})
			if failures >= r.policy.MaxConsecutiveErrors {
				return r.verdict(ctx, s, &verify.Verdict{Outcome: verify.Fail, Reason: fmt.Sprintf("metric source failed %d times in a row, last: %v", failures, err),
					Measurements: []verify.Measurement{{Metric: "metric-source", Start: from, End: to, Failed: true}}})
			}
		default:
			failures = 0
			v := r.judge.Observe(iv)
			r.emit(Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: fmt.Sprintf("%s: %s", v.Outcome, v.Reason), Verdict: &v})
			if v.Outcome == verify.Fail {
				return r.verdict(ctx, s, &v)
			}
		}
		from = to
	}
	v := r.judge.Conclude()
	return r.verdict(ctx, s, &v)
}

// verdict reports a step's verdict and turns it into the gate's answer.
func (r *run) verdict(ctx context.Context, s strategy.Step, v *verify.Verdict) error {
	r.mu.Lock()
	r.report.Verdict = v
	r.mu.Unlock()
	r.emit(Event{Kind: KindVerdict, Phase: PhaseVerify, Step: s.Name, Message: fmt.Sprintf("%s: %s", v.Outcome, v.Reason), Verdict: v})
	switch v.Outcome {
	case verify.Pass:
		return nil
	case verify.Inconclusive:
		if r.policy.Escalate == nil {
			return v
		}
		if err := r.policy.Escalate(ctx, v); err != nil {
			return fmt.Errorf("escalated inconclusive verdict, answer: %w (%w)", err, v)
		}
		r.emit(Event{Kind: KindVerdict, Phase: PhaseVerify, Step: s.Name, Message: "inconclusive verdict escalated; told to go on"})
		return nil
	}
	return v
}

// probe checks every critical path; it returns a failing verdict for the
// first that fails, or nil.
func (r *run) probe(ctx context.Context, from, to time.Time) *verify.Verdict {
	for _, pr := range r.policy.Probes {
		if err := pr.Check(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // cancellation, not a broken path: the caller sees ctx
			}
			return &verify.Verdict{Outcome: verify.Fail, Reason: fmt.Sprintf("critical path %q failed: %v", pr.Name, err),
				Measurements: []verify.Measurement{{Metric: "critical-path/" + pr.Name, Value: 1, Threshold: 0, Start: from, End: to, Failed: true}}}
		}
	}
	return nil
}

// observe reads the new version, and the old one where it still serves
// traffic, over [from, to).
func (r *run) observe(ctx context.Context, s strategy.Step, from, to time.Time) (verify.Interval, error) {
	p := r.plan
	iv := verify.Interval{Start: from, End: to}
	var err error
	iv.Canary, err = p.Metrics.Observe(ctx, verify.Query{Version: p.Version, Start: from, End: to})
	if err != nil {
		return iv, fmt.Errorf("%s: %w", p.Version, err)
	}
	if s.Weight < 100 {
		control, err := p.Metrics.Observe(ctx, verify.Query{Version: p.Previous, Start: from, End: to})
		switch {
		case err == nil:
			iv.Control = &control
		case !errors.Is(err, verify.ErrNoData):
			return iv, fmt.Errorf("%s: %w", p.Previous, err)
		}
	}
	return iv, nil
}

// target wraps the plan's target so that every change to it is an event,
// and so that the run knows when the new version has served traffic.
func (r *run) target() strategy.Target {
	t := r.plan.Target
	o := observed{r: r, t: t}
	out := strategy.Target{Fleet: o}
	if t.Router != nil {
		out.Router = o
	}
	if t.Switch != nil {
		out.Switch = o
	}
	return out
}

type observed struct {
	r *run
	t strategy.Target
}

func (o observed) action(msg string, err error) {
	o.r.emit(Event{Kind: KindAction, Message: msg, Err: err}) // in the phase under way
}

func (o observed) Instances(ctx context.Context) ([]strategy.Instance, error) {
	return o.t.Fleet.Instances(ctx)
}

func (o observed) Start(ctx context.Context, version string) (string, error) {
	id, err := o.t.Fleet.Start(ctx, version)
	if err != nil {
		o.action(fmt.Sprintf("instance %q of %s did not become ready", id, version), err)
		return id, err
	}
	if version == o.r.plan.Version {
		o.r.mu.Lock()
		o.r.exposed = true
		o.r.mu.Unlock()
	}
	o.action(fmt.Sprintf("started instance %s (%s)", id, version), nil)
	return id, nil
}

func (o observed) Stop(ctx context.Context, id string) error {
	err := o.t.Fleet.Stop(ctx, id)
	o.action("stopped instance "+id, err)
	return err
}

func (o observed) Route(ctx context.Context, stable, canary string, weight float64) error {
	err := o.t.Router.Route(ctx, stable, canary, weight)
	o.action(fmt.Sprintf("routed %g%% of traffic to %s, the rest to %s", weight, canary, stable), err)
	return err
}

func (o observed) Switch(ctx context.Context, version string) error {
	err := o.t.Switch.Switch(ctx, version)
	o.action("switched all traffic to "+version, err)
	return err
}
