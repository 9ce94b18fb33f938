package backtest

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

// ErrNoBaseline is returned (wrapped) by Replay when the data have no
// baseline row with requests to build the pre-deploy baseline from: the
// judge compares the canary with the old version, never with zero.
var ErrNoBaseline = errors.New("backtest: no baseline row with requests")

// A Decision is what a replay step decided, in the words of the replay
// format's users.
type Decision string

// The decisions, one for each verify.Outcome.
const (
	// Observe is verify.Continue: no decision yet, keep observing.
	Observe Decision = "observe"
	// Rollback is verify.Fail: the canary is worse than the policy allows.
	Rollback Decision = "rollback"
	// Complete is verify.Pass: the window ended with every limit held.
	Complete Decision = "complete"
	// Inconclusive is verify.Inconclusive: the data could not support a
	// decision. Under a policy with no Escalate, a deployment rolls back.
	Inconclusive Decision = "inconclusive"
)

// DecisionOf returns the decision for a judge's outcome, or the outcome's
// String form for an outcome it does not know.
func DecisionOf(o verify.Outcome) Decision {
	switch o {
	case verify.Continue:
		return Observe
	case verify.Fail:
		return Rollback
	case verify.Pass:
		return Complete
	case verify.Inconclusive:
		return Inconclusive
	}
	return Decision(o.String())
}

// Options say how to replay. The zero Options replays through the default
// policy, with the canary's observed share of traffic as its weight.
type Options struct {
	// Policy is the rollback policy: its Judge makes the judge (nil means
	// the default, verify.NewSequentialJudge), which reads the limits,
	// Alpha and MinRequests; its BaselineWindow bounds the pre-deploy
	// baseline. The fields that pace a live deployment (Interval, Window,
	// SignificantWindow, MaxConsecutiveErrors) and those that act on it
	// (Probes, Escalate) play no part: the file sets the pace.
	Policy verify.Policy
	// Weight is the percentage of traffic the canary was meant to serve,
	// in (0, 100]. The judge calls a split far from it a sample-ratio
	// mismatch, and the window Inconclusive. Zero means the share the
	// canary actually served, which can never mismatch.
	Weight float64
}

// A Step is one decision of a replay: the judge's verdict on one interval
// (Observe), or at the end of the window (Conclude).
type Step struct {
	// Time is the interval's time, as the file gave it. The conclusion
	// carries the time of the last interval, at whose end it is reached.
	Time time.Time `json:"time"`
	// Decision is the verdict in the replay's words.
	Decision Decision `json:"verdict"`
	// Reason is the judge's one-line reason, with the deciding numbers.
	Reason string `json:"reason"`
	// Measurements are every comparison the judge made for the verdict.
	Measurements []verify.Measurement `json:"measurements,omitempty"`
	// Line is the line of the interval's first row in the file, 0 for the
	// conclusion.
	Line int `json:"line,omitempty"`
	// Final marks the conclusion of the window: Conclude's verdict, or the
	// rollback that ended the replay early.
	Final bool `json:"final,omitempty"`
}

// A Result is a whole replay.
type Result struct {
	// Baseline is the pre-deploy baseline the judge was given.
	Baseline verify.Baseline
	// Window is the one observation window the judge was given.
	Window verify.Window
	// Steps are the decisions in order: one per interval with a canary
	// row, up to and including the first rollback, then, if there was no
	// rollback, the conclusion. The last step is Final.
	Steps []Step
	// Gaps counts the intervals in the window without canary data: times
	// missing from the file, and times with only a baseline row.
	Gaps int
}

// Final returns the last step: the replay's verdict. It panics if r has no
// steps, which a Result from Replay always has.
func (r *Result) Final() Step { return r.Steps[len(r.Steps)-1] }

// Replay feeds d through the judge of o.Policy, as the executor would have
// at the time, but at full speed and with no clock. It reads nothing but d.
//
// The leading intervals in which the canary served no requests are the
// pre-deploy period (when it never served any, the intervals before its
// first row): the baseline rows among them within the policy's
// BaselineWindow (15 minutes by default) before the deployment sum to the
// judge's Baseline; they are not replayed. When there are no
// such rows, the first baseline row with requests in the replayed part is
// the Baseline (it is also that interval's concurrent control). Baseline
// rows with impossible counts (negative, more errors than requests) are
// left out of the Baseline.
//
// The rest is one window: Begin once, from the first replayed interval to
// the end of the last, with o.Weight or the observed share; Observe for each
// interval with a canary row (the baseline row, where there is one, is its
// concurrent control); and, unless Observe returned Fail, Conclude. A
// conclusion other than Pass notes how many intervals had no canary data,
// as the executor does.
//
// Replay fails with an error wrapping ErrInvalid when d has no intervals,
// times out of order, or a Length that is not positive or would make
// intervals overlap; wrapping ErrNoBaseline when no baseline row has
// requests; with the policy's validation error, wrapped, when o.Policy is
// invalid; and with a plain error when o.Weight is out of range.
func Replay(d *Data, o Options) (*Result, error) {
	if err := o.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("backtest: policy: %w", err)
	}
	if o.Weight < 0 || o.Weight > 100 || math.IsNaN(o.Weight) {
		return nil, fmt.Errorf("backtest: weight %g: must be a percentage in (0, 100], or 0 for the observed share", o.Weight)
	}
	if err := check(d); err != nil {
		return nil, err
	}
	p := o.Policy.WithDefaults()
	ivs := d.Intervals

	start := deployed(ivs)
	base, ok := baseline(d, start, p.BaselineWindow)
	if !ok {
		return nil, fmt.Errorf("%w (the judge compares the canary with the old version, never with zero)", ErrNoBaseline)
	}

	replayed := ivs[start:]
	last := d.Interval(len(ivs) - 1)
	res := &Result{
		Baseline: base,
		Window: verify.Window{
			Name: "backtest", Start: replayed[0].Time, Length: last.End.Sub(replayed[0].Time),
			Weight: o.Weight, Final: true, // the file is the whole deployment

		},
	}
	if res.Window.Weight == 0 {
		res.Window.Weight = observedWeight(replayed)
	}

	judge := p.Judge(p, base)
	judge.Begin(res.Window)
	for i, iv := range replayed {
		if i > 0 {
			// Slots of Length between this time and the one before, missing from the file.
			res.Gaps += int(math.Round(float64(iv.Time.Sub(replayed[i-1].Time))/float64(d.Length))) - 1
		}
		if iv.Canary == nil {
			res.Gaps++
			continue
		}
		v := judge.Observe(d.Interval(start + i))
		res.Steps = append(res.Steps, Step{Time: iv.Time, Decision: DecisionOf(v.Outcome), Reason: v.Reason, Measurements: v.Measurements, Line: iv.Line})
		if v.Outcome == verify.Fail {
			res.Steps[len(res.Steps)-1].Final = true
			return res, nil
		}
	}
	v := judge.Conclude()
	if v.Outcome != verify.Pass && res.Gaps > 0 {
		v.Reason += fmt.Sprintf(" (%d interval(s) without canary data in this window)", res.Gaps)
	}
	res.Steps = append(res.Steps, Step{Time: ivs[len(ivs)-1].Time, Decision: DecisionOf(v.Outcome), Reason: v.Reason, Measurements: v.Measurements, Final: true})
	return res, nil
}

// deployed returns the index of the first interval in which the canary
// served requests; failing that, of the first with a canary row; failing
// that, 0.
func deployed(ivs []Interval) int {
	row := -1
	for i, iv := range ivs {
		if iv.Canary == nil {
			continue
		}
		if iv.Canary.Requests > 0 {
			return i
		}
		if row < 0 {
			row = i
		}
	}
	return max(row, 0)
}

// check reports why d cannot be replayed.
func check(d *Data) error {
	if d == nil || len(d.Intervals) == 0 {
		return fmt.Errorf("%w: no intervals", ErrInvalid)
	}
	if d.Length <= 0 {
		return fmt.Errorf("%w: interval length %s is not positive", ErrInvalid, d.Length)
	}
	for i := 1; i < len(d.Intervals); i++ {
		prev, iv := d.Intervals[i-1], d.Intervals[i]
		if !iv.Time.After(prev.Time) {
			return fmt.Errorf("%w: %s is not after %s", ErrInvalid, iv.Time.Format(time.RFC3339Nano), prev.Time.Format(time.RFC3339Nano))
		}
		if gap := iv.Time.Sub(prev.Time); gap < d.Length {
			return fmt.Errorf("%w: intervals of %s starting at %s and %s would overlap", ErrInvalid, d.Length,
				prev.Time.Format(time.RFC3339Nano), iv.Time.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// baseline builds the judge's Baseline for a replay starting at interval
// start, and reports false when no baseline row has requests.
func baseline(d *Data, start int, window time.Duration) (verify.Baseline, bool) {
	ivs := d.Intervals
	b := verify.Baseline{Version: ArmBaseline}
	for _, iv := range ivs[:start] {
		if iv.Time.Before(ivs[start].Time.Add(-window)) || iv.Baseline == nil || !possible(*iv.Baseline) {
			continue
		}
		if b.Start.IsZero() {
			b.Start = iv.Time
		}
		b.End = iv.Time.Add(d.Length)
		b.Observation = b.Add(*iv.Baseline)
	}
	if b.Requests > 0 {
		return b, true
	}
	for _, iv := range ivs[start:] {
		if o := iv.Baseline; o != nil && o.Requests > 0 && possible(*o) {
			b.Start, b.End, b.Observation = iv.Time, iv.Time.Add(d.Length), *o
			return b, true
		}
	}
	return b, false
}

// possible reports whether o's counts can be real: none negative, no more
// errors than requests, buckets that do not decrease.
func possible(o verify.Observation) bool {
	if o.Requests < 0 || o.Errors < 0 || o.Business < 0 || o.Errors > o.Requests {
		return false
	}
	prev := 0.0
	for _, b := range o.Latency {
		if b.Count < prev {
			return false
		}
		prev = b.Count
	}
	return true
}

// observedWeight returns the canary's share of requests, in percent, over
// the intervals where both arms served; 100 when there are none (with no
// old version serving, the canary has it all).
func observedWeight(ivs []Interval) float64 {
	var canary, all float64
	for _, iv := range ivs {
		c, b := iv.Canary, iv.Baseline
		if c == nil || b == nil || !possible(*c) || !possible(*b) || b.Requests <= 0 {
			continue
		}
		canary += c.Requests
		all += c.Requests + b.Requests
	}
	if all <= 0 {
		return 100
	}
	return 100 * canary / all
}
