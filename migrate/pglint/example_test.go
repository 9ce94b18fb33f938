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

// A migration without goose annotations is plain SQL: outside a
// transaction unless the runner wraps it in one, as Flyway does, which
// AssumeInTransaction says. DO block bodies are linted statement by
// statement.
func ExampleLinter_plainSQL() {
	sql := `SET lock_timeout = '2s';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'orders_placed_at_idx') THEN
        CREATE INDEX orders_placed_at_idx ON orders (placed_at);
    END IF;
END $$;
CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id);
`
	m := migrate.Migration{ID: "V42__orders_indexes", SQL: sql}
	for _, l := range []pglint.Linter{{}, {AssumeInTransaction: true}} {
		a, err := l.Lint(context.Background(), m)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("AssumeInTransaction %v:\n", l.AssumeInTransaction)
		for _, f := range a.Findings {
			line, col := pglint.Position(m.SQL, f.Pos)
			fmt.Printf("  %s.sql:%d:%d: [%s]\n", m.ID, line, col, f.Rule)
		}
	}
	// Output:
	// AssumeInTransaction false:
	//   V42__orders_indexes.sql:5:9: [require-concurrent-index-creation]
	// AssumeInTransaction true:
	//   V42__orders_indexes.sql:5:9: [require-concurrent-index-creation]
	//   V42__orders_indexes.sql:8:1: [ban-concurrent-index-creation-in-transaction]
}
