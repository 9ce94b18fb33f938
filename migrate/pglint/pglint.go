package pglint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/safedeploy/safedeploy/internal/sqltext"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/safedeploy/safedeploy/migrate"
)

// A Linter checks Postgres migrations with the rules of [Rules]. The zero
// value runs every rule, assumes the runner sets no lock_timeout, and runs
// plain-SQL migrations outside a transaction unless they say BEGIN.
// A Linter is safe for concurrent use.
type Linter struct {
	// RunnerSetsLockTimeout says the runner sets a lock_timeout for every
	// migration (as the runners of this module do), which turns the
	// require-timeout-settings rule off.
	RunnerSetsLockTimeout bool
	// AssumeInTransaction says the runner wraps each plain-SQL migration
	// (one without goose annotations) in a transaction, as Flyway does by
	// default and as Postgres does with a file sent as one multi-statement
	// query. Without it a plain-SQL file runs outside a transaction unless
	// its SQL says BEGIN, as psql -f runs it. Goose migrations ignore it:
	// their annotations say (see the package doc, "Goose or plain SQL").
	AssumeInTransaction bool
	// Disable names rules not to run (see [Rules] for the names). Unknown
	// names are ignored; [CheckRuleNames] reports them. Disabling a rule
	// drops its findings only: Analysis.Removes is filled in regardless.
	Disable []string
}

var _ migrate.Linter = Linter{}

// ErrSyntax is matched (errors.Is) by every error Lint returns for a
// migration it cannot read: SQL Postgres cannot parse, or a malformed goose
// annotation. The error is a [*SyntaxError].
var ErrSyntax = errors.New("pglint: syntax error")

// A SyntaxError says where a migration could not be read.
type SyntaxError struct {
	// Migration is the ID of the migration.
	Migration string
	// Pos is the byte offset in the migration's SQL; Line and Column are
	// its 1-based line and byte column.
	Pos, Line, Column int
	// Msg is the parser's message ("syntax error at or near \"TABEL\"") or
	// what is wrong with a goose annotation.
	Msg string
}

// Error names the migration (when known), the position and the problem.
func (e *SyntaxError) Error() string {
	if e.Migration == "" {
		return fmt.Sprintf("pglint: %d:%d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("pglint: %s:%d:%d: %s", e.Migration, e.Line, e.Column, e.Msg)
}

// Is reports whether target is ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// Lint parses the Up section of m.SQL with the Postgres parser and runs the
// rules over its statements in order, and over the statements of its DO
// blocks. Findings carry the statement's index in the Up section (from 0;
// a statement in a DO block has the block's) and its byte offset in m.SQL
// (Pos); Removes names what the migration drops or renames away. Lint
// returns a [*SyntaxError] (matching [ErrSyntax]) when the SQL does not
// parse, a goose annotation is malformed, or m.SQL is not text (a NUL
// byte, or bytes that are not UTF-8, which Postgres refuses too), and
// ctx's error if ctx is done; it never fails on unsafe SQL, which is a
// finding. A migration with no statements (no SQL, only comments, an
// empty Up section) has no findings; [Statements] tells it apart.
func (l Linter) Lint(ctx context.Context, m migrate.Migration) (migrate.Analysis, error) {
	if err := ctx.Err(); err != nil {
		return migrate.Analysis{}, err
	}
	if pos, msg := notText(m.SQL); msg != "" {
		return migrate.Analysis{}, syntaxError(m, pos, msg)
	}
	sec, aerr := gooseUp(m.SQL)
	if aerr != nil {
		return migrate.Analysis{}, syntaxError(m, aerr.pos, aerr.msg)
	}
	wrapper := ""
	switch {
	case sec.tx:
		wrapper = "the transaction goose wraps the migration in"
	case !sec.goose && l.AssumeInTransaction:
		wrapper = "the transaction the runner wraps the file in (AssumeInTransaction)"
	}
	rules := l.rules()
	s := newScope(sec.goose, wrapper)
	var a migrate.Analysis
	index := 0
	visit := func(n *pg_query.Node, pos int) {
		for _, r := range rules {
			for _, is := range r.check(s, n) {
				a.Findings = append(a.Findings, migrate.Finding{
					Rule: r.Name, Severity: r.Severity, Migration: m.ID,
					Statement: index, Pos: pos, Message: is.msg, Fix: is.fix,
				})
			}
		}
		for _, gone := range removes(s, n) {
			if !slices.Contains(a.Removes, gone) {
				a.Removes = append(a.Removes, gone)
			}
		}
		s.after(n)
	}
	for _, sp := range sec.spans {
		text := m.SQL[sp.start:sp.end]
		if strings.TrimSpace(text) == "" {
			continue
		}
		tree, err := parse(m, sp)
		if err != nil {
			return migrate.Analysis{}, err
		}
		for _, raw := range tree.GetStmts() {
			n := raw.GetStmt()
			// The parser places a statement right after the semicolon before
			// it, comments and all: point at the statement itself.
			pos := sp.start + sqltext.SkipSpace(text, int(raw.GetStmtLocation()))
			if n.GetDoStmt() == nil {
				visit(n, pos)
			} else if body, ok := readDo(n, m.SQL, text, sp.start, pos, 0); !ok {
				visit(n, pos) // the rules see a DO block they cannot read
			} else {
				s.enterDo()
				walkDo(s, body, visit)
				s.leaveDo()
			}
			index++
		}
	}
	return a, nil
}

// walkDo visits the statements of a DO block's body in order.
func walkDo(s *scope, body []doStmt, visit func(*pg_query.Node, int)) {
	for _, d := range body {
		switch {
		case d.commit:
			s.commitInDo()
		case d.isDo:
			walkDo(s, d.nested, visit)
		default:
			visit(d.n, d.pos)
		}
	}
}

// Statements returns how many statements Lint reads in the Up section of
// sql (the statements of DO blocks not counted apart), 0 for SQL with no
// statements: empty, only comments, or a goose migration with an empty Up
// section. It fails as Lint does on SQL it cannot read, with a
// [*SyntaxError] that names no migration.
func Statements(sql string) (int, error) {
	m := migrate.Migration{SQL: sql}
	if pos, msg := notText(sql); msg != "" {
		return 0, syntaxError(m, pos, msg)
	}
	sec, aerr := gooseUp(sql)
	if aerr != nil {
		return 0, syntaxError(m, aerr.pos, aerr.msg)
	}
	n := 0
	for _, sp := range sec.spans {
		text := sql[sp.start:sp.end]
		if strings.TrimSpace(text) == "" {
			continue
		}
		tree, err := parse(m, sp)
		if err != nil {
			return 0, err
		}
		n += len(tree.GetStmts())
	}
	return n, nil
}

// parse parses span sp of m.SQL, or returns a *SyntaxError saying where
// the parser stopped.
func parse(m migrate.Migration, sp span) (*pg_query.ParseResult, error) {
	text := m.SQL[sp.start:sp.end]
	tree, err := pg_query.Parse(text)
	if err != nil {
		var perr *parser.Error
		if errors.As(err, &perr) {
			return nil, syntaxError(m, sp.start+charOffset(text, perr.Cursorpos), perr.Message)
		}
		return nil, syntaxError(m, sp.start, err.Error())
	}
	return tree, nil
}

// notText returns the offset and a message when sql is not text Postgres
// accepts: a NUL byte (the parser would stop reading there, and Postgres
// refuses the query) or bytes that are not UTF-8.
func notText(sql string) (int, string) {
	if i := strings.IndexByte(sql, 0); i >= 0 {
		return i, "NUL byte: not SQL text (a binary file?)"
	}
	if !utf8.ValidString(sql) {
		i := 0
		for i < len(sql) {
			r, size := utf8.DecodeRuneInString(sql[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		return i, "invalid UTF-8: not SQL text in UTF-8 (a binary file, or another encoding?)"
	}
	return 0, ""
}

// rules returns the rules l runs.
func (l Linter) rules() []Rule {
	out := make([]Rule, 0, len(ruleTable))
	for _, r := range ruleTable {
		if r.Name == ruleTimeout && l.RunnerSetsLockTimeout || slices.Contains(l.Disable, r.Name) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// CheckRuleNames returns an error naming every entry of names that is not
// a rule of [Rules], so that a misspelt Disable entry does not go
// unnoticed; it returns nil when all are known.
func CheckRuleNames(names []string) error {
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(ruleTable, func(r Rule) bool { return r.Name == n }) {
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if unknown != nil {
		return fmt.Errorf("pglint: unknown rule %s", strings.Join(unknown, ", "))
	}
	return nil
}

func syntaxError(m migrate.Migration, pos int, msg string) *SyntaxError {
	line, col := Position(m.SQL, pos)
	return &SyntaxError{Migration: m.ID, Pos: pos, Line: line, Column: col, Msg: msg}
}

// Position returns the 1-based line and byte column of byte offset pos in
// sql. A pos outside sql is clamped to it.
func Position(sql string, pos int) (line, column int) {
	pos = max(0, min(pos, len(sql)))
	before := sql[:pos]
	line = strings.Count(before, "\n") + 1
	return line, pos - (strings.LastIndexByte(before, '\n') + 1) + 1
}

// charOffset turns the parser's error position (1-based, in characters;
// 0 when unknown) into a byte offset in text.
func charOffset(text string, cursor int) int {
	off := 0
	for i := 1; i < cursor && off < len(text); i++ {
		_, size := utf8.DecodeRuneInString(text[off:])
		off += size
	}
	return off
}
