package verify

import (
	"fmt"
	"math"
)

// A latencyRule counts requests slower than a bound — the baseline's
// quantile snapped to a bucket bound — and limits how many times as many the
// new version may have as its comparison.
type latencyRule struct {
	name  string  // "latency-p95"
	limit float64 // largest allowed ratio
	bound float64 // seconds
	rate  float64 // the baseline's share of requests above bound
	ref   float64 // its upper confidence bound, set by the sequential judge
}

// latencyRules returns the latency rules p sets for baseline b, leaving out
// disabled limits and quantiles b cannot place. Each quantile watches a
// bound of its own, above the lower quantiles' (with coarse buckets P95 and
// P99 may both be closest to the same one; P99 then watches the next bound
// up, the tail), so no two rules test the same share. A slow request still
// counts in every share it is slower than.
func latencyRules(p Policy, b Observation) []latencyRule {
	var rules []latencyRule
	floor := math.Inf(-1)
	for _, l := range []struct {
		q, limit float64
	}{{0.5, p.Latency.P50}, {0.95, p.Latency.P95}, {0.99, p.Latency.P99}} {
		if math.IsInf(l.limit, 1) {
			continue
		}
		bound, ok := b.Latency.snapAbove(l.q, floor)
		if !ok {
			continue
		}
		floor = bound
		above, _ := b.Latency.Above(bound)
		if above <= 0 || b.Requests <= 0 {
			continue // nothing to compare a share with
		}
		rules = append(rules, latencyRule{name: fmt.Sprintf("latency-p%g", 100*l.q), limit: l.limit, bound: bound, rate: above / b.Requests})
	}
	return rules
}

// above returns how many of o's requests were slower than the rule's bound.
func (r latencyRule) above(o Observation) (float64, bool) { return o.Latency.Above(r.bound) }
