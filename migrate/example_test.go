package migrate_test

import (
	"fmt"

	"github.com/safedeploy/safedeploy/migrate"
)

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
