package main

import (
	"math"
	"math/rand/v2"
)

// noise returns a multiplicative log-normal factor with mean 1 and log
// standard deviation sigma, or 1 when sigma is 0.
func noise(r *rand.Rand, sigma float64) float64 {
	if sigma == 0 {
		return 1
	}
	return math.Exp(sigma*r.NormFloat64() - sigma*sigma/2)
}
