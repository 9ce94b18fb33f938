package main

// fixedHorizon is judge (d), the one-look reference: at the end of the run
// it pools every interval with data from both arms and tests "the canary's
// error rate is at most limit times the control's" with the exact
// conditional binomial test. Given the total of errors, the canary's share
// of them is binomial with p = limit·n/(limit·n + m) at the limit, for
// exposures n and m; it rolls back when P(X ≥ x) ≤ alpha. It returns
// runMinutes when it rolls back, or 0.
func fixedHorizon(d *deployment, limit, alpha float64) int {
	var x, n, y, m float64
	for _, mi := range d.minutes {
		if mi.missing || mi.noControl || !mi.canary.usable() || !mi.control.usable() {
			continue
		}
		x, n = x+mi.canary.errors, n+mi.canary.requests
		y, m = y+mi.control.errors, m+mi.control.requests
	}
	if n <= 0 || m <= 0 {
		return 0
	}
	p := limit * n / (limit*n + m)
	if binomialUpperTail(int(x), int(x+y), p) <= alpha {
		return runMinutes
	}
	return 0
}
