package strategy_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// The release every test deploys.
var rel = strategy.Release{From: "v1", To: "v2"}

var (
	errGate   = errors.New("verdict: fail")
	errCrash  = errors.New("exit status 2")
	errStop   = errors.New("drain timed out")
	errRoute  = errors.New("router API unavailable")
	errSwitch = errors.New("switch API unavailable")
	errCancel = errors.New("operator pressed stop")
)

// newFleet returns n ready instances of v1 serving 100 requests per second.
// Call it inside the synctest bubble.
func newFleet(n int) *strategytest.Fleet {
	return strategytest.NewFleet(strategytest.Config{Version: rel.From, Instances: n, RPS: 100})
}

// A snapshot is the fleet as a gate saw it while observing a step.
type snapshot struct {
	Versions map[string]int
	Shares   map[string]float64
	Weight   float64 // the router's weight on v2; -1 with no split set
}

func snap(f *strategytest.Fleet) snapshot {
	s := snapshot{Versions: f.Versions(), Shares: f.Shares(), Weight: -1}
	if r := f.State().Route; r != nil && r.Canary == rel.To {
		s.Weight = r.Weight
	}
	return s
}

// A gate records every Step it is asked about, with the fleet as it was at
// that moment, and fails the step numbered failAt with err.
type gate struct {
	fleet  *strategytest.Fleet
	failAt int
	err    error
	// wait makes the gate sit through each step's window, as the
	// executor's does, returning early only if ctx ends.
	wait bool
	// during, if set, runs at each step before the gate answers.
	during func(i int, s strategy.Step)

	mu    sync.Mutex
	steps []strategy.Step
	snaps []snapshot
}

// newGate returns a gate that passes every step.
func newGate(f *strategytest.Fleet) *gate { return &gate{fleet: f, failAt: -1} }

// failing returns a gate that fails step i with errGate.
func failing(f *strategytest.Fleet, i int) *gate {
	g := newGate(f)
	g.failAt, g.err = i, errGate
	return g
}

func (g *gate) Check(ctx context.Context, s strategy.Step) error {
	g.mu.Lock()
	i := len(g.steps)
	g.steps = append(g.steps, s)
	g.snaps = append(g.snaps, snap(g.fleet))
	g.mu.Unlock()
	if g.during != nil {
		g.during(i, s)
	}
	if g.wait && s.Window > 0 {
		timer := time.NewTimer(s.Window)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-timer.C:
		}
	}
	if i == g.failAt {
		return g.err
	}
	return nil
}

func (g *gate) seen() ([]strategy.Step, []snapshot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]strategy.Step(nil), g.steps...), append([]snapshot(nil), g.snaps...)
}

// assertVersions checks how many instances run each version.
func assertVersions(t *testing.T, f *strategytest.Fleet, want map[string]int) {
	t.Helper()
	if got := f.Versions(); !maps.Equal(got, want) {
		t.Errorf("fleet runs %v, want %v", got, want)
	}
}

// assertOriginal checks that f is back as newFleet(n) made it: n ready
// instances of v1 and none of v2, every request on v1, no weight left on v2.
func assertOriginal(t *testing.T, f *strategytest.Fleet, n int) {
	t.Helper()
	assertVersions(t, f, map[string]int{rel.From: n})
	if err := f.State().AllOn(rel.From); err != nil {
		t.Error(err)
	}
}

// A tracker wraps a Fleet to measure, at every moment, how many instances
// exist and how many are ready to serve. It errs on the side of the limits:
// an instance counts towards the total from the moment Start is called until
// Stop returns, and as ready only from Start's return until Stop is called.
type tracker struct {
	strategy.Fleet

	mu                 sync.Mutex
	ready              map[string]bool
	total              int
	maxTotal, minReady int
}

func track(t *testing.T, f strategy.Fleet) *tracker {
	t.Helper()
	insts, err := f.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracker{Fleet: f, ready: map[string]bool{}, total: len(insts), maxTotal: len(insts), minReady: len(insts)}
	for _, in := range insts {
		tr.ready[in.ID] = true
	}
	return tr
}

func (tr *tracker) Start(ctx context.Context, version string) (string, error) {
	tr.mu.Lock()
	tr.total++
	tr.maxTotal = max(tr.maxTotal, tr.total)
	tr.mu.Unlock()
	id, err := tr.Fleet.Start(ctx, version)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	switch {
	case err == nil:
		tr.ready[id] = true
	case id == "":
		tr.total-- // nothing was created
	}
	return id, err
}

func (tr *tracker) Stop(ctx context.Context, id string) error {
	tr.mu.Lock()
	wasReady := tr.ready[id]
	delete(tr.ready, id)
	tr.minReady = min(tr.minReady, len(tr.ready))
	tr.mu.Unlock()
	err := tr.Fleet.Stop(ctx, id)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err != nil {
		if wasReady {
			tr.ready[id] = true
		}
		return err
	}
	tr.total--
	return nil
}

func (tr *tracker) bounds() (maxTotal, minReady int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.maxTotal, tr.minReady
}
