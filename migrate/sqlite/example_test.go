package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/safedeploy/safedeploy/migrate/goose"
	"github.com/safedeploy/safedeploy/migrate/sqlite"
)

// Goose migrations applied to a database file, one at a time as the
// executor applies them, then verified. A real project passes
// os.DirFS("db/migrations") — its existing goose directory — instead of
// the in-memory files.
func ExampleOpen() {
	migrations := fstest.MapFS{
		"00001_orders.sql": {Data: []byte(`-- +goose Up
CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT NOT NULL);

-- +goose Down
DROP TABLE orders;
`)},
		"00002_status.sql": {Data: []byte(`-- +goose Up
ALTER TABLE orders ADD COLUMN status TEXT NOT NULL DEFAULT 'new';
CREATE INDEX orders_status ON orders (status);

-- +goose Down
DROP INDEX orders_status;
ALTER TABLE orders DROP COLUMN status;
`)},
	}
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	r, err := sqlite.Open(filepath.Join(dir, "app.db"), migrations, sqlite.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	ctx := context.Background()
	pending, err := r.Pending(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range pending {
		if err := r.Apply(ctx, m); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("applied", m.ID)
	}
	fmt.Println("healthy:", r.Verify(ctx) == nil)
	// Output:
	// applied 00001_orders.sql
	// applied 00002_status.sql
	// healthy: true
}

// A migration whose second statement fails is rolled back whole, and the
// error says which migration and which statement.
func ExampleOpen_failure() {
	migrations := fstest.MapFS{
		"00001_orders.sql": {Data: []byte(`-- +goose Up
CREATE TABLE orders (id INTEGER PRIMARY KEY);
`)},
		"00002_refunds.sql": {Data: []byte(`-- +goose Up
CREATE TABLE refunds (id INTEGER PRIMARY KEY, order_id INTEGER);
INSERT INTO refunds (order_id) SELECT id FROM order_lines;
`)},
	}
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	r, err := sqlite.Open(filepath.Join(dir, "app.db"), migrations, sqlite.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	ctx := context.Background()
	pending, _ := r.Pending(ctx)
	for _, m := range pending {
		if err := r.Apply(ctx, m); err != nil {
			var ae *goose.ApplyError
			if errors.As(err, &ae) {
				fmt.Printf("%s failed at statement %d of %d, rolled back: %t\n", ae.Migration, ae.Statement+1, ae.Statements, ae.InTransaction)
			}
			fmt.Println(err)
			break
		}
	}
	left, _ := r.Pending(ctx)
	fmt.Println("still pending:", left[0].ID)
	// Output:
	// 00002_refunds.sql failed at statement 2 of 2, rolled back: true
	// migrate/goose: apply 00002_refunds.sql: statement 2 of 2 (INSERT INTO refunds (order_id) SELECT id FROM order_lines;) failed; the migration was rolled back; it stays pending and is applied first next time, so fix this migration itself (a new migration would only run after it): SQL logic error: no such table: order_lines (1)
	// still pending: 00002_refunds.sql
}

// The runner as the plan's linter: it tries the pending migrations on a
// copy of the database and says what each removes — here a column dropped
// by rebuilding the table, SQLite's usual way — which pre-flight checks
// against what the running version uses (deploy.Plan.Schema).
func ExampleRunner_Lint() {
	migrations := fstest.MapFS{
		"00001_orders.sql": {Data: []byte("-- +goose Up\nCREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, note TEXT);\n")},
		"00002_drop_note.sql": {Data: []byte(`-- +goose Up
CREATE TABLE orders_new (id INTEGER PRIMARY KEY, status TEXT);
INSERT INTO orders_new SELECT id, status FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
`)},
		"00003_refunds.sql": {Data: []byte("-- +goose Up\nCREATE TABLE refunds (id INTEGER PRIMARY KEY, order_id INTEGER);\nINSERT INTO refunds SELECT id, id FROM order_lines;\n")},
	}
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	r, err := sqlite.Open(filepath.Join(dir, "app.db"), migrations, sqlite.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	ctx := context.Background()
	pending, err := r.Pending(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range pending {
		a, err := r.Lint(ctx, m) // the executor does this in pre-flight
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(m.ID, "removes", a.Removes)
		for _, f := range a.Findings {
			fmt.Println(" ", f.Severity, f.Rule, "at statement", f.Statement+1)
		}
	}
	left, _ := r.Pending(ctx)
	fmt.Println("still pending:", len(left))
	// Output:
	// 00001_orders.sql removes []
	// 00002_drop_note.sql removes [orders.note]
	// 00003_refunds.sql removes []
	//   error migration-fails at statement 2
	// still pending: 3
}
