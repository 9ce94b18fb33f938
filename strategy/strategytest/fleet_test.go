package strategytest_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

var approx = cmpopts.EquateApprox(1e-12, 1e-9)

func checkShares(t *testing.T, f *strategytest.Fleet, want map[string]float64) {
	t.Helper()
	if diff := cmp.Diff(want, f.Shares(), approx); diff != "" {
		t.Errorf("shares mismatch (-want +got):\n%s", diff)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, f *strategytest.Fleet, version string) string {
	t.Helper()
	id, err := f.Start(t.Context(), version)
	must(t, err)
	return id
}

func TestSharesByInstanceCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 3,
			Behaviors: map[string]strategytest.Behavior{"v3": {StartDelay: time.Minute}}})
		checkShares(t, f, map[string]float64{"v1": 1})
		v2 := start(t, f, "v2")
		checkShares(t, f, map[string]float64{"v1": .75, "v2": .25})

		// A starting instance takes no traffic until it is ready.
		go f.Start(t.Context(), "v3")
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if got := f.Versions(); got["v3"] != 1 {
			t.Errorf("Versions = %v, want the starting v3 instance listed", got)
		}
		checkShares(t, f, map[string]float64{"v1": .75, "v2": .25})
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		checkShares(t, f, map[string]float64{"v1": .6, "v2": .2, "v3": .2})

		must(t, f.Stop(t.Context(), v2))
		checkShares(t, f, map[string]float64{"v1": .75, "v3": .25})
	})
}

func TestSharesByWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 3})
		if r := f.State().Route; r != nil {
			t.Errorf("new fleet has a route: %+v", r)
		}

		// Before the canary has an instance, the stable version takes all.
		must(t, f.Route(ctx, "v1", "v2", 10))
		checkShares(t, f, map[string]float64{"v1": 1})
		start(t, f, "v2")
		// The weight decides, not the 3:1 instance count.
		checkShares(t, f, map[string]float64{"v1": .9, "v2": .1})
		if diff := cmp.Diff(&strategytest.Split{Stable: "v1", Canary: "v2", Weight: 10}, f.State().Route); diff != "" {
			t.Errorf("route mismatch (-want +got):\n%s", diff)
		}
		if canary, w, ok := f.Weight(); canary != "v2" || w != 10 || !ok {
			t.Errorf("Weight = %q, %g, %t; want v2, 10, true", canary, w, ok)
		}
		must(t, f.Route(ctx, "v1", "v2", 0))
		checkShares(t, f, map[string]float64{"v1": 1})
		must(t, f.Route(ctx, "v1", "v2", 100))
		checkShares(t, f, map[string]float64{"v2": 1})

		for _, w := range []float64{-1, 101, math.NaN()} {
			if err := f.Route(ctx, "v1", "v2", w); err == nil {
				t.Errorf("Route(%g) = nil, want an error", w)
			}
		}
		checkShares(t, f, map[string]float64{"v2": 1})

		errRouter := errors.New("router down")
		must(t, f.SetFaults(strategytest.Fault{Op: strategytest.OpRoute, Err: errRouter}))
		if err := f.Route(ctx, "v1", "v2", 50); !errors.Is(err, errRouter) {
			t.Errorf("Route with a fault = %v, want %v", err, errRouter)
		}
		checkShares(t, f, map[string]float64{"v2": 1})
		must(t, f.SetFaults())
		must(t, f.Route(ctx, "v1", "v2", 50))
		checkShares(t, f, map[string]float64{"v1": .5, "v2": .5})

		// With the only stable instances gone, the canary takes all.
		f2 := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 1})
		id, _ := f2.Instances(ctx)
		start(t, f2, "v2")
		must(t, f2.Route(ctx, "v1", "v2", 30))
		must(t, f2.Stop(ctx, id[0].ID))
		checkShares(t, f2, map[string]float64{"v2": 1})

		// A version the split does not name puts traffic back on counts.
		start(t, f, "v3")
		checkShares(t, f, map[string]float64{"v1": .6, "v2": .2, "v3": .2})
	})
}

func TestSharesSwitched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 3})
		must(t, f.Route(ctx, "v1", "v2", 50))
		start(t, f, "v2")
		must(t, f.Switch(ctx, "v2"))
		checkShares(t, f, map[string]float64{"v2": 1})
		if r := f.State().Route; r != nil {
			t.Errorf("the route %+v survived a switch", r)
		}
		if _, _, ok := f.Weight(); ok {
			t.Error("Weight reports the route a switch replaced")
		}
		must(t, f.Switch(ctx, "v1"))
		checkShares(t, f, map[string]float64{"v1": 1})

		errSwitch := errors.New("switch down")
		must(t, f.SetFaults(strategytest.Fault{Op: strategytest.OpSwitch, Err: errSwitch}))
		if err := f.Switch(ctx, "v2"); !errors.Is(err, errSwitch) {
			t.Errorf("Switch with a fault = %v, want %v", err, errSwitch)
		}
		checkShares(t, f, map[string]float64{"v1": 1})
		must(t, f.SetFaults())

		// Switched to a version with no ready instance: by count.
		must(t, f.Switch(ctx, "v9"))
		checkShares(t, f, map[string]float64{"v1": .75, "v2": .25})

		// A route replaces the switch.
		must(t, f.Switch(ctx, "v2"))
		must(t, f.Route(ctx, "v1", "v2", 20))
		checkShares(t, f, map[string]float64{"v1": .8, "v2": .2})
	})
}

func observe(t *testing.T, f *strategytest.Fleet, version string, from, to time.Time) verify.Observation {
	t.Helper()
	obs, err := f.Observe(t.Context(), verify.Query{Version: version, Start: from, End: to})
	if err != nil {
		t.Fatalf("Observe(%s, %s, %s): %v", version, from, to, err)
	}
	return obs
}

func near(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

func TestObserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 9, RPS: 100,
			Behaviors: map[string]strategytest.Behavior{
				"v2": {ErrorRate: 0.05, Latency: 100 * time.Millisecond, BusinessRate: 0.2},
			}})
		t0 := time.Now()
		must(t, f.Route(ctx, "v1", "v2", 10))
		start(t, f, "v2")
		time.Sleep(time.Minute)

		// 100 rps, 10% for 60 s.
		got := observe(t, f, "v2", t0, t0.Add(time.Minute))
		if !near(got.Requests, 600, 1e-9) || !near(got.Errors, 30, 1e-9) || !near(got.Business, 120, 1e-9) {
			t.Errorf("v2 over 60 s at 10%% = %g requests, %g errors, %g business; want 600, 30, 120", got.Requests, got.Errors, got.Business)
		}
		checkHistogram(t, got, 0.100)
		old := observe(t, f, "v1", t0, t0.Add(time.Minute))
		if !near(old.Requests, 5400, 1e-9) || old.Errors != 0 {
			t.Errorf("v1 over 60 s at 90%% = %g requests, %g errors; want 5400, 0", old.Requests, old.Errors)
		}
		checkHistogram(t, old, 0.020) // the default latency

		// A window reaching back before v2 ran counts only what it served.
		if got := observe(t, f, "v2", t0.Add(-time.Hour), t0.Add(time.Minute)); !near(got.Requests, 600, 1e-9) {
			t.Errorf("v2 over a window starting before it ran = %g requests, want 600", got.Requests)
		}
		// The initial fleet has served since the beginning of time.
		if got := observe(t, f, "v1", t0.Add(-time.Hour), t0); !near(got.Requests, 360000, 1e-9) {
			t.Errorf("v1 baseline over the hour before = %g requests, want 360000", got.Requests)
		}

		// Changes of weight and behaviour are integrated piece by piece.
		must(t, f.Route(ctx, "v1", "v2", 50)) // at t0+60s
		time.Sleep(30 * time.Second)
		f.SetBehavior("v2", strategytest.Behavior{ErrorRate: 0.1, Latency: 100 * time.Millisecond}) // at t0+90s
		time.Sleep(10 * time.Second)
		got = observe(t, f, "v2", t0.Add(30*time.Second), t0.Add(100*time.Second))
		// 30 s at 10 rps, then 40 s at 50 rps; errors 5% then, from 90 s, 10%.
		if want := 30*10 + 40*50.0; !near(got.Requests, want, 1e-9) {
			t.Errorf("v2 over [30 s, 100 s) = %g requests, want %g", got.Requests, want)
		}
		if want := 30*10*0.05 + 30*50*0.05 + 10*50*0.1; !near(got.Errors, want, 1e-9) {
			t.Errorf("v2 over [30 s, 100 s) = %g errors, want %g", got.Errors, want)
		}
		// Windows that end before the latest change, inside one period
		// and across two.
		if got := observe(t, f, "v2", t0.Add(15*time.Second), t0.Add(45*time.Second)); !near(got.Requests, 300, 1e-9) {
			t.Errorf("v2 over [15 s, 45 s) = %g requests, want 300", got.Requests)
		}
		if got := observe(t, f, "v2", t0.Add(50*time.Second), t0.Add(70*time.Second)); !near(got.Requests, 10*10+10*50, 1e-9) {
			t.Errorf("v2 over [50 s, 70 s) = %g requests, want 600", got.Requests)
		}
	})
}

// checkHistogram checks that o's latency histogram is cumulative, counts
// every request, and puts the median near median seconds.
func checkHistogram(t *testing.T, o verify.Observation, median float64) {
	t.Helper()
	h := o.Latency
	if len(h) == 0 {
		t.Fatal("no latency histogram")
	}
	last := h[len(h)-1]
	if !math.IsInf(last.UpperBound, 1) || !near(last.Count, o.Requests, 1e-9) {
		t.Errorf("last bucket = %+v, want +Inf counting all %g requests", last, o.Requests)
	}
	for i := 1; i < len(h); i++ {
		if h[i].UpperBound <= h[i-1].UpperBound || h[i].Count < h[i-1].Count {
			t.Errorf("buckets %d and %d not cumulative: %+v, %+v", i-1, i, h[i-1], h[i])
		}
	}
	if q, ok := h.Quantile(0.5); !ok || !near(q, median, 0.05) {
		t.Errorf("median latency = %g s (%t), want about %g s", q, ok, median)
	}
}

func TestObserveErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errMetrics := errors.New("prometheus unreachable")
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 2, RPS: 10,
			Behaviors: map[string]strategytest.Behavior{"v3": {MetricsErr: errMetrics}}})
		t0 := time.Now()
		time.Sleep(time.Minute)
		start(t, f, "v2")
		time.Sleep(time.Minute)
		now := time.Now()

		tests := []struct {
			name      string
			q         verify.Query
			want      error
			notNoData bool
		}{
			{"never ran", verify.Query{Version: "v9", Start: t0, End: now}, verify.ErrNoData, false},
			{"before it ran", verify.Query{Version: "v2", Start: t0, End: t0.Add(time.Minute)}, verify.ErrNoData, false},
			{"metrics fail", verify.Query{Version: "v3", Start: t0, End: now}, errMetrics, true},
			{"empty window", verify.Query{Version: "v1", Start: now, End: now}, nil, true},
		}
		for _, tt := range tests {
			_, err := f.Observe(t.Context(), tt.q)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("%s: Observe = %v, want an error wrapping %v", tt.name, err, tt.want)
			}
			if tt.notNoData && errors.Is(err, verify.ErrNoData) {
				t.Errorf("%s: Observe = %v, which reads as no data", tt.name, err)
			}
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := f.Observe(ctx, verify.Query{Version: "v1", Start: t0, End: now}); !errors.Is(err, context.Canceled) {
			t.Errorf("Observe with a cancelled context = %v, want context.Canceled", err)
		}

		// A version that runs but gets no traffic has data: zero requests.
		f.Switch(t.Context(), "v1")
		time.Sleep(time.Minute)
		if got := observe(t, f, "v2", now, time.Now()); got.Requests != 0 {
			t.Errorf("v2 with every request switched to v1 served %g requests", got.Requests)
		}
	})
}

func TestStartBehaviors(t *testing.T) {
	errCrash := errors.New("exit status 1")
	errStop := errors.New("drain failed")
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 1, RPS: 10,
			Behaviors: map[string]strategytest.Behavior{
				"slow":  {StartDelay: time.Minute},
				"never": {NeverReady: true},
				"crash": {StartErr: errCrash, StartDelay: time.Second},
				"stuck": {StopErr: errStop},
			}})

		t0 := time.Now()
		slow := start(t, f, "slow")
		if d := time.Since(t0); d != time.Minute {
			t.Errorf("Start with StartDelay 1m returned after %s", d)
		}

		tctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		id, err := f.Start(tctx, "never")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || id == "" {
			t.Errorf("Start(never) = %q, %v; want an ID and the deadline", id, err)
		}
		if f.Versions()["never"] != 1 || f.Shares()["never"] != 0 {
			t.Errorf("a never-ready instance: versions %v, shares %v; want it listed, without traffic", f.Versions(), f.Shares())
		}
		must(t, f.Stop(ctx, id))

		id, err = f.Start(ctx, "crash")
		if !errors.Is(err, errCrash) || id == "" {
			t.Errorf("Start(crash) = %q, %v; want an ID and %v", id, err, errCrash)
		}
		if f.Versions()["crash"] != 1 || f.Shares()["crash"] != 0 {
			t.Errorf("a crashed instance: versions %v, shares %v; want it listed until stopped, without traffic", f.Versions(), f.Shares())
		}
		must(t, f.Stop(ctx, id))

		id = start(t, f, "stuck")
		if err := f.Stop(ctx, id); !errors.Is(err, errStop) {
			t.Errorf("Stop(stuck) = %v, want %v", err, errStop)
		}
		if f.Versions()["stuck"] != 1 {
			t.Error("an instance that failed to stop is gone")
		}

		// A cancelled context creates nothing.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		before := f.Versions()
		for range 20 { // without the check up front, select picks at random
			if id, err := f.Start(cctx, "v1"); err == nil || id != "" {
				t.Fatalf("Start with a cancelled context = %q, %v; want no instance and an error", id, err)
			}
		}
		if diff := cmp.Diff(before, f.Versions()); diff != "" {
			t.Errorf("cancelled Starts changed the fleet (-before +after):\n%s", diff)
		}

		// An instance stopped while starting never becomes ready.
		done := make(chan error, 1)
		go func() {
			_, err := f.Start(ctx, "slow")
			done <- err
		}()
		time.Sleep(time.Second)
		insts, _ := f.Instances(ctx)
		for _, in := range insts {
			if in.Version == "slow" && in.ID != slow {
				must(t, f.Stop(ctx, in.ID))
			}
		}
		if err := <-done; err == nil {
			t.Error("Start of an instance stopped before it was ready succeeded")
		}
		if n := f.Versions()["slow"]; n != 1 {
			t.Errorf("%d slow instances, want only the first", n)
		}
	})
}
