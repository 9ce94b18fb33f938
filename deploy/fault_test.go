package deploy_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// An impossible baseline is refused in pre-flight, naming the field and
// its value; it never silently disables a rule.
func TestImpossibleBaselineRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(*verify.Observation)
		want string
	}{
		{"errors NaN", func(o *verify.Observation) { o.Errors = math.NaN() }, "Errors = NaN"},
		{"errors negative", func(o *verify.Observation) { o.Errors = -3 }, "Errors = -3"},
		{"errors infinite", func(o *verify.Observation) { o.Errors = math.Inf(1) }, "Errors = +Inf"},
		{"requests NaN", func(o *verify.Observation) { o.Requests = math.NaN() }, "Requests = NaN"},
		{"requests infinite", func(o *verify.Observation) { o.Requests = math.Inf(1) }, "Requests = +Inf"},
		{"more errors than requests", func(o *verify.Observation) { o.Errors = o.Requests + 1 }, "more than Requests"},
		{"business negative", func(o *verify.Observation) { o.Business = -1 }, "Business = -1"},
		{"latency not cumulative", func(o *verify.Observation) { o.Latency[1].Count = o.Latency[0].Count - 1 }, "Latency[1].Count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fleet := newFleet(broken)
				p, _ := newPlan(fleet)
				p.Strategy, p.Target.Router, p.AcceptRedeploy = strategy.Direct{}, nil, "test"
				p.Metrics = verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
					o, err := fleet.Observe(ctx, q)
					if q.Version == "v1" && len(o.Latency) > 1 {
						tc.bad(&o)
					}
					return o, err
				})
				rep, err := deploy.Run(t.Context(), p)
				if !errors.Is(err, deploy.ErrPreflight) || rep.Outcome != deploy.Aborted {
					t.Fatalf("Run = %v, %v; want an aborted pre-flight", rep.Outcome, err)
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "baseline") {
					t.Errorf("error does not name the baseline's %s:\n%v", tc.want, err)
				}
				assertVersions(t, fleet, map[string]int{"v1": 8})
			})
		})
	}
}

// hang blocks until ctx ends, as a metric source stuck on a dead
// connection does.
func hang(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// A metric source that hangs on the new version's reads, with a caller
// context that has no deadline, makes failed reads that roll back.
func TestHangingMetricSourceRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, rec := newPlan(fleet)
		store := withFlag(t, p)
		p.Metrics = verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
			if q.Version == "v2" {
				return verify.Observation{}, hang(ctx)
			}
			return fleet.Observe(ctx, q)
		})
		start := time.Now()
		rep, err := deploy.Run(context.Background(), p)
		if !errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, deploy.ErrTimeout) {
			t.Fatalf("Run = %v, %v; want a rollback after reads that timed out", rep.Outcome, err)
		}
		if took := time.Since(start); took > 10*time.Minute {
			t.Errorf("the run took %s", took)
		}
		if rec.index(deploy.KindMeasurement, "metric source failed") < 0 {
			t.Error("no failed read reported")
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
		if _, w, _ := fleet.Weight(); w != 0 {
			t.Errorf("router left at %g%% on v2", w)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); f.Enabled {
			t.Error("kill switch left on")
		}
	})
}

// panicky wraps a fleet, panicking in the calls it is told to.
type panicky struct {
	*strategytest.Fleet
	start, route bool
}

func (f panicky) Start(ctx context.Context, version string) (string, error) {
	if f.start && version == "v2" {
		panic("start: out of range")
	}
	return f.Fleet.Start(ctx, version)
}

func (f panicky) Route(ctx context.Context, stable, canary string, weight float64) error {
	if f.route && weight > 0 {
		panic(errors.New("route: nil map"))
	}
	return f.Fleet.Route(ctx, stable, canary, weight)
}

// panickingJudge panics on the first interval it is shown.
type panickingJudge struct{ verify.Judge }

func (panickingJudge) Observe(verify.Interval) verify.Verdict { panic("judge: index out of range") }

// A panic in any code the plan supplies is recovered where it was called,
// carries its stack, and rolls back what was changed; an observer that
// panics is detached and the deployment goes on.
func TestPanicsInUserCodeEndSafe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(p *deploy.Plan, fleet *strategytest.Fleet)
		outcome deploy.Outcome
		call    string
	}{
		{"metric source", func(p *deploy.Plan, fleet *strategytest.Fleet) {
			p.Metrics = verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				if q.Version == "v2" {
					panic("metrics: nil pointer")
				}
				return fleet.Observe(ctx, q)
			})
			p.Verify.MaxConsecutiveErrors = 1
		}, deploy.RolledBack, "metric source"},
		{"check", func(p *deploy.Plan, fleet *strategytest.Fleet) {
			p.Checks = append(p.Checks, deploy.Named("schema", deploy.CheckFunc(func(context.Context, *deploy.Plan) error { panic("check") })))
		}, deploy.Aborted, `check "schema"`},
		{"probe", func(p *deploy.Plan, fleet *strategytest.Fleet) {
			p.Verify.Probes = []verify.Probe{{Name: "checkout", Check: func(context.Context) error { panic("probe") }}}
		}, deploy.RolledBack, `probe "checkout"`},
		{"judge", func(p *deploy.Plan, fleet *strategytest.Fleet) {
			p.Verify.Judge = func(pol verify.Policy, b verify.Baseline) verify.Judge {
				return panickingJudge{verify.NewSequentialJudge(pol, b)}
			}
		}, deploy.RolledBack, "judge Observe"},
		{"escalate", func(p *deploy.Plan, fleet *strategytest.Fleet) {
			fleet.SetBehavior("v2", strategytest.Behavior{ErrorRate: 0.01, Latency: 20 * time.Millisecond, BusinessRate: 0.1, MetricsErr: verify.ErrNoData})
			p.Verify.Escalate = func(context.Context, *verify.Verdict) error { panic("escalate") }
		}, deploy.RolledBack, "Policy.Escalate"},
		{"fleet start", func(p *deploy.Plan, fleet *strategytest.Fleet) {
			p.Target = strategy.Target{Fleet: panicky{Fleet: fleet, start: true}}
		}, deploy.RolledBack, "Fleet.Start"},
		{"router", func(p *deploy.Plan, fleet *strategytest.Fleet) {
			pf := panicky{Fleet: fleet, route: true}
			p.Target = strategy.Target{Fleet: pf, Router: pf}
		}, deploy.RolledBack, "Router.Route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fleet := newFleet(healthy)
				p, _ := newPlan(fleet)
				store := withFlag(t, p)
				tc.setup(p, fleet)
				rep, err := deploy.Run(t.Context(), p)
				if rep.Outcome != tc.outcome {
					t.Fatalf("Run = %v, %v; want %v", rep.Outcome, err, tc.outcome)
				}
				var pe *deploy.PanicError
				if !errors.As(err, &pe) || pe.Call != tc.call || len(pe.Stack) == 0 {
					t.Fatalf("error %v carries no panic of %s with its stack (got %+v)", err, tc.call, pe)
				}
				assertVersions(t, fleet, map[string]int{"v1": 8})
				if _, w, _ := fleet.Weight(); w != 0 {
					t.Errorf("router left at %g%% on v2", w)
				}
				f, _ := store.Get(t.Context(), "new-checkout")
				if wantOn := tc.outcome == deploy.Aborted; f.Enabled != wantOn {
					t.Errorf("kill switch on = %v, want %v", f.Enabled, wantOn)
				}
			})
		})
	}
}

// An observer that panics or hangs is detached, the record says so, and
// the deployment goes on.
func TestFaultyObserversAreDetached(t *testing.T) {
	for name, faulty := range map[string]func(release <-chan struct{}) deploy.ObserverFunc{
		"panics": func(<-chan struct{}) deploy.ObserverFunc {
			return func(context.Context, deploy.Event) { panic("observer") }
		},
		"hangs": func(release <-chan struct{}) deploy.ObserverFunc {
			return func(context.Context, deploy.Event) { <-release }
		},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				fleet := newFleet(healthy)
				p, rec := newPlan(fleet)
				p.Observers = append(p.Observers, faulty(release))
				rep, err := deploy.Run(t.Context(), p)
				if err != nil {
					t.Fatalf("Run = %v, %v; want completed", rep.Outcome, err)
				}
				detached := 0
				for _, e := range rep.Record.Entries {
					if strings.Contains(e.Message, "detached") {
						detached++
					}
				}
				if detached != 1 {
					t.Errorf("%d detach entries in the record, want 1", detached)
				}
				if len(rec.events) != len(rep.Record.Entries)-1 {
					t.Errorf("the healthy observer saw %d events of %d", len(rec.events), len(rep.Record.Entries)-1)
				}
				assertVersions(t, fleet, map[string]int{"v2": 8})
			})
		})
	}
}

// A run the strategy refuses (the fleet is mid-deployment) changes
// nothing on its way out — not the kill switch another deployment
// depends on — and reports aborted.
func TestRefusedRunChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		if _, err := fleet.Start(t.Context(), "v2"); err != nil {
			t.Fatal(err)
		}
		p, rec := newPlan(fleet)
		store := withFlag(t, p)
		rep, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrAborted) || rep.Outcome != deploy.Aborted {
			t.Fatalf("Run = %v, %v; want aborted", rep.Outcome, err)
		}
		if errors.Is(err, deploy.ErrRolledBack) || rec.count(deploy.KindAction) != 0 {
			t.Errorf("a refused run reports a rollback or acts: %v", err)
		}
		if !strings.Contains(rep.Reason, "refused before anything changed") {
			t.Errorf("reason %q does not say the run was refused", rep.Reason)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); !f.Enabled {
			t.Error("a refused run turned the kill switch off")
		}
		assertVersions(t, fleet, map[string]int{"v1": 8, "v2": 1})
	})
}

// Cancellation is reported as cancellation, not as a bug.
func TestCancelledRunSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		rep, err := deploy.Run(ctx, p)
		if !errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, %v; want a rollback after the deadline", rep.Outcome, err)
		}
		if !strings.Contains(rep.Reason, "cancelled by the caller") || strings.Contains(rep.Reason, "a bug") {
			t.Errorf("reason %q", rep.Reason)
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
	})
}

// The record measures the way back that was taken, and names outcomes by
// stable tokens.
func TestRecordMeasuresTheRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(broken)
		p, _ := newPlan(fleet)
		p.Target.Router = slowRouter{fleet, 1500 * time.Millisecond}
		rep, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("Run = %v", err)
		}
		if rep.Record.Outcome != "rolled_back" || rep.Outcome.String() != "rolled back" {
			t.Errorf("record outcome %q, words %q", rep.Record.Outcome, rep.Outcome)
		}
		var steps, baselines, outcomes int
		for _, e := range rep.Record.Entries {
			switch {
			case e.Kind == "step" && e.Weight > 0 && e.WindowSeconds == 300:
				steps++
			case e.Kind == "baseline" && len(e.Numbers) >= 2:
				baselines++
			case e.Kind == "outcome" && e.Outcome == "rolled_back":
				outcomes++
			}
		}
		if steps == 0 || baselines != 1 || outcomes != 1 {
			t.Errorf("structured entries: %d steps with weight and window, %d baselines with numbers, %d outcomes", steps, baselines, outcomes)
		}
		if rep.Record.RollbackSeconds != 1.5 {
			t.Errorf("rollback took %gs by the record", rep.Record.RollbackSeconds)
		}
	})
}

// slowRouter takes its time to move traffic back to the stable version.
type slowRouter struct {
	strategy.Router
	back time.Duration
}

func (r slowRouter) Route(ctx context.Context, stable, canary string, weight float64) error {
	if weight == 0 {
		time.Sleep(r.back)
	}
	return r.Router.Route(ctx, stable, canary, weight)
}

// A plan that declares its schema is refused when nothing can tell what
// its pending migrations remove.
func TestDeclaredSchemaNeedsALinter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		p.Migrations = opaqueRunner{migratetest.NewMemory(migrate.Migration{ID: "002_drop_note", Removes: []string{"orders.note"}})}
		p.Schema = migrate.Usage{Running: []string{"orders.note"}}
		rep, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrPreflight) || !strings.Contains(err.Error(), "nothing can tell what the 1 pending migration(s) remove") {
			t.Fatalf("Run = %v, %v; want pre-flight to refuse an unlinted removal", rep.Outcome, err)
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
	})
}

// opaqueRunner hides every method of a runner but those of migrate.Runner,
// as a runner that cannot lint its own migrations would.
type opaqueRunner struct{ migrate.Runner }

// A metric the source cannot find is said out loud before the deployment
// starts, not silently dropped with its rule.
func TestMissingMetricIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, rec := newPlan(fleet)
		p.Metrics = verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
			o, err := fleet.Observe(ctx, q)
			o.Business = 0
			o.Warnings = append(o.Warnings, (&verify.MetricNotFoundError{Use: verify.UseBusiness, Metric: "orders_totl"}).Error())
			return o, err
		})
		deploy.Run(t.Context(), p)
		if rec.index(deploy.KindBaseline, `business rule cannot be judged: its metric "orders_totl" was not found`) < 0 {
			t.Error("the missing business metric is not reported")
		}
	})
}

// panickingStrategy moves traffic, then panics before it can return an undo.
type panickingStrategy struct{}

func (panickingStrategy) Deploy(ctx context.Context, t strategy.Target, r strategy.Release, g strategy.Gate) (strategy.Undo, error) {
	if err := t.Router.Route(ctx, r.From, r.To, 5); err != nil {
		return nil, err
	}
	panic("strategy: index out of range")
}

// A strategy that panics after changing the target neither unwinds through
// Run nor reports a rollback it could not do: the error names the panic
// and what was left changed.
func TestPanickingStrategyNamesWhatIsLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		p.Strategy, p.AcceptRedeploy = panickingStrategy{}, "test"
		rep, err := deploy.Run(t.Context(), p)
		var pe *deploy.PanicError
		if rep.Outcome != deploy.RollbackFailed || !errors.As(err, &pe) || pe.Call != "Strategy.Deploy" {
			t.Fatalf("Run = %v, %v; want a failed rollback carrying the strategy's panic", rep.Outcome, err)
		}
		if !strings.Contains(err.Error(), "no way to undo the 1 change(s) it asked for: route 5% to v2") {
			t.Errorf("error does not name what was left: %v", err)
		}
	})
}
