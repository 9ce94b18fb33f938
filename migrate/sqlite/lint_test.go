package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/sqlite"
)

// shop is the schema the lint tests start from, applied for real.
const shop = `-- +goose Up
CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT NOT NULL, note TEXT, coupon TEXT);
CREATE TABLE legacy (id INTEGER PRIMARY KEY);
CREATE INDEX orders_email ON orders (email);
CREATE VIEW order_notes AS SELECT id, note FROM orders;
INSERT INTO orders (email, note) VALUES ('a@example.com', 'leave at the door');
`

func TestLint(t *testing.T) {
	for _, tt := range []struct {
		name, sql string
		removes   []string
	}{
		{"drop column", "ALTER TABLE orders DROP COLUMN coupon;", []string{"orders.coupon"}},
		{"drop table", "DROP TABLE legacy;", []string{"legacy"}},
		{"rename column", "ALTER TABLE legacy RENAME COLUMN id TO legacy_id;", []string{"legacy.id"}},
		{"rename table", "ALTER TABLE legacy RENAME TO archive;", []string{"legacy"}},
		{"drop view", "DROP VIEW order_notes;", []string{"order_notes"}},
		// SQLite's way to change a table: build a new one and swap it in.
		{"table rebuilt without a column", `DROP VIEW order_notes;
CREATE TABLE orders_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL, coupon TEXT);
INSERT INTO orders_new (id, email, coupon) SELECT id, email, coupon FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_email ON orders (email);
CREATE VIEW order_notes AS SELECT id, email AS note FROM orders;`, []string{"orders.note"}},
		// The view still exists but can no longer be read.
		{"view left broken", "DROP TABLE orders;", []string{"order_notes", "orders"}},
		{"additions only", "ALTER TABLE orders ADD COLUMN status TEXT DEFAULT 'new';\nCREATE TABLE refunds (id INTEGER);\nCREATE INDEX orders_note ON orders (note);", nil},
		{"column named in another case", "ALTER TABLE orders DROP COLUMN coupon;\nALTER TABLE orders ADD COLUMN COUPON TEXT;", nil},
		{"dropped and added back", "ALTER TABLE orders DROP COLUMN coupon;\nALTER TABLE orders ADD COLUMN coupon TEXT;", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			scratch := t.TempDir()
			fsys := fstest.MapFS{
				"00001_shop.sql":   {Data: []byte(shop)},
				"00002_change.sql": {Data: []byte("-- +goose Up\n" + tt.sql + "\n")},
			}
			r, db := open(t, fsys, sqlite.Config{ScratchDir: scratch})
			pending, err := r.Pending(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Apply(t.Context(), pending[0]); err != nil {
				t.Fatal(err)
			}
			beforeCols := columns(t, db, "orders")
			a, err := r.Lint(t.Context(), pending[1])
			if err != nil {
				t.Fatalf("Lint: %v", err)
			}
			if diff := cmp.Diff(tt.removes, a.Removes); diff != "" {
				t.Errorf("Removes (-want +got):\n%s", diff)
			}
			if len(a.Findings) != 0 {
				t.Errorf("findings %v, want none", a.Findings)
			}
			// The database itself is as it was.
			if diff := cmp.Diff(beforeCols, columns(t, db, "orders")); diff != "" {
				t.Errorf("orders changed in the database itself (-before +after):\n%s", diff)
			}
			if left, err := r.Pending(t.Context()); err != nil || len(left) != 1 {
				t.Errorf("Pending after Lint = %v, %v; want the migration still pending", ids(left), err)
			}
			if entries, _ := os.ReadDir(scratch); len(entries) != 0 {
				t.Errorf("the copy was left behind in ScratchDir: %v", entries)
			}
		})
	}
}

// Each migration is linted against the schema the ones before it leave,
// and the linter notices when the database changes between calls.
func TestLintInOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"00001_shop.sql":       {Data: []byte(shop)},
		"00002_add_notes.sql":  {Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER, body TEXT);\n")},
		"00003_drop_body.sql":  {Data: []byte("-- +goose Up\nALTER TABLE notes DROP COLUMN body;\n")},
		"00004_drop_notes.sql": {Data: []byte("-- +goose Up\nDROP TABLE notes;\n")},
	}
	r, _ := open(t, fsys, sqlite.Config{})
	pending, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"00003_drop_body.sql": {"notes.body"}, "00004_drop_notes.sql": {"notes"}}
	lintAll := func(ms []migrate.Migration) {
		t.Helper()
		for _, m := range ms {
			a, err := r.Lint(t.Context(), m)
			if err != nil {
				t.Fatalf("Lint(%s): %v", m.ID, err)
			}
			if diff := cmp.Diff(want[m.ID], a.Removes); diff != "" {
				t.Errorf("Lint(%s).Removes (-want +got):\n%s", m.ID, diff)
			}
		}
	}
	lintAll(pending)
	for _, m := range pending[:2] {
		if err := r.Apply(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	lintAll(pending[2:])
	if _, err := r.Lint(t.Context(), pending[0]); err == nil || !strings.Contains(err.Error(), "not a pending migration") {
		t.Errorf("Lint of an applied migration = %v, want it refused", err)
	}
	changed := pending[2]
	changed.SQL += "\n-- edited"
	if _, err := r.Lint(t.Context(), changed); err == nil {
		t.Error("Lint of a migration whose SQL is not the file's: nil error")
	}
}

func TestLintFailingMigration(t *testing.T) {
	fsys := fstest.MapFS{
		"00001_shop.sql":   {Data: []byte(shop)},
		"00002_broken.sql": {Data: []byte("-- +goose Up\nCREATE TABLE refunds (id INTEGER);\nINSERT INTO refunds SELECT id FROM order_lines;\n")},
		"00003_after.sql":  {Data: []byte("-- +goose Up\nDROP TABLE legacy;\n")},
	}
	r, _ := open(t, fsys, sqlite.Config{})
	pending, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.Lint(t.Context(), pending[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Findings) != 1 || a.Findings[0].Rule != sqlite.RuleFails || a.Findings[0].Severity != migrate.Error || a.Findings[0].Statement != 1 ||
		!strings.Contains(a.Findings[0].Message, "statement 2 of 2") || !strings.Contains(a.Findings[0].Message, "no such table: order_lines") {
		t.Errorf("findings %v, want one error: fails at statement 2 of 2", a.Findings)
	}
	if _, err := r.Lint(t.Context(), pending[2]); err == nil || !strings.Contains(err.Error(), "00002_broken.sql, before it, fails") {
		t.Errorf("Lint of the migration after a failing one = %v, want an error naming the failing one", err)
	}
}

func TestLintDataDependentFailure(t *testing.T) {
	fsys := fstest.MapFS{
		"00001_shop.sql":   {Data: []byte(shop + "INSERT INTO orders (email) VALUES ('a@example.com');\n")},
		"00002_unique.sql": {Data: []byte("-- +goose Up\nCREATE UNIQUE INDEX orders_email_unique ON orders (email);\n")},
	}
	r, _ := open(t, fsys, sqlite.Config{})
	pending, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(t.Context(), pending[0]); err != nil {
		t.Fatal(err)
	}
	a, err := r.Lint(t.Context(), pending[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Findings) != 1 || !strings.Contains(a.Findings[0].Message, "UNIQUE constraint failed") {
		t.Errorf("findings %v, want the unique index failing on the copied rows", a.Findings)
	}
}

func TestLintRefuses(t *testing.T) {
	r, _ := open(t, fstest.MapFS{"00001_shop.sql": {Data: []byte(shop)}}, sqlite.Config{ScratchDir: filepath.Join(t.TempDir(), "missing")})
	_, err := r.Lint(t.Context(), migrate.Migration{ID: "00009_other.sql", SQL: "DROP TABLE orders"})
	if err == nil || !strings.Contains(err.Error(), "not a pending migration") {
		t.Errorf("Lint of an unknown migration = %v, want it refused", err)
	}
	pending, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lint(t.Context(), pending[0]); err == nil || !strings.Contains(err.Error(), "a directory for the copy of the database") {
		t.Errorf("Lint with a ScratchDir that does not exist = %v, want it to say it cannot make the copy", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Lint(ctx, pending[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("Lint with a cancelled context = %v, want context.Canceled", err)
	}
}

// BenchmarkLint measures linting two pending migrations over a database
// of orders: "copy" with a new runner each time (the copy is made), and
// "kept" with one runner (what it found is kept).
func BenchmarkLint(b *testing.B) {
	for _, rows := range []int{1_000, 100_000} {
		path := filepath.Join(b.TempDir(), "app.db")
		fsys := fstest.MapFS{
			"00001_shop.sql":    {Data: []byte(shop + fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) INSERT INTO orders (email, note) SELECT 'user' || i || '@example.com', 'note ' || i FROM n;\n", rows))},
			"00002_coupon.sql":  {Data: []byte("-- +goose Up\nALTER TABLE orders DROP COLUMN coupon;\n")},
			"00003_archive.sql": {Data: []byte("-- +goose Up\nDROP TABLE legacy;\n")},
		}
		r, err := sqlite.Open(path, fsys, sqlite.Config{})
		if err != nil {
			b.Fatal(err)
		}
		pending, err := r.Pending(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Apply(b.Context(), pending[0]); err != nil {
			b.Fatal(err)
		}
		pending = pending[1:]
		lint := func(b *testing.B, r *sqlite.Runner) {
			for _, m := range pending {
				if _, err := r.Lint(b.Context(), m); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(fmt.Sprintf("rows=%d/copy", rows), func(b *testing.B) {
			for b.Loop() {
				fresh, err := sqlite.Open(path, fsys, sqlite.Config{})
				if err != nil {
					b.Fatal(err)
				}
				lint(b, fresh)
				fresh.Close()
			}
		})
		b.Run(fmt.Sprintf("rows=%d/kept", rows), func(b *testing.B) {
			lint(b, r)
			for b.Loop() {
				lint(b, r)
			}
		})
		r.Close()
	}
}
