package postgres_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/safedeploy/safedeploy/internal/testserver/pgtest"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/goose"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
	"github.com/safedeploy/safedeploy/migrate/postgres"
)

func TestMain(m *testing.M) { pgtest.Run(m) }

// setup returns a runner over fsys on a fresh database, and a plain
// connection pool to the same database, with no timeouts, standing for the
// application.
func setup(t *testing.T, fsys fstest.MapFS, c postgres.Config) (*goose.Runner, *sql.DB) {
	t.Helper()
	dsn := pgtest.Database(t)
	r, err := postgres.Open(dsn, fsys, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return r, db
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func pending(t *testing.T, r *goose.Runner) []migrate.Migration {
	t.Helper()
	ms, err := r.Pending(t.Context())
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return ms
}

func ids(ms []migrate.Migration) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// applyAll applies the pending migrations, failing t on any error.
func applyAll(t *testing.T, r *goose.Runner) {
	t.Helper()
	for _, m := range pending(t, r) {
		if err := r.Apply(t.Context(), m); err != nil {
			t.Fatalf("Apply(%s): %v", m.ID, err)
		}
	}
}

func versions(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	var out []int64
	query(t, db, "SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY id", func(rows *sql.Rows) error {
		var v int64
		err := rows.Scan(&v)
		out = append(out, v)
		return err
	})
	return out
}

func query(t *testing.T, db *sql.DB, q string, scan func(*sql.Rows) error) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, db *sql.DB, q string) bool {
	t.Helper()
	var ok bool
	if err := db.QueryRowContext(t.Context(), "SELECT EXISTS ("+q+")").Scan(&ok); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return ok
}

func hasColumn(t *testing.T, db *sql.DB, table, column string) bool {
	t.Helper()
	return exists(t, db, fmt.Sprintf("SELECT 1 FROM information_schema.columns WHERE table_name = '%s' AND column_name = '%s'", table, column))
}

func hasTable(t *testing.T, db *sql.DB, table string) bool {
	t.Helper()
	return exists(t, db, fmt.Sprintf("SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = '%s'", table))
}

// hold opens a transaction on db that runs stmts and stays open until
// release is called (release rolls it back; calling it again does nothing).
func hold(t *testing.T, db *sql.DB, stmts ...string) (release func()) {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	done := false
	release = func() {
		if !done {
			done = true
			tx.Rollback()
			conn.Close()
		}
	}
	t.Cleanup(release)
	return release
}

func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	fsys := fstest.MapFS{
		// A SET in a transaction outlives it, for the session; the runner
		// resets sessions, so it must not reach the next migration.
		"00001_orders.sql": file(`-- +goose Up
CREATE TABLE orders (id bigserial PRIMARY KEY, email text NOT NULL);
INSERT INTO orders (email) VALUES ('a@example.com'), ('b@example.com');
CREATE TABLE settings AS SELECT 1 AS migration, pg_backend_pid() AS pid,
  current_setting('lock_timeout') AS lock_timeout,
  current_setting('statement_timeout') AS statement_timeout,
  current_setting('application_name') AS application_name;
SET lock_timeout = '1min';

-- +goose Down
DROP TABLE settings;
DROP TABLE orders;
`),
		"00002_status.sql": file(`-- +goose Up
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
INSERT INTO settings SELECT 2, pg_backend_pid(), current_setting('lock_timeout'),
  current_setting('statement_timeout'), current_setting('application_name');
`),
		"00003_index.sql": file(`-- +goose NO TRANSACTION
-- +goose Up
SET statement_timeout = '5min';
CREATE INDEX CONCURRENTLY orders_status ON orders (status);

-- +goose Down
DROP INDEX CONCURRENTLY orders_status;
`),
	}
	r, db := setup(t, fsys, postgres.Config{LockTimeout: 1500 * time.Millisecond, StatementTimeout: 20 * time.Second})

	ms := pending(t, r)
	if diff := cmp.Diff([]string{"00001_orders.sql", "00002_status.sql", "00003_index.sql"}, ids(ms)); diff != "" {
		t.Fatalf("Pending (-want +got):\n%s", diff)
	}
	for _, m := range ms {
		if m.SQL != string(fsys[m.ID].Data) {
			t.Errorf("%s: SQL is not the file's contents: %q", m.ID, m.SQL)
		}
	}
	if err := r.Apply(ctx, ms[2]); err == nil || !strings.Contains(err.Error(), "00001_orders.sql") {
		t.Errorf("Apply out of order = %v, want it refused naming the next pending migration", err)
	}
	for _, m := range ms {
		if err := r.Apply(ctx, m); err != nil {
			t.Fatalf("Apply(%s): %v", m.ID, err)
		}
	}
	if err := r.Apply(ctx, ms[0]); err != nil {
		t.Errorf("Apply of an applied migration = %v, want nil: it is left as it is", err)
	}
	if left := pending(t, r); len(left) != 0 {
		t.Errorf("Pending after applying all = %v, want none", ids(left))
	}
	if err := r.Verify(ctx); err != nil {
		t.Errorf("Verify = %v, want nil", err)
	}

	// goose's version table is goose's, and goose agrees nothing is left.
	if diff := cmp.Diff([]int64{0, 1, 2, 3}, versions(t, db)); diff != "" {
		t.Errorf("goose_db_version (-want +got):\n%s", diff)
	}
	if res, err := r.Provider().Up(ctx); err != nil || len(res) != 0 {
		t.Errorf("goose Up after the runner = %v, %v; want nothing to do", res, err)
	}
	if !exists(t, db, "SELECT 1 FROM pg_index WHERE indexrelid = 'orders_status'::regclass AND indisvalid") {
		t.Error("orders_status is not a valid index")
	}

	// The timeouts held inside goose's transactions, on the same session
	// both times, and the first migration's SET did not leak.
	type row struct {
		Migration, PID                int
		Lock, Statement, ApplicationN string
	}
	var got []row
	query(t, db, "SELECT migration, pid, lock_timeout, statement_timeout, application_name FROM settings ORDER BY migration", func(rows *sql.Rows) error {
		var x row
		err := rows.Scan(&x.Migration, &x.PID, &x.Lock, &x.Statement, &x.ApplicationN)
		got = append(got, x)
		return err
	})
	if len(got) != 2 {
		t.Fatalf("settings rows = %+v, want 2", got)
	}
	if got[0].PID != got[1].PID {
		t.Logf("the migrations ran on different sessions (%d, %d): the RESET is not exercised", got[0].PID, got[1].PID)
	}
	for _, x := range got {
		if x.Lock != "1500ms" || x.Statement != "20s" || x.ApplicationN != "safedeploy-migrate" {
			t.Errorf("migration %d ran with lock_timeout %s, statement_timeout %s, application_name %q; want 1500ms, 20s, safedeploy-migrate",
				x.Migration, x.Lock, x.Statement, x.ApplicationN)
		}
	}
}

func TestLockTimeout(t *testing.T) {
	ctx := t.Context()
	const lockTimeout = 300 * time.Millisecond
	r, db := setup(t, fstest.MapFS{
		"00001_t.sql":    file("-- +goose Up\nCREATE TABLE t (id int); INSERT INTO t VALUES (1);\n"),
		"00002_note.sql": file("-- +goose Up\nALTER TABLE t ADD COLUMN note text;\n"),
	}, postgres.Config{LockTimeout: lockTimeout})
	ms := pending(t, r)
	if err := r.Apply(ctx, ms[0]); err != nil {
		t.Fatal(err)
	}

	// A transaction that read t holds ACCESS SHARE until it ends; ALTER
	// TABLE needs ACCESS EXCLUSIVE.
	release := hold(t, db, "SELECT * FROM t")
	// Once the ALTER waits for the lock, the transaction ends a second
	// after lock_timeout, unless Apply gave up before: an ALTER still
	// waiting then (its lock_timeout longer, or none) gets the lock and
	// succeeds. Timing the release from when the server shows the ALTER
	// waiting, not timing Apply, keeps a stall of this process from
	// failing the test: a stall can only make the release later.
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- r.Apply(ctx, ms[1]) }()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-poll.C:
			if exists(t, db, "SELECT 1 FROM pg_locks WHERE relation = 't'::regclass AND NOT granted") {
				select {
				case err = <-done:
				case <-time.After(lockTimeout + time.Second):
					release()
					err = <-done
				}
				break wait
			}
		}
	}
	took := time.Since(start)
	t.Logf("Apply returned after %s (lock_timeout %s): %v", took.Round(time.Millisecond), lockTimeout, err)
	if !errors.Is(err, migrate.ErrLockTimeout) {
		t.Fatalf("Apply = %v, want ErrLockTimeout within lock_timeout %s; the lock was released %s after the server showed the ALTER waiting", err, lockTimeout, lockTimeout+time.Second)
	}
	if took < lockTimeout {
		t.Errorf("Apply gave up after %s, before lock_timeout %s", took, lockTimeout)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != postgres.LockNotAvailable {
		t.Errorf("error does not wrap a PgError with SQLSTATE 55P03: %#v", pe)
	}
	var ae *goose.ApplyError
	if !errors.As(err, &ae) || ae.Migration != "00002_note.sql" || ae.Statement != 0 || !ae.InTransaction || !strings.HasPrefix(ae.SQL, "ALTER TABLE t") {
		t.Errorf("ApplyError = %+v, want migration 00002_note.sql, statement 0 (ALTER TABLE), in a transaction", ae)
	}
	if hasColumn(t, db, "t", "note") {
		t.Error("the column was added although the migration timed out")
	}
	if got := ids(pending(t, r)); !slices.Equal(got, []string{"00002_note.sql"}) {
		t.Errorf("Pending = %v, want 00002_note.sql still pending", got)
	}

	release()
	if err := r.Apply(ctx, ms[1]); err != nil {
		t.Fatalf("Apply once the lock is released = %v", err)
	}
	if !hasColumn(t, db, "t", "note") {
		t.Error("the column is missing after the retry")
	}
}

func TestVerifyNamesInvalidIndex(t *testing.T) {
	ctx := t.Context()
	r, db := setup(t, fstest.MapFS{
		"00001_users.sql": file("-- +goose Up\nCREATE TABLE users (id int, email text);\nINSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com');\n"),
	}, postgres.Config{})
	applyAll(t, r)
	if err := r.Verify(ctx); err != nil {
		t.Fatalf("Verify before = %v", err)
	}

	// A unique index built concurrently over duplicates fails, and leaves
	// an INVALID index behind.
	_, err := db.ExecContext(ctx, "CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email)")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Fatalf("building the unique index = %v, want a unique violation", err)
	}
	err = r.Verify(ctx)
	t.Logf("Verify: %v", err)
	if err == nil || !strings.Contains(err.Error(), "public.users_email_key") || !strings.Contains(err.Error(), "INVALID") {
		t.Fatalf("Verify = %v, want it to name the INVALID index public.users_email_key", err)
	}
	bad, err := postgres.InvalidIndexes(ctx, db)
	if diff := cmp.Diff([]postgres.Index{{Schema: "public", Name: "users_email_key", Table: "users"}}, bad); diff != "" || err != nil {
		t.Errorf("InvalidIndexes (-want +got), err %v:\n%s", err, diff)
	}
	if _, err := db.ExecContext(ctx, "DROP INDEX CONCURRENTLY users_email_key"); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx); err != nil {
		t.Errorf("Verify once dropped = %v, want nil", err)
	}
}

// A failed CREATE INDEX CONCURRENTLY leaves an INVALID index; the runner
// drops it, so that the index can be built again under its name.
func TestFailedConcurrentBuildIsDropped(t *testing.T) {
	ctx := t.Context()
	r, db := setup(t, fstest.MapFS{
		"00001_users.sql": file("-- +goose Up\nCREATE TABLE users (id int, email text);\nINSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com');\n"),
		"00002_email_key.sql": file(`-- +goose NO TRANSACTION
-- +goose Up
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
`),
	}, postgres.Config{})
	ms := pending(t, r)
	if err := r.Apply(ctx, ms[0]); err != nil {
		t.Fatal(err)
	}
	err := r.Apply(ctx, ms[1])
	t.Logf("Apply: %v", err)
	var ae *goose.ApplyError
	if !errors.As(err, &ae) || ae.InTransaction || ae.Statement != 0 {
		t.Fatalf("Apply = %v, want an ApplyError at statement 0, outside a transaction", err)
	}
	if errors.Is(err, migrate.ErrLockTimeout) {
		t.Error("a unique violation is reported as a lock timeout")
	}
	if !strings.Contains(ae.Cleanup, "dropped") || !strings.Contains(ae.Cleanup, "public.users_email_key") {
		t.Errorf("Cleanup = %q, want it to say it dropped public.users_email_key", ae.Cleanup)
	}
	if bad, err := postgres.InvalidIndexes(ctx, db); len(bad) != 0 || err != nil {
		t.Errorf("INVALID indexes after the failure: %v, %v; want none", bad, err)
	}

	// Fixed forward: the duplicate goes, and the same migration builds the
	// index under the same name.
	if _, err := db.ExecContext(ctx, "DELETE FROM users WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, ms[1]); err != nil {
		t.Fatalf("Apply again = %v", err)
	}
	if err := r.Verify(ctx); err != nil {
		t.Errorf("Verify = %v", err)
	}
}

// CREATE INDEX CONCURRENTLY waits for transactions older than its build;
// waiting past lock_timeout, it fails and leaves an INVALID index. The
// runner drops that index, reports the failure as safe to retry, and the
// retry builds the index.
func TestConcurrentBuildLockTimeoutRetries(t *testing.T) {
	ctx := t.Context()
	const lockTimeout = 300 * time.Millisecond
	r, db := setup(t, fstest.MapFS{
		"00001_tables.sql": file("-- +goose Up\nCREATE TABLE orders (id int, status text);\nCREATE TABLE other (id int);\nINSERT INTO orders VALUES (1, 'new');\n"),
		"00002_status.sql": file(`-- +goose NO TRANSACTION
-- +goose Up
SET statement_timeout = '1min';
CREATE INDEX CONCURRENTLY orders_status ON orders (status);
`),
	}, postgres.Config{LockTimeout: lockTimeout})
	ms := pending(t, r)
	if err := r.Apply(ctx, ms[0]); err != nil {
		t.Fatal(err)
	}

	t.Run("old snapshot: the index is dropped at once", func(t *testing.T) {
		// An open snapshot, on another table.
		release := hold(t, db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SELECT * FROM other")
		err := r.Apply(ctx, ms[1])
		t.Logf("Apply: %v", err)
		if !errors.Is(err, migrate.ErrLockTimeout) {
			t.Fatalf("Apply = %v, want ErrLockTimeout", err)
		}
		var ae *goose.ApplyError
		if !errors.As(err, &ae) || ae.Statement != 1 || ae.Statements != 2 || !strings.Contains(ae.Cleanup, "public.orders_status") {
			t.Errorf("ApplyError = %+v, want statement 1 of 2 and the index dropped", ae)
		}
		if bad, err := postgres.InvalidIndexes(ctx, db); len(bad) != 0 || err != nil {
			t.Errorf("INVALID indexes after the failure: %v, %v; want none", bad, err)
		}
		release()
	})

	t.Run("a writer: the drop waits for the next attempt", func(t *testing.T) {
		// A transaction that wrote to orders: the build waits for it, and so
		// does dropping what the build left.
		release := hold(t, db, "INSERT INTO orders VALUES (2, 'paid')")
		err := r.Apply(ctx, ms[1])
		t.Logf("Apply: %v", err)
		if !errors.Is(err, migrate.ErrLockTimeout) {
			t.Fatalf("Apply = %v, want ErrLockTimeout", err)
		}
		var ae *goose.ApplyError
		if !errors.As(err, &ae) || !strings.Contains(ae.Cleanup, "tried again") {
			t.Errorf("ApplyError.Cleanup = %q, want it to say the clean-up is tried again", ae.Cleanup)
		}
		bad, err := postgres.InvalidIndexes(ctx, db)
		if err != nil || len(bad) != 1 || bad[0].Name != "orders_status" {
			t.Errorf("INVALID indexes while the writer is open: %v, %v; want orders_status", bad, err)
		}
		if err := r.Verify(ctx); err == nil || !strings.Contains(err.Error(), "orders_status") {
			t.Errorf("Verify = %v, want it to name the INVALID index", err)
		}

		release()
		if err := r.Apply(ctx, ms[1]); err != nil {
			t.Fatalf("Apply once released = %v", err)
		}
		if err := r.Verify(ctx); err != nil {
			t.Errorf("Verify = %v, want nil: the index valid and nothing left", err)
		}
	})
}

func TestSeveralStatementsOutsideATransactionAreRefused(t *testing.T) {
	ctx := t.Context()
	r, db := setup(t, fstest.MapFS{
		"00001_t.sql": file("-- +goose Up\nCREATE TABLE t (a int, b int);\n"),
		"00002_two.sql": file(`-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '1s';
CREATE INDEX CONCURRENTLY t_a ON t (a);
CREATE INDEX CONCURRENTLY t_b ON t (b);
`),
	}, postgres.Config{})
	_, err := r.Pending(ctx)
	t.Logf("Pending: %v", err)
	if err == nil || !strings.Contains(err.Error(), "00002_two.sql") || !strings.Contains(err.Error(), "2 statements outside a transaction") {
		t.Fatalf("Pending = %v, want it to refuse 00002_two.sql", err)
	}
	if err := r.Apply(ctx, migrate.Migration{ID: "00001_t.sql"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, migrate.Migration{ID: "00002_two.sql"}); err == nil {
		t.Error("Apply = nil, want it refused")
	}
	if hasTable(t, db, "t") && exists(t, db, "SELECT 1 FROM pg_class WHERE relname = 't_a'") {
		t.Error("the refused migration ran")
	}
}

func TestVerifyUnreachable(t *testing.T) {
	r, err := postgres.Open("host=127.0.0.1 port=1 user=x dbname=x sslmode=disable connect_timeout=2", fstest.MapFS{
		"00001_t.sql": file("-- +goose Up\nSELECT 1;\n"),
	}, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Verify(t.Context()); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("Verify = %v, want it to say the database does not answer", err)
	}
	if _, err := r.Pending(t.Context()); err == nil {
		t.Error("Pending = nil error on an unreachable database")
	}
}

func TestOpenRefuses(t *testing.T) {
	fsys := fstest.MapFS{"00001_t.sql": file("-- +goose Up\nSELECT 1;\n")}
	for name, tt := range map[string]struct {
		dsn  string
		c    postgres.Config
		fsys fstest.MapFS
	}{
		"negative lock timeout": {"host=127.0.0.1", postgres.Config{LockTimeout: -1}, fsys},
		"bad connection string": {"host=127.0.0.1 port=notaport", postgres.Config{}, fsys},
		"no migrations":         {"host=127.0.0.1", postgres.Config{}, fstest.MapFS{}},
	} {
		t.Run(name, func(t *testing.T) {
			if r, err := postgres.Open(tt.dsn, tt.fsys, tt.c); err == nil {
				r.Close()
				t.Error("Open = nil error, want one")
			}
		})
	}
}

// TestNoTransactionRecordingFailure: when a migration outside a transaction
// has run but goose cannot record it (its version table is locked), the
// failure is not retryable — a retry would run its statements twice.
func TestNoTransactionRecordingFailure(t *testing.T) {
	fsys := fstest.MapFS{
		"00001_t.sql":   file("-- +goose Up\nCREATE TABLE audit (id int);\n"),
		"00002_ins.sql": file("-- +goose NO TRANSACTION\n-- +goose Up\nINSERT INTO audit VALUES (1);\n"),
	}
	r, db := setup(t, fsys, postgres.Config{LockTimeout: 300 * time.Millisecond})
	ms := pending(t, r)
	if err := r.Apply(t.Context(), ms[0]); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("LOCK TABLE goose_db_version IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	err = r.Apply(t.Context(), ms[1])
	tx.Rollback()
	if err == nil || errors.Is(err, migrate.ErrLockTimeout) {
		t.Fatalf("Apply = %v, want a failure that is not retryable", err)
	}
	if !strings.Contains(err.Error(), "record the version by hand") {
		t.Errorf("Apply error does not say what to do: %v", err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM audit").Scan(&n); err != nil || n != 1 {
		t.Errorf("audit has %d rows (%v), want the migration's one", n, err)
	}
}

func TestConformance(t *testing.T) {
	migratetest.Run(t, func(t *testing.T) migratetest.Opener {
		dsn := pgtest.Database(t)
		return func(ms []migrate.Migration) (migrate.Runner, error) {
			return postgres.Open(dsn, migratetest.FS(ms), postgres.Config{})
		}
	})
}
