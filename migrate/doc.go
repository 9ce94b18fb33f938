// Package migrate checks and applies the schema changes a deployment needs,
// before any of the deployment's code runs.
//
// A deployment changes the database and the code, and for a while both the
// old code and the new run against one schema. The package holds to a few
// rules so that this window is safe:
//
//   - Migrations run before the code that needs them, and the deployment
//     goes on only once every one is applied and the database is healthy.
//   - New code works with the old schema, and old code with the new one,
//     while old instances still run: nothing the running version uses is
//     removed in the same deployment (expand, migrate, then contract).
//   - No statement holds a table's lock for more than a few seconds, and no
//     column is added NOT NULL without a DEFAULT. These are properties of
//     the SQL, for runners and linters that read it to enforce.
//
// # Runner
//
// A [Runner] applies migrations to one database with three methods. Pending
// lists the migrations not yet applied, in the order to apply them. Apply
// applies one, entirely or not at all where the database allows; it bounds
// its own wait for locks and, when it gives up, returns an error wrapping
// [ErrLockTimeout]. Runners over one database take turns, so that two
// deployments at once apply each migration once: a migration another
// runner applied meanwhile is left alone, and Apply returns nil. Verify
// reports whether the database is healthy after migrating, returning nil
// when it is.
//
// A Runner knows nothing about deployments; the executor in package
// [github.com/safedeploy/safedeploy/deploy] adds the policy around it. In
// pre-flight it calls Pending and [CheckRemovals], and an Error finding
// stops the deployment before anything changes. In the database phase,
// before any code is touched, it calls Apply for each pending migration in
// order. An error wrapping ErrLockTimeout is retried with exponential
// backoff, within a time budget (a minute unless the plan says otherwise);
// any other error, an exhausted budget, a migration still pending after
// Apply, or a failed Verify stops the deployment there, so the code that
// needed the migration never ships.
//
// # Expand and contract
//
// [Migration.Removes] names the tables ("orders") and columns
// ("orders.note") a migration drops or renames away; [Usage] names those
// that the running version and the new version of the code use.
// CheckRemovals compares them and returns an Error [Finding] for each
// removal of something either version uses. Removing a table removes its
// columns, so "orders" covers "orders.note", but names are otherwise
// compared exactly: "orders" does not cover "orders_archive".
//
// The running version matters as much as the new one: its instances serve
// traffic until the deployment completes. Removing a column therefore takes
// two deployments. The first ships code that no longer uses it; the second,
// once that code is the running version, drops it. Renaming takes three:
// add the new name and write both, then read only the new one, then drop
// the old.
//
// # Findings
//
// A [Finding] is one problem a safety check found in one migration: the
// rule that found it, a [Severity] (Error findings stop the deployment in
// pre-flight; Warnings do not), where it is (statement index and byte
// offset in the SQL, -1 when unknown), what is wrong and the safe
// alternative. Rule names follow the squawk linter where one of its rules
// matches: CheckRemovals reports "ban-drop-column" and "ban-drop-table". A
// linter that parses SQL reports its findings in the same form and can fill
// in Removes from the statements it reads. Findings encode to JSON with the
// severity as text, and decode back.
//
// # Runners
//
// Packages [github.com/safedeploy/safedeploy/migrate/postgres] and
// [github.com/safedeploy/safedeploy/migrate/sqlite] apply goose migration
// files; package [github.com/safedeploy/safedeploy/migrate/pglint] lints
// PostgreSQL migrations on the real Postgres parser, and the SQLite runner
// is its own Linter, finding removals by trying the migrations on a copy
// of the database. Package
// [github.com/safedeploy/safedeploy/migrate/migratetest] has an in-memory
// Runner that can be told to fail, for tests, and a conformance suite for
// Runners of your own.
package migrate
