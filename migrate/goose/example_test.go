package goose_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing/fstest"

	pressly "github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"github.com/safedeploy/safedeploy/migrate/goose"
)

// A runner for a database goose supports, adapted with a Config: here
// SQLite through database/sql, with a health check of its own. Packages
// migrate/postgres and migrate/sqlite do this, and more, for their
// databases.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}

	// An existing project passes os.DirFS("db/migrations").
	migrations := fstest.MapFS{
		"00001_orders.sql": {Data: []byte("-- +goose Up\nCREATE TABLE orders (id INTEGER PRIMARY KEY);\n")},
		"00002_status.sql": {Data: []byte("-- +goose Up\nALTER TABLE orders ADD COLUMN status TEXT DEFAULT 'new';\n")},
	}
	r, err := goose.New(pressly.DialectSQLite3, db, migrations, goose.Config{
		Check: func(ctx context.Context, db *sql.DB) error {
			var ok string
			if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&ok); err != nil || ok != "ok" {
				return fmt.Errorf("quick_check: %q, %v", ok, err)
			}
			return nil
		},
	})
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
	fmt.Println("verify before:", r.Verify(ctx))
	for _, m := range pending {
		if err := r.Apply(ctx, m); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("verify after:", r.Verify(ctx))
	// Output:
	// verify before: migrate/goose: database unhealthy: 2 migration(s) pending, first 00001_orders.sql
	// verify after: <nil>
}
