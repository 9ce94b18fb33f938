package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
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

// LockSuffix ends the name of the file runners lock to take turns: for
// the database app.db, app.db-migrate-lock, next to SQLite's own -journal
// and -wal files.
const LockSuffix = "-migrate-lock"

// Config configures a runner. The zero value is ready to use.
type Config struct {
	// LockTimeout bounds how long a statement waits for a lock another
	// connection holds (SQLite's busy_timeout), rounded up to a
	// millisecond, and how long Apply waits for its turn while another
	// runner applies migrations to the same file. Zero means
	// DefaultLockTimeout; negative is an error. Either wait ends in an
	// error wrapping migrate.ErrLockTimeout, which the executor retries
	// with backoff.
	LockTimeout time.Duration
	// ScratchDir is where Lint copies the database to try the pending
	// migrations on; empty means os.TempDir(). The copy is as large as the
	// database and removed once the migrations were tried.
	ScratchDir string
	// Options are passed on to goose.NewProvider, as goose.Config.Options.
	Options []pressly.ProviderOption
	// Logger, if set, receives goose's log, as goose.Config.Logger.
	Logger *slog.Logger
}

// A Runner applies goose migrations to one SQLite file: a [goose.Runner],
// whose Pending, Apply and Verify implement [migrate.Runner]. It is also a
// [migrate.Linter]: [Runner.Lint] finds what each pending migration
// removes by applying them, in order, to a copy of the database.
//
// Its methods are safe for concurrent use.
type Runner struct {
	*goose.Runner
	path   string
	db     *sql.DB // the runner's, for copying the database
	lockDB *sql.DB
	c      Config

	mu   sync.Mutex // serializes Lint
	last *tried     // the last pending migrations tried; guarded by mu
}

// Open returns a runner that applies the goose migrations in migrations
// (at its root, as goose reads them: os.DirFS("db/migrations"), or an
// embed.FS narrowed with fs.Sub) to the SQLite database in the file at
// path, creating the file when it first writes. Runners on the same file,
// in this process or others, take turns to apply migrations by locking the
// file path+LockSuffix, which they create. Closing the runner closes the
// database.
//
// Open fails for a negative LockTimeout, for a path holding '?' (pass a
// file name, not a URI) and as goose.NewProvider does (no migrations,
// duplicate versions, a bad option). It does not open the file.
func Open(path string, migrations fs.FS, c Config) (*Runner, error) {
	if c.LockTimeout < 0 {
		return nil, fmt.Errorf("migrate/sqlite: negative LockTimeout %s", c.LockTimeout)
	}
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("migrate/sqlite: %q is not a file name", path)
	}
	timeout := cmp.Or(c.LockTimeout, DefaultLockTimeout)
	ms := (timeout + time.Millisecond - 1) / time.Millisecond
	db, err := sql.Open("sqlite", path+"?_busy_timeout="+strconv.FormatInt(int64(ms), 10)+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("migrate/sqlite: %w", err)
	}
	// No busy timeout: a lock held elsewhere is a "not now", and the
	// runner tries again with backoff.
	lockDB, err := sql.Open("sqlite", path+LockSuffix+"?_busy_timeout=0")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate/sqlite: %w", err)
	}
	r, err := goose.New(pressly.DialectSQLite3, db, migrations, goose.Config{
		Locker:        fileLock{lockDB, path + LockSuffix},
		LockWait:      timeout,
		Options:       c.Options,
		Logger:        c.Logger,
		IsLockTimeout: IsLockTimeout,
	})
	if err != nil {
		db.Close()
		lockDB.Close()
		return nil, err
	}
	return &Runner{Runner: r, path: path, db: db, lockDB: lockDB, c: c}, nil
}

// Close closes the database and the lock file.
func (r *Runner) Close() error {
	return errors.Join(r.Runner.Close(), r.lockDB.Close())
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

// fileLock is the runner's goose.Locker: an exclusive transaction on a
// database file of its own. SQLite locks files with the operating
// system's locks, which end with the process that holds them.
type fileLock struct {
	db   *sql.DB
	path string
}

func (l fileLock) TryLock(ctx context.Context) (func(context.Context) error, error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		conn.Close()
		if IsLockTimeout(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", l.path, err)
	}
	return func(ctx context.Context) error {
		_, err := conn.ExecContext(ctx, "ROLLBACK")
		if err != nil {
			// Closing the connection ends its transaction and lock.
			conn.Raw(func(any) error { return errBadConn })
			conn.Close()
			return fmt.Errorf("releasing the migration lock %s: %w; its connection was closed instead, which releases it", l.path, err)
		}
		return conn.Close()
	}, nil
}

// Holder names the lock file; the operating system (fuser, lsof) says
// which process holds it.
func (l fileLock) Holder(context.Context) (string, error) {
	return "a runner holds " + l.path + " (fuser or lsof tell which process)", nil
}

var (
	_ migrate.Runner = (*Runner)(nil)
	_ migrate.Linter = (*Runner)(nil)
	_ goose.Holder   = fileLock{}
)
