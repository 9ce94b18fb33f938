package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
)

// The log-pattern rule: with Plan.Logs set, pre-flight reads the old
// version's logs over the baseline window, and every interval of an
// observed step reads the new version's (and the old one's, where it still
// serves) and feeds them to a logs.Detector, weighed by the requests the
// metric source counted. What a finding does is Verify.Patterns.Action,
// applied to the interval's and the window's verdicts by
// verify.PatternPolicy.Apply.

// captureLogBaseline reads the previous version's logs over the metric
// baseline's window and starts the run's pattern detector with them.
func (r *run) captureLogBaseline(ctx context.Context) error {
	b := r.report.Baseline
	if b.Requests <= 0 {
		return errors.New("not read: the metric baseline, whose requests weigh the logs, is missing")
	}
	q := verify.Query{Version: b.Version, Start: b.Start, End: b.End}
	obs, err := r.readLogs(ctx, q)
	if err != nil {
		return fmt.Errorf("log source: %s: %w (the log-pattern rule compares the new version's logs with the old version's)", q, err)
	}
	d, err := logs.NewDetector(r.policy.Patterns, &logs.Sample{Exposure: b.Requests, Observation: obs})
	if err != nil {
		return err // Validate checked the policy; kept for safety
	}
	r.patterns = d
	for _, w := range obs.Warnings {
		r.emit(ctx, Event{Kind: KindBaseline, Phase: PhasePreflight, Message: "log source warned about the baseline: " + w})
	}
	r.emit(ctx, Event{Kind: KindBaseline, Phase: PhasePreflight, Message: fmt.Sprintf(
		"log baseline %s over %s: %.0f lines, %d warning and error templates; a new error pattern will %s",
		b.Version, b.End.Sub(b.Start).Round(time.Millisecond), obs.Lines, len(obs.Patterns), actionWords(r.policy.Patterns.Action))})
	return nil
}

// actionWords says what a new pattern does, for people.
func actionWords(a verify.PatternAction) string {
	switch a {
	case verify.PatternRollback:
		return "roll back"
	case verify.PatternReport:
		return "be reported only"
	}
	return "hold its step: the step cannot pass, and ends inconclusive"
}

// readLogs asks the log source about q, bounded by the read timeout, and
// refuses impossible counts.
func (r *run) readLogs(ctx context.Context, q verify.Query) (verify.LogObservation, error) {
	obs, err := call(ctx, "log source", r.timeouts.Read, func(ctx context.Context) (verify.LogObservation, error) { return r.plan.Logs.Patterns(ctx, q) })
	if err == nil {
		if verr := obs.Validate(); verr != nil {
			return verify.LogObservation{}, fmt.Errorf("impossible counts: %w", verr)
		}
	}
	return obs, err
}

// logWindow is the log-pattern rule's state over one observation window.
type logWindow struct {
	start   time.Time
	inARow  int // failed reads of the new version's logs in a row
	failed  int // failed reads in the window
	blind   bool
	lastErr error
}

// observeLogs reads both versions' logs over iv's time, feeds them to the
// detector, reports each new finding as an event, and returns v with the
// findings and the policy's action applied. A read of the new version's
// logs that fails is counted: MaxConsecutiveErrors in a row fail v under
// PatternRollback and keep the window from passing under PatternHold, as
// a metric source that keeps failing does.
func (r *run) observeLogs(ctx context.Context, s strategy.Step, iv verify.Interval, w *logWindow, v verify.Verdict) (verify.Verdict, error) {
	p, pol := r.plan, r.policy.Patterns
	cur, err := r.readLogs(ctx, verify.Query{Version: p.Version, Start: iv.Start, End: iv.End})
	switch {
	case ctx.Err() != nil:
		return v, context.Cause(ctx)
	case errors.Is(err, verify.ErrNoData):
		r.emit(ctx, Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: "no logs of " + p.Version + " for this interval", Err: err})
		return pol.Apply(v, r.patterns.Findings(), w.start), nil
	case err != nil:
		w.inARow++
		w.failed++
		w.lastErr = err
		r.emit(ctx, Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: fmt.Sprintf("log source failed (%d of %d in a row)", w.inARow, r.policy.MaxConsecutiveErrors), Err: err})
		if w.inARow >= r.policy.MaxConsecutiveErrors {
			switch pol.Action {
			case verify.PatternRollback:
				if v.Outcome != verify.Fail {
					v = verify.Verdict{Outcome: verify.Fail, Reason: fmt.Sprintf("log source failed %d times in a row, last: %v", w.inARow, err),
						Measurements: []verify.Measurement{{Metric: "log-source", Start: iv.Start, End: iv.End, Failed: true}}}
				}
			case verify.PatternHold:
				w.blind = true
			}
		}
		return pol.Apply(v, r.patterns.Findings(), w.start), nil
	}
	w.inARow = 0
	li := logs.Interval{Start: iv.Start, End: iv.End, New: logs.Sample{Exposure: iv.Canary.Requests, Observation: cur}}
	if iv.Control != nil {
		old, err := r.readLogs(ctx, verify.Query{Version: p.Previous, Start: iv.Start, End: iv.End})
		switch {
		case ctx.Err() != nil:
			return v, context.Cause(ctx)
		case err == nil:
			li.Old = &logs.Sample{Exposure: iv.Control.Requests, Observation: old}
		case !errors.Is(err, verify.ErrNoData):
			r.emit(ctx, Event{Kind: KindMeasurement, Phase: PhaseVerify, Step: s.Name, Message: "no concurrent control for the logs: " + p.Previous + "'s could not be read; judged against the baseline", Err: err})
		}
	}
	before := len(r.patterns.Findings())
	var found []verify.PatternFinding
	if err := guard("log-pattern detector", func() { found = r.patterns.Observe(li) }); err != nil {
		return v, err
	}
	for _, f := range found[min(before, len(found)):] {
		r.emit(ctx, Event{Kind: KindPattern, Phase: PhaseVerify, Step: s.Name,
			Message: fmt.Sprintf("%s; %s", f, patternConsequence(pol.Action)),
			Verdict: &verify.Verdict{Outcome: verify.Continue, Reason: f.Short(), Patterns: []verify.PatternFinding{f}}})
	}
	return pol.Apply(v, found, w.start), nil
}

// patternConsequence says what a finding does to the run, for its event.
func patternConsequence(a verify.PatternAction) string {
	switch a {
	case verify.PatternRollback:
		return "rolling back"
	case verify.PatternReport:
		return "reported only (Verify.Patterns.Action)"
	}
	return "holding: this step cannot pass; at the end of its window it is inconclusive"
}

// concludeLogs applies the log-pattern rule to a window's final verdict.
func (r *run) concludeLogs(w *logWindow, v verify.Verdict) verify.Verdict {
	v = r.policy.Patterns.Apply(v, r.patterns.Findings(), w.start)
	if w.blind && v.Outcome == verify.Pass {
		v.Outcome = verify.Inconclusive
		v.Reason = fmt.Sprintf("the log source failed %d times in a row (%d in the window), last: %v: new error patterns could not be looked for (the metric rules held: %s)",
			r.policy.MaxConsecutiveErrors, w.failed, w.lastErr, v.Reason)
	}
	return v
}
