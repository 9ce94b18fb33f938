package main

import (
	"math"
	"slices"
)

// The threshold judges, as commonly configured:
//
//   - (a) against the concurrent control, Argo Rollouts / Flagger style: an
//     interval fails when the canary's error rate over it exceeds factor
//     times the control's over the same interval, and the canary is rolled
//     back at the limit-th failed interval;
//   - (b) the 2× pre-deploy rule: roll back at the first interval whose
//     canary error rate exceeds factor times the baseline's.
//
// Neither looks at how many requests stand behind a rate. Both skip
// intervals without data and intervals with impossible counts.

// controlRatios returns, for each interval with data from both arms, the
// canary's error rate over the control's (+Inf when the control had no
// errors and the canary some), with the minute it ends, in time order.
func controlRatios(d *deployment) (ratios []float64, at []int) {
	for t, m := range d.minutes {
		if m.missing || m.noControl || !m.canary.usable() || !m.control.usable() {
			continue
		}
		c, ok1 := m.canary.errorRate()
		b, ok2 := m.control.errorRate()
		if !ok1 || !ok2 {
			continue
		}
		q := 0.0
		switch {
		case c == 0:
		case b == 0:
			q = math.Inf(1)
		default:
			q = c / b
		}
		ratios, at = append(ratios, q), append(at, t+1)
	}
	return ratios, at
}

// controlThreshold is judge (a): the minute of the limit-th interval whose
// ratio to the control exceeds factor, or 0.
func controlThreshold(d *deployment, factor float64, limit int) int {
	ratios, at := controlRatios(d)
	failed := 0
	for i, q := range ratios {
		if q > factor {
			if failed++; failed >= limit {
				return at[i]
			}
		}
	}
	return 0
}

// controlStatistic is the largest factor at which judge (a) with the given
// limit would roll d back: its limit-th largest ratio (0 if it has fewer
// intervals). Judge (a) rolls back exactly when its factor is below it.
func controlStatistic(d *deployment, limit int) float64 {
	ratios, _ := controlRatios(d)
	if len(ratios) < limit {
		return 0
	}
	slices.Sort(ratios)
	return ratios[len(ratios)-limit]
}

// baselineRatios returns, for each interval with canary data, the canary's
// error rate over the pre-deploy baseline's, with the minute it ends.
func baselineRatios(d *deployment) (ratios []float64, at []int) {
	base, ok := d.baseline.errorRate()
	if !ok || base == 0 {
		return nil, nil
	}
	for t, m := range d.minutes {
		if m.missing || !m.canary.usable() {
			continue
		}
		if c, ok := m.canary.errorRate(); ok {
			ratios, at = append(ratios, c/base), append(at, t+1)
		}
	}
	return ratios, at
}

// baselineThreshold is judge (b): the minute of the first interval whose
// ratio to the baseline exceeds factor, or 0.
func baselineThreshold(d *deployment, factor float64) int {
	ratios, at := baselineRatios(d)
	for i, q := range ratios {
		if q > factor {
			return at[i]
		}
	}
	return 0
}

// baselineStatistic is the largest factor at which judge (b) would roll d
// back: its largest ratio.
func baselineStatistic(d *deployment) float64 {
	ratios, _ := baselineRatios(d)
	m := 0.0
	for _, q := range ratios {
		m = math.Max(m, q)
	}
	return m
}

// calibrate returns the smallest factor at which at most allowed of the
// runs, whose statistics are stats, roll back: the (allowed+1)-th largest
// statistic. Ties can only lower the count.
func calibrate(stats []float64, allowed int) float64 {
	s := slices.Clone(stats)
	slices.Sort(s)
	slices.Reverse(s)
	if allowed >= len(s) {
		return 0
	}
	return s[allowed]
}
