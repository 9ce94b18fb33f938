package pglint_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/pglint"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus.golden")

// corpus reads testdata/corpus/*.sql as migrations named after their files.
func corpus(tb testing.TB) []migrate.Migration {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.sql"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no corpus: %v", err)
	}
	var ms []migrate.Migration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		ms = append(ms, migrate.Migration{ID: strings.TrimSuffix(filepath.Base(p), ".sql"), SQL: string(b)})
	}
	return ms
}

// TestCorpus lints the corpus and compares every finding (where and which
// rule) and every removal with testdata/corpus.golden; go test -update
// rewrites it after a deliberate change.
func TestCorpus(t *testing.T) {
	var b strings.Builder
	for _, m := range corpus(t) {
		a, err := pglint.Linter{}.Lint(t.Context(), m)
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		for _, f := range a.Findings {
			line, col := pglint.Position(m.SQL, f.Pos)
			fmt.Fprintf(&b, "%s.sql:%d:%d: stmt %d %s %s\n", m.ID, line, col, f.Statement, f.Severity, f.Rule)
			if f.Message == "" || f.Fix == "" {
				t.Errorf("%s: finding without message or fix: %+v", m.ID, f)
			}
		}
		if len(a.Removes) > 0 {
			fmt.Fprintf(&b, "%s.sql: removes %s\n", m.ID, strings.Join(a.Removes, " "))
		}
	}
	golden := filepath.Join("testdata", "corpus.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("corpus findings mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkLint lints the whole corpus per iteration and reports
// statements per second.
func BenchmarkLint(b *testing.B) {
	ms := corpus(b)
	stmts := 0
	for _, m := range ms {
		n, err := pglint.Statements(m.SQL)
		if err != nil {
			b.Fatalf("%s: %v", m.ID, err)
		}
		stmts += n
	}
	var l pglint.Linter
	b.ResetTimer()
	for b.Loop() {
		for _, m := range ms {
			if _, err := l.Lint(b.Context(), m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(stmts*b.N)/b.Elapsed().Seconds(), "stmts/s")
	b.ReportMetric(float64(stmts), "stmts/op")
}
