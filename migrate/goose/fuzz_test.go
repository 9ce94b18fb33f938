package goose

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	pressly "github.com/pressly/goose/v3"
)

// analyze (goose's parser, through the recording database) never panics,
// gives the same plan for the same file, and runs a migration outside a
// transaction only when the file says so.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		"-- +goose Up\nCREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\n\n-- +goose Down\nDROP TABLE t;\n",
		"-- +goose NO TRANSACTION\n-- +goose Up\nSET statement_timeout = 0;\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
		"-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n",
		"-- +goose Up\n-- +goose ENVSUB ON\nCREATE TABLE ${T:-t} (a int);\n",
		"-- +goose StatementBegin\nSELECT 1;\n",
		"-- +goose Up\n",
		"",
		"SELECT 1;",
		"-- +goose Up\nSELECT ';' /* ; */ , $$;$$;\n-- +goose Down\n-- +goose Up\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		p, err := analyze(pressly.DialectPostgres, "00001_x.sql", []byte(file))
		if err != nil {
			return
		}
		again, err := analyze(pressly.DialectPostgres, "00001_x.sql", []byte(file))
		if err != nil || again.tx != p.tx || !slices.Equal(again.statements, p.statements) {
			t.Fatalf("analyze is not deterministic: %+v then %+v, %v", p, again, err)
		}
		if !p.tx && !strings.Contains(strings.ToUpper(file), "NO TRANSACTION") {
			t.Fatalf("outside a transaction, but the file does not say NO TRANSACTION: %q", file)
		}
	})
}

// firstWord returns a word, the first of the statement once comments are
// skipped, and sessionOnly agrees with it.
func FuzzFirstWord(f *testing.F) {
	for _, s := range []string{"SET x = 1", "-- c\nRESET ALL", "/* a /* b */ */ set x", "/* open", "  update t", "", "_x", "ÉTÉ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stmt string) {
		w := firstWord(stmt)
		if strings.IndexFunc(w, func(r rune) bool { return r != '_' && (r > unicode.MaxASCII || !unicode.IsLetter(r)) }) >= 0 {
			t.Fatalf("firstWord(%q) = %q, not an ASCII word", stmt, w)
		}
		if w != "" && !strings.Contains(stmt, w) {
			t.Fatalf("firstWord(%q) = %q, not in the statement", stmt, w)
		}
		upper := strings.ToUpper(w)
		if sessionOnly(stmt) != (upper == "SET" || upper == "RESET") {
			t.Fatalf("sessionOnly(%q) = %t, but the first word is %q", stmt, sessionOnly(stmt), w)
		}
	})
}
