// Package postgres applies goose migrations to PostgreSQL, through pgx
// (github.com/jackc/pgx/v5, as database/sql), without ever holding a lock
// long enough to stall the application.
//
// [Open] returns a [goose.Runner] (package
// [github.com/safedeploy/safedeploy/migrate/goose]), which implements
// [migrate.Runner]: set it as deploy.Plan.Migrations. The migrations are
// goose's files and the record of what is applied is goose's version
// table, so an existing goose project keeps both. Point the runner at the
// directory goose already reads:
//
//	r, err := postgres.Open(os.Getenv("DATABASE_URL"), os.DirFS("db/migrations"), postgres.Config{})
//	if err != nil {
//		return err
//	}
//	defer r.Close()
//	plan.Migrations = r
//
// or at migrations compiled into the binary:
//
//	//go:embed db/migrations/*.sql
//	var files embed.FS
//
//	migrations, _ := fs.Sub(files, "db/migrations")
//	r, err := postgres.Open(dsn, migrations, postgres.Config{})
//
// # Locks
//
// An ALTER TABLE needs an ACCESS EXCLUSIVE lock. While it waits for one —
// behind a long transaction that read the table — every query on the table
// queues behind it: a migration waiting for a lock stalls the application
// as surely as one holding it. So every statement the runner runs has a
// short lock_timeout (Config.LockTimeout, three seconds by default), and a
// statement_timeout (Config.StatementTimeout, a minute by default). They
// are the defaults of every session the runner opens, sent when it
// connects, so they hold for every statement goose runs, in its
// transactions too. A migration can change them for itself with SET: the
// runner resets a session (RESET ALL) before using it again.
//
// When a statement gives up waiting (SQLSTATE 55P03), Apply returns an
// error that wraps [migrate.ErrLockTimeout], goose's error and the
// *pgconn.PgError, and the executor retries the migration with backoff
// until the lock comes free or its budget (Plan.MigrationRetry) runs out.
// Queries that queued behind the migration were held up for at most the
// lock timeout.
//
// # Two deployments at once
//
// Runners over one database — in one process or several — take turns: a
// runner holds a session-level advisory lock ([LockID], goose's own key,
// so goose's session locker takes turns with it too) from before it reads
// what is pending until its migration is applied, or has failed and been
// cleaned up. A runner that finds the lock held waits up to
// Config.LockTimeout, then gives up with an error wrapping
// [migrate.ErrLockTimeout] that names the session holding the lock; the
// executor retries. A migration another runner applied while it waited is
// left alone. So two deployments that share a database apply each
// migration once, and both go on. Advisory locks end with the session
// that holds them, however the process ends.
//
// # Transactions, and what a retry runs again
//
// Goose runs each migration in a transaction unless the file says
// -- +goose NO TRANSACTION. Postgres's DDL is transactional, so a
// migration that fails in a transaction leaves nothing behind: retrying
// it means running all of it again, which is right.
//
// Some statements cannot run in a transaction, above all CREATE INDEX
// CONCURRENTLY, which builds an index without blocking writes; their
// migrations say NO TRANSACTION. Retrying such a migration whole would run
// again the statements that had succeeded. So the runner retries only the
// statement that failed, by requiring that a migration outside a
// transaction hold one statement, with SET or RESET statements beside it if
// it wants (SET statement_timeout = 0 before a long index build, say):
//
//	-- +goose NO TRANSACTION
//	-- +goose Up
//	SET statement_timeout = '30min';
//	CREATE INDEX CONCURRENTLY orders_status ON orders (status);
//
// Pending and Apply refuse one with more, naming it, so pre-flight stops
// the deployment before anything changes; split it into one migration per
// statement. Goose runs the migration on one session, and records it as
// applied only once its statement succeeded.
//
// A CREATE INDEX CONCURRENTLY that fails — a lock timeout while it waits
// for older transactions, a duplicate key for a unique index — leaves an
// INVALID index behind, which the next attempt would collide with and
// which costs every write. The runner notes the INVALID indexes before
// such a migration and, if it fails, drops those that appeared with DROP
// INDEX CONCURRENTLY IF EXISTS; if that meets a lock timeout too, the next
// attempt drops them before it starts. The error says what was dropped.
//
// # Verify
//
// Verify checks that the database answers, that no migration is pending
// and that there is no INVALID index (pg_index.indisvalid false), naming
// each one; builds in progress are not counted.
package postgres
