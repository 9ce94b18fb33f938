package verify_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/randx"

	"github.com/safedeploy/safedeploy/verify"
)

// The simulations below check the sequential judge's statistical promises:
// a deployment within its limits is rolled back with probability at most
// Alpha however often the judge is read (A/A), a clear regression is caught
// (power), and the reported confidence interval covers the true ratio at
// every look (coverage). Each scenario is 60 one-minute intervals at 1,000
// requests per minute with a 1% error rate on the old version; counts are
// Poisson, and the seeds are fixed, so every run of the tests sees the same
// numbers.

// A scenario is a simulated deployment.
type scenario struct {
	share float64 // the new version's share of traffic
	ratio float64 // its error rate over the old version's
	// noise, when positive, multiplies each arm's error rate in each
	// interval by its own gamma-distributed factor with mean 1 and this
	// coefficient of variation: overdispersion that differs between arms.
	noise  float64
	policy verify.Policy
	// reference drops the concurrent control: the judge compares with
	// the baseline alone.
	reference bool
	// sampled draws the baseline's errors at random (Poisson) rather than
	// giving it exactly its expected count: a 15-minute baseline is itself
	// a sample.
	sampled bool
	// business moves the change from errors (then at the old version's
	// rate) to business events, 10 per 100 requests on the old version.
	business bool
	// onset is the interval from which the change applies; before it the
	// new version behaves as the old.
	onset int
}

const (
	simIntervals = 60
	simTraffic   = 1000 // requests per minute, both arms together
	simErrorRate = 0.01 // the old version's
	simWindow    = 10   // intervals per Begin window
	simBusiness  = 0.1  // business events per request, old version
)

func (s scenario) String() string {
	name := fmt.Sprintf("share=%g%%/ratio=%g", 100*s.share, s.ratio)
	if s.noise > 0 {
		name += fmt.Sprintf("/noise=%g", s.noise)
	}
	if s.policy.Binomial {
		name += "/binomial"
	}
	if s.reference {
		name += "/reference"
	}
	if s.sampled {
		name += "/sampled-baseline"
	}
	if s.business {
		name += "/business"
	}
	if s.onset > 0 {
		name += fmt.Sprintf("/onset=%d", s.onset)
	}
	return name
}

// An outcome is what one simulated deployment did.
type outcome struct {
	failedAt int // the interval (1-based) of the first Fail, or 0
	// missedAt is the first look whose interval did not cover the truth,
	// or 0; missedNearAt the same allowing one grid step either side.
	missedAt, missedNearAt int
}

// gridStep is the ratio between neighbouring ratios the judge weighs.
var gridStep = math.Pow(2, 0.25)

// gamma draws from the gamma distribution with mean 1 and coefficient of
// variation cv (shape 1/cv² ≥ 1), by Marsaglia and Tsang's method.
func gamma(r *rand.Rand, cv float64) float64 {
	shape := 1 / (cv * cv)
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := r.Float64(); math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v / shape
		}
	}
}

// deploy simulates one deployment of s with random source r, reading the
// judge after every interval and concluding every simWindow intervals. It
// stops at the first Fail when stop is set, as the executor does; otherwise
// it goes on, so that the interval is checked at every look.
func (s scenario) deploy(r *rand.Rand, stop bool) outcome {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	base := verify.Baseline{Version: "v1", Start: start.Add(-15 * time.Minute), End: start,
		Observation: verify.Observation{Requests: 15 * simTraffic, Errors: 15 * simTraffic * simErrorRate}}
	if s.sampled {
		base.Errors = randx.Poisson(r, base.Errors)
	}
	errRatio, busRatio, metric := 1.0, 1.0, 0
	if s.business {
		base.Business = 15 * simTraffic * simBusiness
		metric = 1
	}
	j := verify.NewSequentialJudge(s.policy, base)
	var o outcome
	look := func(i int, v verify.Verdict) bool {
		if v.Outcome == verify.Fail && o.failedAt == 0 {
			o.failedAt = i
		}
		if len(v.Measurements) == 0 {
			panic("verdict without measurements: " + v.Reason)
		}
		m := v.Measurements[metric]
		// The grid's ratios are computed (2^0.5 is one ulp below math.Sqrt2),
		// so compare with a relative slack far below the grid's step.
		if o.missedAt == 0 && !(m.Lower <= s.ratio*(1+1e-9) && s.ratio <= m.Upper*(1+1e-9)) {
			o.missedAt = i
		}
		if o.missedNearAt == 0 && !(m.Lower/gridStep <= s.ratio*(1+1e-9) && s.ratio <= m.Upper*gridStep*(1+1e-9)) {
			o.missedNearAt = i
		}
		return stop && o.failedAt > 0
	}
	for i := range simIntervals {
		from := start.Add(time.Duration(i) * time.Minute)
		if i%simWindow == 0 {
			j.Begin(verify.Window{Name: "step", Start: from, Length: simWindow * time.Minute, Weight: 100 * s.share})
		}
		noise := func() float64 {
			if s.noise <= 0 {
				return 1
			}
			return gamma(r, s.noise)
		}
		arm := func(n, errRatio, busRatio float64) verify.Observation {
			o := verify.Observation{Requests: n, Errors: math.Min(n, randx.Poisson(r, n*simErrorRate*errRatio*noise()))}
			if s.business {
				o.Business = randx.Poisson(r, n*simBusiness*busRatio)
			}
			return o
		}
		if i < s.onset {
			errRatio, busRatio = 1, 1
		} else if s.business {
			busRatio = s.ratio
		} else {
			errRatio = s.ratio
		}
		iv := verify.Interval{Start: from, End: from.Add(time.Minute), Canary: arm(randx.Poisson(r, simTraffic*s.share), errRatio, busRatio)}
		if !s.reference {
			ctl := arm(randx.Poisson(r, simTraffic*(1-s.share)), 1, 1)
			iv.Control = &ctl
		}
		if look(i+1, j.Observe(iv)) {
			return o
		}
		if (i+1)%simWindow == 0 && look(i+1, j.Conclude()) {
			return o
		}
	}
	return o
}

// A tally summarises many simulated deployments.
type tally struct {
	runs, failed, missed, missedNear int
	delays                           []int // intervals to the first Fail
}

func (s scenario) simulate(runs int, seed uint64, stop bool) tally {
	r := rand.New(rand.NewPCG(seed, math.Float64bits(s.share)^math.Float64bits(s.ratio)))
	t := tally{runs: runs}
	for range runs {
		o := s.deploy(r, stop)
		if o.failedAt > 0 {
			t.failed++
			t.delays = append(t.delays, o.failedAt-s.onset)
		}
		if o.missedAt > 0 {
			t.missed++
		}
		if o.missedNearAt > 0 {
			t.missedNear++
		}
	}
	return t
}

// atMost reports whether k events in n runs are consistent with a rate of
// at most p: k/n ≤ p + 3 standard errors.
func atMost(k, n int, p float64) (rate, bound float64, ok bool) {
	rate = float64(k) / float64(n)
	bound = p + 3*math.Sqrt(p*(1-p)/float64(n))
	return rate, bound, rate <= bound
}

// simRuns returns full, the number of deployments a scenario simulates, or
// a tenth of it (at least 50) with -short or under the race detector, which
// makes the judge about ten times slower. With 1,000 runs α + 3 SE is
// 5% + 2.1%; with 100, 5% + 6.5%: wide, but a test that ignores its null
// rolls back far more than that.
func simRuns(full int) int {
	if testing.Short() || raceEnabled() {
		return max(full/10, 50)
	}
	return full
}

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestSequentialJudgeNull is the A/A simulation: with no change, and with
// the error rate exactly at the limit (the boundary of the null), the
// judge rolls back at most Alpha of deployments, although it is read after
// every one of 60 intervals. That is the anytime-validity promise.
func TestSequentialJudgeNull(t *testing.T) {
	t.Parallel()
	var scenarios []scenario
	for _, share := range []float64{0.01, 0.05, 0.5} {
		for _, ratio := range []float64{1, verify.DefaultMaxErrorRatio} {
			for _, binomial := range []bool{false, true} {
				scenarios = append(scenarios, scenario{share: share, ratio: ratio, policy: verify.Policy{Binomial: binomial}})
			}
		}
	}
	scenarios = append(scenarios,
		// Against the baseline alone (a direct deploy), at the limit.
		scenario{share: 0.5, ratio: 2, reference: true, policy: verify.Policy{Binomial: true}},
		scenario{share: 0.05, ratio: 2, reference: true},
		// The same with a baseline that is itself a sample: its rate is
		// only known to a confidence bound.
		scenario{share: 0.5, ratio: 2, reference: true, sampled: true},
		scenario{share: 0.5, ratio: 2, reference: true, sampled: true, policy: verify.Policy{Binomial: true}},
		// Business events down exactly 20%, the limit of a decrease test,
		// with the error rate unchanged: two metrics share α.
		scenario{share: 0.05, ratio: 0.8, business: true},
		scenario{share: 0.5, ratio: 0.8, business: true, policy: verify.Policy{Binomial: true}})
	runs := simRuns(1000)
	for i, s := range scenarios {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			got := s.simulate(runs, uint64(100+i), true)
			rate, bound, ok := atMost(got.failed, got.runs, verify.DefaultAlpha)
			t.Logf("false rollbacks %d of %d (%.2f%%), bound %.2f%%", got.failed, got.runs, 100*rate, 100*bound)
			if !ok {
				t.Errorf("false rollbacks %d of %d = %.2f%%, want ≤ α + 3 SE = %.2f%%", got.failed, got.runs, 100*rate, 100*bound)
			}
		})
	}
}

// TestSequentialJudgeOverdispersion: per-interval noise that differs
// between the arms (each arm's error rate multiplied, every minute, by its
// own factor with a coefficient of variation of 30% or 50%, as when one pod
// hiccups) at 50% traffic, with the error rate exactly at the limit. The
// default, robust judge keeps its promise at 30%. The plain binomial test
// does not at 50%, and this harness must see it: that is what shows it can
// catch a test that breaks its promise.
func TestSequentialJudgeOverdispersion(t *testing.T) {
	t.Parallel()
	runs := simRuns(1000)
	for _, c := range []struct {
		s       scenario
		invalid bool // the harness must find the promise broken
	}{
		{s: scenario{share: 0.5, ratio: 2, noise: 0.3}},
		{s: scenario{share: 0.5, ratio: 2, noise: 0.5, policy: verify.Policy{Binomial: true}}, invalid: true},
	} {
		t.Run(c.s.String(), func(t *testing.T) {
			t.Parallel()
			got := c.s.simulate(runs, 7, true)
			rate, bound, ok := atMost(got.failed, got.runs, verify.DefaultAlpha)
			t.Logf("false rollbacks %d of %d (%.2f%%), bound %.2f%%", got.failed, got.runs, 100*rate, 100*bound)
			switch {
			case c.invalid && ok:
				t.Errorf("the plain binomial test under 50%% noise rolled back only %.2f%%, within α + 3 SE = %.2f%%: the harness cannot tell a broken promise", 100*rate, 100*bound)
			case !c.invalid && !ok:
				t.Errorf("false rollbacks %.2f%%, want ≤ α + 3 SE = %.2f%%", 100*rate, 100*bound)
			}
		})
	}
}

// TestSequentialJudgePower: a clear regression is caught within the hour.
func TestSequentialJudgePower(t *testing.T) {
	t.Parallel()
	for i, c := range []struct {
		s    scenario
		want float64 // least share of runs that must fail
	}{
		{scenario{share: 0.05, ratio: 5}, 0.9},
		{scenario{share: 0.05, ratio: 5, policy: verify.Policy{Binomial: true}}, 0.9},
		{scenario{share: 0.5, ratio: 3}, 0.9},
		{scenario{share: 0.01, ratio: 10}, 0.9},
		{scenario{share: 0.05, ratio: 0.5, business: true}, 0.9}, // business events halved
	} {
		t.Run(c.s.String(), func(t *testing.T) {
			t.Parallel()
			got := c.s.simulate(simRuns(200), uint64(200+i), true)
			rate := float64(got.failed) / float64(got.runs)
			t.Logf("detected %d of %d (%.1f%%), median delay %d min", got.failed, got.runs, 100*rate, median(got.delays))
			if rate < c.want {
				t.Errorf("detected %.1f%% of %gx regressions at %g%% traffic within %d min, want ≥ %.0f%%", 100*rate, c.s.ratio, 100*c.s.share, simIntervals, 100*c.want)
			}
		})
	}
}

func median(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int(nil), xs...)
	for i := range s { // insertion sort: a few hundred values
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// TestSequentialJudgeCoverage: the interval [Lower, Upper] reported with
// every verdict covers the true ratio at every one of the 60 looks in at
// least 1 − α of the runs (α the error-rate metric's share, here all of
// Alpha), for true ratios on the judge's grid of ratios, 2^(k/4), and off
// it: each end is the last of a run of candidate ratios the test rules out,
// so it errs only when the test rules out a true hypothesis.
func TestSequentialJudgeCoverage(t *testing.T) {
	t.Parallel()
	for i, s := range []scenario{
		{share: 0.5, ratio: 1.5},
		{share: 0.05, ratio: 3},
		{share: 0.5, ratio: math.Sqrt2, policy: verify.Policy{Binomial: true}},
		{share: 0.05, ratio: 4, policy: verify.Policy{Binomial: true, MaxErrorRatio: 8}},
		{share: 0.5, ratio: 1.5, reference: true, policy: verify.Policy{Binomial: true}},
		{share: 0.5, ratio: 1.5, reference: true, sampled: true},
	} {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			got := s.simulate(simRuns(400), uint64(300+i), false)
			rate, bound, ok := atMost(got.missed, got.runs, verify.DefaultAlpha)
			t.Logf("missed the truth at some look in %d of %d runs (%.2f%%; within a grid step %d), bound %.2f%%; %d runs failed",
				got.missed, got.runs, 100*rate, got.missedNear, 100*bound, got.failed)
			if !ok {
				t.Errorf("the interval missed the true ratio %g at some look in %.2f%% of runs, want ≤ %.2f%%", s.ratio, 100*rate, 100*bound)
			}
		})
	}
}

// TestSequentialJudgeLateBusinessDrop: business events that halve from the
// 20th minute, at 20% traffic, are caught within the hour. The dispersion
// estimate must not read the drop, a shortfall, as noise.
func TestSequentialJudgeLateBusinessDrop(t *testing.T) {
	t.Parallel()
	got := scenario{share: 0.2, ratio: 0.5, business: true, onset: 20}.simulate(simRuns(200), 400, true)
	rate := float64(got.failed) / float64(got.runs)
	t.Logf("detected %d of %d (%.1f%%), median delay %d min", got.failed, got.runs, 100*rate, median(got.delays))
	if rate < 0.8 {
		t.Errorf("detected %.1f%% of business drops of 50%% from minute 20 at 20%% traffic, want ≥ 80%%", 100*rate)
	}
}
