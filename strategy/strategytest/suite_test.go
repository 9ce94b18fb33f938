package strategytest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

func TestRun(t *testing.T) {
	t.Run("instant", func(t *testing.T) {
		strategytest.Run(t, "v1", func(t *testing.T) strategy.Fleet {
			return strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 3})
		})
	})
	t.Run("one instance, slow start", func(t *testing.T) {
		strategytest.Run(t, "v1", func(t *testing.T) strategy.Fleet {
			return strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 1,
				Behaviors: map[string]strategytest.Behavior{"v1": {StartDelay: time.Millisecond}}})
		})
	})
}

func newFleet() (strategy.Fleet, error) {
	return strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 3}), nil
}

// Fleets that break the contract, each in one way.
type (
	// forgiving stops unknown instances without complaint.
	forgiving struct{ *strategytest.Fleet }
	// reusing lists instances into the same slice every time.
	reusing struct {
		*strategytest.Fleet
		mu  sync.Mutex
		buf []strategy.Instance
	}
	// deaf ignores a cancelled context.
	deaf struct{ *strategytest.Fleet }
	// forgetful lists instances it started without their version.
	forgetful struct{ *strategytest.Fleet }
)

func (f forgiving) Stop(ctx context.Context, id string) error {
	f.Fleet.Stop(ctx, id)
	return nil
}

func (f *reusing) Instances(ctx context.Context) ([]strategy.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	insts, err := f.Fleet.Instances(ctx)
	f.buf = append(f.buf[:0], insts...)
	return f.buf, err
}

func (f deaf) Start(ctx context.Context, version string) (string, error) {
	return f.Fleet.Start(context.WithoutCancel(ctx), version)
}

func (f forgetful) Instances(ctx context.Context) ([]strategy.Instance, error) {
	insts, err := f.Fleet.Instances(ctx)
	for i := range insts {
		if insts[i].Version != "v1" || strings.HasSuffix(insts[i].ID, "-1") {
			continue
		}
		insts[i].Version = ""
	}
	return insts, err
}

func TestCheck(t *testing.T) {
	wrap := func(w func(f *strategytest.Fleet) strategy.Fleet) func() (strategy.Fleet, error) {
		return func() (strategy.Fleet, error) {
			return w(strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 3})), nil
		}
	}
	tests := []struct {
		name     string
		newFleet func() (strategy.Fleet, error)
		want     []string // each failure's start; none for a fleet that passes
	}{
		{"simulated", newFleet, nil},
		{"forgiving", wrap(func(f *strategytest.Fleet) strategy.Fleet { return forgiving{f} }),
			[]string{`StopUnknown: Stop("strategytest-no-such-instance") = nil, want an error`}},
		{"reusing", wrap(func(f *strategytest.Fleet) strategy.Fleet { return &reusing{Fleet: f} }),
			[]string{"Copies: the caller's change to the slice one Instances returned changed the slice an earlier one returned, from [{v1-1 v1} {v1-2 v1} {v1-3 v1} {v1-4 v1}] to [{changed-by-caller-0 changed-by-caller} {changed-by-caller-1 changed-by-caller} {changed-by-caller-2 changed-by-caller} {v1-4 v1}]"}},
		{"deaf", wrap(func(f *strategytest.Fleet) strategy.Fleet { return deaf{f} }),
			[]string{"StartCancelled: Start(v1) with a cancelled context = \"v1-4\", nil; want an error"}},
		{"forgetful", wrap(func(f *strategytest.Fleet) strategy.Fleet { return forgetful{f} }),
			[]string{"Start: after Start(v1) = \"v1-4\", Instances = "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := strategytest.Check(t.Context(), "v1", tt.newFleet)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check = nil, want failures")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("Check reported %d failures, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if i < len(lines) && !strings.HasPrefix(lines[i], w) {
					t.Errorf("failure %d = %q, want it to begin %q", i+1, lines[i], w)
				}
			}
		})
	}
}

func TestCheckStops(t *testing.T) {
	errNew := errors.New("no capacity")
	calls := 0
	err := strategytest.Check(t.Context(), "v1", func() (strategy.Fleet, error) {
		calls++
		if calls == 3 {
			return nil, errNew
		}
		return forgiving{strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 2})}, nil
	})
	if !errors.Is(err, errNew) || !strings.Contains(err.Error(), "stopped at Start: newFleet: no capacity") {
		t.Errorf("Check with a failing newFleet = %v, want it to stop at the third check wrapping %v", err, errNew)
	}
	if calls != 3 {
		t.Errorf("newFleet called %d times, want 3", calls)
	}

	ctx, cancel := context.WithCancelCause(t.Context())
	errStop := errors.New("operator stopped")
	cancel(errStop)
	err = strategytest.Check(ctx, "v1", newFleet)
	if !errors.Is(err, errStop) || !strings.Contains(err.Error(), "stopped before Instances") {
		t.Errorf("Check with a cancelled context = %v, want it to stop before the first check, wrapping the cause", err)
	}

	err = strategytest.Check(t.Context(), "v1", func() (strategy.Fleet, error) { return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "nil Fleet") {
		t.Errorf("Check with a nil fleet = %v, want an error saying so", err)
	}
}

// TestCheckCleansUp checks that Check leaves each fleet as it found it,
// less the instances the Stop and Concurrent checks stop on purpose.
func TestCheckCleansUp(t *testing.T) {
	var fleets []*strategytest.Fleet
	err := strategytest.Check(t.Context(), "v1", func() (strategy.Fleet, error) {
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 3})
		fleets = append(fleets, f)
		return f, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]int{3: 2, 6: 1} // Stop stops one original, Concurrent all but one
	for i, f := range fleets {
		n, ok := want[i]
		if !ok {
			n = 3
		}
		if got := f.Versions(); len(got) != 1 || got["v1"] != n {
			t.Errorf("fleet of check %d left running %v, want %d of v1", i+1, got, n)
		}
	}
}
