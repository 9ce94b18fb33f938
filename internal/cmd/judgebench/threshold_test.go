package main

import (
	"math"
	"testing"
)

// handmade returns a deployment whose canary and control serve 100 requests
// a minute with errs[i] canary and ctlErrs[i] control errors in minute i
// (1% of the control's in the minutes not listed), after a baseline at 1%.
func handmade(errs, ctlErrs map[int]float64) *deployment {
	d := &deployment{s: scenario{share: 0.5, errors: 1}, baseline: counts{requests: 1000, errors: 10}}
	for i := range d.minutes {
		m := &d.minutes[i]
		m.canary = counts{requests: 100, errors: errs[i]}
		m.control = counts{requests: 100, errors: 1}
		if e, ok := ctlErrs[i]; ok {
			m.control.errors = e
		}
		m.served = 100
	}
	return d
}

func TestControlThreshold(t *testing.T) {
	// Rates 3%, 2%, 5%, 4% against 1%: ratios 3, 2, 5, 4. Only those above
	// 2 fail: minutes 3, 20 and 40, so the third failure ends minute 41.
	d := handmade(map[int]float64{3: 3, 10: 2, 20: 5, 40: 4}, nil)
	if got := controlThreshold(d, 2, 3); got != 41 {
		t.Errorf("controlThreshold(2×, 3 fails) = %d, want 41", got)
	}
	if got := controlThreshold(d, 2, 4); got != 0 {
		t.Errorf("controlThreshold(2×, 4 fails) = %d, want 0", got)
	}
	if got := controlStatistic(d, 3); got != 3 {
		t.Errorf("controlStatistic(3 fails) = %g, want the third largest ratio, 3", got)
	}
	// A control without errors makes any canary error an infinite ratio.
	d = handmade(map[int]float64{5: 1}, map[int]float64{5: 0})
	if got := controlStatistic(d, 1); !math.IsInf(got, 1) {
		t.Errorf("controlStatistic against an error-free control = %g, want +Inf", got)
	}
	// Intervals without data or with impossible counts are skipped.
	d = handmade(map[int]float64{3: 3, 4: 3, 5: 3}, nil)
	d.minutes[4].missing = true
	d.minutes[5].control.requests = -500
	if got := controlThreshold(d, 2, 2); got != 0 {
		t.Errorf("controlThreshold over a gap and a reset = %d, want 0", got)
	}
}

func TestBaselineThreshold(t *testing.T) {
	d := handmade(map[int]float64{7: 2, 9: 3}, nil) // 2% is not above 2×1%; 3% is
	if got := baselineThreshold(d, 2); got != 10 {
		t.Errorf("baselineThreshold(2×) = %d, want 10", got)
	}
	if got := baselineStatistic(d); !near(got, 3, 1e-12) {
		t.Errorf("baselineStatistic = %g, want 3", got)
	}
}

func TestCalibrate(t *testing.T) {
	stats := []float64{3, 1, 5, 3, 4}
	for allowed, want := range []float64{5, 4, 3, 3, 1, 0} {
		got := calibrate(stats, allowed)
		if got != want {
			t.Errorf("calibrate(%v, %d) = %g, want %g", stats, allowed, got, want)
		}
		n := 0
		for _, s := range stats {
			if s > got {
				n++
			}
		}
		if n > allowed {
			t.Errorf("calibrate(%d): %d runs roll back", allowed, n)
		}
	}
}

func TestFixedHorizon(t *testing.T) {
	// 60 minutes of 100 requests per arm. With 1 canary error a minute
	// against 1 control error (ratio 1), P(Bin(120, 2/3) ≥ 60) ≈ 1: no
	// rollback. With 4 against 1 (ratio 4): P(Bin(300, 2/3) ≥ 240) ≈ 1e-5.
	errs := map[int]float64{}
	if got := fixedHorizon(handmade(nil, nil), 2, 0.01); got != 0 {
		t.Errorf("no canary errors: fixedHorizon = %d, want 0", got)
	}
	for i := range runMinutes {
		errs[i] = 1
	}
	if got := fixedHorizon(handmade(errs, nil), 2, 0.01); got != 0 {
		t.Errorf("ratio 1: fixedHorizon = %d, want 0", got)
	}
	for i := range runMinutes {
		errs[i] = 4
	}
	if got := fixedHorizon(handmade(errs, nil), 2, 0.01); got != runMinutes {
		t.Errorf("ratio 4: fixedHorizon = %d, want %d", got, runMinutes)
	}
}

func TestMannWhitneyJudge(t *testing.T) {
	errs := map[int]float64{}
	for i := range runMinutes {
		errs[i] = 3 // 3% every minute against 1%
	}
	d := handmade(errs, nil)
	if got := mannWhitney(d, 10); got != 10 {
		t.Errorf("every 10 min: rolled back at %d, want 10", got)
	}
	if got := mannWhitney(d, runMinutes); got != runMinutes {
		t.Errorf("once: rolled back at %d, want %d", got, runMinutes)
	}
	if got := mannWhitney(handmade(nil, nil), 10); got != 0 {
		t.Errorf("a canary without errors: rolled back at %d, want 0", got)
	}
}

func TestOracle(t *testing.T) {
	errs := map[int]float64{}
	for i := range runMinutes {
		errs[i] = 5
	}
	d := handmade(errs, nil)
	d.s.errors = 5
	// Each minute: 5 of 6 errors on the canary, p₁ = 5/6 against p₀ = 2/3:
	// log LR 5·ln(5/4) + ln(1/2) = 0.4225 a minute; ln 100 = 4.605 needs 11.
	if got := oracle(d, 2, 0.01); got != 11 {
		t.Errorf("oracle = %d, want 11", got)
	}
	d.s.errors = 2
	if got := oracle(d, 2, 0.01); got != 0 {
		t.Errorf("oracle at the limit = %d, want 0 (it only runs beyond the limit)", got)
	}
}
