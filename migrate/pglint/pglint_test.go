package pglint_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/pglint"
)

// at is where a finding should be: its statement index, the text it
// starts with (its byte offset is found in the SQL) and its rule.
type at struct {
	Statement int
	Pos       int
	Rule      string
}

func lintAt(t *testing.T, sql string) []at {
	t.Helper()
	a, err := pglint.Linter{}.Lint(t.Context(), migrate.Migration{ID: "m", SQL: sql})
	if err != nil {
		t.Fatalf("Lint: %v", err)
	}
	var out []at
	for _, f := range a.Findings {
		out = append(out, at{f.Statement, f.Pos, f.Rule})
	}
	return out
}

// index returns the byte offset of the nth (from 1) occurrence of s in sql.
func index(t *testing.T, sql, s string, nth int) int {
	t.Helper()
	off := 0
	for range nth - 1 {
		i := strings.Index(sql[off:], s)
		if i < 0 {
			t.Fatalf("%q occurs fewer than %d times", s, nth)
		}
		off += i + len(s)
	}
	i := strings.Index(sql[off:], s)
	if i < 0 {
		t.Fatalf("%q occurs fewer than %d times", s, nth)
	}
	return off + i
}

func TestPositions(t *testing.T) {
	sql := `-- +goose Up
SET LOCAL lock_timeout = '2s'; ALTER TABLE orders DROP COLUMN a;
/* déjà vu /* nested */ */ -- and a line comment
ALTER TABLE orders RENAME COLUMN b TO c;
-- +goose StatementBegin
CREATE FUNCTION touch() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now(); -- ALTER TABLE orders DROP COLUMN x;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
-- +goose StatementEnd
ALTER   TABLE orders DROP COLUMN d;;  ALTER TABLE orders DROP COLUMN e
-- +goose Down
ALTER TABLE orders DROP COLUMN down_only;
`
	want := []at{
		{1, index(t, sql, "ALTER TABLE orders DROP COLUMN a", 1), "ban-drop-column"},
		{2, index(t, sql, "ALTER TABLE orders RENAME", 1), "renaming-column"},
		{4, index(t, sql, "ALTER   TABLE orders DROP COLUMN d", 1), "ban-drop-column"},
		{5, index(t, sql, "ALTER TABLE orders DROP COLUMN e", 1), "ban-drop-column"},
	}
	if diff := cmp.Diff(want, lintAt(t, sql)); diff != "" {
		t.Errorf("findings mismatch (-want +got):\n%s", diff)
	}
	for _, c := range []struct{ pos, line, col int }{
		{want[0].Pos, 2, 32}, {want[1].Pos, 4, 1}, {want[2].Pos, 13, 1}, {0, 1, 1}, {len(sql), 16, 1}, {-5, 1, 1},
	} {
		if line, col := pglint.Position(sql, c.pos); line != c.line || col != c.col {
			t.Errorf("Position(%d) = %d:%d, want %d:%d", c.pos, line, col, c.line, c.col)
		}
	}
}

func TestGooseAnnotations(t *testing.T) {
	for _, c := range []struct {
		name string
		sql  string
		want []string // rules, in order
	}{
		{"Down is not linted", "-- +goose Up\nSET LOCAL lock_timeout = '1s';\nALTER TABLE orders ADD COLUMN a text;\n-- +goose Down\nALTER TABLE orders DROP COLUMN a;\nDROP TABLE orders;\n", nil},
		{"annotations ignore case and spacing after --", "--+goose up\nSET LOCAL lock_timeout = '1s';\nDROP TABLE t;\n--   +goose   DOWN\n", []string{"ban-drop-table"}},
		{"NO TRANSACTION anywhere applies", "-- +goose Up\nSET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY i ON orders (a);\n-- +goose Down\n-- +goose NO TRANSACTION\nDROP INDEX i;\n", nil},
		{"without NO TRANSACTION goose uses a transaction", "-- +goose Up\nSET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY i ON orders (a);\n", []string{"ban-concurrent-index-creation-in-transaction"}},
		{"a block without a semicolon is a statement of its own", "-- +goose Up\nSET LOCAL lock_timeout = '1s';\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$\n-- +goose StatementEnd\nDROP TABLE t;\n", []string{"ban-drop-table"}},
		{"blocks in Down are skipped", "-- +goose Up\n-- +goose Down\n-- +goose StatementBegin\nDROP TABLE t;\n-- +goose StatementEnd\n", nil},
		{"ENVSUB is accepted", "-- +goose ENVSUB ON\n-- +goose Up\nSET LOCAL lock_timeout = '1s';\nDROP TABLE t;\n-- +goose ENVSUB OFF\n", []string{"ban-drop-table"}},
		{"no SQL (a Go migration)", "", nil},
		{"plain SQL is one Up section", "SET lock_timeout = '1s';\nDROP TABLE t;\n", []string{"ban-drop-table"}},
		{"empty Up", "-- +goose Up\n-- nothing yet\n-- +goose Down\nDROP TABLE t;\n", nil},
		{"no trailing newline", "-- +goose Up\nSET LOCAL lock_timeout = '1s';\nDROP TABLE t", []string{"ban-drop-table"}},
		{"CRLF line ends", "-- +goose Up\r\nSET LOCAL lock_timeout = '1s';\r\nDROP TABLE t;\r\n-- +goose Down\r\nDROP TABLE u;\r\n", []string{"ban-drop-table"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, f := range lintAt(t, c.sql) {
				got = append(got, f.Rule)
			}
			if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rules mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		sql       string
		line, col int
		msg       string
	}{
		{"misspelt keyword", "-- +goose Up\nALTER TABLE orders ADD COLUMN x int;\nALTER TABEL orders DROP COLUMN y;\n", 3, 7, `syntax error at or near "TABEL"`},
		{"multibyte text before the error", "-- +goose Up\nSELECT 'ééé' frm x;\n", 2, 21, `syntax error at or near "x"`},
		{"inside a StatementBegin block", "-- +goose Up\nSELECT 1;\n-- +goose StatementBegin\nCREATE FUNCTON f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n-- +goose StatementEnd\n", 4, 8, `syntax error at or near "FUNCTON"`},
		{"unterminated string", "-- +goose Up\nSELECT 'oops;\n", 2, 8, "unterminated quoted string"},
		{"Down before Up", "-- +goose Down\nDROP TABLE t;\n-- +goose Up\n", 1, 1, "Down before"},
		{"duplicate Up", "-- +goose Up\nSELECT 1;\n-- +goose Up\n", 3, 1, "duplicate -- +goose Up"},
		{"SQL before Up", "SELECT 1;\n-- +goose Up\nSELECT 2;\n", 1, 1, "SQL before"},
		{"no Up", "-- +goose NO TRANSACTION\nSELECT 1;\n", 2, 1, "SQL before"},
		{"only Down-less annotations", "-- +goose NO TRANSACTION\n", 1, 1, "no -- +goose Up"},
		{"unknown annotation", "-- +goose Up\n-- +goose Sideways\n", 2, 1, `unknown goose annotation "Sideways"`},
		{"indented annotation", "-- +goose Up\n  -- +goose Down\n", 2, 1, "leading whitespace"},
		{"missing StatementEnd", "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n", 4, 1, "missing -- +goose StatementEnd"},
		{"StatementEnd alone", "-- +goose Up\n-- +goose StatementEnd\n", 2, 1, "without StatementBegin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := pglint.Linter{}.Lint(t.Context(), migrate.Migration{ID: "0042_bad", SQL: c.sql})
			if !errors.Is(err, pglint.ErrSyntax) {
				t.Fatalf("err = %v, want one matching ErrSyntax", err)
			}
			var se *pglint.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %T, want *SyntaxError", err)
			}
			if se.Migration != "0042_bad" || se.Line != c.line || se.Column != c.col || !strings.Contains(se.Msg, c.msg) {
				t.Errorf("got %+v, want 0042_bad at %d:%d with %q", *se, c.line, c.col, c.msg)
			}
			if line, col := pglint.Position(c.sql, se.Pos); line != se.Line || col != se.Column {
				t.Errorf("Pos %d is %d:%d, not %d:%d", se.Pos, line, col, se.Line, se.Column)
			}
			if !strings.Contains(err.Error(), "0042_bad:") {
				t.Errorf("error %q does not name the migration", err)
			}
		})
	}
}

func TestRemoves(t *testing.T) {
	sql := `-- +goose Up
SET LOCAL lock_timeout = '2s';
DROP TABLE Public.Legacy, "Archive", audit.events;
ALTER TABLE public."Orders" DROP COLUMN "Note", DROP COLUMN note;
ALTER TABLE orders RENAME COLUMN Status TO state;
ALTER TABLE Customers RENAME TO clients;
CREATE TABLE scratch (x int);
ALTER TABLE scratch DROP COLUMN x;
ALTER TABLE scratch RENAME TO scratch2;
DROP TABLE scratch2;
DROP VIEW v;
DROP INDEX CONCURRENTLY IF EXISTS i;
-- +goose Down
DROP TABLE down_only;
`
	a, err := pglint.Linter{}.Lint(t.Context(), migrate.Migration{ID: "0050_contract", SQL: sql})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"legacy", "archive", "events", "orders.note", "orders.status", "customers"}
	if diff := cmp.Diff(want, a.Removes); diff != "" {
		t.Errorf("Removes mismatch (-want +got):\n%s", diff)
	}

	// The removals feed the deploy's expand/contract check.
	m := migrate.Migration{ID: "0050_contract", SQL: sql, Removes: a.Removes}
	got := migrate.CheckRemovals([]migrate.Migration{m}, migrate.Usage{
		Running: []string{"orders", "orders.id", "orders.note"},
		New:     []string{"orders", "orders.id", "orders.state"},
	})
	if len(got) != 1 || got[0].Rule != "ban-drop-column" || got[0].Severity != migrate.Error || !strings.Contains(got[0].Message, "orders.note") {
		t.Errorf("CheckRemovals = %v, want one error for orders.note", got)
	}
}

func TestLintCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := (pglint.Linter{}).Lint(ctx, migrate.Migration{ID: "1", SQL: "SELECT 1;"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Lint on a canceled context = %v, want context.Canceled", err)
	}
}

// TestConcurrentLint lints the corpus from several goroutines with one
// Linter and expects what a lone goroutine gets.
func TestConcurrentLint(t *testing.T) {
	ms := corpus(t)
	l := pglint.Linter{Disable: []string{"renaming-table"}}
	want := make([]migrate.Analysis, len(ms))
	for i, m := range ms {
		a, err := l.Lint(t.Context(), m)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = a
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, m := range ms {
				a, err := l.Lint(t.Context(), m)
				if err != nil {
					t.Error(err)
					return
				}
				if diff := cmp.Diff(want[i], a); diff != "" {
					t.Errorf("%s differs when linted concurrently:\n%s", m.ID, diff)
				}
			}
		})
	}
	wg.Wait()
}
