package main

import (
	"math"
	"slices"
)

// normalCDF is Φ, the standard normal distribution function.
func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// wilson returns the 95% Wilson score interval for k successes in n trials.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p, nf := float64(k)/float64(n), float64(n)
	d := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / d
	half := z / d * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}

// binomialUpperTail returns P(X ≥ k) for X ~ Binomial(n, p), summing the
// pmf from k up (the terms fall quickly past the mode, so it stops once
// they no longer matter).
func binomialUpperTail(k, n int, p float64) float64 {
	switch {
	case k <= 0:
		return 1
	case k > n:
		return 0
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	lnp, lnq := math.Log(p), math.Log1p(-p)
	lgN, _ := math.Lgamma(float64(n) + 1)
	logPMF := func(i int) float64 {
		a, _ := math.Lgamma(float64(i) + 1)
		b, _ := math.Lgamma(float64(n-i) + 1)
		return lgN - a - b + float64(i)*lnp + float64(n-i)*lnq
	}
	sum := 0.0
	for i := k; i <= n; i++ {
		t := math.Exp(logPMF(i))
		sum += t
		if float64(i) > float64(n)*p && t < sum*1e-16 {
			break
		}
	}
	return math.Min(1, sum)
}

// quantile returns the q-quantile of xs by the nearest-rank method, where
// +Inf stands for "never": a censored value larger than any other. xs is
// sorted in place.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}
