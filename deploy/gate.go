package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/journal"
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
	// A step without traffic on the new version has nothing to measure:
	// only the critical-path probes can see it.
	metrics := s.Weight > 0
	what := "observing"
	if !metrics {
		what = "probing"
	}
	r.emit(ctx, Event{Kind: KindStep, Phase: PhaseDeploy, Step: s.Name, Weight: s.Weight, Window: window, Message: fmt.Sprintf("%g%% on %s; %s for %s", s.Weight, p.Version, what, window)})
	if window == 0 {
		return r.probe(ctx, s, time.Now(), time.Now())
	}

	interval := min(r.policy.Interval, window)
	start := time.Now()
	deadline := start.Add(window)
	if metrics {
		if err := guard("judge Begin", func() {
			r.judge.Begin(verify.Window{Name: s.Name, Start: start, Length: window, Weight: s.Weight, Final: s.Final})
		}); err != nil {
			return err
		}
	}
	var failures, inARow, gaps int
	lw := logWindow{start: start}
	paused, promoted := r.heldPause(), false
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
		if err := r.allowed(); err != nil {
			return err // never go on unrecorded, nor after losing the lease
		}
		if err := r.obey(ctx, s, &paused, &promoted); err != nil {
			return err
		}
		if promoted {
			return nil
		}
		if paused && !to.Before(deadline) {
			deadline = to.Add(interval) // held: observation goes on
		}
		if err := r.probe(ctx, s, from, to); err != nil {
			return err
		}
		if !metrics {
			from = to
			continue
		}
		iv, note, err := r.observe(ctx, s, from, to)
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case errors.Is(err, verify.ErrNoData):
			gaps++
			r.emit(ctx, Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: "no data for this interval", Err: err})
		case err != nil:
			failures++
			inARow++
			r.emit(ctx, Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: fmt.Sprintf("metric source failed (%d of %d in a row)", inARow, r.policy.MaxConsecutiveErrors), Err: err})
			if inARow >= r.policy.MaxConsecutiveErrors {
				v := r.verdict(ctx, s, &verify.Verdict{Outcome: verify.Fail, Reason: fmt.Sprintf("metric source failed %d times in a row, last: %v", inARow, err),
					Measurements: []verify.Measurement{{Metric: "metric-source", Start: from, End: to, Failed: true}}})
				return causedBy{v, err}
			}
		default:
			inARow = 0
			var v verify.Verdict
			if err := guard("judge Observe", func() { v = r.judge.Observe(iv) }); err != nil {
				return err
			}
			if r.patterns != nil {
				if v, err = r.observeLogs(ctx, s, iv, &lw, v); err != nil {
					return err
				}
			}
			r.emit(ctx, Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: fmt.Sprintf("%s: %s%s", v.Outcome, v.Reason, note), Verdict: &v})
			if v.Outcome == verify.Fail {
				return r.verdict(ctx, s, &v)
			}
		}
		from = to
	}
	if !metrics {
		return nil
	}
	var v verify.Verdict
	if err := guard("judge Conclude", func() { v = r.judge.Conclude() }); err != nil {
		return err
	}
	if r.patterns != nil {
		v = r.concludeLogs(&lw, v)
	}
	if v.Outcome != verify.Pass && gaps+failures > 0 {
		v.Reason += fmt.Sprintf(" (%d interval(s) without data and %d failed read(s) in this window)", gaps, failures)
	}
	return r.verdict(ctx, s, &v)
}

// obey applies the operators' controls posted since the last interval:
// pause and resume set *paused, promote sets *promoted, and abort returns
// the error that rolls back.
func (r *run) obey(ctx context.Context, s strategy.Step, paused, promoted *bool) error {
	for _, c := range r.controls(ctx) {
		msg := words(c)
		switch c.Op {
		case journal.Pause:
			*paused = true
			msg += "; holding at this step, still observing: a failing verdict still rolls back"
		case journal.Resume:
			*paused = false
			msg += "; the step's window runs on"
		case journal.Promote:
			*promoted = true
			msg += "; ending this step's observation now"
		case journal.Abort:
			r.emit(ctx, Event{Kind: KindDecision, Phase: PhaseVerify, Step: s.Name, Message: msg + "; rolling back"})
			return fmt.Errorf("%w: %s", ErrOperatorAbort, msg)
		}
		r.emit(ctx, Event{Kind: KindStep, Phase: PhaseVerify, Step: s.Name, Message: msg})
		if *promoted {
			v := &verify.Verdict{Outcome: verify.Pass, Reason: "promoted by " + c.Who + ": " + c.Why}
			r.emit(ctx, Event{Kind: KindVerdict, Phase: PhaseVerify, Step: s.Name, Message: fmt.Sprintf("%s: %s", v.Outcome, v.Reason), Verdict: v})
			return nil
		}
	}
	return nil
}

// verdict reports a step's verdict and turns it into the gate's answer.
func (r *run) verdict(ctx context.Context, s strategy.Step, v *verify.Verdict) error {
	r.mu.Lock()
	r.report.Verdict = v
	r.mu.Unlock()
	r.emit(ctx, Event{Kind: KindVerdict, Phase: PhaseVerify, Step: s.Name, Message: fmt.Sprintf("%s: %s", v.Outcome, v.Reason), Verdict: v})
	switch v.Outcome {
	case verify.Pass:
		return nil
	case verify.Inconclusive:
		if r.policy.Escalate == nil {
			return v
		}
		if err := call0(ctx, "Policy.Escalate", r.timeouts.Escalate, func(ctx context.Context) error { return r.policy.Escalate(ctx, v) }); err != nil {
			return fmt.Errorf("escalated inconclusive verdict, answer: %w (%w)", err, v)
		}
		r.emit(ctx, Event{Kind: KindVerdict, Phase: PhaseVerify, Step: s.Name, Message: "inconclusive verdict escalated; told to go on"})
		return nil
	}
	return v
}

// probe checks every critical path. It returns nil when all pass, the
// cause when ctx ended, or the failing verdict of the first that fails.
func (r *run) probe(ctx context.Context, s strategy.Step, from, to time.Time) error {
	for _, pr := range r.policy.Probes {
		err := call0(ctx, fmt.Sprintf("probe %q", pr.Name), r.timeouts.Read, pr.Check)
		if ctx.Err() != nil {
			return context.Cause(ctx) // cancellation, not a broken path
		}
		if err != nil {
			v := r.verdict(ctx, s, &verify.Verdict{Outcome: verify.Fail, Reason: fmt.Sprintf("critical path %q failed: %v", pr.Name, err),
				Measurements: []verify.Measurement{{Metric: "critical-path/" + pr.Name, Value: 1, Threshold: 0, Start: from, End: to, Failed: true}}})
			return causedBy{v, err}
		}
	}
	return nil
}

// observe reads the new version, and the old one where it still serves
// traffic, over [from, to). Only the new version's reading is required: a
// failed control read leaves the interval without a control, and the note
// says so.
func (r *run) observe(ctx context.Context, s strategy.Step, from, to time.Time) (iv verify.Interval, note string, err error) {
	p := r.plan
	iv = verify.Interval{Start: from, End: to}
	iv.Canary, err = r.read(ctx, verify.Query{Version: p.Version, Start: from, End: to})
	if err != nil {
		return iv, "", fmt.Errorf("%s: %w", p.Version, err)
	}
	if len(iv.Canary.Warnings) > 0 {
		note = fmt.Sprintf(" (metric source warned: %s)", strings.Join(iv.Canary.Warnings, "; "))
	}
	if s.Weight < 100 {
		control, err := r.read(ctx, verify.Query{Version: p.Previous, Start: from, End: to})
		switch {
		case err == nil:
			iv.Control = &control
		case !errors.Is(err, verify.ErrNoData):
			note += fmt.Sprintf(" (no concurrent control: %s: %v)", p.Previous, err)
		}
	}
	return iv, note, nil
}

// read asks the metric source about q, bounded by the read timeout.
func (r *run) read(ctx context.Context, q verify.Query) (verify.Observation, error) {
	return call(ctx, "metric source", r.timeouts.Read, func(ctx context.Context) (verify.Observation, error) { return r.plan.Metrics.Observe(ctx, q) })
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

func (o observed) action(ctx context.Context, msg string, err error) {
	o.r.emit(ctx, Event{Kind: KindAction, Message: msg, Err: err}) // in the phase under way
}

// changing records that the run asks the target for a change, before it
// does: a run that asked for none has nothing to undo.
func (o observed) changing(what string) {
	o.r.mu.Lock()
	o.r.changed++
	if len(o.r.changes) < maxNamedChanges {
		o.r.changes = append(o.r.changes, what)
	}
	o.r.mu.Unlock()
}

func (o observed) Instances(ctx context.Context) ([]strategy.Instance, error) {
	return call(ctx, "Fleet.Instances", o.r.timeouts.Call, o.t.Fleet.Instances)
}

func (o observed) Start(ctx context.Context, version string) (string, error) {
	o.changing("start an instance of " + version)
	c := journal.Change{Op: "start", Version: version}
	if err := o.r.intent(ctx, c, "start an instance of "+version); err != nil {
		return "", err
	}
	id, err := call(ctx, "Fleet.Start", o.r.timeouts.Start, func(ctx context.Context) (string, error) { return o.t.Fleet.Start(ctx, version) })
	c.Instance = id
	o.r.done(ctx, c, "started instance "+id, err)
	if err != nil {
		o.action(ctx, fmt.Sprintf("instance %q of %s did not become ready", id, version), err)
		return id, err
	}
	// Without a router or switch, a ready instance takes its share of
	// traffic at once.
	o.exposeIf(version == o.r.plan.Version && o.t.Router == nil && o.t.Switch == nil)
	o.action(ctx, fmt.Sprintf("started instance %s (%s)", id, version), nil)
	return id, nil
}

func (o observed) Stop(ctx context.Context, id string) error {
	o.changing("stop instance " + id)
	c := journal.Change{Op: "stop", Instance: id}
	if err := o.r.intent(ctx, c, "stop instance "+id); err != nil {
		return err
	}
	err := call0(ctx, "Fleet.Stop", o.r.timeouts.Call, func(ctx context.Context) error { return o.t.Fleet.Stop(ctx, id) })
	o.r.done(ctx, c, "stopped instance "+id, err)
	if err != nil {
		o.action(ctx, "could not stop instance "+id, err)
		return err
	}
	o.action(ctx, "stopped instance "+id, nil)
	return nil
}

func (o observed) Route(ctx context.Context, stable, canary string, weight float64) error {
	o.changing(fmt.Sprintf("route %g%% to %s", weight, canary))
	c := journal.Change{Op: "route", Stable: stable, Version: canary, Weight: weight}
	if err := o.r.intent(ctx, c, fmt.Sprintf("route %g%% of traffic to %s", weight, canary)); err != nil {
		return err
	}
	err := call0(ctx, "Router.Route", o.r.timeouts.Call, func(ctx context.Context) error { return o.t.Router.Route(ctx, stable, canary, weight) })
	o.r.done(ctx, c, fmt.Sprintf("routed %g%% of traffic to %s", weight, canary), err)
	if err != nil {
		o.action(ctx, fmt.Sprintf("could not route %g%% of traffic to %s", weight, canary), err)
		return err
	}
	o.exposeIf(canary == o.r.plan.Version && weight > 0)
	o.action(ctx, fmt.Sprintf("routed %g%% of traffic to %s, the rest to %s", weight, canary, stable), nil)
	return nil
}

func (o observed) Switch(ctx context.Context, version string) error {
	o.changing("switch traffic to " + version)
	c := journal.Change{Op: "switch", Version: version}
	if err := o.r.intent(ctx, c, "switch all traffic to "+version); err != nil {
		return err
	}
	err := call0(ctx, "Switch.Switch", o.r.timeouts.Call, func(ctx context.Context) error { return o.t.Switch.Switch(ctx, version) })
	o.r.done(ctx, c, "switched all traffic to "+version, err)
	if err != nil {
		o.action(ctx, "could not switch traffic to "+version, err)
		return err
	}
	o.exposeIf(version == o.r.plan.Version)
	o.action(ctx, "switched all traffic to "+version, nil)
	return nil
}

// exposeIf records that the new version has served traffic, when cond holds.
func (o observed) exposeIf(cond bool) {
	if cond {
		o.r.mu.Lock()
		o.r.exposed = true
		o.r.mu.Unlock()
	}
}

// causedBy is a verdict that also unwraps to the error behind it (a probe's
// failure, a panic), so that errors.Is and errors.As find both.
type causedBy struct {
	verdict error
	cause   error
}

func (c causedBy) Error() string   { return c.verdict.Error() }
func (c causedBy) Unwrap() []error { return []error{c.verdict, c.cause} }
