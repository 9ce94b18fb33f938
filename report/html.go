package report

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/runbook"
)

//go:embed report.css
var css string

//go:embed report.html.tmpl
var page string

// tmpl is parsed once; a template is safe for concurrent use once parsed.
var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"numbers": func(rows []numRow, weighed bool) numTable { return numTable{rows, weighed} },
}).Parse(page))

// numTable is a table of numbers for the template.
type numTable struct {
	Rows    []numRow
	Weighed bool
}

// ErrNilRecord is returned by Write for a nil record.
var ErrNilRecord = errors.New("report: nil record")

// Write renders rec as one self-contained HTML page to w: styles, charts
// (inline SVG) and the one short script (which opens the event list for
// printing) are in the page, so that it opens without a network and can be
// mailed or attached to an incident as it is.
//
// The page shows, from top to bottom: the outcome with the decision and its
// reason; the plan and the runbook's eight fields; the phases, the steps with
// their traffic weight, window and verdict, and a chart of the new version's
// share of traffic; for every judged metric a chart per step (see the
// package documentation); the last numbers judged; the migrations; and every
// event, collapsed.
//
// Any record renders, a run's in progress or a past one read back from
// JSON, however incomplete: what it lacks is left out or marked "not
// given". Write fails only with ErrNilRecord, or when writing to w fails
// (the error wraps w's).
func Write(w io.Writer, rec *runbook.Record) error {
	if rec == nil {
		return ErrNilRecord
	}
	v, err := newView(newModel(rec))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := tmpl.Execute(bw, v); err != nil {
		return fmt.Errorf("report: writing the page: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: writing the page: %w", err)
	}
	return nil
}

// view is the page's data, formatted for the template.
type view struct {
	CSS      template.CSS
	Title    string
	Outcome  string
	Tone     string
	Reason   string
	Decision string
	Facts    []fact
	Fields   []field

	Phases      []phaseRow
	Steps       []stepRow
	WeightChart template.HTML // for a laptop's width
	// WeightChartNarrow is the same for a phone's.
	WeightChartNarrow template.HTML

	Metrics []metricView
	FinalAt string
	Final   []numRow
	Weighed bool // the numbers carry ratios and evidence

	Migrations []eventRow
	Events     []eventRow
}

type fact struct{ Name, Value string }

// field is one of the runbook's eight fields.
type field struct {
	Name    string
	Paras   []string // text, one paragraph per line
	Items   []string // a list
	Ordered bool
}

type phaseRow struct {
	Name, From, Took string
	Share            float64 // of the run's time, in percent, for the bar
}

type stepRow struct {
	Name, Weight, Window, From, Took, Verdict, Tone, Reason string
}

type metricView struct {
	ID, Title, Summary, Tone string
	Charts                   []chartView
}

type chartView struct {
	Caption, Note string
	SVG           template.HTML
}

type numRow struct {
	Metric, Value, Compared, Threshold, Ratio, Limit, Evidence, Requests, Window, Result, Tone string
}

type eventRow struct {
	At, Phase, Kind, Step, Message, Error, Tone string
	Numbers                                     []numRow
	Weighed                                     bool
	// Brief has a measurement's numbers, a line each: a day-long window
	// has thousands, and the charts show them already.
	Brief []string
	// Patterns are the new error patterns in the logs the event reports
	// or its verdict lists, a line each.
	Patterns []string
}

func newView(m *model) (*view, error) {
	rb := m.rec.Runbook
	v := &view{
		CSS:      template.CSS(css),
		Title:    fmt.Sprintf("%s %s → %s (%s)", given(rb.Service), given(rb.Previous), given(rb.Version), given(rb.Environment)),
		Outcome:  m.outcome.Label(m.rec.Outcome),
		Tone:     m.outcome.Tone(),
		Reason:   m.rec.Reason,
		Decision: m.decision,
	}
	// The decision's message is its actions and its reason, and the
	// reason is the record's: say it once.
	if acts, ok := strings.CutSuffix(v.Decision, ": "+v.Reason); ok && v.Reason != "" {
		v.Decision = acts
	}
	v.Facts = []fact{
		{"Service", given(rb.Service)},
		{"Version", given(rb.Previous) + " → " + given(rb.Version)},
		{"Environment", given(rb.Environment)},
		{"Strategy", given(rb.Strategy)},
		{"Started", stamp(m.rec.Started)},
		{"Finished", stamp(m.rec.Finished)},
		{"Took", took(m.rec.Started, m.rec.Finished)},
		{"Events", strconv.Itoa(len(m.rec.Entries))},
	}
	v.Fields = []field{
		{Name: "Date/time", Paras: []string{stamp(rb.Date)}},
		{Name: "Engineer", Paras: paras(rb.Engineer)},
		{Name: "What changes", Paras: paras(rb.Changes)},
		{Name: "Why", Paras: paras(rb.Why)},
		{Name: "Expected behaviour", Paras: paras(rb.Expected)},
		{Name: "How to verify", Items: rb.Verify},
		{Name: "Rollback plan", Items: rb.Rollback, Ordered: true},
		{Name: "Time to roll back", Paras: []string{about(rb.RollbackTime)}},
	}
	total := m.end.Sub(m.start)
	for _, p := range m.phases {
		share := 0.0
		if total > 0 {
			share = 100 * float64(p.to-p.from) / float64(total)
		}
		v.Phases = append(v.Phases, phaseRow{Name: p.name, From: plus(p.from), Took: dur(p.to - p.from), Share: share})
	}
	for _, s := range m.steps {
		r := stepRow{Name: s.name, Weight: "—", Window: "—", From: plus(s.from), Took: dur(s.to - s.from), Verdict: s.verdict, Tone: verdictTone(s.verdict), Reason: s.reason}
		if !math.IsNaN(s.weight) {
			r.Weight = strconv.FormatFloat(s.weight, 'g', 4, 64) + "%"
		}
		if s.window > 0 {
			r.Window = s.window.String()
		}
		if r.Verdict == "" {
			r.Verdict = "not reached"
		}
		v.Steps = append(v.Steps, r)
	}
	if len(m.weights) > 0 {
		wide, err := weightChart(m, wideW, wideH)
		if err != nil {
			return nil, err
		}
		narrow, err := weightChart(m, chartW, narrowH)
		if err != nil {
			return nil, err
		}
		v.WeightChart, v.WeightChartNarrow = template.HTML(wide), template.HTML(narrow)
	}
	for i, mt := range m.metrics {
		mv := metricView{ID: fmt.Sprintf("metric-%d", i+1), Title: metricTitle(mt), Summary: summary(m, mt), Tone: "good"}
		if mt.crossed >= 0 {
			mv.Tone = "bad"
		}
		for _, s := range stepsOf(m, mt) {
			svg, err := stepChart(mt, s.pts, s.from, s.to)
			if err != nil {
				return nil, fmt.Errorf("chart of %s in %s: %w", mt.name, s.name, err)
			}
			mv.Charts = append(mv.Charts, chartView{Caption: s.caption, Note: s.note, SVG: template.HTML(svg)})
		}
		v.Metrics = append(v.Metrics, mv)
	}
	if len(m.final) > 0 {
		v.FinalAt = plus(m.finalAt.Sub(m.start))
		v.Final, v.Weighed = numRows(m.final)
	}
	for _, e := range m.migs {
		v.Migrations = append(v.Migrations, eventOf(m, e))
	}
	v.Events = make([]eventRow, len(m.rec.Entries))
	for i, e := range m.rec.Entries {
		v.Events[i] = eventOf(m, e)
	}
	return v, nil
}

// A stepSeries is one metric's points within one step.
type stepSeries struct {
	name, caption, note string
	from, to            time.Duration
	pts                 []point
}

// stepsOf splits a metric's points by step, in the order of the steps.
func stepsOf(m *model, mt *metric) []stepSeries {
	var out []stepSeries
	for _, s := range m.steps {
		ss := stepSeries{name: s.name, from: s.from, to: s.to, caption: s.name}
		if !math.IsNaN(s.weight) {
			ss.caption += fmt.Sprintf(" · %g%% of traffic", s.weight)
		}
		for _, p := range mt.points {
			if p.step == s.name && p.at >= s.from && p.at <= s.to {
				ss.pts = append(ss.pts, p)
			}
		}
		if len(ss.pts) == 0 {
			continue
		}
		last := ss.pts[len(ss.pts)-1].n
		ss.note = fmt.Sprintf("%d interval(s); at the end: %s", len(ss.pts), ratioText(last))
		if mt.crossed >= s.from && mt.crossed <= s.to {
			ss.note += "; evidence crossed the bar at " + plus(mt.crossed)
		}
		if mt.sure >= s.from && mt.sure <= s.to {
			ss.note += "; within the limit for sure from " + plus(mt.sure)
		}
		out = append(out, ss)
	}
	return out
}

// summary says in a line how a metric ended.
func summary(m *model, mt *metric) string {
	if len(mt.points) == 0 {
		return "not measured"
	}
	rb := m.rec.Runbook
	last := mt.points[len(mt.points)-1].n
	s := fmt.Sprintf("%s on %s against %s on %s (or the pre-deploy baseline), over %.0f requests on %s", fmtNum(last, last.Value), given(rb.Version), fmtNum(last, last.Baseline), given(rb.Previous), last.Requests, given(rb.Version))
	if last.Ratio > 0 {
		s += "; " + ratioText(last)
	}
	switch {
	case mt.crossed >= 0:
		s += fmt.Sprintf(". The evidence crossed the bar at %s: the limit is crossed.", plus(mt.crossed))
	case mt.sure >= 0:
		s += fmt.Sprintf(". The judge was sure it held from %s on.", plus(mt.sure))
	case last.Ratio > 0:
		s += ". The judge never became sure either way."
	}
	return s
}

func ratioText(n runbook.Number) string {
	if n.Ratio <= 0 {
		return fmtNum(n, n.Value) + " (limit " + fmtNum(n, n.Threshold) + ")"
	}
	s := fmt.Sprintf("ratio %.3g× [%.3g, %.3g] against a limit of %.3g×", n.Ratio, n.Lower, n.Upper, n.Limit)
	if n.EvidenceBar > 0 {
		s += fmt.Sprintf(", evidence %s of %s", g3(n.Evidence), g3(n.EvidenceBar))
	}
	return s
}

func numRows(ns []runbook.Number) (rows []numRow, weighed bool) {
	for _, n := range ns {
		weighed = weighed || n.EvidenceBar > 0
		name := n.Metric
		if n.Above > 0 {
			name += " (slower than " + seconds(n.Above) + ")"
		}
		r := numRow{
			Metric: name, Value: fmtNum(n, n.Value), Compared: fmtNum(n, n.Baseline), Threshold: fmtNum(n, n.Threshold),
			Requests: strconv.FormatFloat(n.Requests, 'f', 0, 64), Window: took(n.Start, n.End), Result: "ok", Tone: "good",
		}
		if n.Ratio > 0 {
			r.Ratio = fmt.Sprintf("%.3g× [%.3g, %.3g]", n.Ratio, n.Lower, n.Upper)
			r.Limit = fmt.Sprintf("%.3g×", n.Limit)
		}
		if n.EvidenceBar > 0 {
			r.Evidence = g3(n.Evidence) + " / " + g3(n.EvidenceBar)
		}
		if n.Failed {
			r.Result, r.Tone = "FAILED", "bad"
		}
		rows = append(rows, r)
	}
	return rows, weighed
}

func eventOf(m *model, e runbook.Entry) eventRow {
	r := eventRow{At: plus(e.Time.Sub(m.start)), Phase: e.Phase, Kind: e.Kind, Step: e.Step, Message: e.Message, Error: e.Error}
	if m.start.IsZero() || e.Time.IsZero() {
		r.At = stamp(e.Time)
	}
	switch {
	case e.Error != "" || strings.HasPrefix(e.Message, "fail"):
		r.Tone = "bad"
	case e.Kind == kindMeasurement:
		r.Tone = "quiet"
	case e.Kind == "pattern":
		r.Tone = "warn"
	}
	for _, p := range e.Patterns {
		r.Patterns = append(r.Patterns, fmt.Sprintf("new %s pattern %q: %.0f lines from the new version, %.0f from the old; first seen %s; e.g. %q",
			p.Level, p.Template, p.NewCount, p.OldCount, stamp(p.FirstSeen), p.Example))
	}
	if e.Kind == kindMeasurement {
		for _, n := range e.Numbers {
			b := fmt.Sprintf("%s %s vs %s (limit %s)", n.Metric, fmtNum(n, n.Value), fmtNum(n, n.Baseline), fmtNum(n, n.Threshold))
			if n.Ratio > 0 {
				b += " · " + ratioText(n)
			}
			if n.Failed {
				b += " · FAILED"
			}
			r.Brief = append(r.Brief, b)
		}
		return r
	}
	r.Numbers, r.Weighed = numRows(e.Numbers)
	return r
}

func verdictTone(v string) string {
	switch v {
	case "pass":
		return "good"
	case "fail":
		return "bad"
	case "inconclusive":
		return "warn"
	}
	return "neutral"
}

// Formatting.

func given(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(not given)"
	}
	return s
}

func paras(s string) []string {
	var out []string
	for ln := range strings.Lines(s) {
		if t := strings.TrimSpace(ln); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(not given)"
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

func took(from, to time.Time) string {
	if from.IsZero() || to.IsZero() {
		return "(not given)"
	}
	return dur(to.Sub(from))
}

func about(d time.Duration) string {
	if d == 0 {
		return "(not given)"
	}
	if d >= time.Second {
		d = d.Round(time.Second)
	}
	return "about " + d.String()
}

// dur rounds a duration for reading: to the millisecond under a minute, to
// the second above.
func dur(d time.Duration) string {
	if d >= time.Minute || d <= -time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

func plus(d time.Duration) string {
	if d < 0 {
		return dur(d)
	}
	return "+" + dur(d)
}

func seconds(s float64) string {
	if math.IsNaN(s) || math.Abs(s) > 1e9 {
		return strconv.FormatFloat(s, 'g', 4, 64) + "s"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond).String()
}

func fmtNum(n runbook.Number, v float64) string {
	switch n.Unit {
	case runbook.UnitRate:
		return strconv.FormatFloat(100*v, 'g', 3, 64) + "%"
	case runbook.UnitSeconds:
		return seconds(v)
	}
	s := strconv.FormatFloat(v, 'g', 4, 64)
	if n.Unit != "" {
		s += " " + n.Unit
	}
	return s
}

// g3 formats evidence and other positive figures to three digits, tiny
// ones as "<0.001".
func g3(v float64) string {
	if v > 0 && v < 0.001 {
		return "<0.001"
	}
	if v >= 1e6 {
		return strconv.FormatFloat(v, 'e', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
