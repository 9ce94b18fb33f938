package verify

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// The ratios a sequential test weighs: 2^(k/4) for k = -20…20, from 1/32 to
// 32 in steps of about 19%.
const (
	gridN    = 41
	gridLow  = -5.0 // log2 of the smallest ratio
	gridStep = 0.25 // log2 step between ratios
)

// The dispersion estimate starts from priorPhi, worth dispersionPrior
// intervals: slightly overdispersed, so that noise in the first intervals,
// before the estimate has learned it, does not count as evidence.
const (
	dispersionPrior = 5.0
	priorPhi        = 1.5
)

// A ratioTest is an anytime-valid sequential test that the new version's
// rate of some event (errors, slow requests, business events) is within
// limit times its comparison's.
//
// Each interval contributes a likelihood ratio for every candidate ratio ρ on
// a fixed grid against the limit ρ₀. With a concurrent control the
// contribution is the conditional binomial one: given the events of both
// arms, the new version's share is ρr/(1+ρr) for exposure ratio r, so a
// change that hits both arms (seasonality, an incident) cancels. Without
// one it is the Poisson one against a reference rate from the baseline.
// Both are nonnegative supermartingales under "ratio ≤ ρ₀" (≥ for a
// decrease), and so is their weighted average over the grid's ratios beyond
// ρ₀ (the mixture over effect sizes, the k-th ratio from the limit weighing
// 1/k, so that effects just beyond the limit, the hardest to see, count
// most); by Ville's inequality the chance it ever
// reaches 1/α is at most α, however often it is read. The same grid gives
// an anytime-valid confidence interval for the ratio.
//
// Overdispersion — per-interval noise beyond binomial — would make the plain
// product too confident; the robust form raises each interval's likelihood
// ratio to the power 1/φ, where φ ≥ 1 is the dispersion estimated from the
// previous intervals' Pearson residuals (each against the ratio estimated
// once it was in). A power at most 1 that depends only on the past keeps the
// supermartingale property, so the correction never costs validity.
//
// State is fixed-size; an update allocates nothing.
type ratioTest struct {
	name      string
	above     float64 // latency bound, for reporting
	limit     float64 // ρ₀
	logLimit  float64
	up        bool    // the alternative is an increase
	bar       float64 // 1/α: the evidence that fails the metric
	logBar    float64
	robust    bool
	alt, altN int // the alternatives: altN grid ratios from index alt

	ratio, log [gridN]float64 // the grid's ratios and their logs

	logw [gridN]float64 // log prior weight of each alternative, nearest the limit first

	ll  [gridN]float64 // log-likelihood of each grid ratio (up to a shared constant)
	ll0 float64        // log-likelihood of the limit

	res, resN float64 // Pearson residuals, recent ones weighing more
	recent    arms    // recent events and exposure of both arms, decayed: a local ratio

	total   arms    // totals since the first interval
	yTested float64 // the comparison's events as tested: total.y, with reference rates at their bound
	crossed bool
}

// arms holds events and exposure of the new version (x in n) and of its
// comparison (y in m).
type arms struct {
	x, n, y, m float64
}

// ratio returns the new version's rate over the comparison's, or NaN when
// either is not known.
func (a arms) ratio() float64 { return (a.x / a.n) / (a.y / a.m) }

// gridRatio returns the i-th grid ratio and its log.
func gridRatio(i int) (ratio, log float64) {
	l2 := gridLow + gridStep*float64(i)
	return math.Exp2(l2), l2 * math.Ln2
}

func newRatioTest(name string, limit float64, up bool, alpha float64, robust bool) *ratioTest {
	t := &ratioTest{name: name, limit: limit, logLimit: math.Log(limit), up: up, bar: 1 / alpha, logBar: math.Log(1 / alpha), robust: robust}
	for i := range gridN {
		r, l := gridRatio(i)
		t.ratio[i], t.log[i] = r, l
		beyond := r > limit*(1+1e-9)
		if !up {
			beyond = r < limit*(1-1e-9)
		}
		if beyond {
			if t.altN == 0 {
				t.alt = i
			}
			t.altN++
		}
	}
	// Harmonic weights: the k-th ratio beyond the limit weighs 1/k, so
	// effects just beyond the limit, the hardest to see, get the most.
	norm := 0.0
	for k := 1; k <= t.altN; k++ {
		norm += 1 / float64(k)
	}
	for k := 1; k <= t.altN; k++ {
		i := t.alt + k - 1
		if !up {
			i = t.alt + t.altN - k
		}
		t.logw[i] = -math.Log(float64(k) * norm)
	}
	return t
}

// weight is the power each new interval's likelihood ratio is raised to.
func (t *ratioTest) weight() float64 {
	if !t.robust {
		return 1
	}
	phi := (t.res + dispersionPrior*priorPhi) / (t.resN + dispersionPrior)
	return 1 / math.Max(1, phi)
}

// observeControl adds one interval with a concurrent control: x events in
// n requests of the new version, y in m of the control.
func (t *ratioTest) observeControl(x, n, y, m float64) {
	if n <= 0 {
		return
	}
	w := t.weight()
	t.total.x, t.total.n, t.total.y, t.total.m, t.yTested = t.total.x+x, t.total.n+n, t.total.y+y, t.total.m+m, t.yTested+y
	events := x + y
	if events == 0 {
		return
	}
	r := n / m
	for i := range gridN {
		t.ll[i] += w * (x*t.log[i] - events*math.Log1p(t.ratio[i]*r))
	}
	t.ll0 += w * (x*t.logLimit - events*math.Log1p(t.limit*r))
	est := t.local(arms{x, n, y, m})
	p := est * r / (1 + est*r)
	if v := events * p * (1 - p); v > 0 {
		t.addResidual(x-events*p, v)
	}
}

// observeReference adds one interval without a control: x events in n
// requests of the new version, tested against a reference rate ref per
// request — a confidence bound on the baseline's rate — and reported
// against the baseline's measured rate, point.
func (t *ratioTest) observeReference(x, n, ref, point float64) {
	if n <= 0 || ref <= 0 {
		return
	}
	w := t.weight()
	mu := ref * n
	t.total.x, t.total.n, t.total.y, t.total.m, t.yTested = t.total.x+x, t.total.n+n, t.total.y+point*n, t.total.m+n, t.yTested+mu
	for i := range gridN {
		t.ll[i] += w * (x*t.log[i] - t.ratio[i]*mu)
	}
	t.ll0 += w * (x*t.logLimit - t.limit*mu)
	if e := t.local(arms{x, n, mu, n}) * mu; e > 0 {
		t.addResidual(x-e, e)
	}
}

// Decay rates: the local ratio follows about the last 10 intervals, the
// dispersion estimate about the last 20.
const (
	localDecay    = 0.9
	residualDecay = 0.95
)

// local returns the ratio of the recent intervals, before this one, and then
// adds this one. Residuals against a local ratio measure noise around the
// trend, so a regression that starts mid-deployment does not pass for
// overdispersion.
func (t *ratioTest) local(now arms) float64 {
	r := &t.recent
	est := t.estimate()
	if r.x > 0 && r.y > 0 && r.n > 0 && r.m > 0 {
		est = r.ratio()
	}
	r.x, r.n, r.y, r.m = localDecay*r.x+now.x, localDecay*r.n+now.n, localDecay*r.y+now.y, localDecay*r.m+now.m
	return est
}

// addResidual adds an interval whose new-version count was off its local
// expectation by d, with binomial or Poisson variance v. Only deviations
// away from the regression count, twice: noise is as likely either way, but
// a regression shows only as excess (a shortfall, for a decrease test), and
// must not pass for noise.
func (t *ratioTest) addResidual(d, v float64) {
	r := 0.0
	if (d < 0) == t.up {
		r = 2 * d * d / v
	}
	t.res = residualDecay*t.res + r
	t.resN = residualDecay*t.resN + 1
}

// logEvidence returns the log e-value against "within the limit".
func (t *ratioTest) logEvidence() float64 {
	if t.altN == 0 {
		return math.Inf(-1)
	}
	m := math.Inf(-1)
	for i := t.alt; i < t.alt+t.altN; i++ {
		if v := t.ll[i] + t.logw[i]; v > m || math.IsNaN(v) {
			m = v
		}
	}
	if math.IsInf(m, 0) {
		return m - t.ll0
	}
	sum := 0.0
	for i := t.alt; i < t.alt+t.altN; i++ {
		sum += math.Exp(t.ll[i] + t.logw[i] - m)
	}
	return m + math.Log(sum) - t.ll0
}

// check reports whether the evidence has crossed the bar; once crossed, it
// stays crossed.
func (t *ratioTest) check() bool {
	t.crossed = t.crossed || t.logEvidence() >= t.logBar
	return t.crossed
}

// estimate returns the most likely ratio, interpolated between grid points;
// 1 before any evidence.
func (t *ratioTest) estimate() float64 {
	best := gridN / 2
	for i := range gridN {
		if t.ll[i] > t.ll[best] {
			best = i
		}
	}
	pos := float64(best)
	if best > 0 && best < gridN-1 {
		a, b, c := t.ll[best-1], t.ll[best], t.ll[best+1]
		if d := a - 2*b + c; d < 0 {
			pos += (a - c) / (2 * d)
		}
	}
	return math.Exp2(gridLow + gridStep*pos)
}

// interval returns the anytime-valid confidence interval for the ratio:
// the grid ratios the data have not ruled out at the test's level, widened
// by one grid step (19%) on each side, since the truth may lie between two
// grid points, and clamped to the grid's range [1/32, 32].
func (t *ratioTest) interval() (lo, hi float64) {
	total := logSumExp(t.ll[:]) - math.Log(gridN)
	first, last := -1, -1
	for i := range gridN {
		if total-t.ll[i] < t.logBar {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return math.NaN(), math.NaN()
	}
	return t.ratio[max(first-1, 0)], t.ratio[min(last+1, gridN-1)]
}

// measurement reports the test's numbers.
func (t *ratioTest) measurement(start, end time.Time) Measurement {
	// The interval is on the grid, the estimate between grid points: keep
	// the estimate inside the interval it is reported with.
	est := t.estimate()
	lo, hi := t.interval()
	lo, hi = math.Min(lo, est), math.Max(hi, est)
	// The test weighs ratios to the comparison as tested (a reference
	// rate at its confidence bound); report them to the comparison as
	// measured, and the threshold as applied.
	scale := 1.0
	if t.total.y > 0 {
		scale = t.yTested / t.total.y
	}
	cr, br := ratio(t.total.x, t.total.n), ratio(t.total.y, t.total.m)
	return Measurement{
		Metric: t.name, Unit: UnitRate, Above: t.above,
		Value: cr, Baseline: br, Threshold: t.limit * ratio(t.yTested, t.total.m), Requests: t.total.n,
		Start: start, End: end, Failed: t.crossed,
		Ratio: est * scale, Lower: lo * scale, Upper: hi * scale, Limit: t.limit,
		Evidence: math.Min(math.Exp(t.logEvidence()), math.MaxFloat64), EvidenceBar: t.bar,
	}
}

func logSumExp(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		if x > m || math.IsNaN(x) { // NaN wins, as math.Max would have it
			m = x
		}
	}
	if math.IsInf(m, 0) {
		return m
	}
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// NewSequentialJudge returns the default judge: an anytime-valid sequential
// test per metric (error rate, the share of requests slower than the
// baseline's P50, P95 and P99, business events per request), each asking
// whether the new version's rate is beyond its limit times the comparison's.
// The comparison is the concurrent control in intervals that have one, and
// the pre-deploy baseline otherwise.
//
// It fails a metric as soon as the evidence that its limit is crossed
// reaches 1/α, with p.Alpha split evenly across the metrics, so that a
// deployment within every limit is rolled back with probability at most
// Alpha however many intervals are judged. Evidence carries from one window
// to the next. A window passes when it ends with no limit crossed and data
// good enough to judge (see Policy); otherwise it is Inconclusive. Every
// verdict carries, per metric, both rates, the estimated ratio with its
// confidence interval, the limit, and the evidence against it.
//
// The error rate's floor (Policy.MinErrorRate) makes its test an
// intersection: when the baseline's rate is below the floor, the error rate
// fails only when the data show it beyond the limit both against the
// control (so that an incident hitting both versions is not blamed on the
// new one) and against the floor (so that a near-perfect control does not
// make a handful of errors fatal).
func NewSequentialJudge(p Policy, b Baseline) Judge {
	p = p.WithDefaults()
	j := &sequentialJudge{p: p, base: b}
	rules := latencyRules(p, b.Observation)
	n := 1 + len(rules)
	business := b.Business > 0 && p.MaxBusinessDrop < 1
	if business {
		n++
	}
	// Each metric's α: a tenth for the baseline's own sampling error (the
	// reference rates below are one-sided confidence bounds, so that an
	// interval without a control does not treat a 15-minute sample as the
	// truth), the rest for the test.
	alpha := p.Alpha / float64(n)
	refAlpha, alpha := alpha/10, alpha*9/10
	robust := !p.Binomial
	j.errRef = math.Max(rateBound(b.Errors, b.Requests, refAlpha, true), p.MinErrorRate)
	j.errors = newRatioTest("error-rate", p.MaxErrorRatio, true, alpha, robust)
	if b.ErrorRate() < p.MinErrorRate {
		j.errFloor = newRatioTest("error-rate", p.MaxErrorRatio, true, alpha, robust)
	}
	for _, r := range rules {
		t := newRatioTest(r.name, r.limit, true, alpha, robust)
		t.above = r.bound
		j.latency = append(j.latency, latencyTest{latencyRule: r, ref: rateBound(r.rate*b.Requests, b.Requests, refAlpha, true), test: t})
	}
	if business {
		j.business = newRatioTest("business-rate", 1-p.MaxBusinessDrop, false, alpha, robust)
		j.bizRef = rateBound(b.Business, b.Requests, refAlpha, false)
	}
	return j
}

// rateBound returns a one-sided 1−a confidence bound for a Poisson rate
// seen as x events in n requests — the upper bound when up, else the lower
// — by the Wilson–Hilferty approximation to the Poisson–χ² relation.
func rateBound(x, n, a float64, up bool) float64 {
	if n <= 0 {
		return 0
	}
	z := math.Sqrt2 * math.Erfinv(1-2*a)
	if up {
		k := x + 1
		return k * math.Pow(1-1/(9*k)+z/(3*math.Sqrt(k)), 3) / n
	}
	if x <= 0 {
		return 0
	}
	return x * math.Pow(math.Max(0, 1-1/(9*x)-z/(3*math.Sqrt(x))), 3) / n
}

type sequentialJudge struct {
	p    Policy
	base Baseline

	errors   *ratioTest    // the error rate
	errFloor *ratioTest    // the error rate against the floor, when the baseline is below it
	latency  []latencyTest // one per latency rule, in order
	business *ratioTest    // business events per request; nil when not judged
	errRef   float64       // reference error rate without a control: the baseline's upper bound, floored
	bizRef   float64       // reference business rate without a control: the baseline's lower bound

	start, end time.Time // span of all observations
	requests   float64   // new version's requests since the start
	w          Window
	covered    time.Duration // time covered by usable data in the window
	exposure   float64       // new version's requests in the window
	judgedLat  int           // intervals in the window whose latency could be judged
	dropped    int           // intervals with impossible counts in the window
	split      split         // the traffic split where there was a control, in the window
}

// A latencyTest is a latency rule and its test.
type latencyTest struct {
	latencyRule
	ref  float64 // the baseline's share above the bound, at its upper confidence bound
	test *ratioTest
}

// A split counts the requests of intervals with a control: the new
// version's, and both versions' together.
type split struct {
	canary, total float64
}

// each calls f with every test in the order verdicts report them: error
// rate, latency rules, business.
func (j *sequentialJudge) each(f func(*ratioTest)) {
	f(j.errors)
	for _, l := range j.latency {
		f(l.test)
	}
	if j.business != nil {
		f(j.business)
	}
}

// metrics returns how many metrics the judge tests.
func (j *sequentialJudge) metrics() int {
	n := 1 + len(j.latency)
	if j.business != nil {
		n++
	}
	return n
}

func (j *sequentialJudge) Begin(w Window) {
	j.w, j.covered, j.exposure, j.judgedLat, j.dropped, j.split = w, 0, 0, 0, 0, split{}
	if j.start.IsZero() {
		j.start = w.Start
	}
}

// usable reports whether o's counts are possible: finite, not negative
// (counters that went backwards, as after a restart), no more errors than
// requests, and a latency histogram that is cumulative. A histogram may
// disagree with the request count by a few requests — a scrape is not
// atomic, so a request can be counted before it is timed — but not by
// more (see latencyAgrees).
func usable(o Observation) bool {
	ok := func(v float64) bool { return v >= 0 && !math.IsInf(v, 1) } // false for NaN too
	if !ok(o.Requests) || !ok(o.Errors) || !ok(o.Business) || o.Errors > o.Requests {
		return false
	}
	prev := 0.0
	for _, b := range o.Latency {
		if !ok(b.Count) || b.Count < prev {
			return false
		}
		prev = b.Count
	}
	return true
}

// latencyAgrees reports whether o's histogram counts the same requests as
// o.Requests, give or take the few a non-atomic scrape can split: two, or
// 1%, whichever is more. An interval whose histogram does not agree keeps
// its counts but is not judged on latency.
func latencyAgrees(o Observation) bool {
	if len(o.Latency) == 0 {
		return true
	}
	return math.Abs(o.Latency[len(o.Latency)-1].Count-o.Requests) <= math.Max(2, 0.01*o.Requests)
}

func (j *sequentialJudge) Observe(iv Interval) Verdict {
	c, ctl := iv.Canary, iv.Control
	if !usable(c) || (ctl != nil && !usable(*ctl)) {
		j.dropped++
		v := j.verdict(Continue)
		if v.Outcome != Fail {
			v.Reason = fmt.Sprintf("interval %s dropped: impossible counts (a counter reset?)", iv.Start.Format(time.RFC3339))
		}
		return v
	}
	if ctl != nil && ctl.Requests <= 0 {
		ctl = nil
	}
	if !latencyAgrees(c) {
		c.Latency = nil
	}
	if ctl != nil && !latencyAgrees(*ctl) {
		cc := *ctl
		cc.Latency = nil
		ctl = &cc
	}
	if j.start.IsZero() {
		j.start = iv.Start
	}
	j.end = iv.End
	j.covered += iv.End.Sub(iv.Start)
	j.requests += c.Requests
	j.exposure += c.Requests
	if ctl != nil {
		j.split.canary += c.Requests
		j.split.total += c.Requests + ctl.Requests
	}

	if ctl != nil {
		j.errors.observeControl(c.Errors, c.Requests, ctl.Errors, ctl.Requests)
	} else {
		j.errors.observeReference(c.Errors, c.Requests, j.errRef, j.base.ErrorRate())
	}
	if j.errFloor != nil {
		j.errFloor.observeReference(c.Errors, c.Requests, j.p.MinErrorRate, j.p.MinErrorRate)
	}
	measured := false
	for _, l := range j.latency {
		x, ok := l.above(c)
		if !ok {
			continue
		}
		measured = true
		if ctl != nil {
			if y, ok := l.above(*ctl); ok {
				l.test.observeControl(x, c.Requests, y, ctl.Requests)
				continue
			}
		}
		l.test.observeReference(x, c.Requests, l.ref, l.rate)
	}
	if measured {
		j.judgedLat++
	}
	if j.business != nil {
		if ctl != nil {
			j.business.observeControl(c.Business, c.Requests, ctl.Business, ctl.Requests)
		} else {
			j.business.observeReference(c.Business, c.Requests, j.bizRef, j.base.BusinessRate())
		}
	}
	return j.verdict(Continue)
}

func (j *sequentialJudge) Conclude() Verdict {
	v := j.verdict(Pass)
	if v.Outcome == Fail {
		return v
	}
	var problems []string
	if j.exposure <= 0 {
		problems = append(problems, "the new version served no requests in this window")
	} else if j.w.Final && j.requests < j.p.MinRequests {
		problems = append(problems, fmt.Sprintf("only %.0f of the %.0f requests needed since the deployment began", j.requests, j.p.MinRequests))
	}
	if j.w.Length > 0 && j.covered < j.w.Length*8/10 {
		problems = append(problems, fmt.Sprintf("data covered only %.0f%% of the window", 100*j.covered.Seconds()/j.w.Length.Seconds()))
	}
	if j.dropped > 0 && j.covered == 0 {
		problems = append(problems, fmt.Sprintf("%d interval(s) had impossible counts", j.dropped))
	}
	if len(j.latency) > 0 && j.exposure > 0 && j.judgedLat == 0 {
		problems = append(problems, "latency could not be judged: the new version's histogram lacks the baseline's bucket bounds")
	}
	if share, want, bad := j.mismatch(); bad {
		problems = append(problems, fmt.Sprintf("the new version got %.3g%% of requests where the step gives it %.3g%% (sample-ratio mismatch: routing or metrics are wrong)", 100*share, want))
	}
	if len(problems) > 0 {
		v.Outcome, v.Reason = Inconclusive, strings.Join(problems, "; ")
	}
	return v
}

// mismatch reports a traffic split far from the window's weight: more than
// 20% off in relative terms, and beyond chance (z > 5).
func (j *sequentialJudge) mismatch() (share, want float64, bad bool) {
	w := j.w.Weight / 100
	if j.split.total <= 0 || w <= 0 || w >= 1 {
		return 0, j.w.Weight, false
	}
	share = j.split.canary / j.split.total
	z := (share - w) / math.Sqrt(w*(1-w)/j.split.total)
	return share, j.w.Weight, math.Abs(z) > 5 && math.Abs(share/w-1) > 0.2
}

// verdict checks every test and reports: Fail naming each crossed limit, or
// otherwise the given outcome.
func (j *sequentialJudge) verdict(otherwise Outcome) Verdict {
	ms := make([]Measurement, 0, j.metrics())
	var failed []string
	j.each(func(t *ratioTest) {
		crossed := t.check()
		m := t.measurement(j.start, j.end)
		if t == j.errors && j.errFloor != nil {
			// Both tests must have crossed; report the weaker evidence,
			// and the threshold both impose.
			floor := j.errFloor.check()
			crossed = crossed && floor
			m.Failed = crossed
			m.Evidence = math.Min(m.Evidence, math.Exp(j.errFloor.logEvidence()))
			m.Threshold = math.Max(m.Threshold, t.limit*j.p.MinErrorRate)
		}
		if crossed {
			failed = append(failed, m.String())
		}
		ms = append(ms, m)
	})
	if len(failed) > 0 {
		return Verdict{Outcome: Fail, Reason: strings.Join(failed, "; "), Measurements: ms}
	}
	return Verdict{Outcome: otherwise, Reason: fmt.Sprintf("no limit crossed: %d metric(s), %.0f requests on the new version", len(ms), j.requests), Measurements: ms}
}
