package strategytest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
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
// concurrent use, and each costs time independent of the fleet's size,
// except Instances, which lists them all. Time is read from the time
// package, so under testing/synctest a fleet's hours pass in microseconds.
type Fleet struct {
	mu  sync.Mutex
	rps float64
	// behaviors is replaced, never changed in place, so that the history
	// can share it: a segment holds the map current when it began.
	behaviors map[string]Behavior
	gen       int                 // counts changes of behaviors
	instances map[string]instance // by ID; IDs are never reused
	count     map[string]int      // instances per version, ready or not
	ready     map[string]int      // ready instances per version
	nextID    int
	route     *Split // nil: no split set
	active    string // blue/green switch target; "" when unset
	previous  string // the switch target before active, if any
	faults    []fault
	history   []segment // traffic shares over time, oldest first
	scratch   []share   // where recordLocked works out the shares
}

type instance struct {
	version string
	ready   bool
}

// A segment is a period during which shares and behaviors did not change.
type segment struct {
	start time.Time
	// shares holds every version with at least one ready instance, with
	// the fraction of all requests it serves (possibly zero).
	shares    []share
	behaviors map[string]Behavior
	gen       int // f.gen when behaviors was current
}

type share struct {
	version  string
	fraction float64
}

// of returns the fraction of requests version serves in s, and whether it
// had a ready instance.
func (s *segment) of(version string) (fraction float64, ready bool) {
	for _, sh := range s.shares {
		if sh.version == version {
			return sh.fraction, true
		}
	}
	return 0, false
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

// NewFleet returns a fleet of ready instances as c describes; a negative
// c.Instances counts as none. The initial fleet counts as having served
// since the beginning of time, with the behaviours in c, so a baseline over
// any past window has data.
func NewFleet(c Config) *Fleet {
	f := &Fleet{
		rps:       c.RPS,
		behaviors: maps.Clone(c.Behaviors),
		instances: make(map[string]instance, max(c.Instances, 0)),
		count:     map[string]int{},
		ready:     map[string]int{},
	}
	if f.behaviors == nil {
		f.behaviors = map[string]Behavior{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for range c.Instances {
		f.newInstanceLocked(c.Version, true)
	}
	if c.Instances > 0 {
		f.ready[c.Version] = c.Instances
	}
	f.recordLocked()
	f.history[0].start = time.Time{}
	return f
}

// SetBehavior sets how instances of version behave from now on.
func (f *Fleet) SetBehavior(version string, b Behavior) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bs := maps.Clone(f.behaviors)
	bs[version] = b
	f.behaviors = bs
	f.gen++
	f.recordLocked()
}

// newInstanceLocked adds an instance of version and returns its ID.
func (f *Fleet) newInstanceLocked(version string, ready bool) string {
	f.nextID++
	id := version + "-" + strconv.Itoa(f.nextID)
	f.instances[id] = instance{version: version, ready: ready}
	f.count[version]++
	return id
}

// Instances implements strategy.Fleet: every instance, ready or starting,
// sorted by ID.
func (f *Fleet) Instances(ctx context.Context) ([]strategy.Instance, error) {
	if err := f.inject(ctx, call{op: OpInstances}); err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]strategy.Instance, 0, len(f.instances))
	for id, in := range f.instances {
		out = append(out, strategy.Instance{ID: id, Version: in.version})
	}
	slices.SortFunc(out, func(a, b strategy.Instance) int { // v1-2 before v1-10
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Versions returns how many instances run each version, ready or not.
func (f *Fleet) Versions() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.count)
}

// Shares returns the fraction of traffic each version serves now.
func (f *Fleet) Shares() map[string]float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sharesLocked()
}

func (f *Fleet) sharesLocked() map[string]float64 {
	out := map[string]float64{}
	for _, sh := range f.history[len(f.history)-1].shares {
		if sh.fraction > 0 {
			out[sh.version] = sh.fraction
		}
	}
	return out
}

// Start implements strategy.Fleet, following the version's Behavior and
// any Fault set for it.
func (f *Fleet) Start(ctx context.Context, version string) (string, error) {
	if err := ctx.Err(); err != nil {
		// Checked first: with no StartDelay the timer below is ready at
		// once too, and select would pick either case at random.
		return "", fmt.Errorf("start %s: %w", version, context.Cause(ctx))
	}
	ft := f.match(call{op: OpStart, version: version})
	if ft != nil && ft.Panic != nil {
		panic(ft.Panic)
	}
	f.mu.Lock()
	b := f.behaviors[version]
	id := f.newInstanceLocked(version, false)
	f.mu.Unlock()

	wait := b.StartDelay
	if b.NeverReady || ft != nil && ft.Hang {
		wait = math.MaxInt64
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return id, fmt.Errorf("instance %s not ready: %w", id, context.Cause(ctx))
		case <-t.C:
		}
	}
	if ft != nil {
		return id, fmt.Errorf("instance %s: %w", id, ft.Err)
	}
	if b.StartErr != nil {
		return id, fmt.Errorf("instance %s: %w", id, b.StartErr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if !ok {
		return id, fmt.Errorf("instance %s stopped before it was ready", id)
	}
	in.ready = true
	f.instances[id] = in
	f.ready[version]++
	f.recordLocked()
	return id, nil
}

// Stop implements strategy.Fleet, following the version's Behavior and any
// Fault set for it.
func (f *Fleet) Stop(ctx context.Context, id string) error {
	f.mu.Lock()
	in, ok := f.instances[id]
	f.mu.Unlock()
	c := call{op: OpStop}
	if ok {
		c.version = in.version
	}
	if err := f.inject(ctx, c); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if in, ok = f.instances[id]; !ok {
		return fmt.Errorf("stop %s: no such instance", id)
	}
	if err := f.behaviors[in.version].StopErr; err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	delete(f.instances, id)
	decrement(f.count, in.version)
	if in.ready {
		decrement(f.ready, in.version)
		f.recordLocked()
	}
	return nil
}

// decrement lowers m[k] by one, deleting it at zero.
func decrement(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

// Route implements strategy.Router, following any Fault set for it.
func (f *Fleet) Route(ctx context.Context, stable, canary string, weight float64) error {
	f.mu.Lock()
	back := f.route != nil && f.route.Canary == canary && weight < f.route.Weight
	f.mu.Unlock()
	if err := f.inject(ctx, call{op: OpRoute, version: canary, back: back}); err != nil {
		return fmt.Errorf("route %g%% to %s: %w", weight, canary, err)
	}
	if !(weight >= 0 && weight <= 100) {
		return fmt.Errorf("route: weight %g outside [0, 100]", weight)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.route, f.active, f.previous = &Split{Stable: stable, Canary: canary, Weight: weight}, "", ""
	f.recordLocked()
	return nil
}

// Switch implements strategy.Switch, following any Fault set for it.
func (f *Fleet) Switch(ctx context.Context, version string) error {
	f.mu.Lock()
	back := f.previous != "" && f.previous == version && f.active != version
	f.mu.Unlock()
	if err := f.inject(ctx, call{op: OpSwitch, version: version, back: back}); err != nil {
		return fmt.Errorf("switch to %s: %w", version, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if version != f.active {
		f.previous, f.active = f.active, version
	}
	f.route = nil
	f.recordLocked()
	return nil
}

// Weight returns the router's current weight on the canary version, and
// false when no split is set (none was, or a Switch came after it).
func (f *Fleet) Weight() (canary string, weight float64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.route == nil {
		return "", 0, false
	}
	return f.route.Canary, f.route.Weight, true
}

// recordLocked appends the current traffic shares to the history, unless
// they and the behaviours are as the last segment has them. It takes time
// in the number of versions, not of instances.
func (f *Fleet) recordLocked() {
	shares := f.scratch[:0]
	for v := range f.ready {
		shares = append(shares, share{version: v})
	}
	slices.SortFunc(shares, func(a, b share) int { return cmp.Compare(a.version, b.version) })
	set := func(v string, x float64) {
		for i := range shares {
			if shares[i].version == v {
				shares[i].fraction = x
			}
		}
	}
	only := func(a, b string) bool {
		for v := range f.ready {
			if v != a && v != b {
				return false
			}
		}
		return true
	}
	switch r := f.route; {
	case f.active != "" && f.ready[f.active] > 0:
		set(f.active, 1)
	case r != nil && f.ready[r.Stable]+f.ready[r.Canary] > 0 && only(r.Stable, r.Canary):
		c := r.Weight / 100
		if f.ready[r.Canary] == 0 {
			c = 0
		}
		if f.ready[r.Stable] == 0 {
			c = 1
		}
		set(r.Canary, c)
		set(r.Stable, 1-c)
	default:
		total := 0
		for _, n := range f.ready {
			total += n
		}
		for i := range shares {
			shares[i].fraction = float64(f.ready[shares[i].version]) / float64(total)
		}
	}
	f.scratch = shares
	n := len(f.history)
	if n > 0 && slices.Equal(f.history[n-1].shares, shares) && f.history[n-1].gen == f.gen {
		return // nothing changed
	}
	s := segment{start: time.Now(), shares: slices.Clone(shares), behaviors: f.behaviors, gen: f.gen}
	if n > 0 && !f.history[n-1].start.Before(s.start) {
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
// instance during the window, and the version's MetricsErr if set. It takes
// time in the number of changes during the window, not before it.
func (f *Fleet) Observe(ctx context.Context, q verify.Query) (verify.Observation, error) {
	if err := ctx.Err(); err != nil {
		return verify.Observation{}, err
	}
	if !q.End.After(q.Start) {
		return verify.Observation{}, fmt.Errorf("strategytest: observe %s: empty or inverted window", q)
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
	// Requests are summed while the behaviour stays the same, and spread
	// over the histogram once per behaviour: the CDF is costly.
	var req float64
	var b Behavior
	flush := func() {
		obs.Requests += req
		obs.Errors += req * b.ErrorRate
		obs.Business += req * b.BusinessRate
		for i, le := range buckets {
			obs.Latency[i].Count += req * latencyCDF(b, le)
		}
		req = 0
	}
	gen := -1
	// From the last segment that starts at or before q.Start, or the first.
	first := max(0, sort.Search(len(f.history), func(i int) bool { return f.history[i].start.After(q.Start) })-1)
	for i := first; i < len(f.history) && f.history[i].start.Before(q.End); i++ {
		s := &f.history[i]
		end := q.End
		if i+1 < len(f.history) {
			end = minTime(end, f.history[i+1].start)
		}
		start := maxTime(q.Start, s.start)
		if !end.After(start) {
			continue
		}
		fraction, ready := s.of(q.Version)
		seen = seen || ready
		if fraction == 0 {
			continue
		}
		if s.gen != gen {
			if req > 0 {
				flush()
			}
			gen, b = s.gen, s.behaviors[q.Version]
		}
		req += f.rps * fraction * end.Sub(start).Seconds()
	}
	if req > 0 {
		flush()
	}
	if !seen {
		return verify.Observation{}, fmt.Errorf("strategytest: version %s: %w", q, verify.ErrNoData)
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
