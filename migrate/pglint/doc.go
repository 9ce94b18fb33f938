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
//   - require-concurrent-reindex (error): REINDEX without CONCURRENTLY
//     blocks writes to the table (SHARE lock) and queries that would use
//     the index (ACCESS EXCLUSIVE on it) until the rebuild ends; REINDEX
//     SCHEMA and DATABASE do so table by table, and REINDEX SYSTEM cannot
//     be concurrent. Fix: REINDEX … CONCURRENTLY (PG12+) outside a
//     transaction; REINDEX SYSTEM in a maintenance window.
//   - ban-concurrent-index-creation-in-transaction (error): CREATE INDEX,
//     DROP INDEX or REINDEX CONCURRENTLY inside a transaction, or inside a
//     DO block (Postgres runs its body as a function), fails. Fix: mark
//     the migration -- +goose NO TRANSACTION (plain SQL: no BEGIN, no
//     AssumeInTransaction runner), outside BEGIN … COMMIT and DO blocks.
//   - constraint-missing-not-valid (error): ADD CONSTRAINT FOREIGN KEY or
//     CHECK without NOT VALID checks every row under a lock that blocks
//     writes; so does VALIDATE in the transaction that added the
//     constraint NOT VALID. Fix: NOT VALID, then VALIDATE in another
//     transaction.
//   - adding-foreign-key-constraint (error): ADD COLUMN … REFERENCES on a
//     column with a DEFAULT (any, DEFAULT NULL included), a serial type or
//     GENERATED … STORED: Postgres checks every row against the referenced
//     table under the ACCESS EXCLUSIVE lock ADD COLUMN takes (and a SHARE
//     ROW EXCLUSIVE one on the referenced table). Without a default the
//     column is NULL in every row and Postgres marks the key valid without
//     a check, so that is not flagged; since PG13 another column's default
//     in the same ALTER does not matter (PG12 and earlier checked then
//     too). Squawk's rule of this name also flags ADD CONSTRAINT …
//     FOREIGN KEY, which constraint-missing-not-valid reports here. Fix:
//     add the column without REFERENCES, then ADD CONSTRAINT … FOREIGN
//     KEY … NOT VALID and VALIDATE it in another transaction; or add it
//     without a default, SET DEFAULT, backfill.
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
//   - ban-truncate (error): TRUNCATE of a table that existed before the
//     migration deletes every row under an ACCESS EXCLUSIVE lock, and the
//     running version loses the data. Fix: DELETE only the rows that must
//     go, in batches; empty a table in a later deployment, with the rule
//     disabled for that run.
//   - ban-truncate-cascade (error): TRUNCATE … CASCADE empties every table
//     with a foreign key to the ones named, tables the statement does not
//     name. Fix: name every table and leave CASCADE out.
//   - ban-drop-schema (error): DROP SCHEMA … CASCADE of a schema that
//     existed before the migration drops everything in it, and the
//     expand/contract check cannot see which tables (without CASCADE
//     Postgres refuses a schema that is not empty: not flagged). Fix: drop
//     the tables one by one, each judged by the expand/contract check.
//   - ban-backfill-under-lock (error): an UPDATE of every row of a table
//     (no WHERE, or only "col IS NULL" on columns this migration added
//     without a default) in the transaction that took a lock on it that
//     blocks writes (ALTER TABLE, CREATE INDEX, CREATE TRIGGER, RENAME,
//     LOCK TABLE … SHARE or stronger, TRUNCATE, REINDEX TABLE, CLUSTER,
//     VACUUM FULL, a foreign key to it): the lock, and every query queued
//     behind it, lasts until the whole backfill commits. Fix: commit the
//     schema change first, then backfill in batches, each its own
//     transaction.
//   - require-timeout-settings (error): a schema change runs with no
//     lock_timeout set. While it waits for its lock, every query on the
//     table queues behind it, so a migration blocked by one long
//     transaction takes the table down for as long as that runs; that is
//     an outage, hence an error. Fix: SET LOCAL lock_timeout = '2s' (SET
//     lock_timeout in a NO TRANSACTION migration) before the first schema
//     change, and retry on timeout. It is reported once, at the first
//     statement that can queue for a lock blocking reads or writes on a
//     table that existed before the migration and runs with no non-zero
//     lock_timeout. Not such statements: queries, DML, SET/RESET/SHOW,
//     EXPLAIN and transaction control; CREATE TABLE without a foreign key
//     to an existing table and not a PARTITION OF one; CREATE TABLE … AS;
//     ANALYZE and VACUUM without FULL (SHARE UPDATE EXCLUSIVE blocks
//     neither reads nor writes); CREATE INDEX, ALTER TABLE, CREATE TRIGGER
//     and RENAME on a table created in the migration (unless they add a
//     foreign key to an existing one); and a DO block whose statements are
//     none of the others (see DO blocks). Every other statement counts.
//     SET LOCAL outside a transaction, lock_timeout = 0, RESET and SET … TO
//     DEFAULT count as unset; SELECT set_config('lock_timeout', …) counts
//     as SET. Squawk 2.66 names this check require-lock-timeout and has a
//     require-statement-timeout besides; this linter asks for no
//     statement_timeout. [Linter.RunnerSetsLockTimeout] turns it off for
//     runners that set one.
//
// Rules that guard an existing table's lock skip tables created earlier in
// the same migration (an ALTER or CREATE INDEX on an empty new table locks
// nobody out), and DROP INDEX and REINDEX skip indexes created in it. A new
// table stops counting as new when it takes over the name of a table the
// migration dropped or renamed away (CREATE TABLE orders after DROP TABLE
// orders, or ALTER TABLE orders_new RENAME TO orders after renaming orders
// away) once that is committed: outside a transaction at once, inside one
// after COMMIT. From then on the running version's queries reach it, so
// CREATE INDEX on it without CONCURRENTLY is flagged.
//
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
// StatementEnd) are a [*SyntaxError] too.
//
// # Goose or plain SQL
//
// A migration is a goose migration when at least one of its lines is a
// goose annotation as goose reads lines: a line whose text, trimmed,
// starts with "--" and contains "+goose", well formed or not (a malformed
// one is a [*SyntaxError], not plain SQL). Like goose, the linter does
// not parse SQL to find them: a line of a string or a block comment that
// starts with "--" and contains "+goose" is one too, and "+goose" after
// SQL on the same line is not. Every other
// migration is plain SQL: the whole file is the Up section, and it runs
// outside a transaction unless its SQL says BEGIN, as psql -f runs a file
// and as squawk assumes by default. [Linter.AssumeInTransaction] (the lint
// command's -assume-in-transaction, squawk's --assume-in-transaction) says
// the runner wraps each plain-SQL file in one transaction instead; BEGIN
// and COMMIT in the file are then ignored, as under goose. Set it for
// Flyway and diesel (a transaction per migration by default), and for
// golang-migrate's postgres driver, which sends a file as one
// multi-statement query that Postgres runs as one implicit transaction
// (unless x-multi-statement splits it into statements). Goose migrations
// ignore it: their annotations decide. The transaction decides
// ban-concurrent-index-creation-in-transaction, whether a VALIDATE runs in
// the transaction of its ADD … NOT VALID, ban-backfill-under-lock, and
// whether SET LOCAL lock_timeout counts.
//
// # DO blocks
//
// The body of a DO block in PL/pgSQL (the default language) is read by
// PL/pgSQL's own parser (pg_query's ParsePlPgSqlToJSON), and every SQL
// statement in it goes through the rules as a statement of the migration,
// at its own position in the file (its Statement is the DO block's
// index). The block runs as one transaction: the surrounding one, or its
// own outside a transaction (COMMIT and ROLLBACK in it start the next).
// The limits, all on the side of flagging: every branch of IF and CASE is
// taken, a loop's body once, exception handlers as if they ran. EXECUTE
// of a string literal is read as the SQL in the string; EXECUTE of
// anything built at run time (format(), ||, a variable), CALL, and a block
// in another language or that PL/pgSQL's parser refuses are SQL the
// linter cannot see: for require-timeout-settings they take locks, and no
// other rule sees inside them. Functions a statement calls are not
// followed, in DO blocks or anywhere else (CREATE FUNCTION bodies run when
// called, not when the migration runs). A body in single quotes is read,
// but its findings point at the DO statement.
//
// # Input that is not SQL text
//
// A NUL byte or bytes that are not UTF-8 are a [*SyntaxError]: Postgres
// refuses both, and the parser would stop reading at a NUL and miss the
// rest. A migration with no statements (empty, only comments, an empty
// goose Up section) lints to no findings and no error; [Statements] says
// how many statements Lint reads, so that a caller can tell.
//
// # Positions
//
// A finding's Statement is the index of the statement in the Up section,
// from 0, and Pos its byte offset in Migration.SQL, taken from the
// parser's statement locations (past any comment before the statement).
// A statement in a DO block has the block's Statement and its own Pos
// (found in the body's text by PL/pgSQL's line number; the DO statement's
// when it cannot be found). [Position] turns Pos into a line and column.
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
