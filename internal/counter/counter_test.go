package counter

import (
	"math"
	"testing"
	"time"
)

func TestIncrease(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	series := func(vs ...float64) []Sample {
		out := make([]Sample, len(vs))
		for i, v := range vs {
			out[i] = Sample{at(10 * i), v} // samples at 0s, 10s, 20s…
		}
		return out
	}
	for _, c := range []struct {
		name       string
		s          []Sample
		start, end int
		want       float64
		ok         bool
	}{
		{"plain growth", series(5, 8, 12, 20), 5, 35, 15, true}, // from 5 (at 0s) to 20 (at 30s)
		{"window start on a sample counts from before", series(5, 8, 12), 10, 25, 7, true},
		{"restart counts the new value in full", series(5, 8, 2, 6), 5, 35, 3 + 2 + 4, true},
		{"series born in the window counts from zero", series(4, 9), -5, 15, 9, true},
		{"no sample before the end", series(4, 9), -20, -1, 0, false},
		{"flat", series(7, 7, 7), 5, 25, 0, true},
		{"samples after the end ignored", series(1, 2, 100), 5, 15, 1, true},
		{"NaN, negative and infinite samples skipped", series(5, math.NaN(), -3, math.Inf(1), 9), 5, 45, 4, true},
		{"only invalid samples", series(math.NaN(), -1), -5, 15, 0, false},
	} {
		got, ok := Increase(c.s, at(c.start), at(c.end))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: Increase = %g, %v; want %g, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestStep(t *testing.T) {
	for _, c := range []struct{ prev, v, want float64 }{{3, 5, 2}, {5, 5, 0}, {5, 2, 2}, {0, 7, 7}} {
		if got := Step(c.prev, c.v); got != c.want {
			t.Errorf("Step(%g, %g) = %g, want %g", c.prev, c.v, got, c.want)
		}
	}
	for v, want := range map[float64]bool{0: true, 1e300: true, -1: false, math.Inf(1): false, math.NaN(): false} {
		if Valid(v) != want {
			t.Errorf("Valid(%g) = %v, want %v", v, !want, want)
		}
	}
}
