package main

import (
	"math"
	"slices"
)

// mannWhitneyLevel is the one-sided level of judge (c). Kayenta's
// classifier uses a two-sided 95% interval; one-sided 0.05 is the more
// sensitive reading of it, which favours this judge.
const mannWhitneyLevel = 0.05

// mannWhitney is judge (c), Kayenta style: at each look (every `every`
// minutes up to the end of the run) it compares the per-interval error
// rates of the canary with the control's so far by a one-sided Mann–Whitney
// U test, and rolls back when p < mannWhitneyLevel. It returns the minute of
// the look that rolled back, or 0.
func mannWhitney(d *deployment, every int) int {
	var canary, control []float64
	look := every
	for t, m := range d.minutes {
		if !m.missing && m.canary.usable() {
			if c, ok := m.canary.errorRate(); ok {
				canary = append(canary, c)
			}
		}
		if !m.missing && !m.noControl && m.control.usable() {
			if b, ok := m.control.errorRate(); ok {
				control = append(control, b)
			}
		}
		if t+1 == look {
			if mannWhitneyP(canary, control) < mannWhitneyLevel {
				return look
			}
			look += every
		}
	}
	return 0
}

// mannWhitneyP returns the one-sided p-value of the Mann–Whitney U test that
// xs tend to be larger than ys: the normal approximation with midranks for
// ties, the tie-corrected variance and a continuity correction. It returns 1
// when either sample is empty or every value is tied.
func mannWhitneyP(xs, ys []float64) float64 {
	n1, n2 := len(xs), len(ys)
	if n1 == 0 || n2 == 0 {
		return 1
	}
	type obs struct {
		v float64
		x bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range xs {
		all = append(all, obs{v, true})
	}
	for _, v := range ys {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(a, b obs) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	n := float64(n1 + n2)
	rankSum, ties := 0.0, 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1…j
		for k := i; k < j; k++ {
			if all[k].x {
				rankSum += mid
			}
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	f1, f2 := float64(n1), float64(n2)
	u := rankSum - f1*(f1+1)/2
	variance := f1 * f2 / 12 * ((n + 1) - ties/(n*(n-1)))
	if variance <= 0 {
		return 1
	}
	z := (u - f1*f2/2 - 0.5) / math.Sqrt(variance)
	return 1 - normalCDF(z)
}
