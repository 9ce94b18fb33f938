package pglint_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/safedeploy/safedeploy/internal/testserver/pgtest"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/pglint"
)

// TestPostgresAgrees runs the statements behind the rules' claims on a real
// PostgreSQL and checks that the linter flags exactly those where Postgres
// does what the rule says: scans every row to check a foreign key, refuses
// a statement in a transaction, or takes a lock that blocks writes on a
// table that existed before.
func TestPostgresAgrees(t *testing.T) {
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `
		CREATE TABLE p (id bigint PRIMARY KEY);
		INSERT INTO p SELECT g FROM generate_series(1, 1000) g;
		CREATE TABLE c (id bigint PRIMARY KEY, x bigint);
		INSERT INTO c SELECT g, 1 FROM generate_series(1, 100) g;`); err != nil {
		t.Fatal(err)
	}
	// inTx runs sql in a transaction it rolls back, and query before and
	// after it; it returns the difference of the two counts query returns.
	// (pg_stat_xact_user_tables, before PG16, also counts what earlier
	// transactions left unflushed: only the difference is this one's.)
	inTx := func(t *testing.T, sql, query string) (int64, error) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		var before, after int64
		if err := tx.QueryRow(ctx, query).Scan(&before); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, sql); err != nil {
			return 0, err
		}
		err = tx.QueryRow(ctx, query).Scan(&after)
		return after - before, err
	}
	rules := func(t *testing.T, l pglint.Linter, sql string) []string {
		t.Helper()
		a, err := l.Lint(ctx, migrate.Migration{ID: "m", SQL: sql})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range a.Findings {
			out = append(out, f.Rule)
		}
		return out
	}

	t.Run("foreign keys Postgres checks row by row", func(t *testing.T) {
		for _, c := range []struct {
			sql      string
			scanned  bool
			flagging string
		}{
			{"ALTER TABLE c ADD COLUMN p1 bigint REFERENCES p (id)", false, ""},
			{"ALTER TABLE c ADD COLUMN p1 bigint DEFAULT 1 REFERENCES p (id)", true, "adding-foreign-key-constraint"},
			{"ALTER TABLE c ADD COLUMN p1 bigint DEFAULT NULL REFERENCES p (id)", true, "adding-foreign-key-constraint"},
			{"ALTER TABLE c ADD COLUMN p1 bigint REFERENCES p (id) NOT NULL DEFAULT 1", true, "adding-foreign-key-constraint"},
			{"ALTER TABLE c ADD COLUMN p1 bigint REFERENCES p (id), ADD COLUMN z int DEFAULT 0", false, ""},
			{"ALTER TABLE c ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES p (id)", true, "constraint-missing-not-valid"},
			{"ALTER TABLE c ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES p (id) NOT VALID", false, ""},
		} {
			t.Run(c.sql, func(t *testing.T) {
				n, err := inTx(t, c.sql, "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'c'")
				if err != nil {
					t.Fatal(err)
				}
				if scanned := n > 0; scanned != c.scanned {
					t.Fatalf("Postgres scanned c: %v, want %v", scanned, c.scanned)
				}
				got := rules(t, pglint.Linter{RunnerSetsLockTimeout: true}, "-- +goose Up\n"+c.sql+";")
				if flagged := slices.Contains(got, c.flagging); flagged != c.scanned || !c.scanned && len(got) > 0 {
					t.Errorf("linter: %v, want %q iff Postgres scans", got, c.flagging)
				}
			})
		}
	})

	t.Run("refused in a transaction or a DO block", func(t *testing.T) {
		for _, sql := range []string{
			"REINDEX TABLE CONCURRENTLY c",
			"CREATE INDEX CONCURRENTLY c_x_idx ON c (x)",
			"DO $$ BEGIN CREATE INDEX CONCURRENTLY c_x_idx ON c (x); END $$",
		} {
			t.Run(sql, func(t *testing.T) {
				if _, err := inTx(t, sql, "SELECT 0"); err == nil {
					t.Fatal("Postgres ran it in a transaction")
				}
				got := rules(t, pglint.Linter{RunnerSetsLockTimeout: true}, "-- +goose Up\n"+sql+";")
				if !slices.Contains(got, "ban-concurrent-index-creation-in-transaction") {
					t.Errorf("linter: %v, want ban-concurrent-index-creation-in-transaction", got)
				}
			})
		}
	})

	t.Run("locks behind require-timeout-settings", func(t *testing.T) {
		const blocking = `SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'
			AND relation IN ('p'::regclass, 'c'::regclass)
			AND mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')`
		for _, c := range []struct {
			sql   string
			locks bool
		}{
			{"CREATE TABLE n (id bigint PRIMARY KEY, note text UNIQUE, CHECK (id > 0))", false},
			{"CREATE TABLE n (id bigint, c_id bigint)", false},
			{"CREATE TABLE n AS SELECT * FROM c", false},
			{"ANALYZE c", false},
			{"DO $$ BEGIN UPDATE c SET x = 2 WHERE id = 1; PERFORM count(*) FROM p; END $$", false},
			{"CREATE TABLE n (id bigint REFERENCES p (id))", true},
			{"ALTER TABLE c ADD COLUMN y int", true},
			{"CREATE INDEX c_x_idx ON c (x)", true},
			{"DO $$ BEGIN ALTER TABLE c ADD COLUMN y int; END $$", true},
		} {
			t.Run(c.sql, func(t *testing.T) {
				n, err := inTx(t, c.sql, blocking)
				if err != nil {
					t.Fatal(err)
				}
				if locks := n > 0; locks != c.locks {
					t.Fatalf("Postgres took a lock blocking writes on p or c: %v, want %v", locks, c.locks)
				}
				got := rules(t, pglint.Linter{}, "-- +goose Up\n"+c.sql+";")
				if flagged := slices.Contains(got, "require-timeout-settings"); flagged != c.locks {
					t.Errorf("linter: %v; want require-timeout-settings: %v", got, c.locks)
				}
			})
		}
	})
}
