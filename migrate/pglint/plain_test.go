package pglint_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/pglint"
)

func lintRules(t *testing.T, l pglint.Linter, sql string) []string {
	t.Helper()
	a, err := l.Lint(t.Context(), migrate.Migration{ID: "m", SQL: sql})
	if err != nil {
		t.Fatalf("Lint: %v", err)
	}
	var got []string
	for _, f := range a.Findings {
		got = append(got, f.Rule)
	}
	return got
}

// TestGooseOrPlain: a file is a goose migration when a line is a goose
// annotation; otherwise it is plain SQL, which runs outside a transaction
// unless it says BEGIN or the Linter assumes the runner's transaction.
func TestGooseOrPlain(t *testing.T) {
	const (
		cic      = "SET lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY i ON orders (a);\n"
		validate = "SET lock_timeout = '2s';\nALTER TABLE orders ADD CONSTRAINT c CHECK (n > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT c;\n"
		inTx     = "ban-concurrent-index-creation-in-transaction"
	)
	assume := pglint.Linter{AssumeInTransaction: true}
	for _, c := range []struct {
		name string
		l    pglint.Linter
		sql  string
		want []string
	}{
		{"plain SQL runs outside a transaction", pglint.Linter{}, cic, nil},
		{"plain SQL: each statement commits on its own", pglint.Linter{}, validate, nil},
		{"plain SQL with BEGIN", pglint.Linter{}, "BEGIN;\n" + cic + "COMMIT;\n", []string{inTx}},
		{"plain SQL in the runner's transaction", assume, cic, []string{inTx}},
		{"plain SQL in the runner's transaction: VALIDATE in the same one", assume, validate, []string{"constraint-missing-not-valid"}},
		{"plain SQL in the runner's transaction: its COMMIT is ignored", assume, "COMMIT;\n" + cic, []string{inTx}},
		{"+goose in a string on one line is plain SQL", pglint.Linter{}, "SELECT '-- +goose Up';\n" + cic, nil},
		{"+goose in a trailing comment is plain SQL", pglint.Linter{}, "SELECT 1; -- +goose Up\n" + cic, nil},
		{"an annotation makes it goose: a transaction", pglint.Linter{}, "-- +goose Up\n" + cic, []string{inTx}},
		{"goose ignores AssumeInTransaction", assume, "-- +goose NO TRANSACTION\n-- +goose Up\n" + cic, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, lintRules(t, c.l, c.sql), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rules mismatch (-want +got):\n%s", diff)
			}
		})
	}
	// A malformed annotation is a goose file with an error, not plain SQL;
	// so is a line of a string that starts with "--", as goose, which does
	// not parse SQL, reads it.
	for _, sql := range []string{"-- +goose Upp\nSELECT 1;\n", "SELECT '\n-- +goose Up';\n"} {
		if _, err := (pglint.Linter{}).Lint(t.Context(), migrate.Migration{ID: "m", SQL: sql}); !errors.Is(err, pglint.ErrSyntax) {
			t.Errorf("%q: err = %v, want ErrSyntax", sql, err)
		}
	}
}

// TestDoBlocks: the statements of a DO block go through the rules, at
// their own positions, as one transaction.
func TestDoBlocks(t *testing.T) {
	sql := `-- +goose Up
SET LOCAL lock_timeout = '2s';
DO $body$
DECLARE n int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attname = 'status') THEN
    ALTER TABLE orders ADD COLUMN status text NOT NULL;
  END IF;
  SELECT count(*) INTO n FROM orders;
  EXECUTE 'CREATE INDEX orders_status_idx ON orders (status)';
  ALTER TABLE orders ADD CONSTRAINT c CHECK (n > 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT c;
  EXECUTE 'DO $x$ BEGIN DROP TABLE legacy; END $x$';
EXCEPTION WHEN duplicate_column THEN
  RAISE NOTICE 'done before';
END $body$;
ALTER TABLE orders DROP COLUMN note;
`
	a, err := pglint.Linter{}.Lint(t.Context(), migrate.Migration{ID: "m", SQL: sql})
	if err != nil {
		t.Fatal(err)
	}
	var got []at
	for _, f := range a.Findings {
		got = append(got, at{f.Statement, f.Pos, f.Rule})
	}
	want := []at{
		{1, index(t, sql, "ALTER TABLE orders ADD COLUMN status", 1), "adding-required-field"},
		{1, index(t, sql, "CREATE INDEX orders_status_idx", 1), "require-concurrent-index-creation"},
		{1, index(t, sql, "ALTER TABLE orders VALIDATE", 1), "constraint-missing-not-valid"},
		{1, index(t, sql, "DROP TABLE legacy", 1), "ban-drop-table"},
		{2, index(t, sql, "ALTER TABLE orders DROP COLUMN note", 1), "ban-drop-column"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"legacy", "orders.note"}, a.Removes); diff != "" {
		t.Errorf("Removes mismatch (-want +got):\n%s", diff)
	}

	noTx := "-- +goose NO TRANSACTION\n-- +goose Up\nSET lock_timeout = '2s';\n"
	for _, c := range []struct {
		name, sql string
		want      []string
	}{
		{"a DO block is a transaction of its own", noTx + "DO $$ BEGIN ALTER TABLE orders ADD CONSTRAINT c CHECK (n > 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT c; END $$;",
			[]string{"constraint-missing-not-valid"}},
		{"COMMIT in a DO block starts the next", noTx + "DO $$ BEGIN ALTER TABLE orders ADD CONSTRAINT c CHECK (n > 0) NOT VALID; COMMIT; ALTER TABLE orders VALIDATE CONSTRAINT c; END $$;",
			nil},
		{"after the DO block, no transaction", noTx + "DO $$ BEGIN UPDATE flags SET on = true; END $$;\nCREATE INDEX CONCURRENTLY i ON orders (a);", nil},
		{"SET LOCAL in the block ends with it", "-- +goose NO TRANSACTION\n-- +goose Up\nDO $$ BEGIN SET LOCAL lock_timeout = '2s'; END $$;\nALTER TABLE orders ADD COLUMN a text;",
			[]string{"require-timeout-settings"}},
		{"a body in single quotes is read", noTx + "DO 'BEGIN ALTER TABLE orders ALTER COLUMN n TYPE bigint; END';", []string{"changing-column-type"}},
		{"EXECUTE of a dollar-quoted literal", noTx + "DO $$ BEGIN EXECUTE $q$DROP INDEX i$q$; END $$;", []string{"require-concurrent-index-deletion"}},
		{"EXECUTE built at run time is not read", noTx + "DO $$ BEGIN EXECUTE 'DROP INDEX ' || 'i'; END $$;", nil},
		{"a body PL/pgSQL refuses is not read", noTx + "DO $$ BEGIN ALTER TABLE orders ADD COLUMN; END $$;", nil},
		{"DO in another language is not read", "-- +goose Up\nDO LANGUAGE plperl $$ spi_exec_query('DROP INDEX i') $$;", []string{"require-timeout-settings"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, lintRules(t, pglint.Linter{}, c.sql), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rules mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNotText: a NUL byte or bytes that are not UTF-8 are a syntax error
// at their offset, never SQL silently cut short.
func TestNotText(t *testing.T) {
	for _, c := range []struct {
		name, sql string
		pos       int
		msg       string
	}{
		{"NUL byte", "SELECT 1;\x00DROP TABLE t;", 9, "NUL byte"},
		{"NUL in a goose file", "-- +goose Up\nALTER TABLE t ADD COLUMN a int;\n\x00\x01\x02", 45, "NUL byte"},
		{"invalid UTF-8", "SELECT 'caf\xe9';", 11, "invalid UTF-8"},
		{"a binary file", "\x89PNG\r\n\x1a\n", 0, "invalid UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := pglint.Linter{}.Lint(t.Context(), migrate.Migration{ID: "bin", SQL: c.sql})
			var se *pglint.SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, pglint.ErrSyntax) {
				t.Fatalf("err = %v, want a *SyntaxError", err)
			}
			if se.Pos != c.pos || !strings.Contains(se.Msg, c.msg) {
				t.Errorf("got %+v, want Pos %d and %q", *se, c.pos, c.msg)
			}
			if _, err := pglint.Statements(c.sql); !errors.Is(err, pglint.ErrSyntax) {
				t.Errorf("Statements: err = %v, want ErrSyntax", err)
			}
		})
	}
}

func TestStatements(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want int
	}{
		{"", 0},
		{"  \n\t\n", 0},
		{"-- nothing yet\n/* still nothing */\n", 0},
		{"-- +goose Up\n-- +goose Down\nDROP TABLE t;\n", 0},
		{"SELECT 1; SELECT 2;;", 2},
		{"-- +goose Up\nSELECT 1;\n-- +goose StatementBegin\nDO $$ BEGIN PERFORM 1; PERFORM 2; END $$;\n-- +goose StatementEnd\n", 2},
	} {
		got, err := pglint.Statements(c.sql)
		if err != nil || got != c.want {
			t.Errorf("Statements(%q) = %d, %v; want %d", c.sql, got, err, c.want)
		}
	}
	_, err := pglint.Statements("SELECT 1;\nSELEC 2;")
	var se *pglint.SyntaxError
	if !errors.As(err, &se) || se.Line != 2 || se.Error() != `pglint: 2:1: syntax error at or near "SELEC"` {
		t.Errorf("Statements on a typo = %v, want a *SyntaxError at 2:1", err)
	}
}
