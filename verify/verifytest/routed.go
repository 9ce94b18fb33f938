package verifytest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

// A Routed is a scripted metric source whose traffic follows a router: the
// metric source to give code that moves traffic between versions, such as
// a canary deployment run by deploy.Run.
//
// A Script serves the traffic its segments say, whatever the router does.
// As a canary's metric source it must therefore spell out the split of every
// step, to the second; otherwise the new version's share of requests is far
// from the step's weight and the judge ends the window Inconclusive on a
// sample-ratio mismatch — and a test that expects a rollback passes for the
// wrong reason. A Routed does the splitting itself: it is also the router
// (it has the methods of strategy.Router and strategy.Switch; give it as
// the Target's Router or Switch as well as the plan's Metrics), and each
// version serves the share of RPS the router last gave it, from the moment
// it was given. Before the first Route or Switch, Serving serves it all.
//
// What a version does with its requests — error rate, business events,
// latency, failures and gaps of the metrics backend — comes from its
// segments in Script, whose RPS it ignores: the router decides how many
// requests each version gets. A version not in Script has no data.
//
// Time is time.Now when Route or Switch is called: inside a testing/synctest
// bubble, the bubble's clock. A Routed is safe for concurrent use; it must
// not be copied after first use.
type Routed struct {
	// RPS is the traffic, in requests per second, that the router splits.
	RPS float64
	// Serving is the version that serves all traffic before the first
	// Route or Switch.
	Serving string
	// Script says how each version behaves, by segments as for a Script;
	// the segments' RPS is ignored.
	Script Script

	mu     sync.Mutex
	routes []route // in order of at
}

// A route is the split from at on: canary gets weight percent, stable the
// rest.
type route struct {
	at             time.Time
	stable, canary string
	weight         float64
}

// share returns the fraction of traffic r gives version.
func (r route) share(version string) float64 {
	s := 0.0
	if version == r.stable {
		s += 1 - r.weight/100
	}
	if version == r.canary {
		s += r.weight / 100
	}
	return s
}

// Route sends weight percent (0 to 100) of the traffic to version canary
// and the rest to stable, from now on. It fails, changing nothing, when
// ctx is done or weight is not in [0, 100].
func (r *Routed) Route(ctx context.Context, stable, canary string, weight float64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("verifytest: route %q/%q: %w", stable, canary, err)
	}
	if !(weight >= 0 && weight <= 100) {
		return fmt.Errorf("verifytest: route %q/%q: weight = %v, must be a percentage in [0, 100]", stable, canary, weight)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = append(r.routes, route{at: time.Now(), stable: stable, canary: canary, weight: weight})
	return nil
}

// Switch sends all traffic to version, from now on. It fails, changing
// nothing, when ctx is done.
func (r *Routed) Switch(ctx context.Context, version string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("verifytest: switch to %q: %w", version, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = append(r.routes, route{at: time.Now(), stable: version})
	return nil
}

// Observe implements verify.MetricSource. It returns what q.Version served
// over [q.Start, q.End): the share of RPS the router gave it at each
// moment, behaving as its segments in Script say. It fails as
// Script.Observe does: wrapping ctx.Err(), for an empty or inverted window
// or invalid segments, wrapping a segment's Err, or wrapping
// verify.ErrNoData for a version not in Script or a window with nothing but
// gaps.
func (r *Routed) Observe(ctx context.Context, q verify.Query) (verify.Observation, error) {
	if err := ctx.Err(); err != nil {
		return verify.Observation{}, fmt.Errorf("verifytest: observe %q: %w", q.Version, err)
	}
	if !q.End.After(q.Start) {
		return verify.Observation{}, fmt.Errorf("verifytest: observe %s: empty or inverted window", q)
	}
	segs, ok := r.Script[q.Version]
	if !ok || len(segs) == 0 {
		return verify.Observation{}, fmt.Errorf("verifytest: version %q is not in the script: %w", q.Version, verify.ErrNoData)
	}
	if !(r.RPS >= 0) || math.IsInf(r.RPS, 0) {
		return verify.Observation{}, fmt.Errorf("verifytest: Routed.RPS = %v: must be a finite rate, at least 0", r.RPS)
	}
	r.mu.Lock()
	routes := slices.Clone(r.routes)
	r.mu.Unlock()

	var (
		total   verify.Observation
		covered bool
	)
	from := q.Start
	share := r.shareAt(routes, q.Version, from)
	for _, rt := range routes {
		if !rt.at.After(from) {
			continue
		}
		if !rt.at.Before(q.End) {
			break
		}
		if err := r.add(ctx, &total, &covered, q.Version, segs, share, from, rt.at); err != nil {
			return verify.Observation{}, err
		}
		from, share = rt.at, rt.share(q.Version)
	}
	if err := r.add(ctx, &total, &covered, q.Version, segs, share, from, q.End); err != nil {
		return verify.Observation{}, err
	}
	if !covered {
		return verify.Observation{}, fmt.Errorf("verifytest: version %s: only gaps: %w", q, verify.ErrNoData)
	}
	return total, nil
}

// shareAt returns the share of traffic version has at t.
func (r *Routed) shareAt(routes []route, version string, t time.Time) float64 {
	share := 0.0
	if version == r.Serving {
		share = 1
	}
	for _, rt := range routes {
		if rt.at.After(t) {
			break
		}
		share = rt.share(version)
	}
	return share
}

// add adds what version served over [from, to) at a constant share of RPS
// to total, and records whether anything was covered by data.
func (r *Routed) add(ctx context.Context, total *verify.Observation, covered *bool, version string, segs []Segment, share float64, from, to time.Time) error {
	if !to.After(from) {
		return nil
	}
	scaled := make([]Segment, len(segs))
	for i, s := range segs {
		s.RPS = share * r.RPS
		scaled[i] = s
	}
	o, err := Script{version: scaled}.Observe(ctx, verify.Query{Version: version, Start: from, End: to})
	switch {
	case errors.Is(err, verify.ErrNoData):
		return nil
	case err != nil:
		return err
	case !*covered:
		*total, *covered = o, true
	default:
		*total = total.Add(o)
	}
	return nil
}
