package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/safedeploy/safedeploy/internal/randx"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestWilson(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{
		{10, 100, 0.05523, 0.17437}, // textbook example
		{0, 2000, 0, 0.001917},      // no events: the upper end is about 3.84/n
		{100, 2000, 0.04128, 0.06044},
	} {
		lo, hi := wilson(c.k, c.n)
		if !near(lo, c.lo, 5e-5) || !near(hi, c.hi, 5e-5) {
			t.Errorf("wilson(%d, %d) = [%.5f, %.5f], want [%.5f, %.5f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
}

func TestBinomialUpperTail(t *testing.T) {
	for _, c := range []struct {
		k, n int
		p    float64
		want float64
	}{
		{8, 10, 0.5, 56.0 / 1024}, // (45 + 10 + 1) / 2¹⁰
		{5, 20, 0.1, 0.043174495284463404},
		{30, 100, 0.2, 0.011248978720991697},
		{1, 1000, 0.001, 0.6323045752290354}, // 1 − 0.999¹⁰⁰⁰
		{0, 5, 0.3, 1},
		{6, 5, 0.3, 0},
	} {
		if got := binomialUpperTail(c.k, c.n, c.p); !near(got, c.want, 1e-12) {
			t.Errorf("P(Bin(%d, %g) ≥ %d) = %.15g, want %.15g", c.n, c.p, c.k, got, c.want)
		}
	}
}

func TestMannWhitneyP(t *testing.T) {
	// Every canary value beats every control value: U = 6 of n₁n₂ = 6,
	// mean 3, variance 3·2·6/12 = 3; z = (6 − 3 − ½)/√3.
	if got, want := mannWhitneyP([]float64{3, 4, 5}, []float64{1, 2}), 1-normalCDF(2.5/math.Sqrt(3)); !near(got, want, 1e-12) {
		t.Errorf("no ties: p = %g, want %g (0.0745)", got, want)
	}
	// Ties: pooled 0 0 0 | 0.05 | 0.1 0.1 get midranks 2 2 2 | 4 | 5.5 5.5;
	// canary ranks 2 + 5.5 + 5.5 = 13, U = 13 − 6 = 7; tie term 24 + 6 = 30,
	// variance 9/12·(7 − 30/30) = 4.5; z = (7 − 4.5 − ½)/√4.5.
	if got, want := mannWhitneyP([]float64{0, 0.1, 0.1}, []float64{0, 0, 0.05}), 1-normalCDF(2/math.Sqrt(4.5)); !near(got, want, 1e-12) {
		t.Errorf("ties: p = %g, want %g (0.1729)", got, want)
	}
	if got := mannWhitneyP([]float64{0, 0}, []float64{0, 0, 0}); got != 1 {
		t.Errorf("all tied: p = %g, want 1", got)
	}
	if got := mannWhitneyP(nil, []float64{1}); got != 1 {
		t.Errorf("empty: p = %g, want 1", got)
	}
}

func TestQuantileCensored(t *testing.T) {
	inf := math.Inf(1)
	xs := []float64{inf, 3, 1, inf, 2}
	if got := quantile(xs, 0.5); got != 3 {
		t.Errorf("median = %g, want 3", got)
	}
	if got := quantile(xs, 0.9); !math.IsInf(got, 1) {
		t.Errorf("90th percentile = %g, want +Inf (not within the run)", got)
	}
}

// TestSamplers checks the mean and variance of the Poisson and binomial
// samplers on both sides of their switch between algorithms.
func TestSamplers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100000
	moments := func(draw func() float64) (mean, variance float64) {
		var s, s2 float64
		for range n {
			x := draw()
			s, s2 = s+x, s2+x*x
		}
		mean = s / n
		return mean, s2/n - mean*mean
	}
	for _, lam := range []float64{0.3, 4, 9.5, 10, 50, 950} {
		mean, v := moments(func() float64 { return randx.Poisson(r, lam) })
		se := math.Sqrt(lam / n)
		if !near(mean, lam, 5*se) || !near(v/lam, 1, 0.03) {
			t.Errorf("randx.Poisson(%g): mean %g, variance %g", lam, mean, v)
		}
	}
	for _, c := range []struct{ n, p float64 }{{50, 0.01}, {1000, 0.009}, {100, 0.3}, {1000, 0.05}, {40, 0.9}, {3000, 0.5}} {
		mean, v := moments(func() float64 { return randx.Binomial(r, c.n, c.p) })
		mu, want := c.n*c.p, c.n*c.p*(1-c.p)
		if !near(mean, mu, 5*math.Sqrt(want/n)) || !near(v/want, 1, 0.03) {
			t.Errorf("randx.Binomial(%g, %g): mean %g (want %g), variance %g (want %g)", c.n, c.p, mean, mu, v, want)
		}
	}
	if mean, _ := moments(func() float64 { return noise(r, 0.3) }); !near(mean, 1, 0.005) {
		t.Errorf("noise(0.3): mean %g, want 1", mean)
	}
}
