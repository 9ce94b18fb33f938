// Command lint checks Postgres migration files for changes that lock
// production tables or break the running version, with package
// [github.com/safedeploy/safedeploy/migrate/pglint]:
//
//	go run ./examples/lint db/migrations/*.sql
//	go run ./examples/lint -json -disable require-timeout-settings 00042_add_status.sql
//	go run ./examples/lint -assume-in-transaction flyway/V42__add_status.sql
//	cat 00042_add_status.sql | go run ./examples/lint
//
// With no files it reads one migration from standard input. It prints each
// finding as file:line:col, severity, rule, message and fix, or, with
// -json, one JSON object per finding per line (file, migration, statement,
// line, column, pos, rule, severity, message, fix).
//
// A file with a goose annotation (a line starting with -- +goose) is read
// as goose reads it; any other file is plain SQL, which runs outside a
// transaction unless it says BEGIN, or, with -assume-in-transaction, in
// one transaction the runner wraps it in (as Flyway, diesel and
// golang-migrate's postgres driver do). See the pglint package doc.
//
// Exit codes:
//
//	0  every file was linted and no finding is an error (warnings are
//	   printed; a file with no SQL statements, empty or only comments, is
//	   named on standard error as having nothing to lint); also -rules and
//	   -h
//	1  at least one error finding, and every file could be read
//	2  a file could not be read, or is not SQL the linter can read (a
//	   syntax error, a malformed goose annotation, a NUL byte or bytes that
//	   are not UTF-8, as in a binary file), or the flags are wrong; the
//	   other files are still linted and printed, and 2 wins over 1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/pglint"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// record is one finding as -json prints it.
type record struct {
	File      string           `json:"file"`
	Migration string           `json:"migration"`
	Statement int              `json:"statement"`
	Line      int              `json:"line"`
	Column    int              `json:"column"`
	Pos       int              `json:"pos"`
	Rule      string           `json:"rule"`
	Severity  migrate.Severity `json:"severity"`
	Message   string           `json:"message"`
	Fix       string           `json:"fix"`
}

// run is the command, testable: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lint [flags] [FILE.sql ...]   (no files: read standard input)")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print one JSON object per finding per line")
	disable := fs.String("disable", "", "comma-separated rules not to run")
	runnerTimeout := fs.Bool("runner-sets-lock-timeout", false, "the runner sets lock_timeout: turn require-timeout-settings off")
	assumeTx := fs.Bool("assume-in-transaction", false, "plain-SQL files (no goose annotations) run in one transaction the runner wraps them in")
	list := fs.Bool("rules", false, "list the rules and exit")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if *list {
		for _, r := range pglint.Rules() {
			fmt.Fprintf(stdout, "%s (%s)\n\t%s\n\tfix: %s\n", r.Name, r.Severity, r.Why, r.Fix)
		}
		return 0
	}
	l := pglint.Linter{RunnerSetsLockTimeout: *runnerTimeout, AssumeInTransaction: *assumeTx}
	for _, name := range strings.Split(*disable, ",") {
		if name = strings.TrimSpace(name); name != "" {
			l.Disable = append(l.Disable, name)
		}
	}
	if err := pglint.CheckRuleNames(l.Disable); err != nil {
		fmt.Fprintf(stderr, "lint: %v (see -rules)\n", err)
		return 2
	}

	type input struct{ file, id, sql string }
	var inputs []input
	code := 0
	if fs.NArg() == 0 {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "lint: reading standard input: %v\n", err)
			return 2
		}
		inputs = append(inputs, input{"<stdin>", "stdin", string(b)})
	}
	for _, file := range fs.Args() {
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "lint: %v\n", err)
			code = 2
			continue
		}
		inputs = append(inputs, input{file, strings.TrimSuffix(filepath.Base(file), ".sql"), string(b)})
	}

	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, in := range inputs {
		a, err := l.Lint(context.Background(), migrate.Migration{ID: in.id, SQL: in.sql})
		if se := (*pglint.SyntaxError)(nil); errors.As(err, &se) {
			fmt.Fprintf(stderr, "%s:%d:%d: cannot parse: %s\n", in.file, se.Line, se.Column, se.Msg)
			code = 2
			continue
		} else if err != nil {
			fmt.Fprintf(stderr, "lint: %s: %v\n", in.file, err)
			code = 2
			continue
		}
		if n, err := pglint.Statements(in.sql); err == nil && n == 0 {
			what := "no SQL statements (only comments, or an empty -- +goose Up section)"
			if strings.TrimSpace(in.sql) == "" {
				what = "the file is empty"
			}
			fmt.Fprintf(stderr, "lint: %s: nothing to lint: %s\n", in.file, what)
		}
		for _, f := range a.Findings {
			line, col := pglint.Position(in.sql, f.Pos)
			if f.Severity == migrate.Error && code == 0 {
				code = 1
			}
			if *asJSON {
				if err := enc.Encode(record{in.file, f.Migration, f.Statement, line, col, f.Pos, f.Rule, f.Severity, f.Message, f.Fix}); err != nil {
					fmt.Fprintf(stderr, "lint: %v\n", err)
					return 2
				}
				continue
			}
			fmt.Fprintf(stdout, "%s:%d:%d: %s [%s] %s\n\tfix: %s\n", in.file, line, col, f.Severity, f.Rule, f.Message, f.Fix)
		}
	}
	return code
}
