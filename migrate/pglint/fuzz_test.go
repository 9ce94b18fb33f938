package pglint_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/pglint"
)

// FuzzLint lints arbitrary text, as goose or plain SQL, with and without
// AssumeInTransaction, and checks what Lint promises on any input: it does
// not panic; it fails only with a *SyntaxError whose position is in the
// SQL and agrees with Position, and then Statements fails too; otherwise
// every finding names a rule of Rules with that rule's severity, a message
// and a fix, the migration, a statement index below Statements' count (in
// order) and a position in the SQL at something other than white space;
// Removes holds distinct non-empty names; and a second Lint returns the
// same. The seeds (the corpus, every rule case and the tests' DO blocks)
// run in go test; go test -fuzz=FuzzLint explores further.
func FuzzLint(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.sql"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), false)
	}
	for _, cases := range ruleCases {
		for _, c := range cases {
			f.Add(c.sql, c.assume)
		}
	}
	for _, s := range []string{
		"",
		"SELECT 1;\x00DROP TABLE t;",
		"DO $$ BEGIN EXECUTE 'DO $x$ BEGIN EXECUTE ''DROP TABLE t''; END $x$'; END $$;",
		"DO $a$ BEGIN ALTER TABLE t ADD COLUMN c int; COMMIT; ROLLBACK; END $a$;\nDO 'BEGIN NULL; END';",
		"DO $$\nBEGIN\n  SELECT 1 INTO x;\n  PERFORM 2;\n  CALL p();\n  EXECUTE $q$TRUNCATE t$q$;\nEND $$;",
		"-- +goose Up\n-- +goose StatementBegin\nDO $$ BEGIN RAISE NOTICE '%', 1; END $$;\n-- +goose StatementEnd\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	names := map[string]migrate.Severity{}
	for _, r := range pglint.Rules() {
		names[r.Name] = r.Severity
	}
	f.Fuzz(func(t *testing.T, sql string, assume bool) {
		l := pglint.Linter{AssumeInTransaction: assume}
		m := migrate.Migration{ID: "fuzz", SQL: sql}
		a, err := l.Lint(t.Context(), m)
		n, nerr := pglint.Statements(sql)
		if err != nil {
			var se *pglint.SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, pglint.ErrSyntax) {
				t.Fatalf("Lint error %v (%T), want a *SyntaxError", err, err)
			}
			if se.Migration != "fuzz" || se.Pos < 0 || se.Pos > len(sql) || se.Msg == "" {
				t.Fatalf("bad SyntaxError %+v for %d bytes", *se, len(sql))
			}
			if line, col := pglint.Position(sql, se.Pos); line != se.Line || col != se.Column {
				t.Fatalf("SyntaxError at %d:%d, but Position(%d) = %d:%d", se.Line, se.Column, se.Pos, line, col)
			}
			if nerr == nil {
				t.Fatalf("Lint fails (%v) but Statements counts %d", err, n)
			}
			return
		}
		if nerr != nil {
			t.Fatalf("Lint succeeds but Statements fails: %v", nerr)
		}
		last := 0
		for _, fd := range a.Findings {
			sev, ok := names[fd.Rule]
			switch {
			case !ok || fd.Severity != sev:
				t.Fatalf("finding of unknown rule or wrong severity: %+v", fd)
			case fd.Migration != "fuzz" || fd.Message == "" || fd.Fix == "":
				t.Fatalf("finding without migration, message or fix: %+v", fd)
			case fd.Statement < last || fd.Statement >= n:
				t.Fatalf("finding in statement %d, after %d, of %d: %+v", fd.Statement, last, n, fd)
			case fd.Pos < 0 || fd.Pos >= len(sql):
				t.Fatalf("finding at %d outside the %d bytes of SQL: %+v", fd.Pos, len(sql), fd)
			case strings.ContainsRune(" \t\n\r\f\v", rune(sql[fd.Pos])):
				t.Fatalf("finding at white space (%d): %+v", fd.Pos, fd)
			}
			last = fd.Statement
		}
		seen := map[string]bool{}
		for _, r := range a.Removes {
			if r == "" || seen[r] {
				t.Fatalf("Removes %q has an empty or repeated name", a.Removes)
			}
			seen[r] = true
		}
		again, err := l.Lint(t.Context(), m)
		if err != nil {
			t.Fatalf("second Lint fails: %v", err)
		}
		if diff := cmp.Diff(a, again); diff != "" {
			t.Fatalf("second Lint differs:\n%s", diff)
		}
	})
}
