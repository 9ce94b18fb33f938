package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	pressly "github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/goose"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
	"github.com/safedeploy/safedeploy/migrate/sqlite"
)

// files returns goose migrations: orders, a status column, an index.
func files() fstest.MapFS {
	return fstest.MapFS{
		"00001_orders.sql": {Data: []byte(`-- +goose Up
CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
INSERT INTO orders (email) VALUES ('a@example.com');

-- +goose Down
DROP TABLE orders;
`)},
		"00002_status.sql": {Data: []byte(`-- +goose Up
ALTER TABLE orders ADD COLUMN status TEXT NOT NULL DEFAULT 'new';
`)},
		"00003_index.sql": {Data: []byte(`-- +goose Up
CREATE INDEX orders_status ON orders (status);
`)},
		"README.md": {Data: []byte("not a migration")},
	}
}

// open returns a runner over fsys on a new database file, and a second
// handle on the same file for looking at it.
func open(t *testing.T, fsys fstest.MapFS, c sqlite.Config) (*sqlite.Runner, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	r, err := sqlite.Open(path, fsys, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return r, db
}

func ids(ms []migrate.Migration) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func versions(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	rows, err := db.Query("SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func columns(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query("SELECT name FROM pragma_table_info(?) ORDER BY cid", table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	fsys := files()
	r, db := open(t, fsys, sqlite.Config{})

	pending, err := r.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"00001_orders.sql", "00002_status.sql", "00003_index.sql"}
	if diff := cmp.Diff(want, ids(pending)); diff != "" {
		t.Fatalf("Pending IDs (-want +got):\n%s", diff)
	}
	for _, m := range pending {
		if m.SQL != string(fsys[m.ID].Data) {
			t.Errorf("%s: SQL = %q, want the file's contents", m.ID, m.SQL)
		}
	}
	if err := r.Verify(ctx); err == nil {
		t.Error("Verify with 3 migrations pending = nil, want an error")
	}

	if err := r.Apply(ctx, pending[1]); err == nil {
		t.Error("Apply of the second pending migration first = nil, want it refused as out of order")
	}
	if err := r.Apply(ctx, migrate.Migration{ID: "00009_nope.sql"}); err == nil {
		t.Error("Apply of an unknown migration = nil, want it refused")
	}
	for _, m := range pending {
		if err := r.Apply(ctx, m); err != nil {
			t.Fatalf("Apply(%s): %v", m.ID, err)
		}
	}
	if err := r.Apply(ctx, pending[0]); err != nil {
		t.Errorf("Apply of an applied migration = %v, want nil: it is left as it is", err)
	}
	if left, err := r.Pending(ctx); err != nil || len(left) != 0 {
		t.Errorf("Pending after applying all = %v, %v; want none", ids(left), err)
	}
	if err := r.Verify(ctx); err != nil {
		t.Errorf("Verify = %v, want nil", err)
	}
	if diff := cmp.Diff([]int64{0, 1, 2, 3}, versions(t, db)); diff != "" {
		t.Errorf("goose version table (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"id", "email", "status"}, columns(t, db, "orders")); diff != "" {
		t.Errorf("orders columns (-want +got):\n%s", diff)
	}

	// goose itself agrees: nothing to do.
	if res, err := r.Provider().Up(ctx); err != nil || len(res) != 0 {
		t.Errorf("goose Up after the runner = %v, %v; want nothing to apply", res, err)
	}
}

func TestFailedMigrationLeavesSchemaUnchanged(t *testing.T) {
	ctx := t.Context()
	fsys := files()
	fsys["00004_broken.sql"] = &fstest.MapFile{Data: []byte(`-- +goose Up
CREATE TABLE refunds (id INTEGER PRIMARY KEY);
INSERT INTO no_such_table VALUES (1);
`)}
	r, db := open(t, fsys, sqlite.Config{})
	pending, err := r.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range pending[:3] {
		if err := r.Apply(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	err = r.Apply(ctx, pending[3])
	var ae *goose.ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Apply = %v, want an *ApplyError", err)
	}
	if ae.Migration != "00004_broken.sql" || ae.Statement != 1 || ae.Statements != 2 || !ae.InTransaction {
		t.Errorf("ApplyError = %+v; want migration 00004_broken.sql, statement 1 of 2, in a transaction", ae)
	}
	if ae.SQL != "INSERT INTO no_such_table VALUES (1);" {
		t.Errorf("ApplyError.SQL = %q", ae.SQL)
	}
	var pe *pressly.PartialError
	if !errors.As(err, &pe) || pe.Failed.Source.Version != 4 {
		t.Errorf("error does not unwrap to goose's PartialError for version 4: %v", err)
	}
	if errors.Is(err, migrate.ErrLockTimeout) {
		t.Errorf("a missing table is reported as a lock timeout: %v", err)
	}
	t.Log(err)
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'refunds'").Scan(&n); err != nil || n != 0 {
		t.Errorf("refunds table exists (%d, %v): the first statement was not rolled back", n, err)
	}
	if diff := cmp.Diff([]int64{0, 1, 2, 3}, versions(t, db)); diff != "" {
		t.Errorf("goose version table (-want +got):\n%s", diff)
	}
	left, err := r.Pending(ctx)
	if err != nil || !slices.Equal(ids(left), []string{"00004_broken.sql"}) {
		t.Errorf("Pending = %v, %v; want the broken migration still pending", ids(left), err)
	}
}

func TestBusyDatabaseIsALockTimeout(t *testing.T) {
	ctx := t.Context()
	const timeout = 100 * time.Millisecond
	r, db := open(t, files(), sqlite.Config{LockTimeout: timeout})
	pending, err := r.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, pending[0]); err != nil {
		t.Fatal(err)
	}

	// Another connection holds the write lock.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = r.Apply(ctx, pending[1])
	took := time.Since(start)
	if !errors.Is(err, migrate.ErrLockTimeout) {
		t.Fatalf("Apply while another connection writes = %v, want ErrLockTimeout", err)
	}
	if took < timeout || took > timeout+2*time.Second {
		t.Errorf("Apply gave up after %s, want about the lock timeout %s", took, timeout)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, pending[1]); err != nil {
		t.Errorf("Apply once the lock is released = %v, want nil", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		path string
		c    sqlite.Config
		fsys fstest.MapFS
	}{
		"negative timeout": {"x.db", sqlite.Config{LockTimeout: -time.Second}, files()},
		"a URI":            {"file:x.db?mode=ro", sqlite.Config{}, files()},
		"no migrations":    {"x.db", sqlite.Config{}, fstest.MapFS{}},
		"goose logger":     {"x.db", sqlite.Config{Options: []pressly.ProviderOption{pressly.WithLogger(pressly.NopLogger())}}, files()},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.path)
			if r, err := sqlite.Open(path, c.fsys, c.c); err == nil {
				r.Close()
				t.Errorf("Open = nil error, want one")
			}
		})
	}
}

func TestConformance(t *testing.T) {
	migratetest.Run(t, func(t *testing.T) migratetest.Opener {
		path := filepath.Join(t.TempDir(), "app.db")
		return func(ms []migrate.Migration) (migrate.Runner, error) {
			return sqlite.Open(path, migratetest.FS(ms), sqlite.Config{})
		}
	})
}
