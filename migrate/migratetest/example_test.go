package migratetest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
)

// Applying the pending migrations in order, retrying a lock timeout as the
// executor does, then checking the database is healthy.
func ExampleMemory() {
	ctx := context.Background()
	db := migratetest.NewMemory(
		migrate.Migration{ID: "0001_add_status", SQL: "ALTER TABLE orders ADD COLUMN status text DEFAULT 'new'"},
		migrate.Migration{ID: "0002_index_status", SQL: "CREATE INDEX CONCURRENTLY orders_status ON orders (status)"},
	)
	db.Contend("0002_index_status", 1) // another transaction holds the lock once

	pending, err := db.Pending(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range pending {
		err := db.Apply(ctx, m)
		for errors.Is(err, migrate.ErrLockTimeout) {
			fmt.Println(err, "- retrying")
			err = db.Apply(ctx, m) // the executor waits with backoff first
		}
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("applied:", db.Applied())
	fmt.Println("attempts at 0002:", db.Attempts("0002_index_status"))
	fmt.Println("healthy:", db.Verify(ctx) == nil)

	db.SetUnhealthy(errors.New("index orders_status is invalid"))
	fmt.Println(db.Verify(ctx))
	// Output:
	// migratetest: apply "0002_index_status": migrate: lock timeout - retrying
	// applied: [0001_add_status 0002_index_status]
	// attempts at 0002: 2
	// healthy: true
	// migratetest: database unhealthy: index orders_status is invalid
}

// memory returns a Memory that fails the migration the suite means to
// fail, as a database would.
func memory(ms []migrate.Migration) *migratetest.Memory {
	db := migratetest.NewMemory(ms...)
	for _, m := range ms {
		if strings.Contains(m.SQL, "no_such_table") {
			db.FailApply(m.ID, errors.New("no such table: no_such_table"))
		}
	}
	return db
}

// Check names each check a runner fails and what the runner did wrong.
func ExampleCheck() {
	// An Opener over one database: one Memory, whichever runner opens it.
	shared := func() (migratetest.Opener, error) {
		var (
			once sync.Once
			db   *migratetest.Memory
		)
		return func(ms []migrate.Migration) (migrate.Runner, error) {
			once.Do(func() { db = memory(ms) })
			return db, nil
		}, nil
	}
	fmt.Println(migratetest.Check(context.Background(), shared))

	// The mistake: a database per runner. A second runner — another
	// process — starts from nothing, and would apply everything again.
	forgetful := func() (migratetest.Opener, error) {
		return func(ms []migrate.Migration) (migrate.Runner, error) { return memory(ms), nil }, nil
	}
	fmt.Println(migratetest.Check(context.Background(), forgetful))
	// Output:
	// <nil>
	// SecondRunner: Pending on a second runner, after the first applied 00001_accounts.sql = ["00001_accounts.sql" "00002_credit.sql" "00003_refunds.sql"], want ["00002_credit.sql" "00003_refunds.sql"]
}
