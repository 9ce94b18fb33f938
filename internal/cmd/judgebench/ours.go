package main

import (
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

// metricNames are the metrics the default policy judges, in the order the
// benchmark reports which of them triggered a rollback.
var metricNames = [...]string{"error-rate", "latency-p50", "latency-p95", "latency-p99", "business-rate"}

// A sequential is the outcome of one run of a verify.Judge.
type sequential struct {
	at           int     // the minute it rolled back, or 0
	inconclusive bool    // some window ended Inconclusive
	triggered    uint8   // bit i: metricNames[i] had failed at the rollback
	p95Bound     float64 // the bound the P95 rule counted requests above
}

// judgeSequential runs the policy's judge over d as the executor would: one
// window per traffic step (Begin, Observe per interval with data, Conclude),
// the concurrent control where the source has it. A window that ends
// Inconclusive is recorded and observation goes on, as if Policy.Escalate
// had said to proceed.
func judgeSequential(d *deployment, p verify.Policy) sequential {
	p = p.WithDefaults()
	j := p.Judge(p, d.baselineFor())
	var out sequential
	record := func(v verify.Verdict) {
		for _, m := range v.Measurements {
			if m.Metric == "latency-p95" {
				out.p95Bound = m.Above
			}
			if !m.Failed {
				continue
			}
			for i, name := range metricNames {
				if m.Metric == name {
					out.triggered |= 1 << i
				}
			}
		}
	}
	for w := 0; w < runMinutes; {
		length := runMinutes
		if d.s.ramp {
			length = rampStep
		}
		j.Begin(verify.Window{
			Name:  fmt.Sprintf("canary %g%%", 100*d.s.shareAt(w)),
			Start: start.Add(time.Duration(w) * time.Minute), Length: time.Duration(length) * time.Minute,
			Weight: 100 * d.s.shareAt(w),
		})
		for t := w; t < w+length; t++ {
			m := d.minutes[t]
			if m.missing {
				continue // the source said ErrNoData: the executor skips it
			}
			from := start.Add(time.Duration(t) * time.Minute)
			iv := verify.Interval{Start: from, End: from.Add(time.Minute), Canary: m.canary.observation()}
			if !m.noControl {
				ctl := m.control.observation()
				iv.Control = &ctl
			}
			if v := j.Observe(iv); v.Outcome == verify.Fail {
				record(v)
				out.at = t + 1
				return out
			}
		}
		w += length
		switch v := j.Conclude(); v.Outcome {
		case verify.Fail:
			record(v)
			out.at = w
			return out
		case verify.Inconclusive:
			out.inconclusive = true
			record(v)
		default:
			record(v)
		}
	}
	return out
}
