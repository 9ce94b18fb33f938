// Package goose runs goose v3 migrations (github.com/pressly/goose/v3) as a
// [migrate.Runner], so that a project that already uses goose keeps its
// migration files and its version table, and the deployment executor
// applies them before the code that needs them, with lock timeouts retried
// and failures reported by migration and statement.
//
// Most projects want one of the runners built on it:
// [github.com/safedeploy/safedeploy/migrate/postgres] (pgx, with lock and
// statement timeouts and INVALID index checks) or
// [github.com/safedeploy/safedeploy/migrate/sqlite] (modernc.org/sqlite,
// embedded). [New] adapts a goose Provider for any other database goose
// supports, given a [Config] that says which errors are lock timeouts and
// what else to check.
//
// # Existing goose migrations
//
// The runner reads migration files from an fs.FS, at its root, as goose
// does. Point it at the directory goose already uses with
// os.DirFS("db/migrations"), or at files compiled in with embed.FS and
// fs.Sub. Nothing about the files changes: goose parses them
// (-- +goose Up, StatementBegin/StatementEnd, NO TRANSACTION, ENVSUB),
// runs them and records them in its version table (goose_db_version, or
// the name given with goose.WithTableName), so the goose command line and
// the runner can be used on the same database. Go migrations registered
// with goose run too.
//
// # What the runner adds to goose
//
// Pending lists goose's pending migrations as [migrate.Migration] values:
// the ID is the file name ("00042_add_status.sql"), the SQL the file's
// contents, for linters and the expand/contract check in pre-flight.
//
// Apply applies exactly the migration it is given (goose's ApplyVersion)
// after checking that it is the next pending one. With a Config.Locker
// (the PostgreSQL and SQLite runners have one), runners over one database
// take turns: Apply holds the lock from before it reads what is pending
// until the migration is applied or has failed, so two deployments at once
// cannot both find a migration pending and both apply it. A migration
// already applied when its turn comes is left alone, and Apply returns
// nil. A runner that waits longer than Config.LockWait gives up with an
// error wrapping [ErrBusy] and [migrate.ErrLockTimeout], which the
// executor retries. When goose fails, Apply
// returns an [*ApplyError]: the migration, the statement that failed (its
// index, its text — goose's verbose log announces each statement before
// running it, and the runner listens), whether it ran in a transaction and
// what is left. A statement that gave up waiting for a lock
// (Config.IsLockTimeout) makes the error wrap [migrate.ErrLockTimeout] —
// which the executor retries with backoff — only when retrying is safe:
// the migration ran in a transaction and was rolled back, or it ran
// outside one and nothing but SET or RESET ran before the failed
// statement. Otherwise retrying would run again what already succeeded,
// and the failure stops the deployment: the error then says to fix that
// migration's file, which stays pending and is applied first next time (a
// new migration would only run after it), and to take out of it the
// statements that ran outside a transaction.
//
// Verify checks that the database answers, that nothing is pending, and
// Config.Check.
//
// To know a migration's statements and whether it runs in a transaction
// before running it, the runner asks goose's own parser, by applying the
// file without versioning to a stand-in database that records statements
// instead of running them. [Runner.Statements] returns them, for linters.
package goose
