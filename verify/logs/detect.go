package logs

import (
	"cmp"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

// Defaults applied by Policy for zero fields (verify's).
const (
	// DefaultMaxRatio is how many times the old version's rate of a
	// template the new version may log it at before it is a new pattern.
	DefaultMaxRatio = verify.DefaultPatternMaxRatio
	// DefaultAlpha bounds the chance that a deployment whose every
	// template is within the limit is reported as having a new pattern.
	DefaultAlpha = verify.DefaultPatternAlpha
	// DefaultMinCount is how many lines of a template the new version must
	// have logged before it can be a new pattern.
	DefaultMinCount = verify.DefaultPatternMinCount
	// DefaultTemplates is the least number of templates the false-alarm
	// budget is divided among.
	DefaultTemplates = verify.DefaultPatternTemplates
)

// The policy, its action and the finding are aliases of verify's, so that
// verify.Policy.Patterns configures a Detector and a verify.Verdict lists
// its findings without package verify importing this one. They are
// documented there.
type (
	// A Policy says when a template of the new version's log lines is a
	// new pattern, and what a new pattern does to a deployment
	// (verify.PatternPolicy). Zero fields take the defaults.
	Policy = verify.PatternPolicy
	// An Action is what a new error pattern does to a deployment
	// (verify.PatternAction).
	Action = verify.PatternAction
	// A Finding is a new pattern: a template the new version logs and the
	// old version did not, or at a much lower rate (verify.PatternFinding).
	Finding = verify.PatternFinding
)

// The actions (verify's). Hold is the zero value and the default.
const (
	// Hold keeps the step from passing: its verdict is Inconclusive, which
	// asks verify.Policy.Escalate — a person — whether to go on, and rolls
	// back when there is no one to ask.
	Hold = verify.PatternHold
	// Rollback fails the verdict: the deployment rolls back.
	Rollback = verify.PatternRollback
	// Report lists the pattern in the verdict and changes nothing else.
	Report = verify.PatternReport
)

// A Sample is one version's logs over a window, with the exposure behind
// them: the requests it served (from the metric source), or, when requests
// are not known, the lines it logged.
type Sample struct {
	Exposure float64
	Observation
}

// An Interval is one round of observation: the new version, and the old
// version over the same interval where it still serves (the concurrent
// control).
type Interval struct {
	Start, End time.Time
	New        Sample
	// Old is the old version over the same interval, or nil when it serves
	// no traffic; the new version is then compared with the baseline.
	Old *Sample
}

// The alternatives each template's test weighs: the new rate at ρ times
// the limit, for ρ = 2^(k/2), k = 1…gridN-1, and, weighing half of the
// prior, a template the old version does not log at all (ρ = ∞).
const (
	gridN     = 21
	infWeight = 0.5
	// rhoInf stands for ρ = ∞ without a concurrent control, where the
	// Poisson test needs a finite ratio.
	rhoInf = 1 << 16
)

var (
	gridRho  [gridN - 1]float64
	gridLogW [gridN]float64 // log prior weights; the last is ρ = ∞
)

func init() {
	for k := range gridRho {
		gridRho[k] = math.Exp2(float64(k+1) / 2)
		gridLogW[k] = math.Log((1 - infWeight) / float64(len(gridRho)))
	}
	gridLogW[gridN-1] = math.Log(infWeight)
}

// A Detector finds new patterns over one deployment: feed it the intervals
// in order, and it tests every template as the counts come in. It is pure —
// counts in, findings out — so recorded data replays through it at full
// speed. A Detector is not safe for concurrent use.
//
// Each template gets an anytime-valid sequential test of "the new version's
// rate is at most MaxRatio times the old one's": a mixture of likelihood
// ratios over alternatives, half its weight on a template the old version
// does not log at all. With a concurrent control, an interval's likelihood
// ratio is the conditional binomial one — given the template's lines from
// both versions, the new version's share against what the exposures and
// MaxRatio allow — so a cause that hits both versions (an outage of a
// dependency, the hour of the day) cancels. Without one, it is Poisson
// against an upper confidence bound on the baseline's rate. The evidence
// may be read after every interval: the chance it ever reaches 1/β while
// the template is within the limit is at most β (Ville's inequality). The
// Policy's Alpha is divided among the templates (Bonferroni over
// max(Templates, the templates that reached MinCount new lines)), and half
// of each template's share goes to the baseline's bound when it is used.
//
// The model counts lines as independent events. Logs are burstier than
// that — one failure can log the same line a hundred times — so a burst
// in the new version of a template the old version logs rarely is
// evidence, whatever caused it; MinCount and the concurrent control limit
// the damage. See the package documentation for measured false alarms.
type Detector struct {
	p        Policy
	level    slog.Level
	base     *Sample
	baseBy   map[string]float64 // baseline counts by template ID
	stats    map[string]*stat
	order    []string // template IDs in order of first sight
	newExp   float64  // new version's exposure, all intervals
	oldExp   float64  // concurrent old version's exposure
	poisExp  float64  // new version's exposure in intervals without control
	eligible int
	last     time.Time
}

type stat struct {
	id, template, example string
	level                 slog.Level
	newCount, oldCount    float64
	poisCount             float64 // new lines in intervals without control
	firstSeen             time.Time
	ll                    [gridN]float64 // log-likelihood ratios from intervals with control
	found                 *Finding
}

// NewDetector returns a Detector for one deployment. baseline is the old
// version's logs before the deployment (the Sample of the pre-deploy
// window, with its exposure), used for the intervals that have no
// concurrent control; it may be nil when every interval has one. It
// returns an error naming every invalid Policy field.
func NewDetector(p Policy, baseline *Sample) (*Detector, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.WithDefaults()
	d := &Detector{p: p, level: p.Level.Level(), stats: map[string]*stat{}, baseBy: map[string]float64{}}
	if baseline != nil {
		b := *baseline
		d.base = &b
		for _, pt := range b.Patterns {
			d.baseBy[pt.ID] += pt.Count
		}
	}
	return d, nil
}

// Policy returns the detector's policy, defaults filled in.
func (d *Detector) Policy() Policy { return d.p }

// Observe adds one interval and returns every finding so far, in order of
// discovery. An interval without the old version and without a baseline
// adds to the counts but cannot find anything.
func (d *Detector) Observe(iv Interval) []Finding {
	d.last = iv.End
	b := iv.New.Exposure
	d.newExp += b
	control := iv.Old != nil && iv.Old.Exposure > 0 && b > 0
	var oldBy map[string]Pattern
	if iv.Old != nil {
		d.oldExp += iv.Old.Exposure
		oldBy = make(map[string]Pattern, len(iv.Old.Patterns))
		for _, pt := range iv.Old.Patterns {
			if pt.Level >= d.level {
				oldBy[pt.ID] = mergePattern(oldBy[pt.ID], pt)
			}
		}
	} else {
		d.poisExp += b
	}
	newBy := make(map[string]Pattern, len(iv.New.Patterns))
	for _, pt := range iv.New.Patterns {
		if pt.Level >= d.level {
			newBy[pt.ID] = mergePattern(newBy[pt.ID], pt)
		}
	}
	for id, pt := range newBy {
		s := d.stat(pt)
		before := s.newCount
		s.newCount += pt.Count
		if iv.Old == nil && b > 0 {
			// Lines with no exposure behind them (the requests not yet
			// counted) would be evidence against nothing: they are
			// reported, not tested.
			s.poisCount += pt.Count
		}
		if s.firstSeen.IsZero() || !pt.FirstSeen.IsZero() && pt.FirstSeen.Before(s.firstSeen) {
			s.firstSeen = pt.FirstSeen
		}
		if s.example == "" {
			s.example = pt.Example
		}
		if before < d.p.MinCount && s.newCount >= d.p.MinCount {
			d.eligible++
		}
		if control {
			d.binomial(s, pt.Count, oldBy[id].Count, b, iv.Old.Exposure)
		}
	}
	for id, pt := range oldBy {
		s := d.stat(pt)
		s.oldCount += pt.Count
		if _, ok := newBy[id]; !ok && control {
			d.binomial(s, 0, pt.Count, b, iv.Old.Exposure)
		}
	}
	d.evaluate(iv.End)
	return d.Findings()
}

// mergePattern adds p into q (the zero Pattern for the first).
func mergePattern(q, p Pattern) Pattern {
	if q.ID == "" {
		return p
	}
	q.Count += p.Count
	q.Level = max(q.Level, p.Level)
	if q.FirstSeen.IsZero() || !p.FirstSeen.IsZero() && p.FirstSeen.Before(q.FirstSeen) {
		q.FirstSeen = p.FirstSeen
	}
	return q
}

func (d *Detector) stat(pt Pattern) *stat {
	s := d.stats[pt.ID]
	if s == nil {
		s = &stat{id: pt.ID}
		d.stats[pt.ID] = s
		d.order = append(d.order, pt.ID)
	}
	s.template = pt.Template // the latest text: templates generalise
	s.level = max(s.level, pt.Level)
	return s
}

// binomial adds one interval with a concurrent control: y new lines over
// exposure b, x old lines over exposure a.
func (d *Detector) binomial(s *stat, y, x, b, a float64) {
	n := x + y
	if n <= 0 {
		return
	}
	r := d.p.MaxRatio * b / a
	p0 := r / (1 + r)
	for k, rho := range gridRho {
		q := rho * r / (1 + rho*r)
		s.ll[k] += y*math.Log(q/p0) + x*math.Log((1-q)/(1-p0))
	}
	if x > 0 {
		s.ll[gridN-1] = math.Inf(-1)
	} else {
		s.ll[gridN-1] -= y * math.Log(p0)
	}
}

// bar returns the evidence a template needs: 1/β, for its share β of
// Alpha.
func (d *Detector) bar() float64 {
	return float64(max(d.p.Templates, d.eligible)) / d.p.Alpha
}

// evaluate tests every eligible template at time t.
func (d *Detector) evaluate(t time.Time) {
	bar := d.bar()
	for _, id := range d.order {
		s := d.stats[id]
		if s.found != nil || s.newCount < d.p.MinCount || s.level < d.level {
			continue
		}
		e, baseCount := d.evidence(s, bar)
		if e < bar {
			continue
		}
		old := s.oldCount
		oldExp := d.oldExp
		if d.poisExp > 0 && d.base != nil {
			old += baseCount
			oldExp += d.base.Exposure
		}
		s.found = &Finding{
			ID: s.id, Template: s.template, Level: s.level, Example: s.example,
			NewCount: s.newCount, OldCount: old, NewExposure: d.newExp, OldExposure: oldExp,
			FirstSeen: s.firstSeen, Found: t, Evidence: e, EvidenceBar: bar,
		}
	}
}

// evidence returns template s's e-value, and the baseline's count of it.
// The intervals without control test against an upper confidence bound on
// the baseline's rate, at half of the template's share of Alpha (the
// other half is the e-value's: it must then reach twice the bar).
func (d *Detector) evidence(s *stat, bar float64) (e, baseCount float64) {
	ll := s.ll
	penalty := 0.0
	if d.poisExp > 0 {
		if d.base == nil || d.base.Exposure <= 0 {
			// No comparison for these intervals: they count for nothing.
		} else {
			baseCount = d.baseBy[s.id]
			upper := poissonUpper(baseCount, 1/(2*bar))
			mu := d.p.MaxRatio * upper * d.poisExp / d.base.Exposure // lines allowed, at most
			for k, rho := range gridRho {
				ll[k] += s.poisCount*math.Log(rho) - (rho-1)*mu
			}
			ll[gridN-1] += s.poisCount*math.Log(rhoInf) - (rhoInf-1)*mu
			penalty = math.Ln2
		}
	}
	// log Σ w_k exp(ll_k), computed stably.
	top := math.Inf(-1)
	for k := range ll {
		top = math.Max(top, gridLogW[k]+ll[k])
	}
	if math.IsInf(top, -1) {
		return 0, baseCount
	}
	sum := 0.0
	for k := range ll {
		sum += math.Exp(gridLogW[k] + ll[k] - top)
	}
	return math.Exp(top + math.Log(sum) - penalty), baseCount
}

// poissonUpper returns an upper confidence bound, at error beta, on the
// mean of a Poisson count that came out x: the μ ≥ x where the Chernoff
// bound on P(X ≤ x) falls to beta, x·log(x/μ) − x + μ = log(1/β).
func poissonUpper(x, beta float64) float64 {
	target := math.Log(1 / beta)
	kl := func(mu float64) float64 {
		if x == 0 {
			return mu
		}
		return x*math.Log(x/mu) - x + mu
	}
	lo, hi := x, x+target+2*math.Sqrt(x*target)+1
	for kl(hi) < target {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if kl(mid) < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// Findings returns every finding so far, in order of discovery (ties by
// template text).
func (d *Detector) Findings() []Finding {
	var out []Finding
	for _, id := range d.order {
		if f := d.stats[id].found; f != nil {
			out = append(out, *f)
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(a.Found.Compare(b.Found), cmp.Compare(a.Template, b.Template))
	})
	return out
}

// Compare tests, once, whether canary has patterns old has
// not, as a Detector would after one interval with old as its concurrent
// control. It is what examples/logs runs on two files, with the lines
// logged as exposures.
func Compare(p Policy, old, canary Sample) ([]Finding, error) {
	d, err := NewDetector(p, nil)
	if err != nil {
		return nil, err
	}
	return d.Observe(Interval{New: canary, Old: &old}), nil
}
