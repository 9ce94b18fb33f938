package pglint_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
	"github.com/safedeploy/safedeploy/migrate/pglint"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// TestPreflight: wired into a plan, the linter's findings and the columns
// it sees dropped stop a deployment in pre-flight, before anything changes.
func TestPreflight(t *testing.T) {
	for _, c := range []struct {
		name, sql string
		running   []string
		want      string // in the pre-flight error; "" means it passes
	}{
		{"unsafe statement", "ALTER TABLE orders ADD COLUMN status text NOT NULL;", []string{"orders.id"}, "adding-required-field"},
		{"drop of a column the running version uses", "ALTER TABLE orders DROP COLUMN note;", []string{"orders.note"}, "running version still uses"},
		{"drop of a column no version uses", "ALTER TABLE orders DROP COLUMN legacy;", []string{"orders.note"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 2, RPS: 100})
				db := migratetest.NewMemory(migrate.Migration{ID: "0042", SQL: "-- +goose Up\n" + c.sql})
				p := &deploy.Plan{
					Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Dev,
					Change:     deploy.Change{Engineer: "ana", What: "orders"},
					Tests:      deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil }),
					Migrations: db, Linter: pglint.Linter{RunnerSetsLockTimeout: true},
					Schema:   migrate.Usage{Running: c.running, New: []string{"orders.id"}},
					Strategy: strategy.Canary{}, Target: strategy.Target{Fleet: fleet, Router: fleet}, Metrics: fleet,
				}
				_, err := deploy.Run(t.Context(), p)
				if c.want == "" {
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
					return
				}
				if !errors.Is(err, deploy.ErrPreflight) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v, want a pre-flight failure naming %q", err, c.want)
				}
				if len(db.Applied()) != 0 || fleet.Versions()["v2"] != 0 {
					t.Error("something changed although pre-flight failed")
				}
			})
		})
	}
}
