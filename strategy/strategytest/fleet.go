// Package strategytest provides an in-process simulated fleet for testing
// deployments without infrastructure, and a conformance suite for Fleet
// implementations.
//
// A Fleet runs instances of versions, routes simulated traffic to them, and
// reports that traffic as a verify.MetricSource, so a whole deployment (and
// its rollback) can run in a test, in milliseconds under testing/synctest.
// Each version's Behavior says how it serves (error rate, latency, business
// events) and how it fails (never ready, crashing at start, failing to stop,
// metrics that cannot be read); the router and switch can be told to fail too.
package strategytest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
)

// Behavior is how instances of one version serve and fail.
type Behavior struct {
	// ErrorRate is the fraction of requests that fail.
	ErrorRate float64
	// Latency is the median request duration; zero means 20ms. Durations
	// are log-normal with spread LatencySpread (zero means 0.5).
	Latency       time.Duration
	LatencySpread float64
	// BusinessRate is business events (orders…) per request.
	BusinessRate float64

	// StartDelay is how long an instance takes to become ready.
	StartDelay time.Duration
	// NeverReady makes instances start but never pass their health check:
	// Start blocks until its context ends.
	NeverReady bool
	// StartErr, if set, makes Start fail after StartDelay, as a crashing
	// instance would; the instance is still created and must be stopped.
	StartErr error
	// StopErr, if set, makes Stop fail for instances of this version.
	StopErr error
	// MetricsErr, if set, makes Observe fail for this version.
	MetricsErr error
}

// Fleet is a simulated fleet. It implements strategy.Fleet, strategy.Router,
// strategy.Switch and verify.MetricSource. All methods are safe for
// concurrent use. Time is read from the time package, so under
// testing/synctest a fleet's hours pass in microseconds.
type Fleet struct {
	mu        sync.Mutex
	rps       float64
	behaviors map[string]Behavior
	instances map[string]*instance
	nextID    int
	route     *split // nil: traffic by instance count
	active    string // blue/green switch target; "" when unset
	routeErr  error
	switchErr error
	history   []segment // traffic shares over time, oldest first
}

type instance struct {
	id, version string
	ready       bool
}

type split struct {
	stable, canary string
	weight         float64
}

// A segment is a period during which shares and behaviors did not change.
type segment struct {
	start     time.Time
	shares    map[string]float64 // fraction of all requests per version
	behaviors map[string]Behavior
	exists    map[string]bool // versions with at least one ready instance
}

// Config describes a new simulated fleet.
type Config struct {
	// Version is the version the initial instances run.
	Version string
	// Instances is how many there are.
	Instances int
	// RPS is the total load, in requests per second.
	RPS float64
	// Behaviors says how each version behaves; versions not listed serve
	// without errors at the default latency.
	Behaviors map[string]Behavior
}

// NewFleet returns a fleet of ready instances as c describes. The initial
// fleet counts as having served since the beginning of time, with the
// behaviours in c, so a baseline over any past window has data.
func NewFleet(c Config) *Fleet {
	f := &Fleet{rps: c.RPS, behaviors: maps.Clone(c.Behaviors), instances: map[string]*instance{}}
	if f.behaviors == nil {
		f.behaviors = map[string]Behavior{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for range c.Instances {
		in := f.newInstanceLocked(c.Version)
		in.ready = true
	}
	f.recordLocked()
	f.history[0].start = time.Time{}
	return f
}

// SetBehavior sets how instances of version behave from now on.
func (f *Fleet) SetBehavior(version string, b Behavior) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behaviors[version] = b
	f.recordLocked()
}

// SetRouteError makes every later Route call fail with err; nil restores it.
func (f *Fleet) SetRouteError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routeErr = err
}

// SetSwitchError makes every later Switch call fail with err; nil restores it.
func (f *Fleet) SetSwitchError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.switchErr = err
}

func (f *Fleet) newInstanceLocked(version string) *instance {
	f.nextID++
	in := &instance{id: fmt.Sprintf("%s-%d", version, f.nextID), version: version}
	f.instances[in.id] = in
	return in
}

// Instances implements strategy.Fleet: every instance, ready or starting,
// sorted by ID.
func (f *Fleet) Instances(ctx context.Context) ([]strategy.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]strategy.Instance, 0, len(f.instances))
	for _, in := range f.instances {
		out = append(out, strategy.Instance{ID: in.id, Version: in.version})
	}
	slices.SortFunc(out, func(a, b strategy.Instance) int { // v1-2 before v1-10
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Versions returns how many instances run each version.
func (f *Fleet) Versions() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, in := range f.instances {
		out[in.version]++
	}
	return out
}

// Shares returns the fraction of traffic each version serves now.
func (f *Fleet) Shares() map[string]float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.history[len(f.history)-1].shares)
}

// Start implements strategy.Fleet, following the version's Behavior.
func (f *Fleet) Start(ctx context.Context, version string) (string, error) {
	if err := ctx.Err(); err != nil {
		// Checked first: with no StartDelay the timer below is ready at
		// once too, and select would pick either case at random.
		return "", fmt.Errorf("start %s: %w", version, context.Cause(ctx))
	}
	f.mu.Lock()
	b := f.behaviors[version]
	in := f.newInstanceLocked(version)
	f.mu.Unlock()

	wait := b.StartDelay
	if b.NeverReady {
		wait = math.MaxInt64
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return in.id, fmt.Errorf("instance %s not ready: %w", in.id, context.Cause(ctx))
	case <-t.C:
	}
	if b.StartErr != nil {
		return in.id, fmt.Errorf("instance %s: %w", in.id, b.StartErr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.instances[in.id] != in {
		return in.id, fmt.Errorf("instance %s stopped before it was ready", in.id)
	}
	in.ready = true
	f.recordLocked()
	return in.id, nil
}

// Stop implements strategy.Fleet.
func (f *Fleet) Stop(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if !ok {
		return fmt.Errorf("stop %s: no such instance", id)
	}
	if err := f.behaviors[in.version].StopErr; err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	delete(f.instances, id)
	f.recordLocked()
	return nil
}

// Route implements strategy.Router.
func (f *Fleet) Route(ctx context.Context, stable, canary string, weight float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.routeErr != nil {
		return f.routeErr
	}
	if !(weight >= 0 && weight <= 100) {
		return fmt.Errorf("route: weight %g outside [0, 100]", weight)
	}
	f.route, f.active = &split{stable: stable, canary: canary, weight: weight}, ""
	f.recordLocked()
	return nil
}

// Switch implements strategy.Switch.
func (f *Fleet) Switch(ctx context.Context, version string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.switchErr != nil {
		return f.switchErr
	}
	f.active, f.route = version, nil
	f.recordLocked()
	return nil
}

// Weight returns the router's current weight on the canary version, and
// false when no split is set.
func (f *Fleet) Weight() (canary string, weight float64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.route == nil {
		return "", 0, false
	}
	return f.route.canary, f.route.weight, true
}

// recordLocked appends the current traffic shares to the history.
func (f *Fleet) recordLocked() {
	count := map[string]int{}
	for _, in := range f.instances {
		if in.ready {
			count[in.version]++
		}
	}
	shares := map[string]float64{}
	total := 0
	for _, n := range count {
		total += n
	}
	only := func(vs ...string) bool {
		for v := range count {
			if !slices.Contains(vs, v) {
				return false
			}
		}
		return true
	}
	switch r := f.route; {
	case f.active != "" && count[f.active] > 0:
		shares[f.active] = 1
	case r != nil && count[r.stable]+count[r.canary] > 0 && only(r.stable, r.canary):
		c := r.weight / 100
		if count[r.canary] == 0 {
			c = 0
		}
		if count[r.stable] == 0 {
			c = 1
		}
		if c > 0 {
			shares[r.canary] = c
		}
		if c < 1 {
			shares[r.stable] = 1 - c
		}
	default:
		for v, n := range count {
			shares[v] = float64(n) / float64(total)
		}
	}
	exists := map[string]bool{}
	for v := range count {
		exists[v] = true
	}
	s := segment{start: time.Now(), shares: shares, behaviors: maps.Clone(f.behaviors), exists: exists}
	if n := len(f.history); n > 0 && !f.history[n-1].start.Before(s.start) {
		f.history[n-1] = s // same instant: the later state wins
		return
	}
	f.history = append(f.history, s)
}

// Buckets are the upper bounds, in seconds, of the latency histograms the
// fleet reports (Prometheus's default buckets).
var buckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, math.Inf(1)}

// Observe implements verify.MetricSource: the requests the version served
// over [q.Start, q.End), computed exactly from the traffic history. It
// returns an error wrapping verify.ErrNoData when the version had no ready
// instance during the window, and the version's MetricsErr if set.
func (f *Fleet) Observe(ctx context.Context, q verify.Query) (verify.Observation, error) {
	if err := ctx.Err(); err != nil {
		return verify.Observation{}, err
	}
	if !q.End.After(q.Start) {
		return verify.Observation{}, fmt.Errorf("strategytest: empty window [%s, %s)", q.Start, q.End)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.behaviors[q.Version].MetricsErr; err != nil {
		return verify.Observation{}, fmt.Errorf("strategytest: metrics for %s: %w", q.Version, err)
	}
	obs := verify.Observation{Latency: make(verify.Histogram, len(buckets))}
	for i, b := range buckets {
		obs.Latency[i].UpperBound = b
	}
	seen := false
	for i, s := range f.history {
		end := q.End
		if i+1 < len(f.history) {
			end = minTime(end, f.history[i+1].start)
		}
		start := maxTime(q.Start, s.start)
		if !end.After(start) {
			continue
		}
		seen = seen || s.exists[q.Version]
		req := f.rps * s.shares[q.Version] * end.Sub(start).Seconds()
		if req == 0 {
			continue
		}
		b := s.behaviors[q.Version]
		obs.Requests += req
		obs.Errors += req * b.ErrorRate
		obs.Business += req * b.BusinessRate
		for i, le := range buckets {
			obs.Latency[i].Count += req * latencyCDF(b, le)
		}
	}
	if !seen {
		return verify.Observation{}, fmt.Errorf("strategytest: version %s over [%s, %s): %w", q.Version, q.Start.Format(time.RFC3339), q.End.Format(time.RFC3339), verify.ErrNoData)
	}
	return obs, nil
}

// latencyCDF is the fraction of b's requests that take at most le seconds.
func latencyCDF(b Behavior, le float64) float64 {
	if math.IsInf(le, 1) {
		return 1
	}
	median := b.Latency.Seconds()
	if median <= 0 {
		median = 0.020
	}
	sigma := b.LatencySpread
	if sigma <= 0 {
		sigma = 0.5
	}
	return 0.5 * (1 + math.Erf((math.Log(le)-math.Log(median))/(sigma*math.Sqrt2)))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

var _ interface {
	strategy.Fleet
	strategy.Router
	strategy.Switch
	verify.MetricSource
} = (*Fleet)(nil)
