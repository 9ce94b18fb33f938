package deploy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []deploy.Event
}

func (r *recorder) Observe(_ context.Context, e deploy.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// index returns the position of the first event of kind whose message
// contains substr, or -1.
func (r *recorder) index(kind deploy.Kind, substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.IndexFunc(r.events, func(e deploy.Event) bool {
		return e.Kind == kind && strings.Contains(e.Message, substr)
	})
}

func (r *recorder) count(kind deploy.Kind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

var errBoom = errors.New("boom")

// good and bad are the behaviours of a healthy and a broken v2.
var (
	healthy = strategytest.Behavior{ErrorRate: 0.01, Latency: 20 * time.Millisecond, BusinessRate: 0.1}
	broken  = strategytest.Behavior{ErrorRate: 0.08, Latency: 20 * time.Millisecond, BusinessRate: 0.1}
)

// newFleet returns 8 instances of v1 serving 100 requests per second, with
// v2 behaving as given.
func newFleet(v2 strategytest.Behavior) *strategytest.Fleet {
	return strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 8, RPS: 100,
		Behaviors: map[string]strategytest.Behavior{"v1": healthy, "v2": v2},
	})
}

// newPlan returns a valid canary plan for fleet, with a recorder attached.
func newPlan(fleet *strategytest.Fleet) (*deploy.Plan, *recorder) {
	rec := &recorder{}
	return &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change: deploy.Change{Engineer: "ana", What: "new checkout page", Why: "conversion", Expected: "same error rate"},
		Tests: deploy.Named("ci", deploy.CheckFunc(func(ctx context.Context, p *deploy.Plan) error {
			return nil
		})),
		Strategy:  strategy.Canary{},
		Target:    strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:   fleet,
		Observers: []deploy.Observer{rec},
	}, rec
}

// withFlag adds a flag store holding an enabled kill switch.
func withFlag(t *testing.T, p *deploy.Plan) *flags.Memory {
	t.Helper()
	var store flags.Memory
	if err := store.Set(t.Context(), flags.Flag{Name: "new-checkout", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p.Flags, p.KillSwitch = &store, "new-checkout"
	return &store
}

// assertVersions checks how many instances run each version.
func assertVersions(t *testing.T, f *strategytest.Fleet, want map[string]int) {
	t.Helper()
	got := f.Versions()
	if !mapsEqual(got, want) {
		t.Errorf("fleet versions = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
