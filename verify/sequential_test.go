package verify

import (
	"math"
	"testing"
	"time"
)

// Known-value tests of the sequential test's arithmetic: each interval's
// likelihood ratio, the mixture e-value, the estimate, the interval and the
// dispersion weight, against numbers computed here by hand from the
// textbook formulas rather than by the code's own expressions.

// near reports whether got is within tol of want, absolutely or relatively.
func near(got, want, tol float64) bool {
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestGridRatio(t *testing.T) {
	for _, c := range []struct {
		i     int
		ratio float64
	}{{0, 1.0 / 32}, {4, 1.0 / 16}, {20, 1}, {22, math.Sqrt2}, {24, 2}, {40, 32}} {
		r, l := gridRatio(c.i)
		if !near(r, c.ratio, 1e-15) || !near(l, math.Log(c.ratio), 1e-15) {
			t.Errorf("gridRatio(%d) = %g, %g; want %g, %g", c.i, r, l, c.ratio, math.Log(c.ratio))
		}
	}
	// Neighbours are 2^¼ apart: about 19%.
	for i := 1; i < gridN; i++ {
		a, _ := gridRatio(i - 1)
		b, _ := gridRatio(i)
		if !near(b/a, math.Pow(2, 0.25), 1e-14) {
			t.Fatalf("gridRatio(%d)/gridRatio(%d) = %g, want 2^¼", i, i-1, b/a)
		}
	}
}

// TestRatioTestAlternatives checks which grid ratios the mixture averages
// over: those strictly beyond the limit, above it for an increase and below
// it for a decrease; the limit itself, when on the grid, is the null.
func TestRatioTestAlternatives(t *testing.T) {
	for _, c := range []struct {
		limit     float64
		up        bool
		alt, altN int
		first     float64 // the alternative nearest the limit
	}{
		{2, true, 25, 16, math.Pow(2, 1.25)},   // the default error limit, on the grid at index 24
		{1.2, true, 22, 19, math.Sqrt2},        // P50: 2^¼ ≈ 1.19 is not beyond 1.2
		{3, true, 27, 14, math.Pow(2, 1.75)},   // P99
		{1, true, 21, 20, math.Pow(2, 0.25)},   // any increase
		{0.8, false, 0, 19, math.Pow(2, -0.5)}, // business: a drop of more than 20%
		{1, false, 0, 20, math.Pow(2, -0.25)},  // any decrease
		{32, true, 0, 0, 0},                    // nothing on the grid beyond the limit
	} {
		rt := newRatioTest("m", c.limit, c.up, 0.05, false)
		if rt.alt != c.alt || rt.altN != c.altN {
			t.Errorf("limit %g (up %v): alternatives [%d, %d+%d), want [%d, %d+%d)", c.limit, c.up, rt.alt, rt.alt, rt.altN, c.alt, c.alt, c.altN)
			continue
		}
		for i := range gridN {
			beyond := rt.ratio[i] > c.limit*(1+1e-9)
			if !c.up {
				beyond = rt.ratio[i] < c.limit*(1-1e-9)
			}
			if in := i >= rt.alt && i < rt.alt+rt.altN; in != beyond {
				t.Errorf("limit %g (up %v): ratio %g in the mixture = %v, want %v", c.limit, c.up, rt.ratio[i], in, beyond)
			}
		}
		if c.altN == 0 {
			if e := rt.logEvidence(); !math.IsInf(e, -1) {
				t.Errorf("limit %g: logEvidence() = %g with no alternatives, want -Inf", c.limit, e)
			}
			continue
		}
		nearest := rt.ratio[rt.alt]
		if !c.up {
			nearest = rt.ratio[rt.alt+rt.altN-1]
		}
		if !near(nearest, c.first, 1e-12) {
			t.Errorf("limit %g (up %v): nearest alternative %g, want %g", c.limit, c.up, nearest, c.first)
		}
	}
}

// An interval of concurrent data: x events in n requests of the new
// version, y in m of the control.
type concurrent struct{ x, n, y, m float64 }

// TestRatioTestConcurrentLikelihood: after concurrent intervals, each grid
// ratio's log-likelihood over the limit's is the conditional binomial one:
// given x+y events, the new version's share is p = ρr/(1+ρr) with r = n/m,
// so the log-likelihood ratio is x·log(p/p₀) + y·log((1−p)/(1−p₀)), summed
// over intervals — including intervals with different traffic splits.
func TestRatioTestConcurrentLikelihood(t *testing.T) {
	for _, c := range []struct {
		name      string
		limit     float64
		up        bool
		intervals []concurrent
	}{
		{"one interval at 10%", 2, true, []concurrent{{x: 30, n: 1000, y: 100, m: 9000}}},
		{"one interval at 1%, no canary errors", 2, true, []concurrent{{x: 0, n: 10, y: 5, m: 990}}},
		{"one interval, no control errors", 2, true, []concurrent{{x: 7, n: 50, y: 0, m: 950}}},
		{"limit between grid ratios", 1.2, true, []concurrent{{x: 130, n: 500, y: 100, m: 500}}},
		{"a decrease", 0.8, false, []concurrent{{x: 40, n: 500, y: 50, m: 500}}},
		{"steps of 1%, 5% and 50%", 2, true, []concurrent{
			{x: 1, n: 10, y: 10, m: 990}, {x: 2, n: 50, y: 9, m: 950}, {x: 6, n: 500, y: 4, m: 500},
		}},
		{"an interval without events", 2, true, []concurrent{{x: 0, n: 100, y: 0, m: 100}, {x: 3, n: 100, y: 1, m: 100}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rt := newRatioTest("m", c.limit, c.up, 0.05, false)
			want := make([]float64, gridN)
			for _, iv := range c.intervals {
				rt.observeControl(iv.x, iv.n, iv.y, iv.m)
				r := iv.n / iv.m
				p0 := c.limit * r / (1 + c.limit*r)
				for i := range gridN {
					rho := math.Pow(2, -5+0.25*float64(i))
					p := rho * r / (1 + rho*r)
					// 0·log(…) is 0, whatever the log.
					if iv.x > 0 {
						want[i] += iv.x * math.Log(p/p0)
					}
					if iv.y > 0 {
						want[i] += iv.y * math.Log((1-p)/(1-p0))
					}
				}
			}
			for i := range gridN {
				if got := rt.ll[i] - rt.ll0; !near(got, want[i], 1e-9) {
					t.Errorf("ratio %g: ll - ll0 = %.12g, want %.12g", rt.ratio[i], got, want[i])
				}
			}
			var x, n, y, m float64
			for _, iv := range c.intervals {
				x, n, y, m = x+iv.x, n+iv.n, y+iv.y, m+iv.m
			}
			if rt.total.x != x || rt.total.n != n || rt.total.y != y || rt.total.m != m {
				t.Errorf("totals %g/%g vs %g/%g, want %g/%g vs %g/%g", rt.total.x, rt.total.n, rt.total.y, rt.total.m, x, n, y, m)
			}
		})
	}
}

// TestRatioTestReferenceLikelihood: without a control, the new version's
// events are Poisson with mean ρ·ref·n, ref the baseline's rate at its upper
// bound for an increase, so the log-likelihood ratio is
// x·log(ρ/ρ₀) − (ρ − ρ₀)·ref·n. The interval's far end uses the lower bound
// instead.
func TestRatioTestReferenceLikelihood(t *testing.T) {
	for _, up := range []bool{true, false} {
		limit, bound, other := 2.0, 0.004, 0.001
		if !up {
			limit, bound, other = 0.8, other, bound
		}
		rt := newRatioTest("m", limit, up, 0.05, false)
		rt.ref = reference{rate: 0.002, low: 0.001, high: 0.004}
		intervals := []struct{ x, n float64 }{{3, 1000}, {0, 500}, {25, 1200}}
		want, wantFar := make([]float64, gridN), make([]float64, gridN)
		for _, iv := range intervals {
			rt.observeReference(iv.x, iv.n)
			for i := range gridN {
				rho := math.Pow(2, -5+0.25*float64(i))
				want[i] += iv.x*math.Log(rho/limit) - (rho-limit)*bound*iv.n
				wantFar[i] += iv.x*math.Log(rho/limit) - (rho-limit)*bound*iv.n + rho*(bound-other)*iv.n
			}
		}
		for i := range gridN {
			if got := rt.ll[i] - rt.ll0; !near(got, want[i], 1e-9) {
				t.Errorf("up %v, ratio %g: ll - ll0 = %.12g, want %.12g", up, rt.ratio[i], got, want[i])
			}
			if got := rt.ll[i] + rt.ratio[i]*rt.far - rt.ll0; !near(got, wantFar[i], 1e-9) {
				t.Errorf("up %v, ratio %g: far end's ll - ll0 = %.12g, want %.12g", up, rt.ratio[i], got, wantFar[i])
			}
		}
		// The comparison's totals are the expected events at the measured rate.
		if wantY := 0.002 * 2700; !near(rt.total.y, wantY, 1e-12) || rt.total.m != rt.total.n || rt.total.n != 2700 {
			t.Errorf("up %v: totals: y = %g over m = %g (n = %g), want %g over 2700", up, rt.total.y, rt.total.m, rt.total.n, wantY)
		}
	}
}

// TestRatioTestIgnores: intervals without new-version traffic, or without a
// reference rate, carry no evidence; one without events adds only exposure.
func TestRatioTestIgnores(t *testing.T) {
	rt := newRatioTest("m", 2, true, 0.05, true)
	rt.observeControl(5, 0, 10, 1000) // no new-version requests
	rt.observeReference(5, 100)       // no control and no reference rate
	rt.observeControl(0, 100, 0, 900) // no events
	for i := range gridN {
		if rt.ll[i] != 0 {
			t.Fatalf("ll[%d] = %g, want 0", i, rt.ll[i])
		}
	}
	if rt.ll0 != 0 || rt.res != 0 || rt.resN != 0 {
		t.Errorf("ll0 = %g, residuals %g over %g; want all 0", rt.ll0, rt.res, rt.resN)
	}
	if rt.total.n != 100 || rt.total.m != 900 {
		t.Errorf("exposure %g vs %g, want 100 vs 900 (the interval without events)", rt.total.n, rt.total.m)
	}
	rt.check()
	if rt.interval(); rt.low != 1.0/32 || rt.high != 32 {
		t.Errorf("interval without evidence = [%g, %g], want the whole grid [1/32, 32]", rt.low, rt.high)
	}
	if e := rt.estimate(); e != 1 {
		t.Errorf("estimate() without evidence = %g, want 1", e)
	}
}

// TestRatioTestEvidence: the e-value is the weighted mean, over the
// alternatives, of each one's likelihood ratio against the limit, the k-th
// ratio beyond the limit weighing 1/k (normalised); the test crosses when
// it reaches 1/α and stays crossed.
func TestRatioTestEvidence(t *testing.T) {
	for _, c := range []struct {
		name  string
		limit float64
		up    bool
		iv    concurrent
	}{
		{"increase, little evidence", 2, true, concurrent{x: 12, n: 500, y: 5, m: 500}},
		{"increase, against", 2, true, concurrent{x: 5, n: 500, y: 5, m: 500}},
		{"decrease", 0.8, false, concurrent{x: 30, n: 500, y: 50, m: 500}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rt := newRatioTest("m", c.limit, c.up, 0.05, false)
			rt.observeControl(c.iv.x, c.iv.n, c.iv.y, c.iv.m)
			var beyond []int // grid indexes beyond the limit, nearest first
			for i := range gridN {
				if c.up && rt.ratio[i] > c.limit {
					beyond = append(beyond, i)
				}
				if !c.up && rt.ratio[gridN-1-i] < c.limit {
					beyond = append(beyond, gridN-1-i)
				}
			}
			var sum, norm float64
			for k, i := range beyond {
				w := 1 / float64(k+1)
				sum += w * math.Exp(rt.ll[i]-rt.ll0)
				norm += w
			}
			want := sum / norm
			if got := math.Exp(rt.logEvidence()); !near(got, want, 1e-9) {
				t.Errorf("e-value %.12g, want the weighted mean of %d likelihood ratios %.12g", got, len(beyond), want)
			}
			m := rt.measurement(time.Time{}, time.Time{})
			if !near(m.Evidence, want, 1e-9) || !near(m.EvidenceBar, 20, 1e-12) || m.Limit != c.limit {
				t.Errorf("measurement: evidence %g of %g, limit %g; want %g of 20, limit %g", m.Evidence, m.EvidenceBar, m.Limit, want, c.limit)
			}
		})
	}

	rt := newRatioTest("m", 2, true, 0.05, false)
	for rt.logEvidence() < math.Log(20) {
		if rt.check() {
			t.Fatalf("check() = true at e-value %g, below 20", math.Exp(rt.logEvidence()))
		}
		rt.observeControl(5, 100, 10, 900) // 5% against 1.1%: about 4.5×
	}
	if !rt.check() {
		t.Fatalf("check() = false at e-value %g ≥ 20", math.Exp(rt.logEvidence()))
	}
	for range 50 {
		rt.observeControl(0, 100, 10, 900)
	}
	if math.Exp(rt.logEvidence()) >= 20 || !rt.check() || !rt.measurement(time.Time{}, time.Time{}).Failed {
		t.Errorf("after good data: e-value %g, check() = %v; want below 20 and still crossed", math.Exp(rt.logEvidence()), rt.check())
	}
}

// TestRatioTestEstimate: on large data at exactly the expected counts, the
// estimate recovers the true ratio, on the grid or between its points.
func TestRatioTestEstimate(t *testing.T) {
	for _, truth := range []float64{0.5, 1, 1.5, 2, 3, 7} {
		for _, share := range []float64{0.01, 0.05, 0.5} {
			rt := newRatioTest("m", 2, true, 0.05, false)
			ref := newRatioTest("m", 2, true, 0.05, false)
			ref.ref = reference{rate: 0.01, low: 0.01, high: 0.01}
			n, m := 1e5*share, 1e5*(1-share)
			for range 20 {
				rt.observeControl(truth*0.01*n, n, 0.01*m, m)
				ref.observeReference(truth*0.01*n, n)
			}
			if got := rt.estimate(); !near(got, truth, 0.01) {
				t.Errorf("concurrent, share %g: estimate() = %g, want %g ± 1%%", share, got, truth)
			}
			if got := ref.estimate(); !near(got, truth, 0.01) {
				t.Errorf("reference, share %g: estimate() = %g, want %g ± 1%%", share, got, truth)
			}
		}
	}
}

// TestRatioTestInterval: the interval holds the truth and narrows as the
// data grow. Its lower end is the last of the run of candidate ratios — the
// grid's, and the limit in its place — from the smallest up that the test's
// mixture, moved to each, rules out at 1/α; its upper end the same from the
// largest down, with the mirror-image mixture.
func TestRatioTestInterval(t *testing.T) {
	const truth = 1.5
	rt := newRatioTest("m", 2, true, 0.05, false)
	prev := math.Inf(1)
	for k := 1; k <= 200; k++ {
		rt.observeControl(truth*5, 500, 5, 500) // exactly the expected counts
		rt.check()
		rt.interval()
		lo, hi := rt.low, rt.high
		if !(lo <= truth && truth <= hi) {
			t.Fatalf("after %d intervals: [%g, %g] misses the truth %g", k, lo, hi, truth)
		}
		if w := hi / lo; w > prev {
			t.Fatalf("after %d intervals: [%g, %g] is wider than before (%g > %g)", k, lo, hi, w, prev)
		} else {
			prev = w
		}
		if k == 1 || k == 20 || k == 200 {
			// By hand: the e-value against ρⱼ is the mean of the grid
			// ratios' likelihood ratios to it, over those beyond it, the
			// k-th beyond weighing 1/k.
			e := func(j int, up bool) float64 {
				var sum, norm float64
				for i := range gridN {
					d := i - j
					if !up {
						d = j - i
					}
					if d > 0 {
						sum += math.Exp(rt.ll[i]-rt.ll[j]) / float64(d)
						norm += 1 / float64(d)
					}
				}
				return sum / norm
			}
			wlo, whi := rt.ratio[0], rt.ratio[gridN-1]
			for j := 0; j < gridN; j++ {
				if rt.ratio[j] >= 2 && math.Exp(rt.logEvidence()) >= 20 {
					wlo = 2 // the limit, ruled out in its place
				}
				if e(j, true) < 20 || rt.ratio[j] >= 2 && math.Exp(rt.logEvidence()) < 20 {
					break
				}
				wlo = rt.ratio[j]
			}
			for j := gridN - 1; j >= 0 && e(j, false) >= 20; j-- {
				whi = rt.ratio[j]
			}
			if !near(lo, wlo, 1e-12) || !near(hi, whi, 1e-12) {
				t.Errorf("after %d intervals: interval [%g, %g], want [%g, %g]", k, lo, hi, wlo, whi)
			}
			t.Logf("after %d intervals (%g events): [%.3g, %.3g]", k, rt.total.x+rt.total.y, lo, hi)
		}
	}
	// 200 intervals of 12.5 events: the interval is three grid steps either
	// side of the truth at most.
	if lo, hi := rt.low, rt.high; hi/lo > math.Pow(2, 7*0.25) {
		t.Errorf("after 2,500 events: [%g, %g] is wider than seven grid steps", lo, hi)
	}
}

// exact feeds rt k intervals of concurrent data at exactly the expected
// counts for ratio: no residual at all.
func exact(rt *ratioTest, k int, ratio float64) {
	for range k {
		rt.observeControl(ratio*50, 1000, 50, 1000)
	}
}

// TestRatioTestWeight: the robust test raises each interval's likelihood
// ratio to 1/φ, φ the dispersion of the intervals before it. Binomial
// tests always weigh 1; a robust one starts at 1/1.5 (its prior), reaches
// 1 without dispersion evidence, and drops below 1 after clearly
// overdispersed intervals.
func TestRatioTestWeight(t *testing.T) {
	plain := newRatioTest("m", 2, true, 0.05, false)
	if w := plain.weight(); w != 1 {
		t.Errorf("binomial test: weight() = %g, want 1", w)
	}
	overdisperse(plain, 30)
	if w := plain.weight(); w != 1 {
		t.Errorf("binomial test after overdispersed data: weight() = %g, want 1", w)
	}

	rt := newRatioTest("m", 2, true, 0.05, true)
	// The documented prior: φ = 1.5 before any interval, so the first
	// intervals weigh ⅔, in case they are noisier than binomial.
	if w := rt.weight(); !near(w, 2.0/3, 1e-15) {
		t.Errorf("robust test before data: weight() = %g, want 1/1.5", w)
	}
	exact(rt, 5, 1)
	if w := rt.weight(); w != 1 {
		t.Errorf("robust test after 5 intervals of exact binomial data: weight() = %g, want 1", w)
	}

	overdisperse(rt, 30)
	w := rt.weight()
	if w >= 0.5 {
		t.Errorf("robust test after 30 intervals of counts ±50%% off their mean: weight() = %g, want < 0.5", w)
	}
	// The weight applies to the next interval's log-likelihood ratio.
	before := rt.ll
	before0 := rt.ll0
	rt.observeControl(60, 1000, 50, 1000)
	for i := range gridN {
		want := w * (60*math.Log(rt.ratio[i]/2) - 110*(math.Log1p(rt.ratio[i])-math.Log1p(2)))
		if got := (rt.ll[i] - before[i]) - (rt.ll0 - before0); !near(got, want, 1e-9) {
			t.Errorf("ratio %g: tempered log-likelihood ratio %g, want %g × the binomial one = %g", rt.ratio[i], got, w, want)
		}
	}
}

// overdisperse feeds k intervals whose new-version counts alternate 50%
// above and below their mean: far more spread than binomial.
func overdisperse(rt *ratioTest, k int) {
	for i := range k {
		x := 75.0
		if i%2 == 1 {
			x = 25
		}
		rt.observeControl(x, 1000, 50, 1000)
	}
}

// TestRatioTestResidualsIgnoreRegression: only intervals on the harmless
// side of the local ratio count as dispersion, so a regression that starts
// mid-deployment does not pass for noise and weaken its own evidence.
func TestRatioTestResidualsIgnoreRegression(t *testing.T) {
	t.Run("increase", func(t *testing.T) {
		rt := newRatioTest("error-rate", 2, true, 0.05, true)
		exact(rt, 20, 1)
		res := rt.res
		for k := range 10 {
			rt.observeControl(150, 1000, 50, 1000) // 3×, from the 21st interval
			if rt.res > res || rt.weight() != 1 {
				t.Fatalf("regression interval %d: residuals %g (were %g), weight %g; want no dispersion", k+1, rt.res, res, rt.weight())
			}
			res = rt.res
		}
		// The same test does count shortfalls of the same size.
		rt.observeControl(50.0/3, 1000, 50, 1000)
		if rt.res <= res {
			t.Errorf("a shortfall added no residual: %g, was %g", rt.res, res)
		}
	})
	t.Run("reference", func(t *testing.T) {
		rt := newRatioTest("error-rate", 2, true, 0.05, true)
		rt.ref = reference{rate: 0.05, low: 0.05, high: 0.05}
		for range 20 {
			rt.observeReference(50, 1000)
		}
		res := rt.res
		for range 10 {
			rt.observeReference(150, 1000)
		}
		if rt.res > res || rt.weight() != 1 {
			t.Errorf("regression against the baseline: residuals %g (were %g), weight %g; want no dispersion", rt.res, res, rt.weight())
		}
	})
	t.Run("decrease", func(t *testing.T) {
		rt := newRatioTest("business-rate", 0.8, false, 0.05, true)
		exact(rt, 20, 1)
		res := rt.res
		for k := range 10 {
			rt.observeControl(50.0/3, 1000, 50, 1000) // business events down to ⅓, from the 21st interval
			if rt.res > res || rt.weight() != 1 {
				t.Fatalf("regression interval %d: residuals %g (were %g), weight %g; want no dispersion", k+1, rt.res, res, rt.weight())
			}
			res = rt.res
		}
	})
}

// TestRatioTestObserveAllocs: an update allocates nothing.
func TestRatioTestObserveAllocs(t *testing.T) {
	rt := newRatioTest("m", 2, true, 0.05, true)
	rt.ref = reference{rate: 0.01, low: 0.005, high: 0.02}
	if n := testing.AllocsPerRun(100, func() {
		rt.observeControl(3, 100, 10, 900)
		rt.observeReference(3, 100)
		rt.check()
		rt.estimate()
		rt.measurement(time.Time{}, time.Time{})
	}); n != 0 {
		t.Errorf("observe, check, estimate and measurement allocate %g times, want 0", n)
	}
}
