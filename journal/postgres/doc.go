// Package postgres keeps a [journal.Journal] in a PostgreSQL database,
// through pgx (github.com/jackc/pgx/v5): for deployers on several hosts,
// or a team that already runs PostgreSQL.
//
//	j, err := postgres.Open(ctx, os.Getenv("JOURNAL_URL"))
//	if err != nil {
//		return err
//	}
//	defer j.Close()
//	plan.Journal = j
//
// [Open] makes a connection pool of its own from a connection string
// (a URL, postgres://user@host/db, or key=value pairs); [New] uses the
// caller's pool, which Close then leaves open.
//
// # What it stores
//
// Four tables, in the schema the connection's search_path selects
// (current_schema()), named so that they sit beside an application's own:
// safedeploy_journal_meta (the schema version), safedeploy_journal_leases
// (one row per key: holder, token, expiry), safedeploy_journal_runs (one
// row per run, with its outcome and its [runbook.Record] as JSON once
// finished) and safedeploy_journal_entries (one row per entry, numbered
// per run). Open and New create the tables, or upgrade those of an older
// version of this package, in one transaction under an advisory lock, so
// that deployers starting together do it once. They never alter a table
// they did not make: a table of one of those names that is not as this
// package made it (another program's table, or one changed by hand), or
// tables of a newer version, are an error wrapping [journal.ErrCorrupt]
// that names the table; so is a stored record or entry that does not
// decode, later.
//
// The role needs CREATE on the schema the first time, and then SELECT,
// INSERT and UPDATE on the tables. Nothing is ever deleted.
//
// # Leases, fencing and the clock
//
// Leases are timed by the server's clock (clock_timestamp()), so that
// deployers on hosts whose clocks disagree still agree on when a lease
// expires. Every write is one transaction that first locks the key's lease
// row (FOR SHARE; Acquire and Renew lock it FOR UPDATE) and checks that
// the writer's token is the newest and unexpired: a takeover waits for
// writes under the old lease to commit, and every write after it sees the
// new token and is refused with [journal.ErrFenced] before it writes
// anything.
//
// # Failure modes
//
// A write is durable once it returns if the server commits durably
// (synchronous_commit on, its default, and fsync on). A write that cannot
// reach the server, or that the server aborts, fails and changes nothing
// (it is one transaction); how long a call waits for an unreachable
// server is up to its context's deadline. PostgreSQL's text cannot
// hold a NUL byte or invalid UTF-8: a name or message holding one is
// refused with an error naming the field, before anything is sent. Times
// are kept to the microsecond.
package postgres
