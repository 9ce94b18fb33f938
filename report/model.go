package report

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/internal/outcome"
	"github.com/safedeploy/safedeploy/runbook"
)

// The record's entries are read by kind and phase, as the deploy executor
// writes them (runbook.Entry documents the phases).
const (
	kindPhase       = "phase"
	kindStep        = "step"
	kindMeasurement = "measurement"
	kindVerdict     = "verdict"
	kindDecision    = "decision"
	kindOutcome     = "outcome"
	kindMigration   = "migration"
	kindAction      = "action"
	kindBaseline    = "baseline"

	phaseDecide = "decide"
)

// A model is what the page shows, read from a record.
type model struct {
	rec      *runbook.Record
	start    time.Time // time zero of the page: Started, else the first entry
	end      time.Time // Finished, else the last entry
	outcome  outcome.Outcome
	decision string // the decision table's answer, if one was given

	phases  []span
	steps   []step
	weights []weightAt // the new version's share of traffic over time
	metrics []*metric
	final   []runbook.Number // the last numbers judged
	finalAt time.Time
	migs    []runbook.Entry
}

// A span is a phase of the run.
type span struct {
	name     string
	from, to time.Duration
}

// A step is one strategy step and how it ended.
type step struct {
	name     string
	weight   float64       // NaN when the entry did not say
	window   time.Duration // 0 when the entry did not say
	from, to time.Duration
	verdict  string // "pass", "fail", "inconclusive" or "" when none was reached
	reason   string
}

type weightAt struct {
	at     time.Duration
	weight float64
}

// A metric is one judged metric's measurements over the run.
type metric struct {
	name  string
	unit  string
	above float64 // latency bound in seconds, or 0
	// baseline is the pre-deploy baseline's figure, NaN when the record
	// does not give it.
	baseline float64
	points   []point
	// crossed is when the evidence first reached the bar, sure when the
	// confidence interval first lay entirely within the limit; -1 when
	// never.
	crossed, sure time.Duration
	down          bool // the limit is a floor (business events), not a ceiling
}

// A point is one measurement of a metric: the judge's cumulative figures
// since the deployment began, and the new version's own rate in the
// interval, derived from the change in the cumulative counts.
type point struct {
	at       time.Duration // end of the interval, since the page's start
	step     string
	n        runbook.Number
	interval float64 // NaN when no requests were added
}

// The formats of the executor's messages that the page reads numbers from
// when an entry has no structured field for them. Tests run the executor
// and check that these still match what it writes.
var (
	// a step: "25% on v2; observing for 5m0s"
	stepRE = regexp.MustCompile(`^([0-9.]+)% on \S+; \w+ for (\S+)$`)
	// a router change: "routed 25% of traffic to v2, the rest to v1"
	routedRE = regexp.MustCompile(`^routed ([0-9.]+)% of traffic to (\S+), the rest to`)
	// a switch: "switched all traffic to v2"
	switchedRE = regexp.MustCompile(`^switched all traffic to (\S+)$`)
	// the baseline: "baseline v1 over 15m0s: 90000 requests, error rate 1.2%, P95 …"
	baselineRE = regexp.MustCompile(`error rate ([0-9.eE+-]+)%`)
)

func newModel(rec *runbook.Record) *model {
	m := &model{rec: rec, outcome: outcome.Parse(rec.Outcome), start: rec.Started, end: rec.Finished}
	if len(rec.Entries) > 0 {
		if m.start.IsZero() {
			m.start = rec.Entries[0].Time
		}
		if last := rec.Entries[len(rec.Entries)-1].Time; m.end.IsZero() || last.After(m.end) {
			m.end = last
		}
	}
	at := func(t time.Time) time.Duration {
		if t.IsZero() || m.start.IsZero() {
			return 0
		}
		return t.Sub(m.start)
	}
	total := at(m.end)

	byName := map[string]*metric{}
	baseErr := math.NaN()
	var baseNums []runbook.Number
	prev := map[string]runbook.Number{}
	var cur *step
	closeStep := func(t time.Duration) {
		if cur != nil {
			cur.to = t
			m.steps = append(m.steps, *cur)
			cur = nil
		}
	}
	for _, e := range rec.Entries {
		t := at(e.Time)
		// A phase starts with its phase event; deciding after a failure
		// starts with the decision, which has none.
		if e.Kind == kindPhase || (e.Phase == phaseDecide && (len(m.phases) == 0 || m.phases[len(m.phases)-1].name != phaseDecide)) {
			if n := len(m.phases); n > 0 {
				m.phases[n-1].to = t
			}
			m.phases = append(m.phases, span{name: e.Phase, from: t})
			if e.Phase != "deploy" && e.Phase != "verify" {
				closeStep(t)
			}
		}
		switch e.Kind {
		case kindStep:
			closeStep(t)
			s := step{name: e.Step, weight: math.NaN(), from: t}
			if e.Weight > 0 || e.WindowSeconds > 0 {
				s.weight, s.window = e.Weight, time.Duration(e.WindowSeconds*float64(time.Second))
			} else if sm := stepRE.FindStringSubmatch(e.Message); sm != nil { // records written before the fields
				s.weight, _ = strconv.ParseFloat(sm[1], 64)
				s.window, _ = time.ParseDuration(sm[2])
			}
			if s.name == "" {
				s.name = "step " + strconv.Itoa(len(m.steps)+1)
			}
			cur = &s
			if !math.IsNaN(s.weight) {
				m.weights = append(m.weights, weightAt{t, s.weight})
			}
		case kindAction:
			if sm := routedRE.FindStringSubmatch(e.Message); sm != nil && sm[2] == rec.Runbook.Version {
				w, _ := strconv.ParseFloat(sm[1], 64)
				m.weights = append(m.weights, weightAt{t, w})
			} else if sm := switchedRE.FindStringSubmatch(e.Message); sm != nil {
				w := 0.0
				if sm[1] == rec.Runbook.Version {
					w = 100
				}
				m.weights = append(m.weights, weightAt{t, w})
			}
		case kindBaseline:
			baseNums = e.Numbers
			if sm := baselineRE.FindStringSubmatch(e.Message); sm != nil {
				if v, err := strconv.ParseFloat(sm[1], 64); err == nil {
					baseErr = v / 100
				}
			}
		case kindMigration:
			m.migs = append(m.migs, e)
		case kindVerdict:
			if cur != nil && (cur.name == e.Step || e.Step == "") && cur.verdict == "" {
				cur.verdict, cur.reason = verdictOf(e.Message)
			}
		case kindDecision:
			m.decision = e.Message
		case kindMeasurement:
			for _, n := range e.Numbers {
				if n.EvidenceBar <= 0 && n.Ratio == 0 && n.Requests == 0 {
					continue // a failed read or probe: no series to draw
				}
				mt := byName[n.Metric]
				if mt == nil {
					mt = &metric{name: n.Metric, unit: n.Unit, above: n.Above, baseline: math.NaN(), crossed: -1, sure: -1}
					byName[n.Metric] = mt
					m.metrics = append(m.metrics, mt)
				}
				p := point{at: at(n.End), step: e.Step, n: n, interval: math.NaN()}
				if n.End.IsZero() {
					p.at = t
				}
				pn, ok := prev[n.Metric]
				if !ok || !pn.Start.Equal(n.Start) || n.Requests < pn.Requests {
					pn = runbook.Number{} // the first, or the judge started over
				}
				if d := n.Requests - pn.Requests; d > 0 {
					p.interval = math.Max(0, (n.Value*n.Requests-pn.Value*pn.Requests)/d)
				}
				prev[n.Metric] = n
				mt.points = append(mt.points, p)
			}
		}
		if len(e.Numbers) > 0 && e.Kind != kindBaseline {
			m.final, m.finalAt = e.Numbers, e.Time
		}
	}
	closeStep(total)
	if n := len(m.phases); n > 0 {
		m.phases[n-1].to = total
	}
	for _, mt := range m.metrics {
		mt.down = isFloor(mt)
		for _, b := range baseNums {
			if b.Metric == mt.name {
				mt.baseline = b.Value
			}
		}
		if mt.name == "error-rate" && math.IsNaN(mt.baseline) {
			mt.baseline = baseErr
		}
		for _, p := range mt.points {
			n := p.n
			if mt.crossed < 0 && n.EvidenceBar > 0 && (n.Evidence >= n.EvidenceBar || n.Failed) {
				mt.crossed = p.at
			}
			if mt.sure < 0 && n.Limit > 0 && n.Upper > 0 {
				if (!mt.down && n.Upper < n.Limit) || (mt.down && n.Lower > n.Limit) {
					mt.sure = p.at
				}
			}
		}
	}
	slices.SortStableFunc(m.weights, func(a, b weightAt) int { return int(a.at - b.at) })
	return m
}

// isFloor reports whether a metric's limit is a floor: its threshold lies
// below the comparison, as for business events per request.
func isFloor(mt *metric) bool {
	for _, p := range mt.points {
		if p.n.Limit > 0 {
			return p.n.Limit < 1
		}
	}
	return false
}

// verdictOf splits a verdict message ("fail: error-rate …") into its outcome
// and reason.
func verdictOf(msg string) (verdict, reason string) {
	head, rest, ok := strings.Cut(msg, ": ")
	switch head {
	case "pass", "fail", "inconclusive":
		if ok {
			return head, rest
		}
	}
	return "", msg
}

// metricTitle names a metric for people: "Error rate", "Requests slower than
// 97ms (latency-p95)".
func metricTitle(mt *metric) string {
	switch {
	case mt.name == "error-rate":
		return "Error rate"
	case mt.name == "business-rate":
		return "Business events per request"
	case mt.above > 0:
		return "Requests slower than " + seconds(mt.above) + " (" + mt.name + ")"
	}
	return mt.name
}
