package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/safedeploy/safedeploy/journal"
)

// Version is the version of the journal's tables this package writes.
const Version = 1

// Prefix begins the name of every table of the journal.
const Prefix = "safedeploy_journal_"

// setupLock is the advisory lock (pg_advisory_xact_lock) that serializes
// the creation and upgrade of the tables in a database ("SDJL").
const setupLock = 0x53444a4c

// A schema is the journal's tables: the statements that bring each
// version to the next (migrations[0] creates version 1 from nothing), and
// the columns of each table at the last version ("name type", as
// information_schema.columns says), which Open checks.
type schema struct {
	migrations [][]string
	columns    map[string][]string
}

// current is the schema this package writes.
var current = schema{
	migrations: [][]string{{
		`CREATE TABLE safedeploy_journal_meta (
			version integer NOT NULL,
			created timestamptz NOT NULL DEFAULT clock_timestamp()
		)`,
		`CREATE TABLE safedeploy_journal_leases (
			key     text PRIMARY KEY,
			holder  text NOT NULL,
			token   bigint NOT NULL,
			expires timestamptz NOT NULL
		)`,
		`CREATE TABLE safedeploy_journal_runs (
			n           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			id          text NOT NULL UNIQUE,
			key         text NOT NULL,
			service     text NOT NULL,
			environment text NOT NULL,
			from_ver    text NOT NULL,
			to_ver      text NOT NULL,
			strategy    text NOT NULL,
			plan_hash   text NOT NULL,
			holder      text NOT NULL,
			token       bigint NOT NULL,
			started     timestamptz NOT NULL,
			finished    timestamptz,
			outcome     text NOT NULL DEFAULT '',
			reason      text NOT NULL DEFAULT '',
			last_seq    bigint NOT NULL DEFAULT 0,
			record      bytea
		)`,
		`CREATE INDEX safedeploy_journal_runs_by_key ON safedeploy_journal_runs (key, n)`,
		`CREATE TABLE safedeploy_journal_entries (
			run     bigint NOT NULL REFERENCES safedeploy_journal_runs (n),
			seq     bigint NOT NULL,
			time    timestamptz NOT NULL,
			type    text NOT NULL,
			message text NOT NULL,
			data    bytea,
			PRIMARY KEY (run, seq)
		)`,
	}},
	columns: map[string][]string{
		"safedeploy_journal_meta":   {"version integer", "created timestamp with time zone"},
		"safedeploy_journal_leases": {"key text", "holder text", "token bigint", "expires timestamp with time zone"},
		"safedeploy_journal_runs": {"n bigint", "id text", "key text", "service text", "environment text", "from_ver text", "to_ver text",
			"strategy text", "plan_hash text", "holder text", "token bigint", "started timestamp with time zone",
			"finished timestamp with time zone", "outcome text", "reason text", "last_seq bigint", "record bytea"},
		"safedeploy_journal_entries": {"run bigint", "seq bigint", "time timestamp with time zone", "type text", "message text", "data bytea"},
	},
}

// Journal is a [journal.Journal] in a PostgreSQL database. It is safe for
// concurrent use, and any number of processes may share the database.
type Journal struct {
	pool   *pgxpool.Pool
	own    bool   // Close closes the pool
	schema string // where the tables are, for errors
}

var _ journal.Journal = (*Journal)(nil)

// Open connects to the database connString names (a URL or key=value
// pairs, as pgxpool.ParseConfig reads them) with a pool of its own, and
// creates or upgrades the journal's tables as New does. Close closes the
// pool.
//
// Open fails when connString does not parse, when it cannot connect, and
// as New does.
func Open(ctx context.Context, connString string) (*Journal, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("journal/postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("journal/postgres: %w", err)
	}
	j, err := New(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	j.own = true
	return j, nil
}

// New returns the journal in pool's database, creating its tables, or
// upgrading them from an older version, as needed. Close leaves pool
// open.
//
// New fails when it cannot reach the database or create the tables, and
// with an error wrapping [journal.ErrCorrupt] and naming the table when a
// table of the journal's names is not as this package made it, or is of a
// newer version. It leaves such tables as it found them.
func New(ctx context.Context, pool *pgxpool.Pool) (*Journal, error) {
	return newJournal(ctx, pool, current)
}

func newJournal(ctx context.Context, pool *pgxpool.Pool, s schema) (*Journal, error) {
	j := &Journal{pool: pool}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return j.setUp(ctx, tx, s) })
	if err != nil {
		var c corruptError
		if errors.As(err, &c) {
			return nil, err
		}
		return nil, fmt.Errorf("journal/postgres: setting up the journal's tables: %w", err)
	}
	return j, nil
}

// Close closes the pool if Open made it. Calls after Close fail.
func (j *Journal) Close() error {
	if j.own {
		j.pool.Close()
	}
	return nil
}

// A corruptError says which table is not as it should be.
type corruptError struct{ error }

func (e corruptError) Unwrap() error { return e.error }

// corrupt returns an error wrapping journal.ErrCorrupt that names table.
func (j *Journal) corrupt(table string, format string, args ...any) error {
	return corruptError{fmt.Errorf("%w: table %s.%s: %s", journal.ErrCorrupt, j.schema, table, fmt.Sprintf(format, args...))}
}

// setUp makes the database hold the journal's tables at s's last version,
// or says why it cannot.
func (j *Journal) setUp(ctx context.Context, tx pgx.Tx, s schema) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(setupLock)); err != nil {
		return err
	}
	var name *string
	if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&name); err != nil {
		return err
	}
	if name == nil {
		return errors.New("no schema to create them in: the search_path names none that exists")
	}
	j.schema = *name
	found, err := j.tables(ctx, tx)
	if err != nil {
		return err
	}
	meta := Prefix + "meta"
	version := 0
	if cols, ok := found[meta]; ok {
		if !slices.Equal(cols, s.columns[meta]) {
			return j.corrupt(meta, "columns (%s), want (%s): not the journal's", strings.Join(cols, ", "), strings.Join(s.columns[meta], ", "))
		}
		rows, err := tx.Query(ctx, "SELECT version FROM safedeploy_journal_meta")
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		if len(versions) != 1 || versions[0] < 1 {
			return j.corrupt(meta, "holds versions %v, want one version", versions)
		}
		version = int(versions[0])
	} else {
		if len(found) > 0 {
			t := slices.Sorted(maps.Keys(found))[0]
			return j.corrupt(t, "exists, but %s does not: not the journal's", meta)
		}
	}
	switch {
	case version > len(s.migrations):
		return j.corrupt(meta, "the journal's tables are version %d, newer than this package's %d: use the newer safedeploy that wrote them", version, len(s.migrations))
	case version < len(s.migrations):
		for v := version; v < len(s.migrations); v++ {
			for _, stmt := range s.migrations[v] {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("upgrading to version %d: %w", v+1, err)
				}
			}
		}
		q := "UPDATE safedeploy_journal_meta SET version = $1"
		if version == 0 {
			q = "INSERT INTO safedeploy_journal_meta (version) VALUES ($1)"
		}
		if _, err := tx.Exec(ctx, q, len(s.migrations)); err != nil {
			return err
		}
		if found, err = j.tables(ctx, tx); err != nil {
			return err
		}
	}
	for _, t := range slices.Sorted(maps.Keys(s.columns)) {
		switch cols := found[t]; {
		case cols == nil:
			return j.corrupt(t, "is missing")
		case !slices.Equal(cols, s.columns[t]):
			return j.corrupt(t, "columns (%s), want (%s)", strings.Join(cols, ", "), strings.Join(s.columns[t], ", "))
		}
	}
	return nil
}

// tables returns the columns ("name type") of the tables in the current
// schema whose names begin with Prefix.
func (j *Journal) tables(ctx context.Context, tx pgx.Tx) (map[string][]string, error) {
	rows, err := tx.Query(ctx, `SELECT table_name::text, column_name::text || ' ' || data_type::text
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND starts_with(table_name::text, $1)
		ORDER BY table_name, ordinal_position`, Prefix)
	if err != nil {
		return nil, err
	}
	found := map[string][]string{}
	var table, col string
	_, err = pgx.ForEachRow(rows, []any{&table, &col}, func() error {
		found[table] = append(found[table], col)
		return nil
	})
	return found, err
}

// text returns an error naming field if PostgreSQL's text cannot hold
// value.
func text(field, value string) error {
	switch {
	case strings.IndexByte(value, 0) >= 0:
		return fmt.Errorf("journal/postgres: %s = %q holds a NUL byte, which PostgreSQL's text cannot store", field, value)
	case !utf8.ValidString(value):
		return fmt.Errorf("journal/postgres: %s = %q is not UTF-8, which PostgreSQL's text must be", field, value)
	}
	return nil
}

// texts returns the first error of text for pairs of field and value.
func texts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := text(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}
