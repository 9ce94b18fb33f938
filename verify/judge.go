package verify

import (
	"fmt"
	"strings"
	"time"
)

// A Baseline is the old version's behaviour before anything changed,
// captured during pre-flight. Rules compare against it, never against zero.
type Baseline struct {
	Version string    `json:"version"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Observation
}

// An Interval is one round of observation: the new version, and the old
// version over the same time where it still serves traffic (the concurrent
// control).
type Interval struct {
	Start, End time.Time
	// Canary is the new version.
	Canary Observation
	// Control is the old version over the same interval, or nil when it
	// serves no traffic (a direct deploy, blue/green after the switch).
	Control *Observation
}

// A Window is one observation window: a step of a deployment, observed
// interval by interval.
type Window struct {
	// Name names the step: "canary 5%".
	Name string
	// Start is when observation begins; Length how long it lasts.
	Start  time.Time
	Length time.Duration
	// Weight is the percentage of traffic the new version is meant to serve
	// during the window.
	Weight float64
	// Final marks the window that completes the rollout (strategy.Step's
	// Final): the last one before the old version is retired.
	Final bool
}

// A Judge turns observations into verdicts for one deployment. It is pure:
// it reads nothing but what it is given, so recorded observations replay
// through it at full speed. A Judge is not safe for concurrent use.
//
// The executor makes one Judge per deployment and, for each observed step,
// calls Begin, then Observe once per interval, then Conclude — unless
// Observe returned Fail. Whether evidence carries from one window to the
// next is the judge's choice.
type Judge interface {
	// Begin starts an observation window.
	Begin(w Window)
	// Observe adds one interval and returns Continue, or Fail when the new
	// version is already known to be worse.
	Observe(iv Interval) Verdict
	// Conclude is called when the window ends. It returns Pass, Fail, or
	// Inconclusive when the data cannot support a decision.
	Conclude() Verdict
}

// NewThresholdJudge returns the simple judge of the seed's rules, as tools
// commonly apply them: it sums the new version's observations over the
// current window and compares the totals with the pre-deploy baseline
// against p's limits at every interval. Each window starts afresh. It takes
// no account of chance, so at low traffic it rolls back good versions
// often; NewSequentialJudge, the default, does not.
func NewThresholdJudge(p Policy, b Baseline) Judge {
	return &thresholdJudge{p: p.WithDefaults(), base: b}
}

type thresholdJudge struct {
	p          Policy
	base       Baseline
	total      Observation
	start, end time.Time
}

func (j *thresholdJudge) Begin(w Window) {
	j.total, j.start, j.end = Observation{}, w.Start, w.Start
}

func (j *thresholdJudge) Observe(iv Interval) Verdict {
	if j.start.IsZero() {
		j.start = iv.Start
	}
	j.end = iv.End
	j.total = j.total.Add(iv.Canary)
	if j.total.Requests < j.p.MinRequests {
		return Verdict{Outcome: Continue, Reason: j.waiting()}
	}
	v := j.evaluate()
	if v.Outcome != Fail {
		v.Outcome = Continue
	}
	return v
}

func (j *thresholdJudge) Conclude() Verdict {
	if j.total.Requests < j.p.MinRequests {
		return Verdict{Outcome: Inconclusive, Reason: j.waiting() + " at the end of the window"}
	}
	return j.evaluate()
}

func (j *thresholdJudge) waiting() string {
	return fmt.Sprintf("%.0f of %.0f requests needed before judging", j.total.Requests, j.p.MinRequests)
}

// limitSlack is the relative rounding a figure may exceed its limit by and
// still pass: a value exactly at the limit passes, but the limit's own
// arithmetic can round it away (0.1 × (1 − 0.2) is 0.08000000000000002).
const limitSlack = 1e-9

func (j *thresholdJudge) evaluate() Verdict {
	c, b := j.total, j.base.Observation
	measure := func(metric string, value, base, threshold float64, above bool) Measurement {
		return Measurement{
			Metric: metric, Unit: UnitRate, Against: "baseline", Value: value, Baseline: base, Threshold: threshold,
			Requests: c.Requests, Start: j.start, End: j.end,
			Failed: (above && value > threshold*(1+limitSlack)) || (!above && value < threshold*(1-limitSlack)),
		}
	}
	ms := []Measurement{measure("error-rate", c.ErrorRate(), b.ErrorRate(),
		j.p.MaxErrorRatio*max(b.ErrorRate(), j.p.MinErrorRate, 0), true)}
	for _, r := range latencyRules(j.p, b) {
		if above, ok := r.above(c); ok && c.Requests > 0 {
			m := measure(r.name, above/c.Requests, r.rate, r.limit*r.rate, true)
			m.Above = r.bound
			ms = append(ms, m)
		}
	}
	if b.Business > 0 && j.p.MaxBusinessDrop < 1 {
		ms = append(ms, measure("business-rate", c.BusinessRate(), b.BusinessRate(),
			b.BusinessRate()*(1-max(j.p.MaxBusinessDrop, 0)), false))
	}
	var failed []string
	for _, m := range ms {
		if m.Failed {
			failed = append(failed, m.String())
		}
	}
	if len(failed) > 0 {
		return Verdict{Outcome: Fail, Reason: strings.Join(failed, "; "), Measurements: ms}
	}
	return Verdict{Outcome: Pass, Reason: fmt.Sprintf("all %d rules held over %.0f requests", len(ms), c.Requests), Measurements: ms}
}
