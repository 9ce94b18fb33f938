package main

import "math"

// oracle is the physical limit: a one-sided sequential probability ratio
// test that knows the true error-rate ratio ρ₁ and the minute the
// regression starts. From the onset it multiplies, interval by interval,
// the conditional binomial likelihood ratio of ρ₁ against the limit ρ₀ and
// rolls back when it reaches 1/alpha. Under ρ ≤ ρ₀ the product is a
// supermartingale, so it is as valid as ours; knowing ρ₁, nothing valid
// decides sooner on average (Wald–Wolfowitz). It returns the minute it
// rolls back, or 0.
func oracle(d *deployment, limit, alpha float64) int {
	rho := d.s.errorRatio()
	if rho <= limit {
		return 0
	}
	bar, llr := math.Log(1/alpha), 0.0
	for t := d.s.onset; t < runMinutes; t++ {
		m := d.minutes[t]
		if m.missing || m.noControl || !m.canary.usable() || !m.control.usable() || m.canary.requests <= 0 || m.control.requests <= 0 {
			continue
		}
		r := m.canary.requests / m.control.requests
		p1, p0 := rho*r/(1+rho*r), limit*r/(1+limit*r)
		llr += m.canary.errors*math.Log(p1/p0) + m.control.errors*math.Log((1-p1)/(1-p0))
		if llr >= bar {
			return t + 1
		}
	}
	return 0
}
