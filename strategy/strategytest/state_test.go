package strategytest_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

func TestState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 3,
			Behaviors: map[string]strategytest.Behavior{"v2": {StartDelay: time.Minute}}})
		check := func(want strategytest.State, str string) {
			t.Helper()
			got := f.State()
			if diff := cmp.Diff(want, got, approx); diff != "" {
				t.Errorf("State mismatch (-want +got):\n%s", diff)
			}
			if got.String() != str {
				t.Errorf("State().String() = %q, want %q", got, str)
			}
		}
		check(strategytest.State{Instances: map[string]int{"v1": 3}, Shares: map[string]float64{"v1": 1}},
			"instances v1=3; shares v1=100%")

		must(t, f.Route(ctx, "v1", "v2", 0))
		go f.Start(ctx, "v2")
		synctest.Wait()
		check(strategytest.State{
			Instances: map[string]int{"v1": 3, "v2": 1}, Unready: map[string]int{"v2": 1},
			Route: &strategytest.Split{Stable: "v1", Canary: "v2"}, Shares: map[string]float64{"v1": 1},
		}, "instances v1=3 v2=1 (1 unready v2); route v1→v2 at 0%; shares v1=100%")

		time.Sleep(time.Minute)
		synctest.Wait()
		must(t, f.Route(ctx, "v1", "v2", 25))
		check(strategytest.State{
			Instances: map[string]int{"v1": 3, "v2": 1},
			Route:     &strategytest.Split{Stable: "v1", Canary: "v2", Weight: 25}, Shares: map[string]float64{"v1": .75, "v2": .25},
		}, "instances v1=3 v2=1; route v1→v2 at 25%; shares v1=75% v2=25%")

		must(t, f.Switch(ctx, "v2"))
		check(strategytest.State{
			Instances: map[string]int{"v1": 3, "v2": 1}, Switched: "v2", Shares: map[string]float64{"v2": 1},
		}, "instances v1=3 v2=1; switched to v2; shares v2=100%")

		// The State is a copy.
		s := f.State()
		s.Instances["v1"] = 99
		if f.State().Instances["v1"] != 3 {
			t.Error("changing a State changed the fleet")
		}

		insts, _ := f.Instances(ctx)
		for _, in := range insts {
			must(t, f.Stop(ctx, in.ID))
		}
		check(strategytest.State{Instances: map[string]int{}, Switched: "v2", Shares: map[string]float64{}},
			"instances none; switched to v2; shares none")
	})
}

func TestAllOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		fresh := func() *strategytest.Fleet {
			return strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 2,
				Behaviors: map[string]strategytest.Behavior{"v3": {NeverReady: true}}})
		}
		tests := []struct {
			name    string
			arrange func(f *strategytest.Fleet)
			version string
			wrong   []string // what the error must say; none for settled
		}{
			{"fresh", func(f *strategytest.Fleet) {}, "v1", nil},
			{"router at rest", func(f *strategytest.Fleet) { must(t, f.Route(ctx, "v1", "v2", 0)) }, "v1", nil},
			{"switched to it", func(f *strategytest.Fleet) { must(t, f.Switch(ctx, "v1")) }, "v1", nil},
			{"canary at 100%", func(f *strategytest.Fleet) { must(t, f.Route(ctx, "v0", "v1", 100)) }, "v1", nil},
			{"another version", func(f *strategytest.Fleet) {}, "v2", []string{"no instance of v2", "2 instance(s) of v1", "v2 serves 0% of requests"}},
			{"left running", func(f *strategytest.Fleet) { start(t, f, "v2") }, "v1", []string{"1 instance(s) of v2", "v1 serves 66.67% of requests"}},
			{"weight left", func(f *strategytest.Fleet) {
				must(t, f.Route(ctx, "v1", "v2", 5))
			}, "v1", []string{"router sends 5% to v2"}},
			{"canary short of 100%", func(f *strategytest.Fleet) {
				must(t, f.Route(ctx, "v0", "v1", 90))
			}, "v1", []string{"router sends 10% to v0"}},
			{"router elsewhere", func(f *strategytest.Fleet) {
				must(t, f.Route(ctx, "v7", "v8", 0))
			}, "v1", []string{"router splits between v7 and v8"}},
			{"switched elsewhere", func(f *strategytest.Fleet) {
				must(t, f.Switch(ctx, "v2"))
			}, "v1", []string{"switch sends all traffic to v2"}},
			{"never ready", func(f *strategytest.Fleet) {
				f.SetBehavior("v1", strategytest.Behavior{NeverReady: true})
				go f.Start(ctx, "v1")
				synctest.Wait()
			}, "v1", []string{"1 instance(s) of v1 not ready"}},
			{"empty", func(f *strategytest.Fleet) {
				insts, _ := f.Instances(ctx)
				for _, in := range insts {
					must(t, f.Stop(ctx, in.ID))
				}
			}, "v1", []string{"no instance of v1", "v1 serves 0% of requests"}},
		}
		for _, tt := range tests {
			f := fresh()
			tt.arrange(f)
			err := f.State().AllOn(tt.version)
			if len(tt.wrong) == 0 {
				if err != nil {
					t.Errorf("%s: AllOn(%s) = %v, want nil", tt.name, tt.version, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s: AllOn(%s) = nil, want an error", tt.name, tt.version)
				continue
			}
			for _, w := range tt.wrong {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: AllOn(%s) = %q, want it to say %q", tt.name, tt.version, err, w)
				}
			}
			if !strings.Contains(err.Error(), f.State().String()) {
				t.Errorf("%s: AllOn(%s) = %q, want it to hold the state %q", tt.name, tt.version, err, f.State())
			}
		}
	})
}
