package verify

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// The types of the log-pattern rule that the executor and the log sources
// share. Package verify/logs implements them — the template miner, the
// embedded Collector and the Detector — and names them as aliases
// (logs.Source is LogSource, logs.Finding is PatternFinding, logs.Policy
// is PatternPolicy), so that a deployment plan can hold a log source and a
// Verdict its findings without verify importing the implementation.

// A LogPattern is one template's lines from one version over one window.
type LogPattern struct {
	// ID identifies the template within its source, across versions and
	// windows: the old and the new version's lines of one template have
	// the same ID, and so do one version's lines of it in two windows.
	ID string `json:"id"`
	// Template is the template's text, variables as "<*>".
	Template string `json:"template"`
	// Level is the highest level among the lines.
	Level slog.Level `json:"level"`
	// Count is how many lines of the window had this template.
	Count float64 `json:"count"`
	// Example is one of the lines, as it was written.
	Example string `json:"example"`
	// FirstSeen is the time of the window's first line of the template.
	FirstSeen time.Time `json:"first_seen"`
}

// A LogObservation is what a LogSource saw of one version's logs over one
// window.
type LogObservation struct {
	// Lines counts every line of the window, at every level: the
	// exposure to fall back on when requests are not known.
	Lines float64 `json:"lines"`
	// Patterns are the templates of the window's lines at or above the
	// source's level (warnings and errors, by default), in no particular
	// order, each once.
	Patterns []LogPattern `json:"patterns,omitempty"`
	// Warnings are what the source's backend warned about while
	// answering: the answer stands, but a person may want to know.
	Warnings []string `json:"warnings,omitempty"`
}

// Validate returns nil when o's counts are possible, or one error naming
// every impossible field and its value: a count that is NaN, infinite or
// negative, or a pattern without an ID. A test fed a NaN count computes
// NaN evidence, which never reaches its bar: a silent pass.
func (o LogObservation) Validate() error {
	var errs []error
	count := func(name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			errs = append(errs, fmt.Errorf("%s = %g: must be a finite count, not negative", name, v))
		}
	}
	count("Lines", o.Lines)
	for i, p := range o.Patterns {
		count(fmt.Sprintf("Patterns[%d].Count", i), p.Count)
		if p.ID == "" {
			errs = append(errs, fmt.Errorf(`Patterns[%d].ID = "": must identify the template`, i))
		}
	}
	return errlist.Join(errs...)
}

// A LogSource reports the templates of one version's log lines over a
// window: the log-pattern rule's counterpart of MetricSource. Like a
// MetricSource, it returns an error wrapping ErrNoData when it has nothing
// for that version and window, any other error when it could not tell,
// and never a zero LogObservation to stand for either. A version that is
// known to run but logged nothing in the window has a LogObservation with
// Lines 0.
//
// Template IDs must be consistent across the calls made to one LogSource,
// so that an old version's template can be matched with the new one's.
// logs.Collector (the embedded default) and loki.Source implement it;
// logstest has a scripted one and a conformance suite.
type LogSource interface {
	Patterns(ctx context.Context, q Query) (LogObservation, error)
}

// LogSourceFunc turns a function into a LogSource.
type LogSourceFunc func(ctx context.Context, q Query) (LogObservation, error)

// Patterns calls f(ctx, q).
func (f LogSourceFunc) Patterns(ctx context.Context, q Query) (LogObservation, error) {
	return f(ctx, q)
}

// A PatternAction is what a new error pattern in the logs does to a
// deployment.
type PatternAction int

// The actions. PatternHold is the zero value and the default.
const (
	// PatternHold keeps the step from passing: a window in which a new
	// pattern was found ends Inconclusive rather than Pass, which asks
	// Policy.Escalate — a person — whether to go on, and rolls back when
	// there is no one to ask. The step is observed to the end of its
	// window first, so that the metric rules still see it.
	PatternHold PatternAction = iota
	// PatternRollback fails the verdict at the interval the pattern is
	// found: the deployment rolls back.
	PatternRollback
	// PatternReport lists the pattern in the verdict and changes nothing
	// else.
	PatternReport
)

var patternActionNames = [...]string{"hold", "rollback", "report"}

// String returns "hold", "rollback" or "report".
func (a PatternAction) String() string {
	if a < 0 || int(a) >= len(patternActionNames) {
		return fmt.Sprintf("Action(%d)", int(a))
	}
	return patternActionNames[a]
}

// MarshalText encodes the action as its String form.
func (a PatternAction) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Defaults applied by PatternPolicy for zero fields.
const (
	// DefaultPatternMaxRatio is how many times the old version's rate of
	// a template the new version may log it at before it is a new
	// pattern.
	DefaultPatternMaxRatio = 2.0
	// DefaultPatternAlpha bounds the chance that a deployment whose every
	// template is within the limit is reported as having a new pattern.
	DefaultPatternAlpha = 0.01
	// DefaultPatternMinCount is how many lines of a template the new
	// version must have logged before it can be a new pattern.
	DefaultPatternMinCount = 3
	// DefaultPatternTemplates is the least number of templates the
	// false-alarm budget is divided among.
	DefaultPatternTemplates = 100
)

// A PatternPolicy says when a template of the new version's log lines is a
// new pattern, and what a new pattern does to the deployment. Zero fields
// take the defaults; the zero PatternPolicy holds a step in which the new
// version logs, at 99% family-wise confidence, warnings or errors of a
// template at more than twice the old version's rate per request, and at
// least 3 lines of it.
//
// A template at or above Level is a new pattern when the new version logs
// it at more than MaxRatio times the old version's rate per unit of
// exposure (per request, or per line logged) and the data show it at
// family-wise confidence 1 − Alpha: a template the old version never
// logged is the extreme case, and one it logs about as often is not new
// however rare. At least MinCount lines of it must have come from the new
// version. logs.Detector is the test; see package verify/logs for how it
// controls false alarms and what they measured.
type PatternPolicy struct {
	// Level is the least level a template's lines must have; nil means
	// slog.LevelWarn (warnings, errors and fatal lines).
	Level slog.Leveler
	// MaxRatio is how many times the old version's rate the new version
	// may log a template at. Must be at least 1.
	MaxRatio float64
	// Alpha bounds the chance, over a whole deployment however often the
	// test is read, that some template within MaxRatio is reported.
	// In (0, 1).
	Alpha float64
	// MinCount is the least number of the new version's lines of a
	// template before it can be reported.
	MinCount float64
	// Templates is the least number of templates Alpha is divided among
	// (Bonferroni): each template is tested at Alpha/max(Templates, k),
	// where k counts the templates that reached MinCount new lines.
	Templates int
	// Action is what a new pattern does to the deployment: PatternHold
	// (the default), PatternRollback or PatternReport.
	Action PatternAction
}

// WithDefaults returns p with every zero field set to its default.
func (p PatternPolicy) WithDefaults() PatternPolicy {
	if p.Level == nil {
		p.Level = slog.LevelWarn
	}
	p.MaxRatio = cmp.Or(p.MaxRatio, DefaultPatternMaxRatio)
	p.Alpha = cmp.Or(p.Alpha, DefaultPatternAlpha)
	p.MinCount = cmp.Or(p.MinCount, DefaultPatternMinCount)
	p.Templates = cmp.Or(p.Templates, DefaultPatternTemplates)
	return p
}

// Validate returns one error naming every invalid field and its value, or
// nil. Zero fields are valid: they take the defaults.
func (p PatternPolicy) Validate() error {
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", field, value, problem))
	}
	if p.MaxRatio != 0 && !(p.MaxRatio >= 1 && p.MaxRatio <= 1e6) {
		bad("MaxRatio", p.MaxRatio, "must be at least 1 (and at most 1e6)")
	}
	if p.Alpha != 0 && !(p.Alpha > 0 && p.Alpha < 1) {
		bad("Alpha", p.Alpha, "must be in (0, 1)")
	}
	if p.MinCount != 0 && !(p.MinCount >= 1 && p.MinCount < math.Inf(1)) {
		bad("MinCount", p.MinCount, "must be at least 1")
	}
	if p.Templates < 0 {
		bad("Templates", p.Templates, "must be at least 0")
	}
	if p.Action < PatternHold || p.Action > PatternReport {
		bad("Action", p.Action, "must be PatternHold, PatternRollback or PatternReport")
	}
	return errlist.Join(errs...)
}

// A PatternFinding is a new pattern: a template the new version logs and
// the old version did not, or at a much lower rate.
type PatternFinding struct {
	// ID and Template name the template (see LogPattern).
	ID       string     `json:"id"`
	Template string     `json:"template"`
	Level    slog.Level `json:"level"`
	// Example is one of the new version's lines of it.
	Example string `json:"example"`
	// NewCount and OldCount are the lines of it from the new version and
	// from its comparison (the concurrent old version, and the baseline
	// where there was no control), over NewExposure and OldExposure
	// (requests, or lines where requests are not known): the counts that
	// sufficed, as of Found.
	NewCount    float64 `json:"new_count"`
	OldCount    float64 `json:"old_count"`
	NewExposure float64 `json:"new_exposure"`
	OldExposure float64 `json:"old_exposure"`
	// FirstSeen is when the new version first logged it; Found is the end
	// of the interval at which the evidence sufficed.
	FirstSeen time.Time `json:"first_seen"`
	Found     time.Time `json:"found"`
	// Evidence is the e-value against "within MaxRatio"; it reached
	// EvidenceBar, the Bonferroni-corrected 1/α.
	Evidence    float64 `json:"evidence"`
	EvidenceBar float64 `json:"evidence_bar"`
}

// String formats the finding for people: `new error pattern "connection
// pool exhausted for shard <*>": 12 lines from the new version, 0 from the
// old (per 1000: 2.4 vs 0), first seen 2026-12-03T12:03:04Z, e.g. "…"`.
func (f PatternFinding) String() string {
	per := func(n, e float64) float64 {
		if e <= 0 {
			return 0
		}
		return 1000 * n / e
	}
	return fmt.Sprintf("new %s pattern %q: %.0f lines from the new version, %.0f from the old (per 1000: %.3g vs %.3g), first seen %s, e.g. %q",
		strings.ToLower(levelName(f.Level)), f.Template, f.NewCount, f.OldCount,
		per(f.NewCount, f.NewExposure), per(f.OldCount, f.OldExposure),
		f.FirstSeen.Format(time.RFC3339), truncate(f.Example, 200))
}

// Short formats the finding in a few words, for a verdict's reason:
// `new error pattern "connection pool exhausted for shard <*>" (12 lines
// from the new version, 0 from the old)`.
func (f PatternFinding) Short() string {
	return fmt.Sprintf("new %s pattern %q (%.0f lines from the new version, %.0f from the old)",
		strings.ToLower(levelName(f.Level)), truncate(f.Template, 120), f.NewCount, f.OldCount)
}

// levelFatal is logs.LevelFatal: fatal, panic and critical lines.
const levelFatal = slog.LevelError + 4

func levelName(l slog.Level) string {
	if l >= levelFatal {
		return "FATAL"
	}
	return l.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Apply returns v with the findings so far listed in its Patterns and p's
// Action applied to its outcome. since is the start of v's window:
//
//   - PatternRollback: any finding fails v (a Continue, Pass or
//     Inconclusive verdict becomes Fail, its reason naming the patterns).
//   - PatternHold: a finding found after since turns a Pass into
//     Inconclusive. A finding from an earlier window held that window,
//     and was escalated and accepted or the deployment would not have gone
//     on: it is listed, not held again. Continue stays Continue, so the
//     step is observed to its end.
//   - PatternReport: the findings are listed and named in the reason.
//
// Without findings, v is returned unchanged.
func (p PatternPolicy) Apply(v Verdict, found []PatternFinding, since time.Time) Verdict {
	if len(found) == 0 {
		return v
	}
	v.Patterns = append([]PatternFinding(nil), found...)
	names := func(fs []PatternFinding) string {
		s := make([]string, len(fs))
		for i, f := range fs {
			s[i] = f.Short()
		}
		return strings.Join(s, "; ")
	}
	join := func(a, b string) string {
		if b == "" {
			return a
		}
		return a + "; " + b
	}
	switch p.Action {
	case PatternRollback:
		if v.Outcome == Fail {
			v.Reason = join(v.Reason, names(found))
		} else {
			v.Outcome, v.Reason = Fail, names(found)
		}
	case PatternHold:
		var fresh []PatternFinding
		for _, f := range found {
			if f.Found.After(since) {
				fresh = append(fresh, f)
			}
		}
		switch {
		case len(fresh) == 0 || v.Outcome == Continue:
		case v.Outcome == Pass:
			v.Outcome, v.Reason = Inconclusive, "held for a person to look: "+names(fresh)+" (the metric rules held: "+v.Reason+")"
		default:
			v.Reason = join(v.Reason, names(fresh))
		}
	default:
		if v.Outcome != Continue {
			v.Reason = join(v.Reason, "reported, not judged: "+names(found))
		}
	}
	return v
}
