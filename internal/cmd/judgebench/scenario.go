package main

import (
	"fmt"
	"strings"
)

// A scenario is one cell of the benchmark: how the new version differs from
// the old, at which traffic share, with which nuisances.
type scenario struct {
	share float64 // the canary's share of traffic; ignored with ramp
	ramp  bool    // 1% → 5% → 25% → 50%, 15 minutes each

	errors  float64 // the canary's error rate as a multiple of the control's
	latency float64 // the canary's latency multiple (0 or 1: unchanged)
	tail    bool    // only the slowest tailShare of requests get tailFactor× slower
	onset   int     // the minute the regression starts

	seasonal bool    // daily seasonality of traffic and errors, both arms
	incident bool    // a shared incident: errors ×incidentFactor, both arms
	noise    float64 // per-arm, per-interval log-normal noise on event rates
	gaps     bool    // some intervals missing, some without a control
	resets   bool    // one counter reset per arm: an interval of negative deltas
}

// rampShares are the canary's shares in a ramp, each for rampStep minutes.
var rampShares = [...]float64{0.01, 0.05, 0.25, 0.50}

const rampStep = 15

// shareAt returns the canary's share of traffic in minute i.
func (s scenario) shareAt(i int) float64 {
	if s.ramp {
		return rampShares[min(i/rampStep, len(rampShares)-1)]
	}
	return s.share
}

// where names the traffic share: "1%", "50%" or "ramp".
func (s scenario) where() string {
	if s.ramp {
		return "ramp"
	}
	return fmt.Sprintf("%g%%", 100*s.share)
}

// nuisance reports whether the cell adds anything to the plain model.
func (s scenario) nuisance() bool {
	return s.seasonal || s.incident || s.noise > 0 || s.gaps || s.resets
}

// name is the cell's label in the tables, e.g. "×5 @5% seasonal incident".
func (s scenario) name() string {
	var parts []string
	switch {
	case s.tail:
		parts = append(parts, "tail-only")
	case s.latency > 0 && s.latency != 1:
		parts = append(parts, fmt.Sprintf("P95 %+.0f%%", 100*(s.latency-1)))
	default:
		parts = append(parts, fmt.Sprintf("×%g", s.errors))
	}
	parts = append(parts, "@"+s.where())
	if s.onset > 0 {
		parts = append(parts, fmt.Sprintf("from %dm", s.onset))
	}
	all := s.seasonal && s.incident && s.noise > 0 && s.gaps && s.resets
	switch {
	case all:
		parts = append(parts, "all nuisances")
	default:
		if s.seasonal {
			parts = append(parts, "seasonal")
		}
		if s.incident {
			parts = append(parts, "incident")
		}
		if s.noise > 0 {
			parts = append(parts, fmt.Sprintf("noise σ%g", s.noise))
		}
		if s.gaps {
			parts = append(parts, "gaps")
		}
		if s.resets {
			parts = append(parts, "resets")
		}
	}
	return strings.Join(parts, " ")
}

// errorRatio is the canary's true error-rate ratio to the control's once the
// regression has started.
func (s scenario) errorRatio() float64 {
	if s.errors == 0 {
		return 1
	}
	return s.errors
}

// latencyScale is the multiple of every canary latency once the regression
// has started.
func (s scenario) latencyScale() float64 {
	if s.latency == 0 {
		return 1
	}
	return s.latency
}

// latencyOnly reports whether the cell changes latency and not errors: the
// judges that read only the error rate have nothing to find there.
func (s scenario) latencyOnly() bool { return s.tail || s.latencyScale() != 1 }

// cells returns the benchmark's grid. Every factor the issue lists is
// covered; effects at or below the policy's limits come first, then
// regressions.
func cells() []scenario {
	var cs []scenario
	add := func(s scenario) {
		if s.errors == 0 {
			s.errors = 1
		}
		cs = append(cs, s)
	}
	at := func(share float64) scenario { return scenario{share: share} }
	ramp := scenario{ramp: true}
	with := func(s scenario, f func(*scenario)) scenario { f(&s); return s }
	errs := func(s scenario, x float64) scenario { s.errors = x; return s }
	all := func(s *scenario) { s.seasonal, s.incident, s.noise, s.gaps, s.resets = true, true, 0.3, true, true }

	// At or below the limits: every rollback is a false one.
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5), ramp} {
		add(s)
	}
	add(errs(at(0.05), 1.2))
	add(errs(at(0.5), 1.2))
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5), ramp} {
		add(errs(s, 1.5))
	}
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5), ramp} {
		add(errs(s, 2))
	}
	add(with(at(0.05), func(s *scenario) { s.latency = 1.1 }))
	add(with(at(0.5), func(s *scenario) { s.latency = 1.1 }))
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5)} {
		add(with(s, func(s *scenario) { s.seasonal = true }))
	}
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5)} {
		add(with(s, func(s *scenario) { s.incident = true }))
	}
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5), ramp} {
		add(with(s, func(s *scenario) { s.noise = 0.3 }))
	}
	add(with(errs(at(0.5), 1.5), func(s *scenario) { s.noise = 0.3 }))
	add(with(errs(at(0.05), 2), func(s *scenario) { s.noise = 0.3 }))
	add(with(errs(at(0.5), 2), func(s *scenario) { s.noise = 0.3 }))
	for _, s := range []scenario{at(0.05), at(0.5)} {
		add(with(s, func(s *scenario) { s.gaps = true }))
	}
	add(with(at(0.5), func(s *scenario) { s.gaps, s.incident = true, true }))
	for _, s := range []scenario{at(0.05), at(0.5)} {
		add(with(s, func(s *scenario) { s.resets = true }))
	}
	for _, s := range []scenario{at(0.05), at(0.5)} {
		add(with(s, all))
	}

	// Regressions beyond the limits.
	for _, s := range []scenario{at(0.05), at(0.5), ramp} {
		add(errs(s, 3))
	}
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5), ramp} {
		add(errs(s, 5))
	}
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5), ramp} {
		add(errs(s, 10))
	}
	for _, s := range []scenario{at(0.01), at(0.05), at(0.5)} {
		add(with(s, func(s *scenario) { s.latency = 1.5 }))
	}
	for _, s := range []scenario{at(0.05), at(0.5)} {
		add(with(s, func(s *scenario) { s.tail = true }))
	}
	add(with(errs(at(0.05), 5), func(s *scenario) { s.onset = 30 }))
	add(with(errs(at(0.5), 5), func(s *scenario) { s.onset = 30 }))
	add(with(errs(at(0.05), 5), func(s *scenario) { s.seasonal, s.incident = true, true }))
	add(with(errs(at(0.5), 3), func(s *scenario) { s.seasonal, s.incident = true, true }))
	add(with(errs(at(0.05), 5), func(s *scenario) { s.noise = 0.3 }))
	add(with(errs(at(0.5), 3), func(s *scenario) { s.noise = 0.3 }))
	add(with(errs(at(0.05), 5), func(s *scenario) { s.gaps = true }))
	add(with(errs(at(0.05), 5), func(s *scenario) { s.resets = true }))
	add(with(errs(at(0.05), 5), all))
	add(with(errs(at(0.5), 3), all))
	return cs
}
