// Package sqlite applies goose migrations to a SQLite database file, through
// the pure-Go driver modernc.org/sqlite: the embedded default, with no
// server and no cgo.
//
// [Open] returns a [Runner]: a [goose.Runner] (package
// [github.com/safedeploy/safedeploy/migrate/goose]), which implements
// [migrate.Runner], and a [migrate.Linter]. Set it as both
// deploy.Plan.Migrations and deploy.Plan.Linter. The migrations are
// goose's files and the record of what is applied is goose's version
// table (goose_db_version unless goose.WithTableName says otherwise), so
// an existing goose project keeps both:
//
//	r, err := sqlite.Open("app.db", os.DirFS("db/migrations"), sqlite.Config{})
//	if err != nil {
//		return err
//	}
//	defer r.Close()
//	plan.Migrations, plan.Linter = r, r
//
// # Locks
//
// SQLite runs DDL in transactions, so a migration that fails (unless it
// says -- +goose NO TRANSACTION) leaves the schema as it was. A statement
// that finds the database locked by another connection waits up to
// Config.LockTimeout (SQLite's busy timeout) and then fails; Apply reports
// that as safe to retry, wrapping [migrate.ErrLockTimeout], and the
// executor retries it with backoff. Migrations run in BEGIN IMMEDIATE
// transactions, so a migration takes the write lock before its first
// statement rather than failing halfway to upgrade to it.
//
// SQLite's own locks do not stop two runners from applying the same
// migration: goose reads whether a migration is applied before it begins
// the migration's transaction, so a second runner can read "pending",
// wait for the first runner's transaction, and run the migration again.
// So runners on one file take turns: Apply holds an exclusive lock on a
// file of its own, the database's name followed by [LockSuffix], from
// before it reads what is pending until it is done, waiting for its turn
// up to Config.LockTimeout. The operating system releases that lock when
// the process holding it ends, however it ends. A runner that finds the
// migration applied once its turn comes applies nothing.
//
// # What a migration removes
//
// [Runner.Lint] tells what each pending migration removes by asking
// SQLite itself rather than parsing SQL: it copies the database (VACUUM
// INTO, a consistent snapshot, into Config.ScratchDir), applies the
// pending migrations to the copy in order, as goose splits their
// statements, and compares the schema before and after each: the tables
// and views that are gone, and the columns gone from those that remain
// (pragma table_list and table_xinfo). A table rebuilt under its own name
// without a column — SQLite's usual way to change a table — removes that
// column; a renamed table or column removes the old name; a view a
// migration leaves unreadable is removed. The real database is only read.
// The executor checks the removals against deploy.Plan.Schema, so a
// migration that drops a column the running version reads stops the
// deployment in pre-flight.
//
// A migration that fails on the copy is an Error finding: it would fail
// for real too. Go migrations are not run on the copy (they may reach
// beyond the database they are given), so what they remove is unknown: a
// Warning says so, and the migrations after them are tried without them.
// The copy is as large as the database, and is made once for all the
// pending migrations, and again only when they or the schema change.
package sqlite
