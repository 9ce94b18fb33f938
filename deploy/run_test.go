package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

func TestRunStrategies(t *testing.T) {
	strategies := map[string]func(p *deploy.Plan, f *strategytest.Fleet){
		"canary": func(p *deploy.Plan, f *strategytest.Fleet) {},
		"canary by instance count": func(p *deploy.Plan, f *strategytest.Fleet) {
			p.Target.Router, p.AcceptRedeploy = nil, "no router in front of this service"
		},
		"rolling": func(p *deploy.Plan, f *strategytest.Fleet) {
			p.Strategy, p.AcceptRedeploy = strategy.Rolling{}, "stateless service, instances start in seconds"
		},
		"blue/green": func(p *deploy.Plan, f *strategytest.Fleet) {
			p.Strategy, p.Target = strategy.BlueGreen{}, strategy.Target{Fleet: f, Switch: f}
		},
		"direct": func(p *deploy.Plan, f *strategytest.Fleet) {
			p.Strategy, p.AcceptRedeploy = strategy.Direct{}, "dev box"
		},
	}
	for name, setup := range strategies {
		t.Run(name+"/good", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fleet := newFleet(healthy)
				p, _ := newPlan(fleet)
				setup(p, fleet)
				rep, err := deploy.Run(t.Context(), p)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if rep.Outcome != deploy.Completed {
					t.Errorf("outcome = %q, want completed", rep.Outcome)
				}
				assertVersions(t, fleet, map[string]int{"v2": 8})
			})
		})
		t.Run(name+"/bad", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fleet := newFleet(broken)
				p, _ := newPlan(fleet)
				setup(p, fleet)
				rep, err := deploy.Run(t.Context(), p)
				if !errors.Is(err, deploy.ErrRolledBack) {
					t.Fatalf("Run error = %v, want ErrRolledBack", err)
				}
				var v *verify.Verdict
				if !errors.As(err, &v) || v.Outcome != verify.Fail {
					t.Fatalf("Run error %v carries no failing verdict", err)
				}
				if m := v.Measurements[0]; m.Metric != "error-rate" || !m.Failed || m.Value <= m.Threshold {
					t.Errorf("first measurement = %+v, want a failed error-rate above its threshold", m)
				}
				if rep.Outcome != deploy.RolledBack || rep.Verdict != v {
					t.Errorf("report = %q with verdict %v, want rolled back with the run's verdict", rep.Outcome, rep.Verdict)
				}
				assertVersions(t, fleet, map[string]int{"v1": 8})
				if _, w, ok := fleet.Weight(); ok && w != 0 {
					t.Errorf("router weight left at %g%%", w)
				}
			})
		})
	}
}

func TestRunCompletesCleanly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, rec := newPlan(fleet)
		store := withFlag(t, p)
		store.Set(t.Context(), flags.Flag{Name: "old-checkout-fallback", Enabled: true})
		p.Cleanup = []string{"old-checkout-fallback"}
		var promos deploy.MemoryPromotions
		p.Promotions = &promos
		start := time.Now()

		rep, err := deploy.Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		// Five canary steps of five minutes each.
		if got := time.Since(start); got != 25*time.Minute {
			t.Errorf("deployment took %s, want 25m0s of observation", got)
		}
		if _, err := store.Get(t.Context(), "old-checkout-fallback"); !errors.Is(err, flags.ErrNotFound) {
			t.Errorf("clean-up left the flag: Get error = %v", err)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); !f.Enabled {
			t.Errorf("kill switch turned off on a completed deployment")
		}
		h, _ := promos.History(t.Context(), "shop")
		if len(h) != 1 || h[0].Version != "v2" || h[0].Environment != deploy.Staging {
			t.Errorf("promotion history = %+v, want v2 completed in staging", h)
		}
		if rec.count(deploy.KindVerdict) != 5 {
			t.Errorf("%d verdict events, want one per canary step", rec.count(deploy.KindVerdict))
		}
		if len(rep.Record.Entries) != len(rec.events) {
			t.Errorf("record has %d entries, observers saw %d events", len(rep.Record.Entries), len(rec.events))
		}
		if rep.Record.Outcome != "completed" || rep.Record.Finished.IsZero() {
			t.Errorf("record outcome %q finished %v", rep.Record.Outcome, rep.Record.Finished)
		}
	})
}

func TestWindows(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(p *deploy.Plan)
		want   time.Duration
		report string
	}{
		{"canary default", func(p *deploy.Plan) {}, 25 * time.Minute, "5 steps × 5m"},
		{"rolling default", func(p *deploy.Plan) {
			p.Strategy, p.AcceptRedeploy = strategy.Rolling{}, "ok"
		}, 15 * time.Minute, "one 15m window after the last batch"},
		{"policy override", func(p *deploy.Plan) { p.Verify.Window = 2 * time.Minute }, 10 * time.Minute, "5 steps × 2m"},
		{"significant feature", func(p *deploy.Plan) { p.Change.Significant = true }, 20*time.Minute + 24*time.Hour, "final step lasts a day"},
		{"custom steps", func(p *deploy.Plan) {
			p.Strategy = strategy.Canary{Steps: []float64{10, 50}, StepWindow: 2 * time.Minute}
		}, 6 * time.Minute, "10, 50 and an implicit 100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fleet := newFleet(healthy)
				p, _ := newPlan(fleet)
				c.setup(p)
				start := time.Now()
				if _, err := deploy.Run(t.Context(), p); err != nil {
					t.Fatal(err)
				}
				if got := time.Since(start); got != c.want {
					t.Errorf("observed for %s, want %s (%s)", got, c.want, c.report)
				}
			})
		})
	}
}

func TestKillSwitchFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(broken)
		p, rec := newPlan(fleet)
		store := withFlag(t, p)
		_, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want rolled back", err)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); f.Enabled {
			t.Error("kill switch still on after a failed deployment")
		}
		off, undone := rec.index(deploy.KindAction, "kill switch"), rec.index(deploy.KindAction, "strategy undone")
		if off < 0 || undone < 0 || off > undone {
			t.Errorf("kill switch at event %d, undo at %d: want the flag turned off first", off, undone)
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
	})
}

func TestRollForwardWhenDataMutated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(broken)
		p, _ := newPlan(fleet)
		store := withFlag(t, p)
		p.Change.MutatesData = true
		rep, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrRollForward) || errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want roll forward required and no rollback", err)
		}
		if rep.Outcome != deploy.RollForwardRequired || !strings.Contains(rep.Reason, "written data") {
			t.Errorf("report = %q: %q", rep.Outcome, rep.Reason)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); f.Enabled {
			t.Error("kill switch not turned off")
		}
		// The canary stays: its data must not be read by v1.
		if got := fleet.Versions()["v2"]; got == 0 {
			t.Error("v2 instances were removed although data was mutated")
		}
	})
}

func TestCancelUndoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(7*time.Minute, cancel) // during the 5% step
		rep, err := deploy.Run(ctx, p)
		if !errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want rolled back because cancelled", err)
		}
		if rep.Outcome != deploy.RolledBack {
			t.Errorf("outcome = %q", rep.Outcome)
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
	})
}

func TestUndoFailureNamesLeftovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := broken
		b.StopErr = errBoom
		fleet := newFleet(b)
		p, _ := newPlan(fleet)
		rep, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrRollbackFailed) || !errors.Is(err, errBoom) {
			t.Fatalf("err = %v, want rollback failed wrapping the stop error", err)
		}
		var ue *strategy.UndoError
		if !errors.As(err, &ue) {
			t.Fatalf("err = %v carries no *strategy.UndoError", err)
		}
		insts, _ := fleet.Instances(t.Context())
		for _, in := range insts {
			if in.Version == "v2" && !strings.Contains(err.Error(), in.ID) {
				t.Errorf("instance %s left running but not named in %v", in.ID, err)
			}
		}
		if len(ue.Left) == 0 || rep.Outcome != deploy.RollbackFailed {
			t.Errorf("leftovers %v, outcome %q", ue.Left, rep.Outcome)
		}
	})
}

func TestMetricSourceFailuresRollBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := healthy
		b.MetricsErr = errBoom
		fleet := newFleet(b)
		p, _ := newPlan(fleet)
		start := time.Now()
		_, err := deploy.Run(t.Context(), p)
		var v *verify.Verdict
		if !errors.Is(err, deploy.ErrRolledBack) || !errors.As(err, &v) || !strings.Contains(v.Reason, "3 times in a row") {
			t.Fatalf("err = %v, want a rollback after 3 failed reads", err)
		}
		if got := time.Since(start); got != 3*time.Minute {
			t.Errorf("rolled back after %s, want 3 intervals", got)
		}
	})
}

func TestProbeFailureRollsBackAtTheFirstInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		p.Verify.Probes = []verify.Probe{{Name: "checkout", Check: func(ctx context.Context) error {
			if fleet.Versions()["v2"] > 0 {
				return errBoom
			}
			return nil
		}}}
		start := time.Now()
		_, err := deploy.Run(t.Context(), p)
		var v *verify.Verdict
		if !errors.As(err, &v) || v.Measurements[0].Metric != "critical-path/checkout" {
			t.Fatalf("err = %v, want a critical-path verdict", err)
		}
		if got := time.Since(start); got != time.Minute {
			t.Errorf("rolled back after %s, want the first interval", got)
		}
	})
}

func TestInconclusive(t *testing.T) {
	lowTraffic := func() *strategytest.Fleet {
		return strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 8, RPS: 0.1,
			Behaviors: map[string]strategytest.Behavior{"v1": healthy, "v2": healthy}})
	}
	t.Run("rolls back by default", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fleet := lowTraffic()
			p, _ := newPlan(fleet)
			_, err := deploy.Run(t.Context(), p)
			var v *verify.Verdict
			if !errors.Is(err, deploy.ErrRolledBack) || !errors.As(err, &v) || v.Outcome != verify.Inconclusive {
				t.Fatalf("err = %v, want a rollback on an inconclusive verdict", err)
			}
			assertVersions(t, fleet, map[string]int{"v1": 8})
		})
	})
	t.Run("escalated and approved", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fleet := lowTraffic()
			p, _ := newPlan(fleet)
			asked := 0
			p.Verify.Escalate = func(ctx context.Context, v *verify.Verdict) error {
				asked++
				return nil
			}
			if _, err := deploy.Run(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			if asked != 1 {
				t.Errorf("escalated %d times, want once: only the final step needs MinRequests, earlier ones pass on their evidence", asked)
			}
		})
	})
}

func TestDatabaseFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, rec := newPlan(fleet)
		db := migratetest.NewMemory(migrate.Migration{ID: "001_add_status"}, migrate.Migration{ID: "002_index_status"})
		db.Contend("002_index_status", 2)
		p.Migrations = db
		if _, err := deploy.Run(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		if got := db.Applied(); len(got) != 2 {
			t.Errorf("applied %v, want both", got)
		}
		if got := db.Attempts("002_index_status"); got != 3 {
			t.Errorf("002 attempted %d times, want 2 lock timeouts then success", got)
		}
		healthyAt, firstAction := rec.index(deploy.KindMigration, "database healthy"), rec.index(deploy.KindAction, "")
		if healthyAt < 0 || firstAction < healthyAt {
			t.Errorf("database verified at event %d, first code change at %d: migrations must come first", healthyAt, firstAction)
		}
	})
}

func TestMigrationFailureStopsBeforeCode(t *testing.T) {
	cases := map[string]func(db *migratetest.Memory){
		"apply fails":      func(db *migratetest.Memory) { db.FailApply("002", errBoom) },
		"unhealthy":        func(db *migratetest.Memory) { db.SetUnhealthy(errBoom) },
		"lock never freed": func(db *migratetest.Memory) { db.Contend("002", 1000) },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fleet := newFleet(healthy)
				p, rec := newPlan(fleet)
				db := migratetest.NewMemory(migrate.Migration{ID: "001"}, migrate.Migration{ID: "002"})
				breakIt(db)
				p.Migrations = db
				rep, err := deploy.Run(t.Context(), p)
				if !errors.Is(err, deploy.ErrMigration) {
					t.Fatalf("err = %v, want ErrMigration", err)
				}
				if rep.Outcome != deploy.FixForwardRequired || rep.Decision == nil || rep.Decision.Actions[0] != deploy.FixForward {
					t.Errorf("outcome %q decision %+v, want fix forward", rep.Outcome, rep.Decision)
				}
				if rec.count(deploy.KindAction) != 0 {
					t.Error("code was touched after a failed migration")
				}
				assertVersions(t, fleet, map[string]int{"v1": 8})
			})
		})
	}
}

func TestPreflightReportsEveryFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, rec := newPlan(fleet)
		p.Tests = deploy.CheckFunc(func(ctx context.Context, p *deploy.Plan) error {
			return errors.New("3 tests failed for v2")
		})
		p.Flags, p.KillSwitch = &flags.Memory{}, "missing-flag"
		db := migratetest.NewMemory(migrate.Migration{ID: "003_drop_note", Removes: []string{"orders.note"}})
		p.Migrations, p.Schema = db, migrate.Usage{Running: []string{"orders.note"}}
		p.Checks = []deploy.Check{deploy.Named("change window open", deploy.CheckFunc(func(ctx context.Context, p *deploy.Plan) error {
			return errors.New("freeze until Monday")
		}))}
		p.Metrics = verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
			return verify.Observation{}, verify.ErrNoData
		})
		notified := false
		p.Change.Disruption = "checkout read-only for 30s"
		p.Notifier = deploy.NotifierFunc(func(ctx context.Context, n deploy.Notice) error {
			notified = true
			return nil
		})

		rep, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrPreflight) || rep.Outcome != deploy.Aborted {
			t.Fatalf("err = %v, outcome %q; want pre-flight failure", err, rep.Outcome)
		}
		for _, want := range []string{"3 tests failed", "missing-flag", "orders.note", "freeze until Monday", "baseline", "5 problem(s)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("pre-flight error does not mention %q:\n%v", want, err)
			}
		}
		if notified {
			t.Error("team notified of a deployment that will not start")
		}
		if len(db.Applied()) != 0 || rec.count(deploy.KindAction) != 0 {
			t.Error("something changed although pre-flight failed")
		}
	})
}

func TestNotifiesBeforeDisruption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, rec := newPlan(fleet)
		var got deploy.Notice
		p.Change.Disruption = "checkout read-only for 30s"
		p.Notifier = deploy.NotifierFunc(func(ctx context.Context, n deploy.Notice) error {
			got = n
			if rec.count(deploy.KindAction) > 0 {
				t.Error("notified after the deployment started")
			}
			return nil
		})
		if _, err := deploy.Run(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		if got.Disruption != p.Change.Disruption || got.Engineer != "ana" || got.Version != "v2" {
			t.Errorf("notice = %+v", got)
		}

		// A notifier that cannot deliver stops the deployment.
		fleet = newFleet(healthy)
		p, _ = newPlan(fleet)
		p.Change.Disruption = "maintenance page"
		p.Notifier = deploy.NotifierFunc(func(context.Context, deploy.Notice) error { return errBoom })
		if _, err := deploy.Run(t.Context(), p); !errors.Is(err, deploy.ErrPreflight) || !errors.Is(err, errBoom) {
			t.Errorf("err = %v, want pre-flight failure from the notifier", err)
		}
	})
}

func TestPromotion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var promos deploy.MemoryPromotions
		prod := func() (*deploy.Plan, *strategytest.Fleet) {
			fleet := newFleet(healthy)
			p, _ := newPlan(fleet)
			p.Environment, p.Promotions = deploy.Production, &promos
			return p, fleet
		}

		p, fleet := prod()
		_, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrPreflight) || !strings.Contains(err.Error(), "has not completed in staging") {
			t.Fatalf("err = %v, want production refused before staging", err)
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})

		p, _ = prod()
		p.Change.Trivial = "copy change on the footer"
		if _, err := deploy.Run(t.Context(), p); err != nil {
			t.Fatalf("trivial change refused: %v", err)
		}
		h, _ := promos.History(t.Context(), "shop")
		if len(h) != 1 || h[0].Trivial != "copy change on the footer" {
			t.Errorf("history = %+v, want the trivial reason recorded", h)
		}

		staging, _ := prod()
		staging.Environment, staging.Version = deploy.Staging, "v3"
		v3Fleet := func() (strategy.Target, *strategytest.Fleet) {
			f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 8, RPS: 100,
				Behaviors: map[string]strategytest.Behavior{"v1": healthy, "v3": healthy}})
			return strategy.Target{Fleet: f, Router: f}, f
		}
		staging.Target, staging.Metrics = v3Fleet()
		if _, err := deploy.Run(t.Context(), staging); err != nil {
			t.Fatalf("staging: %v", err)
		}
		p, _ = prod()
		p.Version = "v3"
		p.Target, p.Metrics = v3Fleet()
		if _, err := deploy.Run(t.Context(), p); err != nil {
			t.Errorf("production after staging: %v", err)
		}
	})
}

// TestPreflightLintsMigrations: a linter's error findings stop the
// deployment, its warnings do not, and what it finds removed is checked
// against what the code uses.
func TestPreflightLintsMigrations(t *testing.T) {
	linter := migrate.LinterFunc(func(ctx context.Context, m migrate.Migration) (migrate.Analysis, error) {
		switch m.ID {
		case "001_not_null":
			return migrate.Analysis{Findings: []migrate.Finding{{Rule: "adding-required-field", Severity: migrate.Error, Migration: m.ID, Message: "NOT NULL without a default", Fix: "add a default"}}}, nil
		case "002_drop_note":
			return migrate.Analysis{
				Findings: []migrate.Finding{{Rule: "ban-drop-column", Severity: migrate.Warning, Migration: m.ID, Message: "drops orders.note", Fix: "drop it in a later deployment"}},
				Removes:  []string{"orders.note"},
			}, nil
		}
		return migrate.Analysis{}, nil
	})
	for _, c := range []struct {
		name    string
		ids     []string
		usage   migrate.Usage
		wantErr []string // empty: pre-flight passes
	}{
		{"error finding", []string{"001_not_null"}, migrate.Usage{Running: []string{"orders"}}, []string{"adding-required-field"}},
		{"removal of a used column", []string{"002_drop_note"}, migrate.Usage{Running: []string{"orders.note"}}, []string{"ban-drop-column", "running version still uses"}},
		{"removal of an unused column is a warning", []string{"002_drop_note"}, migrate.Usage{Running: []string{"orders.id"}, New: []string{"orders.id"}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fleet := newFleet(healthy)
				p, rec := newPlan(fleet)
				var ms []migrate.Migration
				for _, id := range c.ids {
					ms = append(ms, migrate.Migration{ID: id})
				}
				p.Migrations, p.Linter, p.Schema = migratetest.NewMemory(ms...), linter, c.usage
				_, err := deploy.Run(t.Context(), p)
				if len(c.wantErr) == 0 {
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
					if rec.index(deploy.KindCheck, "migration warning") < 0 {
						t.Error("the linter's warning was not reported")
					}
					return
				}
				if !errors.Is(err, deploy.ErrPreflight) {
					t.Fatalf("err = %v, want a pre-flight failure", err)
				}
				for _, want := range c.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("pre-flight error lacks %q:\n%v", want, err)
					}
				}
			})
		})
	}
}
