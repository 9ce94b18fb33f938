// Package sqlite keeps a [journal.Journal] in one SQLite file, through the
// pure-Go driver modernc.org/sqlite: the embedded default, with no server
// and no cgo.
//
//	j, err := sqlite.Open(ctx, "/var/lib/safedeploy/journal.db")
//	if err != nil {
//		return err
//	}
//	defer j.Close()
//	plan.Journal = j
//
// # What it stores
//
// The file belongs to the journal: it holds the tables meta (the schema
// version), leases (one row per key: holder, token, expiry), runs (one row
// per run, with its outcome and its [runbook.Record] as JSON once
// finished) and entries (one row per entry, numbered per run), and
// nothing else. Its header's application ID (0x5344_4a4c, "SDJL") marks it
// as a journal. Open creates the file and its tables when the file is
// missing or empty, and upgrades the tables of an older version of this
// package, in one transaction; it never alters a file it did not write. A
// file that is not a SQLite database, a database of something else (an
// application's tables), a journal written by a newer version, or one
// whose tables are not as this package made them, is an error wrapping
// [journal.ErrCorrupt] that names the file, and so is a stored record or
// entry that does not decode, later.
//
// # Durability and concurrency
//
// The database runs in WAL mode with synchronous=FULL: a write has reached
// the disk (fsync) when the call returns. While the journal is open,
// SQLite keeps two files beside it, FILE-wal and FILE-shm; they belong
// with the file and must not be deleted.
//
// Every write is one transaction begun with BEGIN IMMEDIATE, which takes
// the file's write lock first, so writes from several processes on one
// machine are serialized: the check of the writer's lease and the write
// are one atomic step, and a lease that another process took over fences
// the writer out ([journal.ErrFenced]) before it writes anything. Writers
// in one process queue for the lock in Go; a writer in another process
// waits up to [BusyTimeout] for the lock and then fails with SQLite's
// "database is locked". Reads are single statements, which WAL lets run
// beside a write.
//
// # Clock
//
// Leases are timed by this process's clock, time.Now: the time of the
// process that runs SQLite, which is every process that has the file
// open. Processes sharing a SQLite file share a machine, and so a clock
// (SQLite's locking does not work over network file systems: do not put
// the journal on NFS). Times are stored as Unix nanoseconds, so a run's
// Started must be between the years 1678 and 2262.
package sqlite
