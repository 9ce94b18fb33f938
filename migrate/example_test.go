package migrate_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/safedeploy/safedeploy/migrate"
)

// Applying the pending migrations in order, retrying a lock timeout as the
// executor does, then checking the database is healthy.
func ExampleMemory() {
	ctx := context.Background()
	db := migrate.NewMemory(
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
	// migrate: apply "0002_index_status": migrate: lock timeout - retrying
	// applied: [0001_add_status 0002_index_status]
	// attempts at 0002: 2
	// healthy: true
	// migrate: database unhealthy: index orders_status is invalid
}

// Dropping a column in the same deployment that stops using it is refused:
// the old instances still read it until the deployment completes.
func ExampleCheckRemovals() {
	pending := []migrate.Migration{{
		ID:      "0003_drop_note",
		SQL:     "ALTER TABLE orders DROP COLUMN note",
		Removes: []string{"orders.note"},
	}}
	usage := migrate.Usage{
		Running: []string{"orders.id", "orders.note"},
		New:     []string{"orders.id", "orders.status"},
	}
	for _, f := range migrate.CheckRemovals(pending, usage) {
		fmt.Println(f)
	}

	// One deployment later, no running version uses the column.
	usage.Running = usage.New
	fmt.Println("findings next time:", len(migrate.CheckRemovals(pending, usage)))
	// Output:
	// 0003_drop_note: error [ban-drop-column]: removes orders.note, which the running version still uses: its instances break while the deployment runs; fix: keep it in this deployment; remove it in a later one, once no running version uses it (expand, migrate, then contract)
	// findings next time: 0
}
