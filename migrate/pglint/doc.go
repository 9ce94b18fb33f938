// Package pglint lints Postgres migrations for changes that lock
// production tables or break the version of the code still running. It
// implements [migrate.Linter]: the deploy's pre-flight lints every pending
// migration, Error findings stop the deployment before anything changes,
// and what a migration drops or renames feeds the expand/contract check.
//
//	a, err := pglint.Linter{}.Lint(ctx, migrate.Migration{ID: "0042_add_status", SQL: sql})
//
// # The real parser
//
// The SQL is read by Postgres's own parser, compiled in through
// github.com/pganalyze/pg_query_go/v6 (PostgreSQL 17's grammar; it needs
// cgo), and the rules look at the parse tree, never at the text. So
// comments, string literals, dollar-quoted function bodies, quoted
// identifiers, odd spacing and several statements on one line are read as
// Postgres reads them: "DROP COLUMN" inside a comment or a string is not a
// drop, and "ALTER TABLE orders ADD COLUMN a int, DROP COLUMN b" is both.
// SQL the parser rejects is a [*SyntaxError] naming the migration, line
// and column.
//
// # Rules
//
// Rules use squawk's names where squawk has the same check, so that a
// squawk configuration carries over. Each finding says what is wrong and
// why (Message) for the table and column at hand, and the safe
// alternative (Fix); a migration written as the Fix says is not flagged.
//
//   - adding-required-field (error): ADD COLUMN … NOT NULL (or PRIMARY KEY)
//     without a DEFAULT fails on a table with rows, and the running version
//     cannot insert. Fix: a constant DEFAULT (no rewrite since PG11), or add
//     it nullable and backfill.
//   - adding-not-nullable-field (error): ALTER COLUMN … SET NOT NULL scans
//     the table under an ACCESS EXCLUSIVE lock. Fix: ADD CONSTRAINT …
//     CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in another
//     transaction, then SET NOT NULL (PG12+ proves it from the check
//     without a scan) and drop the check. SET NOT NULL is not flagged
//     after such a VALIDATE in the same migration; after a VALIDATE of a
//     constraint added by an earlier migration, whose expression the
//     linter cannot see, it is trusted when the constraint's name mentions
//     the column (orders_status_not_null).
//   - adding-field-with-default (error): ADD COLUMN with a volatile default
//     rewrites the table under an ACCESS EXCLUSIVE lock: a default calling a
//     VOLATILE function (random, random_normal, setseed, gen_random_uuid,
//     uuidv4, uuidv7, gen_random_bytes, uuid_generate_v1, uuid_generate_v1mc,
//     uuid_generate_v4, nextval, setval, clock_timestamp, timeofday), a
//     serial type, an identity or a stored generated column. A function
//     that is in neither that list nor the list of STABLE and IMMUTABLE
//     built-ins counts as volatile, as CREATE FUNCTION makes a function
//     unless told otherwise. The non-volatile list: now,
//     transaction_timestamp, statement_timestamp, current_setting,
//     current_database, current_schema, lower, upper, btrim, ltrim, rtrim,
//     concat, concat_ws, length, md5, replace, substring, left, right,
//     to_char, to_date, to_timestamp, to_number, make_date, make_time,
//     make_timestamp, make_timestamptz, make_interval, date_trunc,
//     date_part, timezone, age, to_json, to_jsonb, json_build_object,
//     jsonb_build_object, json_build_array, jsonb_build_array, array_fill,
//     uuid_nil, uuid_ns_url, uuid_generate_v3, uuid_generate_v5, abs,
//     round, floor, ceil, power. Names are compared without schema and
//     case. Constants, casts, arrays and CURRENT_TIMESTAMP-style values
//     are fine: since PG11 ADD COLUMN stores a non-volatile default once.
//     Fix: add it without a default, SET DEFAULT, backfill in batches.
//   - changing-column-type (error): ALTER COLUMN … TYPE rewrites the table in
//     most cases and may break the running version. Fix: a new column,
//     written by both versions, backfilled; the old one dropped later.
//   - require-concurrent-index-creation (error): CREATE INDEX without
//     CONCURRENTLY blocks writes for the whole build. Fix: CONCURRENTLY,
//     in a NO TRANSACTION migration.
//   - require-concurrent-index-deletion (error): DROP INDEX without
//     CONCURRENTLY takes an ACCESS EXCLUSIVE lock. Fix: CONCURRENTLY.
//   - ban-concurrent-index-creation-in-transaction (error): CREATE or DROP
//     INDEX CONCURRENTLY inside a transaction fails. Fix: mark the
//     migration -- +goose NO TRANSACTION, outside BEGIN … COMMIT.
//   - constraint-missing-not-valid (error): ADD CONSTRAINT FOREIGN KEY or
//     CHECK without NOT VALID checks every row under a lock that blocks
//     writes; so does VALIDATE in the transaction that added the
//     constraint NOT VALID. Fix: NOT VALID, then VALIDATE in another
//     transaction.
//   - disallowed-unique-constraint (error): ADD CONSTRAINT UNIQUE or PRIMARY
//     KEY (or ADD COLUMN … UNIQUE) builds its index under an ACCESS
//     EXCLUSIVE lock. Fix: CREATE UNIQUE INDEX CONCURRENTLY, then ADD
//     CONSTRAINT … USING INDEX.
//   - ban-drop-column, ban-drop-table, renaming-column, renaming-table
//     (warning): dropping or renaming a column or table breaks the running
//     version if it uses it. They are warnings here because whether it does
//     is for the deploy to judge: each adds the object to Analysis.Removes,
//     and [migrate.CheckRemovals] turns the removal of anything a version of
//     the code uses into an error. Fix: expand/contract, the removal in a
//     later deployment.
//   - require-timeout-settings (error): a schema change runs with no
//     lock_timeout set. While it waits for its lock, every query on the
//     table queues behind it, so a migration blocked by one long
//     transaction takes the table down for as long as that runs; that is
//     an outage, hence an error. Fix: SET LOCAL lock_timeout = '2s' (SET
//     lock_timeout in a NO TRANSACTION migration) before the first schema
//     change, and retry on timeout. It is reported once, at the first
//     statement other than a query, DML, SET/RESET/SHOW or transaction
//     control that runs with no non-zero lock_timeout. SET LOCAL outside a
//     transaction, lock_timeout = 0, RESET and SET … TO DEFAULT count as
//     unset; SELECT set_config('lock_timeout', …) counts as SET. Squawk's
//     rule of this name also wants a statement_timeout; this one does not.
//     [Linter.RunnerSetsLockTimeout] turns it off for runners that set one.
//
// Rules that guard an existing table's lock skip tables created earlier in
// the same migration (an ALTER or CREATE INDEX on an empty new table locks
// nobody out), and DROP INDEX skips indexes created in it.
// [Linter.Disable] turns rules off by name; [Rules] lists them with
// severity, why and fix, and [CheckRuleNames] catches misspelt names.
//
// # Goose annotations
//
// Migration files are read the way pressly/goose reads them. Annotations
// are whole comment lines, read line by line as goose does:
//
//   - -- +goose Up and -- +goose Down: only the Up section is linted.
//   - -- +goose StatementBegin / StatementEnd: the block is one statement
//     for goose and parsed on its own, so a function body needs no special
//     care; outside blocks the parser, not semicolons at line ends, splits
//     statements.
//   - -- +goose NO TRANSACTION: the statements run outside a transaction.
//     Without it goose runs the whole migration in one, which
//     CONCURRENTLY refuses. An explicit BEGIN … COMMIT in a NO TRANSACTION
//     migration is a transaction too.
//   - -- +goose ENVSUB ON/OFF are accepted; variables are not substituted.
//
// Malformed annotations that goose refuses (a duplicate Up, Down before
// Up, SQL before Up, an unknown or indented annotation, a missing
// StatementEnd) are a [*SyntaxError] too. SQL without any annotation is
// linted whole, as one Up section run in a transaction.
//
// # Positions
//
// A finding's Statement is the index of the statement in the Up section,
// from 0, and Pos its byte offset in Migration.SQL, taken from the
// parser's statement locations (past any comment before the statement).
// [Position] turns Pos into a line and column.
//
// # Expand and contract
//
// Analysis.Removes lists what the migration drops or renames away:
// "table" for DROP TABLE and ALTER TABLE … RENAME TO, "table.column" for
// DROP COLUMN and RENAME COLUMN, in statement order without repeats, and
// regardless of Disable. Names are normalised to match [migrate.Usage]:
// lower-cased (Postgres folds unquoted names to lower case; a quoted
// "Orders" becomes orders too) and unqualified: the schema, "public" or
// any other, is dropped, so audit.orders and orders are both "orders" (a
// collision can only add findings, never hide one). Objects created
// earlier in the same migration are not listed. The deploy puts Removes
// in Migration.Removes and calls [migrate.CheckRemovals] with what the
// running and the new version use.
package pglint
