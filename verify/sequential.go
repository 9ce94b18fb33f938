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
// reaches 1/α is at most α, however often it is read.
//
// The confidence interval reported with the decision comes from the same
// test: the same mixture, moved from the limit to each grid ratio, rules
// out the ratios it reaches 1/α against. The end on the side of the
// alternative (the lower end for an increase) is the largest ratio such
// that it and every smaller one are ruled out — the limit among them — so
// the test fails exactly when that end reaches the limit. The other end
// comes from the mirror-image test. Each end is an anytime-valid one-sided
// bound at the test's level, and the interval is intersected over time.
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
	alt, altN int       // the alternatives: altN grid ratios from index alt
	ref       reference // the baseline's rate, for intervals without a control

	ratio, log [gridN]float64 // the grid's ratios and their logs

	logw [gridN]float64 // log prior weight of each alternative, nearest the limit first

	ll  [gridN]float64 // log-likelihood of each grid ratio (up to a shared constant)
	ll0 float64        // log-likelihood of the limit
	// The log-likelihood behind the interval's far end (the upper end for
	// an increase) is ll[i] + ratio[i]·far: it differs from ll only in
	// intervals without a control, where it takes the baseline's other
	// confidence bound as reference.
	far float64

	res, resN float64 // Pearson residuals, recent ones weighing more
	recent    arms    // recent events and exposure of both arms, decayed: a local ratio

	total     arms    // totals since the first interval, the baseline's at its measured rate
	against   against // requests judged against each comparison
	atLimit   float64 // log e-value against the limit itself, as of the last check
	evidence  float64 // the same, or less when a grid ratio before the limit is less ruled out
	crossed   bool
	low, high float64 // the confidence interval, intersected over time
}

// A reference is the baseline's rate of a metric per request, with
// one-sided confidence bounds below and above: what a test compares with in
// intervals without a concurrent control. A test of an increase compares
// with the upper bound, so that chance in a short baseline is not taken for
// a regression; a test of a decrease with the lower.
type reference struct {
	rate, low, high float64
}

// adequate reports whether a test of limit on ref can still see a
// regression of limit² (4× for a 2× limit): whether the bound it compares
// with is within limit of the measured rate.
func (r reference) adequate(limit float64, up bool) bool {
	if up {
		return r.high < limit*r.rate
	}
	return r.low > limit*r.rate
}

// against counts the new version's requests, and intervals in the current
// window, judged against a control and against the baseline.
type against struct {
	control, baseline             float64
	windowControl, windowBaseline int
}

// String returns "control", "baseline" or "control+baseline".
func (a against) String() string {
	switch {
	case a.baseline == 0:
		return "control"
	case a.control == 0:
		return "baseline"
	}
	return "control+baseline"
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

// reciprocal[k] is 1/k, and harmonic[k] is 1 + 1/2 + … + 1/k: the weights
// of alternatives and their normalisation. Neither is written after
// initialisation.
var reciprocal, harmonic = func() (r, h [gridN]float64) {
	for k := 1; k < gridN; k++ {
		r[k] = 1 / float64(k)
		h[k] = h[k-1] + r[k]
	}
	return r, h
}()

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
	t.low, t.high = t.ratio[0], t.ratio[gridN-1]
	t.atLimit, t.evidence = math.Inf(-1), math.Inf(-1)
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

// beginWindow starts counting a new window's intervals.
func (t *ratioTest) beginWindow() {
	t.against.windowControl, t.against.windowBaseline = 0, 0
}

// observeControl adds one interval with a concurrent control: x events in
// n requests of the new version, y in m of the control.
func (t *ratioTest) observeControl(x, n, y, m float64) {
	if n <= 0 {
		return
	}
	w := t.weight()
	t.total.x, t.total.n, t.total.y, t.total.m = t.total.x+x, t.total.n+n, t.total.y+y, t.total.m+m
	t.against.control += n
	t.against.windowControl++
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
// requests of the new version, against the baseline's rate t.ref — at its
// upper bound for an increase, its lower for a decrease, and at the other
// bound for the interval's far end. An interval is skipped when that bound
// is zero.
func (t *ratioTest) observeReference(x, n float64) {
	bound, other := t.ref.high, t.ref.low
	if !t.up {
		bound, other = other, bound
	}
	if n <= 0 || bound <= 0 {
		return
	}
	w := t.weight()
	mu := bound * n
	t.total.x, t.total.n, t.total.y, t.total.m = t.total.x+x, t.total.n+n, t.total.y+t.ref.rate*n, t.total.m+n
	t.against.baseline += n
	t.against.windowBaseline++
	for i := range gridN {
		t.ll[i] += w * (x*t.log[i] - t.ratio[i]*mu)
	}
	t.ll0 += w * (x*t.logLimit - t.limit*mu)
	t.far += w * (mu - other*n)
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

// logEvidence returns the log e-value against "within the limit": the
// mixture over the alternatives of their likelihood ratios to the limit.
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

// likelihoods sets l to the log-likelihoods behind one end of the interval
// — ll, shifted by ratio·far — less the largest, and p to their
// exponentials; it returns the index of the largest.
func (t *ratioTest) likelihoods(far float64, l, p *[gridN]float64) (best int) {
	for i := range gridN {
		l[i] = t.ll[i] + t.ratio[i]*far
		if l[i] > l[best] {
			best = i
		}
	}
	top := l[best]
	for i := range gridN {
		l[i] -= top
		p[i] = math.Exp(l[i])
	}
	return best
}

// ruledOut reports whether the e-value of gridEvidence reaches the bar,
// without its logarithm: whether the weighted likelihoods beyond ρⱼ sum to
// bar × their normalisation × ρⱼ's own. The most likely ratio, best, is
// tried alone first: far from it that settles the question.
func (t *ratioTest) ruledOut(l, p *[gridN]float64, best, j int, up bool) bool {
	k, d := gridN-1-j, best-j
	if !up {
		k, d = j, j-best
	}
	if k == 0 || math.IsNaN(l[j]) {
		return false
	}
	if p[j] == 0 {
		// ρⱼ's likelihood is beyond exp's range below the best: any
		// likelihood beyond it rules it out.
		return d > 0 || gridEvidence(l, p, j, up) >= t.logBar
	}
	need := t.bar * harmonic[k] * p[j]
	if d > 0 && p[best]*reciprocal[d] >= need {
		return true
	}
	sum := 0.0
	if up {
		for i := j + 1; i < gridN; i++ {
			sum += p[i] * reciprocal[i-j]
		}
	} else {
		for i := range j {
			sum += p[i] * reciprocal[j-i]
		}
	}
	return sum >= need
}

// gridEvidence returns the log e-value, of the log-likelihoods l and their
// exponentials p (see likelihoods), against "ratio ≤ ρⱼ" when up, else
// against "ratio ≥ ρⱼ": the limit's mixture moved to ρⱼ, the k-th grid
// ratio beyond it weighing 1/k.
func gridEvidence(l, p *[gridN]float64, j int, up bool) float64 {
	sum, k := 0.0, j
	if up {
		for i := j + 1; i < gridN; i++ {
			sum += p[i] * reciprocal[i-j]
		}
		k = gridN - 1 - j
	} else {
		for i := range j {
			sum += p[i] * reciprocal[j-i]
		}
	}
	if k == 0 || sum == 0 {
		return math.Inf(-1)
	}
	return math.Log(sum/harmonic[k]) - l[j]
}

// before reports whether grid ratio j comes before the limit on a walk from
// the side away from the alternative: below it for an increase.
func (t *ratioTest) before(j int) bool {
	if t.up {
		return t.ratio[j] < t.limit*(1-1e-9)
	}
	return t.ratio[j] > t.limit*(1+1e-9)
}

// walk returns the k-th grid index on a walk from below (up) or above.
func walk(k int, up bool) int {
	if up {
		return k
	}
	return gridN - 1 - k
}

// check brings the decision up to date and reports whether the limit is
// crossed: when the e-value against the limit, and those against every
// grid ratio before it (each by the same mixture, moved), reach the bar —
// that is, when the interval's end on the alternative's side reaches the
// limit (see interval). The cheap test at the limit comes first; the grid
// is consulted only once it passes. Once crossed, a test stays crossed.
func (t *ratioTest) check() bool {
	t.atLimit = t.logEvidence()
	t.evidence = t.atLimit
	if t.crossed || !(t.evidence >= t.logBar) {
		return t.crossed
	}
	var l, p [gridN]float64
	best := t.likelihoods(0, &l, &p)
	all := true
	for j := range gridN {
		if t.before(j) {
			t.evidence = math.Min(t.evidence, gridEvidence(&l, &p, j, t.up))
			all = all && t.ruledOut(&l, &p, best, j, t.up)
		}
	}
	if all {
		t.crossed = true
		if t.up {
			t.low = math.Max(t.low, t.limit)
		} else {
			t.high = math.Min(t.high, t.limit)
		}
	}
	return t.crossed
}

// interval brings the confidence interval up to date. Its end on the
// alternative's side (the lower end for an increase) walks the candidate
// ratios — the grid's, and the limit in its place — from the other side,
// and stops before the first not ruled out; it passes the limit exactly
// when check finds it crossed. The other end walks the mirror-image way,
// on the log-likelihood that takes the baseline's other bound. Each end is
// intersected with its earlier values. Call check first.
func (t *ratioTest) interval() {
	var l, p [gridN]float64
	best := t.likelihoods(0, &l, &p)
	end, limitMet := math.NaN(), false
	for k := range gridN {
		j := walk(k, t.up)
		if !limitMet && !t.before(j) {
			limitMet = true
			// Past the limit only when check found it crossed: the same
			// tests, so this only guards against rounding.
			if !t.crossed || !(t.atLimit >= t.logBar) {
				break
			}
			end = t.limit
		}
		if !t.ruledOut(&l, &p, best, j, t.up) {
			break
		}
		end = t.ratio[j]
	}

	if t.far != 0 {
		best = t.likelihoods(t.far, &l, &p)
	}
	other := math.NaN()
	for k := range gridN {
		j := walk(k, !t.up)
		if !t.ruledOut(&l, &p, best, j, !t.up) {
			break
		}
		other = t.ratio[j]
	}

	lo, hi := end, other
	if !t.up {
		lo, hi = other, end
	}
	if !math.IsNaN(lo) {
		t.low = math.Max(t.low, lo)
	}
	if !math.IsNaN(hi) {
		t.high = math.Min(t.high, hi)
	}
	if t.low > t.high {
		// The two ends contradict each other, the data being far from
		// the model: the decision's end stands.
		if t.up {
			t.high = t.low
		} else {
			t.low = t.high
		}
	}
}

// inadequacy says why a window judged against the baseline alone, of the
// given requests, could not judge t: the bound it compares with is so far
// from the measured rate that a regression well beyond the limit would pass
// unseen.
func (t *ratioTest) inadequacy(requests float64) string {
	name := t.name
	if t.above > 0 {
		name += fmt.Sprintf(" (share over %s)", time.Duration(t.above*float64(time.Second)).Round(time.Microsecond))
	}
	way, bound := "up", t.ref.high
	if !t.up {
		way, bound = "down", t.ref.low
	}
	return fmt.Sprintf("%s cannot be judged against the baseline alone: its %.0f requests put the rate anywhere %s to %.3g%% (%.3g%% measured), so a change to %.3g× could pass unseen (a longer baseline window narrows that)",
		name, requests, way, 100*bound, 100*t.ref.rate, t.limit*bound/t.ref.rate)
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

// measurement updates the test and reports its numbers: the new version's
// rate and its comparison's (the control's and the baseline's measured
// rates, weighed by the new version's requests), their ratio, the limit
// and the rate it allows, the interval and the evidence.
func (t *ratioTest) measurement(start, end time.Time) Measurement {
	t.check()
	t.interval()
	value, comparison := ratio(t.total.x, t.total.n), ratio(t.total.y, t.total.m)
	return Measurement{
		Metric: t.name, Unit: UnitRate, Above: t.above, Against: t.against.String(),
		Value: value, Baseline: comparison, Threshold: t.limit * comparison, Requests: t.total.n,
		Start: start, End: end, Failed: t.crossed,
		Ratio: ratio(value, comparison), Lower: t.low, Upper: t.high, Limit: t.limit,
		Evidence: math.Min(math.Exp(t.evidence), math.MaxFloat64), EvidenceBar: t.bar,
	}
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
// verdict carries, per metric, both rates and their ratio, the confidence
// interval of the test that decides (the metric fails exactly when the
// interval lies beyond the limit), the limit, and the evidence against it.
// Without a control, the interval allows for the baseline's own sampling
// error: its end on the alternative's side compares with the confidence
// bound the test uses, its other end with the opposite bound.
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
	floor := max(p.MinErrorRate, 0) // negative: no floor
	j.errors = newRatioTest("error-rate", p.MaxErrorRatio, true, alpha, robust)
	j.errors.ref = reference{
		rate: math.Max(b.ErrorRate(), floor),
		low:  math.Max(rateBound(b.Errors, b.Requests, refAlpha, false), floor),
		high: math.Max(rateBound(b.Errors, b.Requests, refAlpha, true), floor),
	}
	if b.ErrorRate() < floor {
		j.errFloor = newRatioTest("error-rate", p.MaxErrorRatio, true, alpha, robust)
		j.errFloor.ref = reference{rate: floor, low: floor, high: floor}
	}
	for _, r := range rules {
		t := newRatioTest(r.name, r.limit, true, alpha, robust)
		t.above = r.bound
		t.ref = reference{
			rate: r.rate,
			low:  rateBound(r.rate*b.Requests, b.Requests, refAlpha, false),
			high: rateBound(r.rate*b.Requests, b.Requests, refAlpha, true),
		}
		j.latency = append(j.latency, latencyTest{latencyRule: r, test: t})
	}
	if business {
		j.business = newRatioTest("business-rate", 1-max(p.MaxBusinessDrop, 0), false, alpha, robust)
		j.business.ref = reference{
			rate: b.BusinessRate(),
			low:  rateBound(b.Business, b.Requests, refAlpha, false),
			high: rateBound(b.Business, b.Requests, refAlpha, true),
		}
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
	j.each((*ratioTest).beginWindow)
	if j.errFloor != nil {
		j.errFloor.beginWindow()
	}
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
		j.errors.observeReference(c.Errors, c.Requests)
	}
	if j.errFloor != nil {
		j.errFloor.observeReference(c.Errors, c.Requests)
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
		l.test.observeReference(x, c.Requests)
	}
	if measured {
		j.judgedLat++
	}
	if j.business != nil {
		if ctl != nil {
			j.business.observeControl(c.Business, c.Requests, ctl.Business, ctl.Requests)
		} else {
			j.business.observeReference(c.Business, c.Requests)
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
	j.each(func(t *ratioTest) {
		if t.against.windowBaseline > 0 && t.against.windowControl == 0 && !t.ref.adequate(t.limit, t.up) {
			problems = append(problems, t.inadequacy(j.base.Requests))
		}
	})
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
		m := t.measurement(j.start, j.end)
		if t == j.errors && j.errFloor != nil {
			m = floored(m, j.errFloor.measurement(j.start, j.end))
		}
		if m.Failed {
			failed = append(failed, m.String())
		}
		ms = append(ms, m)
	})
	if len(failed) > 0 {
		return Verdict{Outcome: Fail, Reason: strings.Join(failed, "; "), Measurements: ms}
	}
	return Verdict{Outcome: otherwise, Reason: fmt.Sprintf("no limit crossed: %d metric(s), %.0f requests on the new version", len(ms), j.requests), Measurements: ms}
}

// floored combines the error rate's test against its comparison, m, with
// its test against the floor, f: the rate is compared with the larger of the
// two, and fails only when both tests fail. The ratio to the larger is the
// smaller ratio, so each end of the interval is the smaller end.
func floored(m, f Measurement) Measurement {
	m.Failed = m.Failed && f.Failed
	m.Evidence = math.Min(m.Evidence, f.Evidence)
	m.Lower, m.Upper = math.Min(m.Lower, f.Lower), math.Min(m.Upper, f.Upper)
	if f.Baseline >= m.Baseline {
		m.Baseline, m.Against = f.Baseline, "floor"
		m.Threshold, m.Ratio = m.Limit*m.Baseline, ratio(m.Value, m.Baseline)
	}
	return m
}
