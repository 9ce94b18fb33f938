package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safedeploy/safedeploy/migrate"
)

var errBadConn = driver.ErrBadConn

// Rules of the findings Lint reports besides what migrations remove.
const (
	// RuleFails: the migration failed on the copy of the database.
	RuleFails = "migration-fails"
	// RuleGoMigration: a Go migration, which Lint does not run.
	RuleGoMigration = "go-migration-not-tried"
)

// tried is what trying the pending migrations on a copy found.
type tried struct {
	pending  []migrate.Migration // what was tried
	version  int64               // the database's schema_version then
	analyses map[string]migrate.Analysis
	errs     map[string]error // migrations that could not be tried
}

// Lint implements [migrate.Linter] for the runner's pending migrations:
// the Analysis of m, a pending migration (matched by ID), names the tables
// and views it removes, and the columns it removes from those that remain,
// as found by applying the pending migrations in order to a copy of the
// database and comparing its schema before and after m (see the package
// documentation). Names are as the schema declares them before m. A
// migration that fails on the copy gets an Error finding ruled RuleFails,
// naming the statement; a Go migration a Warning ruled RuleGoMigration.
//
// Lint tries all the pending migrations at once and keeps what it found
// until the pending migrations or the database's schema change, so that
// linting each of them in turn, as the executor does, copies the database
// once. It never writes to the database (Pending, which it calls, creates
// goose's version table in an empty one, as every goose command does).
//
// Lint fails when m is not pending (or its SQL is not the file's), when
// the database cannot be read or copied, when a file goose cannot parse,
// when ctx ends, and for a migration after one that fails on the copy,
// which cannot be tried.
func (r *Runner) Lint(ctx context.Context, m migrate.Migration) (migrate.Analysis, error) {
	pending, err := r.Pending(ctx)
	if err != nil {
		return migrate.Analysis{}, fmt.Errorf("migrate/sqlite: lint %s: %w", m.ID, err)
	}
	i := slices.IndexFunc(pending, func(p migrate.Migration) bool { return p.ID == m.ID })
	switch {
	case i < 0:
		return migrate.Analysis{}, fmt.Errorf("migrate/sqlite: lint %s: not a pending migration of this runner (Lint tries the pending migrations, in order, on a copy of the database)", m.ID)
	case m.SQL != "" && m.SQL != pending[i].SQL:
		return migrate.Analysis{}, fmt.Errorf("migrate/sqlite: lint %s: its SQL is not that of the runner's file", m.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var version int64
	if err := r.db.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&version); err != nil {
		return migrate.Analysis{}, fmt.Errorf("migrate/sqlite: lint %s: %w", m.ID, err)
	}
	if r.last == nil || r.last.version != version || !slices.EqualFunc(r.last.pending, pending, sameMigration) {
		t, err := r.try(ctx, pending)
		if err != nil {
			return migrate.Analysis{}, fmt.Errorf("migrate/sqlite: lint %s: %w", m.ID, err)
		}
		t.version = version
		r.last = t
	}
	if err := r.last.errs[m.ID]; err != nil {
		return migrate.Analysis{}, err
	}
	a := r.last.analyses[m.ID]
	return migrate.Analysis{Findings: slices.Clone(a.Findings), Removes: slices.Clone(a.Removes)}, nil
}

func sameMigration(a, b migrate.Migration) bool { return a.ID == b.ID && a.SQL == b.SQL }

// try applies pending, in order, to a copy of the database, and says what
// each removes.
func (r *Runner) try(ctx context.Context, pending []migrate.Migration) (*tried, error) {
	dir, err := os.MkdirTemp(r.c.ScratchDir, "safedeploy-lint-")
	if err != nil {
		return nil, fmt.Errorf("a directory for the copy of the database: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "copy.db")
	if _, err := r.db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return nil, fmt.Errorf("copying the database: %w", err)
	}
	copyDB, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	defer copyDB.Close()
	conn, err := copyDB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	t := &tried{pending: slices.Clone(pending), analyses: map[string]migrate.Analysis{}, errs: map[string]error{}}
	before, err := snapshot(ctx, conn)
	if err != nil {
		return nil, err
	}
	failed := ""
	for _, m := range pending {
		if failed != "" {
			t.errs[m.ID] = fmt.Errorf("migrate/sqlite: lint %s: not tried: %s, before it, fails on the copy of the database", m.ID, failed)
			continue
		}
		if m.SQL == "" {
			t.analyses[m.ID] = migrate.Analysis{Findings: []migrate.Finding{{
				Rule: RuleGoMigration, Severity: migrate.Warning, Migration: m.ID, Statement: -1, Pos: -1,
				Message: "a Go migration is not tried on the copy of the database, as it may reach beyond the database it is given: what it removes is not known, and the migrations after it are tried without it",
				Fix:     "make sure it removes nothing a running version uses, or change the schema in SQL migrations",
			}}}
			continue
		}
		stmts, inTx, err := r.Statements(m)
		if err != nil {
			t.errs[m.ID] = err
			failed = m.ID
			continue
		}
		if i, err := run(ctx, conn, stmts, inTx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			t.analyses[m.ID] = migrate.Analysis{Findings: []migrate.Finding{{
				Rule: RuleFails, Severity: migrate.Error, Migration: m.ID, Statement: i, Pos: -1,
				Message: fmt.Sprintf("fails on a copy of the database at statement %d of %d (%s): %v; it would fail on the database too", i+1, len(stmts), short(stmts[i]), err),
				Fix:     "fix this migration: a failed one stays pending, and a new migration would only run after it",
			}}}
			failed = m.ID
			continue
		}
		after, err := snapshot(ctx, conn)
		if err != nil {
			return nil, err
		}
		t.analyses[m.ID] = migrate.Analysis{Removes: removed(before, after)}
		before = after
	}
	return t, nil
}

// run runs stmts on conn, in a transaction if inTx, and returns the index
// of the statement that failed.
func run(ctx context.Context, conn *sql.Conn, stmts []string, inTx bool) (int, error) {
	if inTx {
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			return 0, err
		}
	}
	for i, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			if inTx {
				conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			}
			return i, err
		}
	}
	if inTx {
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			return max(len(stmts)-1, 0), err
		}
	}
	return 0, nil
}

// An object is a table or a view: what code reads by name.
type object struct {
	name    string   // as declared
	columns []string // as declared
	broken  bool     // a view that cannot be read
}

// A schema holds a database's tables and views, by lower-case name, as
// SQLite compares names.
type schema map[string]object

// snapshot reads the tables, views and virtual tables of conn's main
// database and their columns, leaving out SQLite's own tables and the
// shadow tables of virtual ones.
func snapshot(ctx context.Context, conn *sql.Conn) (schema, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name, type FROM pragma_table_list
		WHERE schema = 'main' AND type IN ('table', 'view', 'virtual') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return nil, fmt.Errorf("reading the schema of the copy: %w", err)
	}
	type named struct{ name, kind string }
	var objs []named
	for rows.Next() {
		var o named
		if err := rows.Scan(&o.name, &o.kind); err != nil {
			rows.Close()
			return nil, err
		}
		objs = append(objs, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s := schema{}
	for _, o := range objs {
		cols, err := columns(ctx, conn, o.name)
		switch {
		case err != nil && o.kind == "view" && ctx.Err() == nil:
			s[strings.ToLower(o.name)] = object{name: o.name, broken: true}
		case err != nil:
			return nil, fmt.Errorf("reading the columns of %s in the copy: %w", o.name, err)
		default:
			s[strings.ToLower(o.name)] = object{name: o.name, columns: cols}
		}
	}
	return s, nil
}

func columns(ctx context.Context, conn *sql.Conn, table string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name FROM pragma_table_xinfo(?)", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// removed lists, sorted, what is in before and not in after: the tables
// and views gone (or left unreadable), and "table.column" for the columns
// gone from those that remain. Names compare without regard to case, as
// SQLite compares them.
func removed(before, after schema) []string {
	var out []string
	for key, b := range before {
		a, ok := after[key]
		switch {
		case !ok || a.broken && !b.broken:
			out = append(out, b.name)
		case b.broken || a.broken:
		default:
			for _, c := range b.columns {
				if !slices.ContainsFunc(a.columns, func(x string) bool { return strings.EqualFold(x, c) }) {
					out = append(out, b.name+"."+c)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// short returns s on one line, cut to a readable length.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 120
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
