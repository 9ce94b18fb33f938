package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// A fault is one thing the matrix does wrong to a deployment: it sets the
// plan up before the run, and may act while the run goes on.
type fault struct {
	name  string
	setup func(p *deploy.Plan, f *strategytest.Fleet)
	// cancelAfter, when positive, cancels the run's context that long
	// after it starts.
	cancelAfter time.Duration
	// only limits the fault to strategies with these names; nil is all.
	only []string
	// stops marks a fault the run must not complete through: a new error
	// pattern, a log source that hangs, panics or fails.
	stops bool
}

// v2Reads wraps the fleet's metrics, passing v2's reads through fn.
func v2Reads(p *deploy.Plan, f *strategytest.Fleet, fn func(ctx context.Context, o verify.Observation, err error) (verify.Observation, error)) {
	p.Metrics = verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
		o, err := f.Observe(ctx, q)
		if q.Version != "v2" {
			return o, err
		}
		return fn(ctx, o, err)
	})
}

// withLogs gives the plan a log source following the fleet's traffic (see
// fleetLogs), v2 logging a new error pattern when bug is set, and passes
// v2's reads through fn when it is not nil.
func withLogs(bug bool, fn func(ctx context.Context, o verify.LogObservation, err error) (verify.LogObservation, error)) func(p *deploy.Plan, f *strategytest.Fleet) {
	return func(p *deploy.Plan, f *strategytest.Fleet) {
		v2 := map[string]float64{upstream: 0.01}
		if bug {
			v2[poolBug] = 0.05
		}
		p.Logs = fleetLogs(f, map[string]map[string]float64{"v1": {upstream: 0.01}, "v2": v2})
		if fn != nil {
			v2Logs(p, fn)
		}
	}
}

// inject arms faults on the fleet.
func inject(faults ...strategytest.Fault) func(p *deploy.Plan, f *strategytest.Fleet) {
	return func(p *deploy.Plan, f *strategytest.Fleet) {
		if err := f.SetFaults(faults...); err != nil {
			panic(err)
		}
	}
}

func faults() []fault {
	bad := func(p *deploy.Plan, f *strategytest.Fleet) { f.SetBehavior("v2", broken) }
	withV2 := func(b strategytest.Behavior) func(p *deploy.Plan, f *strategytest.Fleet) {
		return func(p *deploy.Plan, f *strategytest.Fleet) {
			h := healthy
			h.StartErr, h.NeverReady, h.StopErr, h.MetricsErr = b.StartErr, b.NeverReady, b.StopErr, b.MetricsErr
			f.SetBehavior("v2", h)
		}
	}
	fs := []fault{
		{name: "none"},
		{name: "bad version", setup: bad},
		{name: "metric error", setup: withV2(strategytest.Behavior{MetricsErr: errBoom})},
		{name: "metric no data", setup: withV2(strategytest.Behavior{MetricsErr: verify.ErrNoData})},
		{name: "metric NaN", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			v2Reads(p, f, func(_ context.Context, o verify.Observation, err error) (verify.Observation, error) {
				o.Errors = math.NaN()
				return o, err
			})
		}},
		{name: "metric hang", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			v2Reads(p, f, func(ctx context.Context, o verify.Observation, err error) (verify.Observation, error) {
				return o, hang(ctx)
			})
		}},
		{name: "metric panic", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			v2Reads(p, f, func(context.Context, verify.Observation, error) (verify.Observation, error) { panic("source") })
		}},
		{name: "probe panic", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			p.Verify.Probes = []verify.Probe{{Name: "checkout", Check: func(context.Context) error { panic("probe") }}}
		}},
		{name: "start error", setup: withV2(strategytest.Behavior{StartErr: errBoom})},
		{name: "never ready", setup: withV2(strategytest.Behavior{NeverReady: true})},
		{name: "old will not stop", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			h := healthy
			h.StopErr = errBoom
			f.SetBehavior("v1", h)
		}},
		{name: "new will not stop in rollback", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			b := broken
			b.StopErr = errBoom
			f.SetBehavior("v2", b)
		}},
		{name: "traffic will not move back", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			bad(p, f)
			inject(strategytest.Fault{Op: strategytest.OpRoute, Back: true, Err: errBoom},
				strategytest.Fault{Op: strategytest.OpSwitch, Back: true, Err: errBoom})(p, f)
		}, only: []string{"canary", "blue/green"}},
		{name: "start fails in a later batch", setup: inject(strategytest.Fault{Op: strategytest.OpStart, Version: "v2", After: 2, Err: errBoom})},
		{name: "one instance never ready", setup: inject(strategytest.Fault{Op: strategytest.OpStart, Version: "v2", After: 1, Times: 1, Hang: true})},
		{name: "start panics", setup: inject(strategytest.Fault{Op: strategytest.OpStart, Version: "v2", After: 1, Panic: "start"})},
		{name: "instances hang once", setup: inject(strategytest.Fault{Op: strategytest.OpInstances, After: 1, Times: 1, Hang: true})},
		{name: "stop panics in rollback", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			bad(p, f)
			inject(strategytest.Fault{Op: strategytest.OpStop, Version: "v2", Times: 1, Panic: "stop"})(p, f)
		}},
		{name: "route panics", setup: inject(strategytest.Fault{Op: strategytest.OpRoute, After: 2, Times: 1, Panic: "route"}), only: []string{"canary"}},
		{name: "switch hangs", setup: inject(strategytest.Fault{Op: strategytest.OpSwitch, Version: "v2", Hang: true}), only: []string{"blue/green"}},
		{name: "impossible baseline", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			p.Metrics = verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				o, err := f.Observe(ctx, q)
				if q.Version == "v1" {
					o.Requests = math.Inf(1)
				}
				return o, err
			})
		}},
		{name: "log pattern", setup: withLogs(true, nil), stops: true},
		{name: "log error", setup: withLogs(false, func(context.Context, verify.LogObservation, error) (verify.LogObservation, error) {
			return verify.LogObservation{}, errBoom
		}), stops: true},
		{name: "log hang", setup: withLogs(false, func(ctx context.Context, o verify.LogObservation, _ error) (verify.LogObservation, error) {
			return o, hang(ctx)
		}), stops: true},
		{name: "log panic", setup: withLogs(false, func(context.Context, verify.LogObservation, error) (verify.LogObservation, error) {
			panic("log source")
		}), stops: true},
		{name: "log NaN", setup: withLogs(true, func(_ context.Context, o verify.LogObservation, err error) (verify.LogObservation, error) {
			o.Lines = math.NaN()
			return o, err
		}), stops: true},
		{name: "log baseline hangs", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			p.Logs = verify.LogSourceFunc(func(ctx context.Context, q verify.Query) (verify.LogObservation, error) {
				return verify.LogObservation{}, hang(ctx)
			})
		}, stops: true},
		{name: "refused: fleet mid-deployment", setup: func(p *deploy.Plan, f *strategytest.Fleet) {
			if _, err := f.Start(context.Background(), "v2"); err != nil {
				panic(err)
			}
		}},
	}
	for _, at := range []time.Duration{time.Millisecond, 30 * time.Second, 3 * time.Minute, 7 * time.Minute, 16 * time.Minute, 40 * time.Minute} {
		fs = append(fs, fault{name: fmt.Sprintf("cancelled after %s", at), cancelAfter: at})
	}
	return fs
}

// TestFaultMatrix runs every strategy against every fault and checks that
// the end state is the one the report describes: all instances on the
// version the outcome implies, all traffic there, the kill switch as
// implied, nothing else left running — or, when the rollback did not
// finish, an error that names what was left.
func TestFaultMatrix(t *testing.T) {
	strategies := []struct {
		name   string
		s      strategy.Strategy
		target func(f *strategytest.Fleet) strategy.Target
	}{
		{"direct", strategy.Direct{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f} }},
		{"rolling", strategy.Rolling{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f} }},
		{"blue/green", strategy.BlueGreen{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Switch: f} }},
		{"canary", strategy.Canary{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Router: f} }},
	}
	cases := 0
	for _, st := range strategies {
		for _, ft := range faults() {
			if ft.only != nil && !contains(ft.only, st.name) {
				continue
			}
			cases++
			t.Run(st.name+"/"+ft.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					fleet := newFleet(healthy)
					p, _ := newPlan(fleet)
					store := withFlag(t, p)
					p.Strategy, p.Target = st.s, st.target(fleet)
					if ft.setup != nil {
						ft.setup(p, fleet)
					}
					before := fleet.Versions()
					ctx := t.Context()
					if ft.cancelAfter > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, ft.cancelAfter)
						defer cancel()
					}
					rep, err := deploy.Run(ctx, p)
					flag, _ := store.Get(t.Context(), "new-checkout")
					state := fleet.State()
					switch rep.Outcome {
					case deploy.Completed:
						if ft.stops {
							t.Error("completed through a fault that must stop it")
						}
						if err != nil {
							t.Errorf("completed with error %v", err)
						}
						assertVersions(t, fleet, map[string]int{"v2": 8})
						if err := state.AllOn("v2"); err != nil || !flag.Enabled {
							t.Errorf("completed, but %v (%v), kill switch on %v", err, state, flag.Enabled)
						}
					case deploy.RolledBack:
						assertVersions(t, fleet, map[string]int{"v1": 8})
						if err := state.AllOn("v1"); err != nil || flag.Enabled {
							t.Errorf("rolled back, but %v (%v), kill switch on %v", err, state, flag.Enabled)
						}
					case deploy.Aborted:
						if got := fleet.Versions(); !mapsEqual(got, before) {
							t.Errorf("aborted, but the fleet went from %v to %v", before, got)
						}
						if !flag.Enabled {
							t.Error("aborted, but the kill switch was turned off")
						}
					case deploy.RollbackFailed:
						var ue *strategy.UndoError
						if !errors.As(err, &ue) || len(ue.Left) == 0 {
							t.Errorf("rollback failed without naming what was left: %v", err)
						}
						if flag.Enabled {
							t.Error("rollback failed, and the kill switch, the fastest way back, is still on")
						}
						if state.AllOn("v1") == nil {
							t.Errorf("rollback failed, yet everything is on v1: %v", err)
						}
					default:
						t.Errorf("unexpected outcome %v: %v", rep.Outcome, err)
					}
					if rep.Outcome != deploy.Completed && err == nil {
						t.Errorf("outcome %v with a nil error", rep.Outcome)
					}
				})
			})
		}
	}
	t.Logf("%d cases", cases)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
