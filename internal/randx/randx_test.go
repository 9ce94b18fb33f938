package randx

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPoissonSampler(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const draws = 40000
	for _, lambda := range []float64{0.1, 3, 9.9, 10, 47.5, 500} {
		var sum, sq float64
		for range draws {
			k := Poisson(r, lambda)
			if k < 0 || k != math.Floor(k) {
				t.Fatalf("Poisson(%g) drew %g", lambda, k)
			}
			sum += k
			sq += k * k
		}
		mean := sum / draws
		variance := sq/draws - mean*mean
		if se := math.Sqrt(lambda / draws); math.Abs(mean-lambda) > 5*se {
			t.Errorf("Poisson(%g): mean %g, want %g ± %g", lambda, mean, lambda, 5*se)
		}
		// The variance of a sample variance is about (2λ² + λ)/n for a Poisson.
		if se := math.Sqrt((2*lambda*lambda + lambda) / draws); math.Abs(variance-lambda) > 5*se {
			t.Errorf("Poisson(%g): variance %g, want %g ± %g", lambda, variance, lambda, 5*se)
		}
	}
}
