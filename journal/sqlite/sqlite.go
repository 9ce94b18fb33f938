package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/safedeploy/safedeploy/journal"
)

// BusyTimeout is how long a write waits for another process's write lock
// on the file before it fails.
const BusyTimeout = 10 * time.Second

// applicationID marks a journal file in its header ("SDJL").
const applicationID = 0x53444a4c

// Version is the version of the journal's tables this package writes.
const Version = 1

// A schema is the journal's tables: the statements that bring each version
// to the next (migrations[0] creates version 1 from nothing), and the
// columns of each table at the last version, which Open checks.
type schema struct {
	migrations [][]string
	columns    map[string][]string
}

// current is the schema this package writes.
var current = schema{
	migrations: [][]string{{
		`CREATE TABLE meta (version INTEGER NOT NULL, created INTEGER NOT NULL)`,
		`CREATE TABLE leases (
			key     TEXT PRIMARY KEY,
			holder  TEXT NOT NULL,
			token   INTEGER NOT NULL,
			expires INTEGER NOT NULL
		) WITHOUT ROWID`,
		`CREATE TABLE runs (
			n           INTEGER PRIMARY KEY,
			id          TEXT NOT NULL UNIQUE,
			key         TEXT NOT NULL,
			service     TEXT NOT NULL,
			environment TEXT NOT NULL,
			from_ver    TEXT NOT NULL,
			to_ver      TEXT NOT NULL,
			strategy    TEXT NOT NULL,
			plan_hash   TEXT NOT NULL,
			holder      TEXT NOT NULL,
			token       INTEGER NOT NULL,
			started     INTEGER NOT NULL,
			finished    INTEGER,
			outcome     TEXT NOT NULL DEFAULT '',
			reason      TEXT NOT NULL DEFAULT '',
			last_seq    INTEGER NOT NULL DEFAULT 0,
			record      BLOB
		)`,
		`CREATE INDEX runs_by_key ON runs (key, n)`,
		`CREATE TABLE entries (
			run     INTEGER NOT NULL REFERENCES runs (n),
			seq     INTEGER NOT NULL,
			time    INTEGER NOT NULL,
			type    TEXT NOT NULL,
			message TEXT NOT NULL,
			data    BLOB,
			PRIMARY KEY (run, seq)
		) WITHOUT ROWID`,
	}},
	columns: map[string][]string{
		"meta":    {"version", "created"},
		"leases":  {"key", "holder", "token", "expires"},
		"runs":    {"n", "id", "key", "service", "environment", "from_ver", "to_ver", "strategy", "plan_hash", "holder", "token", "started", "finished", "outcome", "reason", "last_seq", "record"},
		"entries": {"run", "seq", "time", "type", "message", "data"},
	},
}

// Journal is a [journal.Journal] in a SQLite file. It is safe for
// concurrent use, and several processes may open the same file.
type Journal struct {
	db   *sql.DB
	path string
	// write is a token for the file's write lock within this process, so
	// that writers queue here rather than poll SQLite's busy handler.
	write chan struct{}
}

var _ journal.Journal = (*Journal)(nil)

// Open opens the journal in the SQLite file at path, creating the file
// and its tables, or upgrading them from an older version, as needed.
//
// Open fails for a path holding '?' (pass a file name, not a URI), when
// the file cannot be opened or created, and with an error wrapping
// [journal.ErrCorrupt] and naming the file when it is not a journal this
// package can use: not a SQLite database, another program's database, a
// journal of a newer version, or one whose tables were changed. It leaves
// such a file as it found it.
func Open(ctx context.Context, path string) (*Journal, error) {
	return open(ctx, path, current)
}

func open(ctx context.Context, path string, s schema) (*Journal, error) {
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("journal/sqlite: %q is not a file name", path)
	}
	q := "?_txlock=immediate&_pragma=busy_timeout(" + strconv.FormatInt(BusyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", path+q)
	if err != nil {
		return nil, fmt.Errorf("journal/sqlite: %s: %w", path, err)
	}
	j := &Journal{db: db, path: path, write: make(chan struct{}, 1)}
	if err := j.setUp(ctx, s); err != nil {
		db.Close()
		return nil, err
	}
	return j, nil
}

// Close closes the database. Calls after Close fail.
func (j *Journal) Close() error {
	if err := j.db.Close(); err != nil {
		return fmt.Errorf("journal/sqlite: closing %s: %w", j.path, err)
	}
	return nil
}

// Path returns the file's path, as given to Open.
func (j *Journal) Path() string { return j.path }

// setUp makes the file a journal of s's last version, or says why it
// cannot.
func (j *Journal) setUp(ctx context.Context, s schema) error {
	// Look before writing anything: a foreign file stays as it is.
	id, tables, err := j.identify(ctx, j.db)
	if err != nil {
		return err
	}
	if id != applicationID || len(tables) == 0 {
		if err := foreign(id, tables); err != nil {
			return j.corrupt("", err)
		}
	}
	version, err := j.version(ctx, j.db, id)
	if err != nil {
		return err
	}
	if version < len(s.migrations) {
		if err := j.upgrade(ctx, s); err != nil {
			return err
		}
	}
	if version > len(s.migrations) {
		return j.corrupt("", fmt.Errorf("the journal's tables are version %d, newer than this package's %d: open it with the newer safedeploy that wrote it", version, len(s.migrations)))
	}
	if err := j.checkColumns(ctx, s); err != nil {
		return err
	}
	return j.wal(ctx)
}

// wal puts the file in WAL mode, unless it is. The mode is the file's, and
// cannot change in a transaction; SQLite refuses to change it while
// another connection uses the file, without waiting, so it retries for up
// to BusyTimeout.
func (j *Journal) wal(ctx context.Context) error {
	op := func() error {
		var mode string
		err := j.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
		if err == nil && !strings.EqualFold(mode, "wal") {
			err = j.db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		}
		var se *msqlite.Error
		switch {
		case errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY:
			return err
		case err != nil:
			return backoff.Permanent(err)
		case !strings.EqualFold(mode, "wal"):
			return backoff.Permanent(fmt.Errorf("journal_mode is %s, want WAL", mode))
		}
		return nil
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(5*time.Millisecond), backoff.WithMaxElapsedTime(BusyTimeout))
	if err := backoff.Retry(op, backoff.WithContext(b, ctx)); err != nil {
		return j.fail("setting WAL mode", err)
	}
	return nil
}

// A querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// identify returns the file's application ID and its tables, read at one
// moment: in one statement.
func (j *Journal) identify(ctx context.Context, q querier) (id int64, tables []string, err error) {
	rows, err := q.QueryContext(ctx, `SELECT a.application_id, s.name FROM pragma_application_id() a
		LEFT JOIN sqlite_schema s ON s.type = 'table' AND s.name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY s.name`)
	if err != nil {
		return 0, nil, j.fail("reading the header", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name sql.NullString
		if err := rows.Scan(&id, &name); err != nil {
			return 0, nil, j.fail("listing tables", err)
		}
		if name.Valid {
			tables = append(tables, name.String)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, j.fail("listing tables", err)
	}
	return id, tables, nil
}

// foreign says why a file with application ID id and tables, which is not
// a journal with tables, is not one to create a journal in; nil for an
// empty database.
func foreign(id int64, tables []string) error {
	switch {
	case id == 0 && len(tables) == 0:
		return nil
	case id == applicationID:
		return errors.New("marked as a journal, but it has no tables")
	case id != 0:
		return fmt.Errorf("the database of another program (application ID %#x), not a journal", id)
	}
	if len(tables) > 5 {
		tables = append(tables[:5:5], "…")
	}
	return fmt.Errorf("a database of something else (tables %s), not a journal", strings.Join(tables, ", "))
}

// version returns the version in the meta table: 0 in an empty database.
func (j *Journal) version(ctx context.Context, q querier, id int64) (int, error) {
	if id != applicationID {
		return 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT version FROM meta")
	if err != nil {
		return 0, j.corrupt("", fmt.Errorf("reading its version from table meta: %w", err))
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return 0, j.corrupt("", fmt.Errorf("table meta: %w", err))
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return 0, j.fail("reading table meta", err)
	}
	if len(versions) != 1 || versions[0] < 1 {
		return 0, j.corrupt("", fmt.Errorf("table meta holds versions %v, want one version", versions))
	}
	return versions[0], nil
}

// upgrade brings the file to s's last version in one transaction, unless
// another process did meanwhile.
func (j *Journal) upgrade(ctx context.Context, s schema) error {
	return j.tx(ctx, "upgrading the journal's tables", func(tx *sql.Tx, now time.Time) error {
		id, tables, err := j.identify(ctx, tx)
		if err != nil {
			return err
		}
		if id != applicationID || len(tables) == 0 {
			if err := foreign(id, tables); err != nil {
				return j.corrupt("", err)
			}
		}
		from, err := j.version(ctx, tx, id)
		if err != nil || from >= len(s.migrations) {
			return err // the other process did it, or newer; setUp tells
		}
		for v := from; v < len(s.migrations); v++ {
			for _, stmt := range s.migrations[v] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("journal/sqlite: %s: upgrading the journal's tables to version %d: %w", j.path, v+1, err)
				}
			}
		}
		if from == 0 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO meta (version, created) VALUES (?, ?)", len(s.migrations), now.UnixNano()); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "PRAGMA application_id = "+strconv.Itoa(applicationID)); err != nil {
				return err
			}
			return nil
		}
		_, err = tx.ExecContext(ctx, "UPDATE meta SET version = ?", len(s.migrations))
		return err
	})
}

// checkColumns checks that each of s's tables has its columns, in order.
func (j *Journal) checkColumns(ctx context.Context, s schema) error {
	for _, table := range slices.Sorted(maps.Keys(s.columns)) {
		rows, err := j.db.QueryContext(ctx, "SELECT name FROM pragma_table_info(?) ORDER BY cid", table)
		if err != nil {
			return j.fail("reading table "+table, err)
		}
		var cols []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return j.fail("reading table "+table, err)
			}
			cols = append(cols, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return j.fail("reading table "+table, err)
		}
		if !slices.Equal(cols, s.columns[table]) {
			if len(cols) == 0 {
				return j.corrupt("", fmt.Errorf("table %s is missing", table))
			}
			return j.corrupt("", fmt.Errorf("table %s has columns %s, want %s", table, strings.Join(cols, ", "), strings.Join(s.columns[table], ", ")))
		}
	}
	return nil
}

// tx runs f in a write transaction (BEGIN IMMEDIATE) and commits it if f
// returns nil. now is the time once the transaction holds the write lock.
// what says what the transaction does, for errors.
func (j *Journal) tx(ctx context.Context, what string, f func(tx *sql.Tx, now time.Time) error) error {
	select {
	case j.write <- struct{}{}:
		defer func() { <-j.write }()
	case <-ctx.Done():
		if cause := context.Cause(ctx); cause != ctx.Err() {
			return fmt.Errorf("journal/sqlite: %s: %w: %w", what, ctx.Err(), cause)
		}
		return fmt.Errorf("journal/sqlite: %s: %w", what, ctx.Err())
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return j.fail(what, err)
	}
	defer tx.Rollback()
	if err := f(tx, time.Now()); err != nil {
		var se *msqlite.Error
		if errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return j.fail(what, err)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return j.fail(what, err)
	}
	return nil
}

// fail wraps err, from doing what, naming the file; errors that say the
// file is damaged also wrap journal.ErrCorrupt.
func (j *Journal) fail(what string, err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return j.corrupt("", errors.New("not a SQLite database"))
		case sqlite3.SQLITE_CORRUPT:
			return j.corrupt(what, err)
		}
	}
	return fmt.Errorf("journal/sqlite: %s: %s: %w", j.path, what, err)
}

// corrupt returns an error wrapping journal.ErrCorrupt and err, naming
// the file, and what was being done if not empty.
func (j *Journal) corrupt(what string, err error) error {
	if what != "" {
		return fmt.Errorf("%w: %s: %s: %w", journal.ErrCorrupt, j.path, what, err)
	}
	return fmt.Errorf("%w: %s: %w", journal.ErrCorrupt, j.path, err)
}
