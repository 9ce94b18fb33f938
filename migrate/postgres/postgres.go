package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	pressly "github.com/pressly/goose/v3"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/goose"
)

// Defaults for Config's zero fields.
const (
	// DefaultLockTimeout is how long a statement waits for a lock before
	// giving up. Every query that needs the table queues behind a statement
	// waiting for its lock, so this is how long a migration can stall them.
	DefaultLockTimeout = 3 * time.Second
	// DefaultStatementTimeout is how long a statement may run. A migration
	// that needs longer, such as a large CREATE INDEX CONCURRENTLY, says so
	// itself with SET statement_timeout.
	DefaultStatementTimeout = time.Minute
)

// SQLSTATE codes the runner acts on.
const (
	// LockNotAvailable (55P03) is raised when a statement gives up waiting
	// for a lock after lock_timeout.
	LockNotAvailable = "55P03"
)

// Config configures a runner. The zero value is ready to use.
type Config struct {
	// LockTimeout is the lock_timeout of every statement the runner runs,
	// rounded up to a millisecond, and how long Apply waits for its turn
	// while another runner applies migrations to the same database (see
	// LockID). Zero means DefaultLockTimeout; negative is an error, as
	// waiting forever for a lock is what the runner exists to prevent.
	// Either wait ends in an error wrapping migrate.ErrLockTimeout, which
	// the executor retries with backoff.
	LockTimeout time.Duration
	// StatementTimeout is the statement_timeout of every statement, rounded
	// up to a millisecond. Zero means DefaultStatementTimeout; negative
	// means none.
	StatementTimeout time.Duration
	// Options are passed on to goose.NewProvider, as goose.Config.Options:
	// goose.WithTableName for a version table other than goose_db_version,
	// for example. Not goose.WithSessionLocker: the runner takes the lock
	// itself.
	Options []pressly.ProviderOption
	// Logger, if set, receives goose's log, as goose.Config.Logger, and
	// what the runner cleans up.
	Logger *slog.Logger
}

// Open returns a runner that applies the goose migrations in migrations
// (at its root, as goose reads them: os.DirFS("db/migrations"), or an
// embed.FS narrowed with fs.Sub) to the database connString names, a
// libpq key=value string or a postgres:// URL, as pgx reads them. Closing
// the runner closes its connections.
//
// Every session the runner opens has Config's lock_timeout and
// statement_timeout as its defaults (sent when it connects, so they hold
// in goose's transactions too), and application_name
// "safedeploy-migrate" unless connString names one. Settings a migration
// changes with SET are undone (RESET ALL) before the session is used
// again, so they last for that migration only.
//
// Open fails for a negative LockTimeout, a connection string pgx cannot
// parse, and as goose.NewProvider does (no migrations, duplicate
// versions, a bad option). It does not connect.
func Open(connString string, migrations fs.FS, c Config) (*goose.Runner, error) {
	if c.LockTimeout < 0 {
		return nil, fmt.Errorf("migrate/postgres: negative LockTimeout %s: a migration must not wait for locks forever", c.LockTimeout)
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("migrate/postgres: %w", err)
	}
	lock := cmpOr(c.LockTimeout, DefaultLockTimeout)
	stmt := cmpOr(c.StatementTimeout, DefaultStatementTimeout)
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["lock_timeout"] = millis(lock)
	cfg.RuntimeParams["statement_timeout"] = millis(stmt)
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "safedeploy-migrate"
	}
	db := stdlib.OpenDB(*cfg, stdlib.OptionResetSession(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "RESET ALL")
		return err
	}))
	r, err := goose.New(pressly.DialectPostgres, db, migrations, goose.Config{
		Locker:                         advisory{db},
		LockWait:                       lock,
		Options:                        c.Options,
		Logger:                         c.Logger,
		IsLockTimeout:                  IsLockTimeout,
		Check:                          checkIndexes,
		Guard:                          guardIndexes,
		OneStatementOutsideTransaction: true,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// millis formats d as a setting in milliseconds, rounded up; "0" (none)
// for a negative d.
func millis(d time.Duration) string {
	if d < 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// IsLockTimeout reports whether err, or an error it wraps, is a
// *pgconn.PgError with SQLSTATE 55P03 (lock_not_available): a statement
// gave up waiting for a lock.
func IsLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == LockNotAvailable
}

// An Index is an index, by schema, name and table.
type Index struct {
	Schema, Name, Table string
}

// String returns the index's qualified name.
func (i Index) String() string { return i.Schema + "." + i.Name }

// invalidIndexes lists the INVALID indexes (pg_index.indisvalid false),
// leaving out those a CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY is
// building right now, which are invalid until it finishes.
const invalidIndexes = `
SELECT n.nspname, c.relname, t.relname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid
  AND i.indexrelid NOT IN (SELECT index_relid FROM pg_stat_progress_create_index)
ORDER BY 1, 2`

// InvalidIndexes returns the INVALID indexes in db's database: those a
// failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY left behind.
// Postgres keeps updating them but never uses them. Builds in progress are
// left out.
func InvalidIndexes(ctx context.Context, db *sql.DB) ([]Index, error) {
	rows, err := db.QueryContext(ctx, invalidIndexes)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Index
	for rows.Next() {
		var i Index
		if err := rows.Scan(&i.Schema, &i.Name, &i.Table); err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// checkIndexes is Verify's check: no INVALID index.
func checkIndexes(ctx context.Context, db *sql.DB) error {
	bad, err := InvalidIndexes(ctx, db)
	if err != nil {
		return fmt.Errorf("listing invalid indexes: %w", err)
	}
	if len(bad) == 0 {
		return nil
	}
	names := make([]string, len(bad))
	for i, x := range bad {
		names[i] = fmt.Sprintf("%s on %s.%s", x, x.Schema, x.Table)
	}
	return fmt.Errorf("INVALID index(es) %s, left by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY: drop each with DROP INDEX CONCURRENTLY and build it again", strings.Join(names, ", "))
}

// guardIndexes is the Guard for migrations outside a transaction: it notes
// the INVALID indexes before the migration, and its undo drops those that
// appeared since — the ones the failed CREATE INDEX CONCURRENTLY left —
// with DROP INDEX CONCURRENTLY IF EXISTS, so that a retry can build the
// index again under the same name.
func guardIndexes(ctx context.Context, db *sql.DB) (func(context.Context) (string, error), error) {
	before, err := InvalidIndexes(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("listing invalid indexes: %w", err)
	}
	undo := func(ctx context.Context) (string, error) {
		after, err := InvalidIndexes(ctx, db)
		if err != nil {
			return "", fmt.Errorf("listing invalid indexes: %w", err)
		}
		var dropped []string
		for _, x := range after {
			if slices.Contains(before, x) {
				continue
			}
			q := "DROP INDEX CONCURRENTLY IF EXISTS " + pgx.Identifier{x.Schema, x.Name}.Sanitize()
			if _, err := db.ExecContext(ctx, q); err != nil {
				return "", fmt.Errorf("dropping the INVALID index %s the failed statement left: %w", x, err)
			}
			dropped = append(dropped, x.String())
		}
		if len(dropped) == 0 {
			return "", nil
		}
		return fmt.Sprintf("dropped the INVALID index(es) %s the failed statement left", strings.Join(dropped, ", ")), nil
	}
	return undo, nil
}

var _ migrate.Runner = (*goose.Runner)(nil)
