// Package migratetest helps test code on both sides of [migrate.Runner].
//
// To test code that applies migrations — a deployment, a tool of your own
// — give it a [Memory]: an in-memory runner that can be told to fail, as a
// real database fails.
//
//	db := migratetest.NewMemory(
//		migrate.Migration{ID: "0001_add_status"},
//		migrate.Migration{ID: "0002_index_status"},
//	)
//	db.Contend("0002_index_status", 2) // two lock timeouts, then success
//	plan.Migrations = db
//
// To test a Runner of your own — for another database or another
// migration tool — call [Run] from one of its tests, in the manner of
// testing/slogtest, with a function that makes a new, empty database and
// returns an [Opener] for it: a function that opens your runner over that
// database with the migrations it is given.
//
//	func TestRunner(t *testing.T) {
//		migratetest.Run(t, func(t *testing.T) migratetest.Opener {
//			path := filepath.Join(t.TempDir(), "app.db")
//			return func(ms []migrate.Migration) (migrate.Runner, error) {
//				return myrunner.Open(path, migratetest.FS(ms))
//			}
//		})
//	}
//
// [Run] checks what the deployment executor relies on: that Pending lists
// what is not applied, in order; that Apply applies only the next pending
// migration, leaves an applied one alone and refuses what it cannot apply
// without a lock-timeout error (which the executor would retry); that a
// failed migration stays pending; that runners over one database see each
// other's work and, applying at once, apply each migration once; and that
// cancellation is honoured or ignored, never lied about. [Check] runs the
// same checks outside a test, with a context of your own, and returns one
// error naming every check that failed and what the runner did wrong, or
// nil.
//
// The suite runs on Memory, and on the runners of
// [github.com/safedeploy/safedeploy/migrate/sqlite] and
// [github.com/safedeploy/safedeploy/migrate/postgres] (against a real
// PostgreSQL).
package migratetest
