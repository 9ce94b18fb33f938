// Package sqlite applies goose migrations to a SQLite database file, through
// the pure-Go driver modernc.org/sqlite: the embedded default, with no
// server and no cgo.
//
// [Open] returns a [goose.Runner] (package
// [github.com/safedeploy/safedeploy/migrate/goose]), which implements
// [migrate.Runner]: set it as deploy.Plan.Migrations. The migrations are
// goose's files and the record of what is applied is goose's version
// table (goose_db_version unless goose.WithTableName says otherwise), so
// an existing goose project keeps both:
//
//	r, err := sqlite.Open("app.db", os.DirFS("db/migrations"), sqlite.Config{})
//	if err != nil {
//		return err
//	}
//	defer r.Close()
//	plan.Migrations = r
//
// SQLite runs DDL in transactions, so a migration that fails (unless it
// says -- +goose NO TRANSACTION) leaves the schema as it was. A statement
// that finds the database locked by another connection waits up to
// Config.LockTimeout (SQLite's busy timeout) and then fails; Apply reports
// that as safe to retry, wrapping [migrate.ErrLockTimeout], and the
// executor retries it with backoff. Migrations run in BEGIN IMMEDIATE
// transactions, so a migration takes the write lock before its first
// statement rather than failing halfway to upgrade to it.
package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	pressly "github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/goose"
)

// DefaultLockTimeout is how long a statement waits for another
// connection's lock when Config.LockTimeout is zero.
const DefaultLockTimeout = 3 * time.Second

// Config configures a runner. The zero value is ready to use.
type Config struct {
	// LockTimeout bounds how long a statement waits for a lock another
	// connection holds (SQLite's busy_timeout), rounded up to a
	// millisecond. Zero means DefaultLockTimeout; negative is an error.
	LockTimeout time.Duration
	// Options are passed on to goose.NewProvider, as goose.Config.Options.
	Options []pressly.ProviderOption
	// Logger, if set, receives goose's log, as goose.Config.Logger.
	Logger *slog.Logger
}

// Open returns a runner that applies the goose migrations in migrations
// (at its root, as goose reads them: os.DirFS("db/migrations"), or an
// embed.FS narrowed with fs.Sub) to the SQLite database in the file at
// path, creating the file when it first writes. Closing the runner closes
// the database.
//
// Open fails for a negative LockTimeout, for a path holding '?' (pass a
// file name, not a URI) and as goose.NewProvider does (no migrations,
// duplicate versions, a bad option). It does not open the file.
func Open(path string, migrations fs.FS, c Config) (*goose.Runner, error) {
	if c.LockTimeout < 0 {
		return nil, fmt.Errorf("migrate/sqlite: negative LockTimeout %s", c.LockTimeout)
	}
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("migrate/sqlite: %q is not a file name", path)
	}
	timeout := c.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	ms := (timeout + time.Millisecond - 1) / time.Millisecond
	dsn := path + "?_busy_timeout=" + strconv.FormatInt(int64(ms), 10) + "&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("migrate/sqlite: %w", err)
	}
	r, err := goose.New(pressly.DialectSQLite3, db, migrations, goose.Config{
		Options:       c.Options,
		Logger:        c.Logger,
		IsLockTimeout: IsLockTimeout,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

// IsLockTimeout reports whether err, or an error it wraps, is SQLite's
// SQLITE_BUSY or SQLITE_LOCKED: a statement gave up waiting for a lock.
func IsLockTimeout(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

var _ migrate.Runner = (*goose.Runner)(nil)
