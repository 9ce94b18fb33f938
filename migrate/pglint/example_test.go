package pglint_test

import (
	"context"
	"fmt"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/pglint"
)

func ExampleLinter() {
	sql := `-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN status text NOT NULL;
CREATE INDEX orders_placed_at_idx ON orders (placed_at);
ALTER TABLE orders DROP COLUMN note;

-- +goose Down
ALTER TABLE orders ADD COLUMN note text;
`
	m := migrate.Migration{ID: "0042_orders_status", SQL: sql}
	a, err := pglint.Linter{}.Lint(context.Background(), m)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range a.Findings {
		line, col := pglint.Position(m.SQL, f.Pos)
		fmt.Printf("%s.sql:%d:%d: %s [%s]\n", m.ID, line, col, f.Severity, f.Rule)
	}
	fmt.Println("removes:", a.Removes)

	// The deploy's expand/contract check decides whether the drop is safe.
	m.Removes = a.Removes
	for _, f := range migrate.CheckRemovals([]migrate.Migration{m}, migrate.Usage{Running: []string{"orders.note"}}) {
		fmt.Printf("%s [%s]: %s\n", f.Severity, f.Rule, f.Message)
	}
	// Output:
	// 0042_orders_status.sql:3:1: error [adding-required-field]
	// 0042_orders_status.sql:4:1: error [require-concurrent-index-creation]
	// 0042_orders_status.sql:5:1: warning [ban-drop-column]
	// removes: [orders.note]
	// error [ban-drop-column]: removes orders.note, which the running version still uses: its instances break while the deployment runs
}

func ExampleLinter_syntaxError() {
	_, err := pglint.Linter{}.Lint(context.Background(), migrate.Migration{
		ID:  "0043_typo",
		SQL: "-- +goose Up\nALTER TABEL orders ADD COLUMN note text;\n",
	})
	fmt.Println(err)
	// Output:
	// pglint: 0043_typo:2:7: syntax error at or near "TABEL"
}
