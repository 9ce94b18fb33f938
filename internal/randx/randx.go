// Package randx draws from the distributions simulations need beyond
// math/rand/v2.
package randx

import (
	"math"
	"math/rand/v2"
)

// Poisson draws from the Poisson distribution with mean lam: by
// multiplication of uniforms for small means, and by Hörmann's transformed
// rejection (PTRS, 1993) from 10 up, as NumPy does.
func Poisson(r *rand.Rand, lam float64) float64 {
	switch {
	case !(lam > 0):
		return 0
	case lam < 10:
		limit, prod, k := math.Exp(-lam), r.Float64(), 0.0
		for prod > limit {
			prod *= r.Float64()
			k++
		}
		return k
	}
	slam, loglam := math.Sqrt(lam), math.Log(lam)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invAlpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lam + 0.43)
		if us >= 0.07 && v <= vr {
			return k
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invAlpha)-math.Log(a/(us*us)+b) <= -lam+k*loglam-lg {
			return k
		}
	}
}

// Binomial draws the number of successes in n trials of probability p: by
// inversion when n·min(p, 1−p) < 10, and by Hörmann's transformed rejection
// (BTRS, 1993) otherwise.
func Binomial(r *rand.Rand, n, p float64) float64 {
	switch {
	case n <= 0 || !(p > 0):
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - Binomial(r, n, 1-p)
	case n*p < 10:
		// Inversion: walk up the pmf from 0.
		q := 1 - p
		s := p / q
		f := math.Pow(q, n)
		u := r.Float64()
		for k := 0.0; k < n; k++ {
			if u < f {
				return k
			}
			u -= f
			f *= s * (n - k) / (k + 1)
		}
		return n
	}
	q := 1 - p
	spq := math.Sqrt(n * p * q)
	b := 1.15 + 2.53*spq
	a := -0.0873 + 0.0248*b + 0.01*p
	c := n*p + 0.5
	vr := 0.92 - 4.2/b
	alpha := (2.83 + 5.1/b) * spq
	lpq := math.Log(p / q)
	m := math.Floor((n + 1) * p)
	lm, _ := math.Lgamma(m + 1)
	lnm, _ := math.Lgamma(n - m + 1)
	h := lm + lnm
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + c)
		if k < 0 || k > n {
			continue
		}
		if us >= 0.07 && v <= vr {
			return k
		}
		lk, _ := math.Lgamma(k + 1)
		lnk, _ := math.Lgamma(n - k + 1)
		if math.Log(v*alpha/(a/(us*us)+b)) <= h-lk-lnk+(k-m)*lpq {
			return k
		}
	}
}
