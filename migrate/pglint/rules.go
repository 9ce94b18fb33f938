package pglint

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/safedeploy/safedeploy/migrate"
)

// A Rule is one check the Linter runs on every statement of a migration.
type Rule struct {
	// Name is the rule's name, squawk's where squawk has the same check.
	Name string
	// Severity is the severity of its findings: Error stops a deployment.
	Severity migrate.Severity
	// Why says what goes wrong, and Fix the safe alternative, in general;
	// each finding says it for its own table and column.
	Why, Fix string

	check func(s *scope, n *pg_query.Node) []issue
}

// issue is one finding of a rule, before Lint adds where it is.
type issue struct{ msg, fix string }

// Rule names.
const (
	ruleRequiredField      = "adding-required-field"
	ruleNotNullableField   = "adding-not-nullable-field"
	ruleFieldWithDefault   = "adding-field-with-default"
	ruleColumnType         = "changing-column-type"
	ruleIndexCreation      = "require-concurrent-index-creation"
	ruleIndexDeletion      = "require-concurrent-index-deletion"
	ruleConcurrentInTx     = "ban-concurrent-index-creation-in-transaction"
	ruleNotValid           = "constraint-missing-not-valid"
	ruleUniqueConstraint   = "disallowed-unique-constraint"
	ruleDropColumn         = "ban-drop-column"
	ruleDropTable          = "ban-drop-table"
	ruleRenameColumn       = "renaming-column"
	ruleRenameTable        = "renaming-table"
	ruleTimeout            = "require-timeout-settings"
	ruleForeignKeyColumn   = "adding-foreign-key-constraint"
	ruleReindex            = "require-concurrent-reindex"
	ruleTruncate           = "ban-truncate"
	ruleTruncateCascade    = "ban-truncate-cascade"
	ruleDropSchema         = "ban-drop-schema"
	ruleBackfill           = "ban-backfill-under-lock"
	noTxFix                = "in a migration marked -- +goose NO TRANSACTION (plain SQL: a file the runner does not wrap in a transaction)"
	expandContractRemoval  = "remove it in a later deployment than the one whose code stops using it, and declare what each version uses so the deploy's expand/contract check can tell (migrate.CheckRemovals)"
	expandContractRenaming = "add the new name alongside the old one and have the code write both, switch reads to the new name, and drop the old name in a later deployment"
)

// ruleTable is every rule, in the order Lint runs them on a statement.
var ruleTable = []Rule{
	{ruleRequiredField, migrate.Error,
		"ADD COLUMN … NOT NULL without a DEFAULT fails on a table with rows, and the running version, which does not know the column, can no longer insert.",
		"Add it with a constant DEFAULT (no rewrite since PG11), or nullable and backfilled first.",
		checkRequiredField},
	{ruleNotNullableField, migrate.Error,
		"SET NOT NULL on an existing column scans the whole table under an ACCESS EXCLUSIVE lock, blocking reads and writes.",
		"ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in another transaction, then SET NOT NULL (PG12+ uses the check instead of a scan) and drop the check.",
		checkNotNullableField},
	{ruleFieldWithDefault, migrate.Error,
		"ADD COLUMN with a volatile default (random(), clock_timestamp(), gen_random_uuid(), nextval(), serial, identity, stored generated) rewrites the table under an ACCESS EXCLUSIVE lock.",
		"Add the column without a default, SET DEFAULT afterwards (new rows only), and backfill in batches.",
		checkFieldWithDefault},
	{ruleColumnType, migrate.Error,
		"ALTER COLUMN … TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock in most cases, and the running version may not handle the new type.",
		"Add a column of the new type, write both, backfill in batches, switch reads, drop the old column in a later deployment.",
		checkColumnType},
	{ruleIndexCreation, migrate.Error,
		"CREATE INDEX without CONCURRENTLY blocks writes to the table (SHARE lock) for the whole build.",
		"CREATE INDEX CONCURRENTLY, " + noTxFix + ".",
		checkIndexCreation},
	{ruleIndexDeletion, migrate.Error,
		"DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the index's table, blocking reads and writes.",
		"DROP INDEX CONCURRENTLY, " + noTxFix + ".",
		checkIndexDeletion},
	{ruleReindex, migrate.Error,
		"REINDEX without CONCURRENTLY blocks writes to the table, and reads that would use the index, until it finishes.",
		"REINDEX … CONCURRENTLY (PG12+), " + noTxFix + ".",
		checkReindex},
	{ruleConcurrentInTx, migrate.Error,
		"CREATE INDEX, DROP INDEX or REINDEX CONCURRENTLY inside a transaction (or a DO block) is refused by Postgres: the migration fails.",
		"Mark the migration -- +goose NO TRANSACTION (plain SQL: leave it out of BEGIN … COMMIT and out of a runner's transaction) and keep the statement out of DO blocks.",
		checkConcurrentInTx},
	{ruleNotValid, migrate.Error,
		"ADD CONSTRAINT FOREIGN KEY or CHECK without NOT VALID checks every row while holding a lock that blocks writes (and, for CHECK, reads); VALIDATE in the transaction that added it NOT VALID still holds that lock.",
		"ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in another transaction (its lock lets reads and writes go on).",
		checkNotValid},
	{ruleForeignKeyColumn, migrate.Error,
		"ADD COLUMN … REFERENCES on a column with a DEFAULT (or a serial type, or GENERATED … STORED) checks every row against the referenced table under the ACCESS EXCLUSIVE lock ADD COLUMN takes. (Without a default the column is NULL in every row and Postgres skips the check.)",
		"Add the column without REFERENCES, then ADD CONSTRAINT … FOREIGN KEY … NOT VALID and VALIDATE it in another transaction; or add it without a default, SET DEFAULT, and backfill.",
		checkForeignKeyColumn},
	{ruleUniqueConstraint, migrate.Error,
		"ADD CONSTRAINT UNIQUE or PRIMARY KEY builds its index while an ACCESS EXCLUSIVE lock blocks reads and writes.",
		"CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE (or PRIMARY KEY) USING INDEX.",
		checkUniqueConstraint},
	{ruleDropColumn, migrate.Warning,
		"DROP COLUMN breaks the running version if it still uses the column; the deploy's expand/contract check makes that an error.",
		"Drop it in a later deployment than the one whose code stops using it.",
		checkRemoval(ruleDropColumn)},
	{ruleDropTable, migrate.Warning,
		"DROP TABLE breaks the running version if it still uses the table; the deploy's expand/contract check makes that an error.",
		"Drop it in a later deployment than the one whose code stops using it.",
		checkRemoval(ruleDropTable)},
	{ruleRenameColumn, migrate.Warning,
		"RENAME COLUMN breaks the running version, which uses the old name.",
		"Add the new column, write both, backfill, switch reads, and drop the old one in a later deployment.",
		checkRemoval(ruleRenameColumn)},
	{ruleRenameTable, migrate.Warning,
		"RENAME TO breaks the running version, which uses the old table name.",
		"Create the table under its new name and write both (or a view under one name), switch, and drop the old name in a later deployment.",
		checkRemoval(ruleRenameTable)},
	{ruleTruncate, migrate.Error,
		"TRUNCATE deletes every row under an ACCESS EXCLUSIVE lock that blocks reads and writes; the running version loses the table's data.",
		"DELETE the rows that must go, in batches; empty a table only once no running code reads it.",
		checkTruncate(false)},
	{ruleTruncateCascade, migrate.Error,
		"TRUNCATE … CASCADE also empties every table with a foreign key to the ones named, tables the statement does not name.",
		"Name every table to empty and leave out CASCADE, so that Postgres refuses to empty a table still referenced.",
		checkTruncate(true)},
	{ruleDropSchema, migrate.Error,
		"DROP SCHEMA … CASCADE drops every table, view, function and type in the schema, and the deploy's expand/contract check cannot see which.",
		"Drop the schema's tables one by one (the expand/contract check judges each), in a later deployment than the one whose code stops using them, then DROP SCHEMA without CASCADE.",
		checkDropSchema},
	{ruleBackfill, migrate.Error,
		"An UPDATE of every row in the transaction that locked the table for a schema change keeps that lock, and every query queued behind it, until the whole backfill commits.",
		"Commit the schema change first (a later migration, or COMMIT before the backfill outside a wrapping transaction), then backfill in batches, each its own transaction.",
		checkBackfill},
	{ruleTimeout, migrate.Error,
		"A schema change that waits for a lock without lock_timeout blocks every query queued behind it for as long as it waits.",
		"Start the migration with SET LOCAL lock_timeout = '2s' (SET lock_timeout in a NO TRANSACTION migration) and retry on timeout, or set RunnerSetsLockTimeout if the runner does.",
		checkTimeout},
}

// Rules returns the rules a Linter runs, in order. The returned slice is a
// copy.
func Rules() []Rule { return append([]Rule(nil), ruleTable...) }

// checkRequiredField: ADD COLUMN … NOT NULL without DEFAULT.
func checkRequiredField(s *scope, n *pg_query.Node) []issue {
	return forAddedColumns(s, n, func(table string, col *pg_query.ColumnDef) []issue {
		if !hasConstraint(col, pg_query.ConstrType_CONSTR_NOTNULL) && !hasConstraint(col, pg_query.ConstrType_CONSTR_PRIMARY) ||
			hasConstraint(col, pg_query.ConstrType_CONSTR_DEFAULT) || hasConstraint(col, pg_query.ConstrType_CONSTR_IDENTITY) ||
			hasConstraint(col, pg_query.ConstrType_CONSTR_GENERATED) || isSerial(col) {
			return nil
		}
		return []issue{{
			fmt.Sprintf("adds column %s.%s NOT NULL without a DEFAULT: it fails on a table with rows, and the running version cannot insert without a value for it", table, col.GetColname()),
			fmt.Sprintf("add it with a constant default (ADD COLUMN %s … NOT NULL DEFAULT …, no rewrite since PG11), or add it nullable, backfill, and make it NOT NULL through a validated CHECK", col.GetColname()),
		}}
	})
}

// checkNotNullableField: ALTER COLUMN … SET NOT NULL not proven by a
// validated CHECK.
func checkNotNullableField(s *scope, n *pg_query.Node) []issue {
	a := n.GetAlterTableStmt()
	if a == nil || s.isNew(a.GetRelation()) {
		return nil
	}
	table, key := display(a.GetRelation()), relKey(a.GetRelation())
	var out []issue
	for _, c := range alterCmds(a) {
		col := strings.ToLower(c.GetName())
		if c.GetSubtype() != pg_query.AlterTableType_AT_SetNotNull || s.notNull[key+"."+col] || s.validatedFor(key, col) {
			continue
		}
		check := fmt.Sprintf("%s_%s_not_null", a.GetRelation().GetRelname(), col)
		out = append(out, issue{
			fmt.Sprintf("sets %s.%s NOT NULL: Postgres scans the whole table to check it while holding an ACCESS EXCLUSIVE lock that blocks reads and writes", table, col),
			fmt.Sprintf("ALTER TABLE %[1]s ADD CONSTRAINT %[2]s CHECK (%[3]s IS NOT NULL) NOT VALID; then, in another transaction, ALTER TABLE %[1]s VALIDATE CONSTRAINT %[2]s; then SET NOT NULL, which PG12+ proves from the check without a scan, and DROP CONSTRAINT %[2]s", table, check, col),
		})
	}
	return out
}

// checkFieldWithDefault: ADD COLUMN whose default Postgres must compute
// for every row.
func checkFieldWithDefault(s *scope, n *pg_query.Node) []issue {
	return forAddedColumns(s, n, func(table string, col *pg_query.ColumnDef) []issue {
		why := ""
		switch {
		case isSerial(col):
			why = "of type " + typeName(col) + ", whose default is nextval()"
		case hasConstraint(col, pg_query.ConstrType_CONSTR_IDENTITY):
			why = "as an identity column, numbered by nextval()"
		case hasConstraint(col, pg_query.ConstrType_CONSTR_GENERATED):
			why = "as a stored generated column"
		default:
			for _, con := range col.GetConstraints() {
				if c := con.GetConstraint(); c.GetContype() == pg_query.ConstrType_CONSTR_DEFAULT {
					if f, reason := volatileCall(c.GetRawExpr()); f != "" {
						why = fmt.Sprintf("with the default %s(), which %s", f, reason)
					}
				}
			}
		}
		if why == "" {
			return nil
		}
		return []issue{{
			fmt.Sprintf("adds column %s.%s %s: Postgres computes it for every row, rewriting the table under an ACCESS EXCLUSIVE lock that blocks reads and writes", table, col.GetColname(), why),
			fmt.Sprintf("add %s without a default (or with a constant one), then ALTER COLUMN %s SET DEFAULT … for new rows, and backfill existing rows in batches", col.GetColname(), col.GetColname()),
		}}
	})
}

// checkColumnType: ALTER COLUMN … TYPE.
func checkColumnType(s *scope, n *pg_query.Node) []issue {
	a := n.GetAlterTableStmt()
	if a == nil || s.isNew(a.GetRelation()) {
		return nil
	}
	var out []issue
	for _, c := range alterCmds(a) {
		if c.GetSubtype() != pg_query.AlterTableType_AT_AlterColumnType {
			continue
		}
		out = append(out, issue{
			fmt.Sprintf("changes the type of %s.%s: most type changes rewrite the table and its indexes under an ACCESS EXCLUSIVE lock, and the running version may not handle the new type", display(a.GetRelation()), c.GetName()),
			fmt.Sprintf("add a new column of the new type, have the code write both, backfill it in batches, switch reads, and drop %s in a later deployment", c.GetName()),
		})
	}
	return out
}

// checkIndexCreation: CREATE INDEX without CONCURRENTLY on a table that
// existed before the migration.
func checkIndexCreation(s *scope, n *pg_query.Node) []issue {
	ix := n.GetIndexStmt()
	if ix == nil || ix.GetConcurrent() || s.isNew(ix.GetRelation()) {
		return nil
	}
	return []issue{{
		fmt.Sprintf("creates index %s on %s without CONCURRENTLY: writes to %s are blocked (SHARE lock) until the build finishes", indexName(ix.GetIdxname()), display(ix.GetRelation()), display(ix.GetRelation())),
		"CREATE INDEX CONCURRENTLY, " + s.noTx() + "; if it fails, drop the INVALID index it leaves and retry",
	}}
}

// checkIndexDeletion: DROP INDEX without CONCURRENTLY.
func checkIndexDeletion(s *scope, n *pg_query.Node) []issue {
	d := n.GetDropStmt()
	if d == nil || d.GetRemoveType() != pg_query.ObjectType_OBJECT_INDEX || d.GetConcurrent() {
		return nil
	}
	var out []issue
	for _, obj := range d.GetObjects() {
		rv := objectName(obj)
		if s.newIndexes[strings.ToLower(rv.GetRelname())] {
			continue
		}
		out = append(out, issue{
			fmt.Sprintf("drops index %s without CONCURRENTLY: it takes an ACCESS EXCLUSIVE lock on the index's table, blocking reads and writes while it waits and runs", display(rv)),
			"DROP INDEX CONCURRENTLY, " + s.noTx(),
		})
	}
	return out
}

// checkConcurrentInTx: CREATE/DROP INDEX or REINDEX CONCURRENTLY in a
// transaction or a DO block.
func checkConcurrentInTx(s *scope, n *pg_query.Node) []issue {
	if !s.tx {
		return nil
	}
	what := ""
	switch {
	case n.GetIndexStmt().GetConcurrent():
		what = "CREATE INDEX CONCURRENTLY"
	case n.GetDropStmt().GetConcurrent():
		what = "DROP INDEX CONCURRENTLY"
	case n.GetReindexStmt() != nil && reindexConcurrent(n.GetReindexStmt()):
		what = "REINDEX CONCURRENTLY"
	default:
		return nil
	}
	where := "an explicit BEGIN"
	switch {
	case s.do:
		where = "a DO block, which Postgres runs as a function"
	case s.wrapped:
		where = s.wrapper
	}
	fix := "keep the statement out of BEGIN … COMMIT and out of DO blocks, " + s.noTx() + ", and move changes that need a transaction to a migration of their own"
	return []issue{{
		fmt.Sprintf("%s runs inside %s, where Postgres refuses it (the migration fails)", what, where),
		fix,
	}}
}

// checkReindex: REINDEX without CONCURRENTLY of something that existed
// before the migration.
func checkReindex(s *scope, n *pg_query.Node) []issue {
	r := n.GetReindexStmt()
	if r == nil || reindexConcurrent(r) {
		return nil
	}
	fix := "REINDEX … CONCURRENTLY (PG12+), " + s.noTx() + "; if it fails, drop the INVALID _ccnew index it leaves and retry"
	var what string
	switch r.GetKind() {
	case pg_query.ReindexObjectType_REINDEX_OBJECT_INDEX:
		if s.newIndexes[strings.ToLower(r.GetRelation().GetRelname())] {
			return nil
		}
		what = fmt.Sprintf("reindexes %s without CONCURRENTLY: writes to its table are blocked (SHARE lock), and so are queries that would use the index (ACCESS EXCLUSIVE on it), until the rebuild finishes", display(r.GetRelation()))
	case pg_query.ReindexObjectType_REINDEX_OBJECT_TABLE:
		if s.isNew(r.GetRelation()) {
			return nil
		}
		what = fmt.Sprintf("reindexes table %s without CONCURRENTLY: writes to it are blocked (SHARE lock), and so are queries that would use its indexes, until every index is rebuilt", display(r.GetRelation()))
	case pg_query.ReindexObjectType_REINDEX_OBJECT_SCHEMA:
		if s.newSchemas[strings.ToLower(r.GetName())] {
			return nil
		}
		what = fmt.Sprintf("reindexes schema %s without CONCURRENTLY: every table in it is blocked for writes in turn while its indexes are rebuilt", r.GetName())
	case pg_query.ReindexObjectType_REINDEX_OBJECT_SYSTEM:
		what = "reindexes the system catalogs, which cannot be done CONCURRENTLY: schema changes and new connections wait"
		fix = "run REINDEX SYSTEM in a maintenance window, not in a migration"
	default:
		what = "reindexes the whole database without CONCURRENTLY: every table is blocked for writes in turn while its indexes are rebuilt"
	}
	return []issue{{what, fix}}
}

// checkNotValid: ADD CONSTRAINT FOREIGN KEY or CHECK without NOT VALID on
// an existing table, or VALIDATE in the transaction that added it.
func checkNotValid(s *scope, n *pg_query.Node) []issue {
	a := n.GetAlterTableStmt()
	if a == nil || s.isNew(a.GetRelation()) {
		return nil
	}
	table, key := display(a.GetRelation()), relKey(a.GetRelation())
	var out []issue
	for _, c := range alterCmds(a) {
		switch c.GetSubtype() {
		case pg_query.AlterTableType_AT_AddConstraint:
			con := c.GetDef().GetConstraint()
			if con.GetSkipValidation() {
				continue
			}
			var what, lock string
			switch con.GetContype() {
			case pg_query.ConstrType_CONSTR_FOREIGN:
				what = "foreign key"
				lock = "SHARE ROW EXCLUSIVE locks on " + table + " and " + display(con.GetPktable()) + " that block writes"
			case pg_query.ConstrType_CONSTR_CHECK:
				what = "CHECK constraint"
				lock = "an ACCESS EXCLUSIVE lock on " + table + " that blocks reads and writes"
			default:
				continue
			}
			name := con.GetConname()
			out = append(out, issue{
				fmt.Sprintf("adds %s %s to %s without NOT VALID: Postgres checks every existing row while holding %s", what, orUnnamed(name), table, lock),
				fmt.Sprintf("ADD CONSTRAINT %s … NOT VALID (only new rows are checked; the lock is brief), then in another transaction ALTER TABLE %s VALIDATE CONSTRAINT %s, which lets reads and writes go on", orPlaceholder(name), table, orPlaceholder(name)),
			})
		case pg_query.AlterTableType_AT_ValidateConstraint:
			rec, ok := s.constraints[key+"/"+strings.ToLower(c.GetName())]
			if !ok || !rec.notValid || !s.tx || rec.txID != s.txID {
				continue
			}
			out = append(out, issue{
				fmt.Sprintf("validates %s in the same transaction that added it NOT VALID: the lock taken by the ADD is still held while every row is checked", c.GetName()),
				fmt.Sprintf("validate %s in another transaction: a later migration, or after COMMIT in a migration marked -- +goose NO TRANSACTION", c.GetName()),
			})
		}
	}
	return out
}

// checkUniqueConstraint: ADD CONSTRAINT UNIQUE / PRIMARY KEY, or ADD COLUMN
// … UNIQUE / PRIMARY KEY, that builds its index under the table's lock.
func checkUniqueConstraint(s *scope, n *pg_query.Node) []issue {
	a := n.GetAlterTableStmt()
	if a == nil || s.isNew(a.GetRelation()) {
		return nil
	}
	table := display(a.GetRelation())
	var out []issue
	add := func(con *pg_query.Constraint, cols []string) {
		if con.GetIndexname() != "" {
			return // ADD CONSTRAINT … USING INDEX: the index was built beforehand
		}
		kind := "UNIQUE"
		switch con.GetContype() {
		case pg_query.ConstrType_CONSTR_PRIMARY:
			kind = "PRIMARY KEY"
		case pg_query.ConstrType_CONSTR_UNIQUE:
		default:
			return
		}
		name := con.GetConname()
		switch {
		case name != "":
		case kind == "PRIMARY KEY":
			name = a.GetRelation().GetRelname() + "_pkey"
		default:
			name = a.GetRelation().GetRelname() + "_" + strings.Join(cols, "_") + "_key"
		}
		fix := fmt.Sprintf("CREATE UNIQUE INDEX CONCURRENTLY %[1]s ON %[2]s (%[3]s) %[4]s, then ALTER TABLE %[2]s ADD CONSTRAINT %[1]s %[5]s USING INDEX %[1]s", name, table, strings.Join(cols, ", "), s.noTx(), kind)
		if kind == "PRIMARY KEY" {
			fix += " (its columns must already be NOT NULL, or Postgres scans the table to check them)"
		}
		out = append(out, issue{
			fmt.Sprintf("adds %s constraint %s to %s: its unique index is built while an ACCESS EXCLUSIVE lock blocks reads and writes", kind, orUnnamed(con.GetConname()), table),
			fix,
		})
	}
	for _, c := range alterCmds(a) {
		switch c.GetSubtype() {
		case pg_query.AlterTableType_AT_AddConstraint:
			con := c.GetDef().GetConstraint()
			var cols []string
			for _, k := range con.GetKeys() {
				cols = append(cols, k.GetString_().GetSval())
			}
			add(con, cols)
		case pg_query.AlterTableType_AT_AddColumn:
			col := c.GetDef().GetColumnDef()
			for _, con := range col.GetConstraints() {
				add(con.GetConstraint(), []string{col.GetColname()})
			}
		}
	}
	return out
}

// checkForeignKeyColumn: ADD COLUMN … REFERENCES on a column with a
// default, whose rows Postgres checks. Without a default (NULL in every
// row) Postgres marks the key valid without a check (transformFKConstraints
// in parse_utilcmd.c; since PG13 each ALTER TABLE command is transformed on
// its own, so only the column's own default counts).
func checkForeignKeyColumn(s *scope, n *pg_query.Node) []issue {
	a := n.GetAlterTableStmt()
	return forAddedColumns(s, n, func(table string, col *pg_query.ColumnDef) []issue {
		def := defaultOf(col)
		if def == "" || def == defIdentity {
			return nil
		}
		var out []issue
		for _, c := range col.GetConstraints() {
			fk := c.GetConstraint()
			if fk.GetContype() != pg_query.ConstrType_CONSTR_FOREIGN {
				continue
			}
			ref, name := display(fk.GetPktable()), fk.GetConname()
			if name == "" {
				name = a.GetRelation().GetRelname() + "_" + col.GetColname() + "_fkey"
			}
			out = append(out, issue{
				fmt.Sprintf("adds column %s.%s with %s and a foreign key to %s: Postgres checks every row against %s while holding the ACCESS EXCLUSIVE lock ADD COLUMN takes on %s (reads and writes blocked) and a SHARE ROW EXCLUSIVE lock on %s (writes blocked)", table, col.GetColname(), def, ref, ref, table, ref),
				fmt.Sprintf("add %[1]s without REFERENCES, then ALTER TABLE %[2]s ADD CONSTRAINT %[3]s FOREIGN KEY (%[1]s) REFERENCES %[4]s NOT VALID, and in another transaction VALIDATE CONSTRAINT %[3]s; or add %[1]s without a default (Postgres does not check a foreign key on a column that is NULL in every row), then SET DEFAULT and backfill in batches", col.GetColname(), table, name, ref),
			})
		}
		return out
	})
}

// checkTruncate returns the check for TRUNCATE of tables that existed
// before the migration (cascade false: ban-truncate), or for TRUNCATE …
// CASCADE (cascade true: ban-truncate-cascade), which reaches tables it
// does not name.
func checkTruncate(cascade bool) func(*scope, *pg_query.Node) []issue {
	return func(s *scope, n *pg_query.Node) []issue {
		t := n.GetTruncateStmt()
		if t == nil || (t.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE) != cascade {
			return nil
		}
		var names []string
		for _, r := range t.GetRelations() {
			if rv := r.GetRangeVar(); cascade || !s.isNew(rv) {
				names = append(names, display(rv))
			}
		}
		if len(names) == 0 {
			return nil
		}
		list := strings.Join(names, ", ")
		if cascade {
			return []issue{{
				fmt.Sprintf("truncates %s with CASCADE: every table with a foreign key to %s is emptied too, including tables the statement does not name", list, list),
				fmt.Sprintf("TRUNCATE %s without CASCADE, naming every table to empty: Postgres then refuses while another table still references them", list),
			}}
		}
		return []issue{{
			fmt.Sprintf("truncates %s: every row is deleted under an ACCESS EXCLUSIVE lock that blocks reads and writes, and the running version loses the data", list),
			"DELETE only the rows that must go, in batches (DELETE … WHERE id IN (SELECT id … LIMIT 1000)); empty a table only in a deployment after the one whose code stops reading it, with ban-truncate disabled for that run",
		}}
	}
}

// checkDropSchema: DROP SCHEMA … CASCADE of a schema that existed before
// the migration.
func checkDropSchema(s *scope, n *pg_query.Node) []issue {
	d := n.GetDropStmt()
	if d == nil || d.GetRemoveType() != pg_query.ObjectType_OBJECT_SCHEMA || d.GetBehavior() != pg_query.DropBehavior_DROP_CASCADE {
		return nil
	}
	var out []issue
	for _, obj := range d.GetObjects() {
		name := obj.GetString_().GetSval()
		if s.newSchemas[strings.ToLower(name)] {
			continue
		}
		out = append(out, issue{
			fmt.Sprintf("drops schema %s with CASCADE: every table, view, function and type in it is dropped too, and the deploy's expand/contract check cannot see which", name),
			fmt.Sprintf("drop the tables in %s one by one (the expand/contract check judges each drop), in a later deployment than the one whose code stops using them, then DROP SCHEMA %s without CASCADE, which fails if anything is left", name, name),
		})
	}
	return out
}

// checkBackfill: an UPDATE of every row of a table on which the current
// transaction holds a lock that blocks writes, taken by an earlier schema
// change. "Every row" means no WHERE clause, or one that only asks for
// columns this migration added without a default to be NULL (which every
// row is).
func checkBackfill(s *scope, n *pg_query.Node) []issue {
	u := n.GetUpdateStmt()
	if u == nil {
		return nil
	}
	held, ok := s.holds(u.GetRelation())
	if !ok || !s.everyRow(u) {
		return nil
	}
	table := display(u.GetRelation())
	blocked := "writes"
	if held.mode == "ACCESS EXCLUSIVE" {
		blocked = "reads and writes"
	}
	return []issue{{
		fmt.Sprintf("updates every row of %s in the transaction whose %s holds %s lock on it: %s on %s wait until the whole backfill commits", table, held.stmt, article(held.mode), blocked, table),
		fmt.Sprintf("commit the schema change first (move the backfill to a later migration, or COMMIT before it %s), then backfill in batches, each its own transaction (UPDATE %s … WHERE id >= … AND id < …)", s.noTx(), table),
	}}
}

// checkRemoval returns the check for one kind of removal (ruleDropColumn,
// ruleDropTable, ruleRenameColumn, ruleRenameTable): one finding per such
// removal, saying what breaks and how to do it in steps.
func checkRemoval(rule string) func(*scope, *pg_query.Node) []issue {
	return func(s *scope, n *pg_query.Node) []issue {
		return forRemovals(s, n, func(r removal) []issue {
			var msg, fix string
			switch {
			case r.rule != rule:
				return nil
			case rule == ruleDropColumn:
				msg, fix = fmt.Sprintf("drops column %s: the running version breaks if it still reads or writes it", r.name), expandContractRemoval
			case rule == ruleDropTable:
				msg, fix = fmt.Sprintf("drops table %s: the running version breaks if it still uses it", r.name), expandContractRemoval
			case rule == ruleRenameColumn:
				msg, fix = fmt.Sprintf("renames column %s to %s: the running version, which uses the old name, breaks", r.name, r.to), expandContractRenaming
			default:
				msg = fmt.Sprintf("renames table %s to %s: the running version, which uses the old name, breaks", r.name, r.to)
				fix = expandContractRenaming + " (a view under one of the names can stand in meanwhile)"
			}
			return []issue{{msg, fix}}
		})
	}
}

// checkTimeout: the first statement that can queue for a lock while no
// lock_timeout is set.
func checkTimeout(s *scope, n *pg_query.Node) []issue {
	if s.unbounded || s.lockTimeout() || !s.takesLocks(n) {
		return nil
	}
	set := "SET LOCAL lock_timeout = '2s'"
	if !s.tx {
		set = "SET lock_timeout = '2s'"
	}
	msg := "changes the schema with no lock_timeout set: while it waits for its lock, every query on the table queues behind it, for as long as it waits"
	if n.GetDoStmt() != nil {
		msg = "runs SQL the linter cannot read (a DO block in another language, or EXECUTE of a string built at run time) with no lock_timeout set: if it changes the schema, every query on the table queues behind it while it waits for its lock"
	}
	return []issue{{
		msg,
		fmt.Sprintf("start the migration with %s and retry it on lock timeout (SQLSTATE 55P03), or set RunnerSetsLockTimeout if the runner sets one", set),
	}}
}

// forAddedColumns calls f for each column an ALTER TABLE on an existing
// table adds.
func forAddedColumns(s *scope, n *pg_query.Node, f func(table string, col *pg_query.ColumnDef) []issue) []issue {
	a := n.GetAlterTableStmt()
	if a == nil || s.isNew(a.GetRelation()) {
		return nil
	}
	var out []issue
	for _, c := range alterCmds(a) {
		if c.GetSubtype() == pg_query.AlterTableType_AT_AddColumn {
			out = append(out, f(display(a.GetRelation()), c.GetDef().GetColumnDef())...)
		}
	}
	return out
}

// A removal is a table or column a statement drops or renames away.
type removal struct {
	rule string
	name string // normalised: "table" or "table.column"
	to   string // the new name, for renames
}

// removals returns what statement n drops or renames away, skipping
// tables created in this migration.
func removals(s *scope, n *pg_query.Node) []removal {
	var out []removal
	switch {
	case n.GetDropStmt() != nil:
		d := n.GetDropStmt()
		if d.GetRemoveType() != pg_query.ObjectType_OBJECT_TABLE {
			return nil
		}
		for _, obj := range d.GetObjects() {
			if rv := objectName(obj); !s.isNew(rv) {
				out = append(out, removal{ruleDropTable, tableName(rv), ""})
			}
		}
	case n.GetAlterTableStmt() != nil:
		a := n.GetAlterTableStmt()
		if s.isNew(a.GetRelation()) {
			return nil
		}
		for _, c := range alterCmds(a) {
			if c.GetSubtype() == pg_query.AlterTableType_AT_DropColumn {
				out = append(out, removal{ruleDropColumn, tableName(a.GetRelation()) + "." + strings.ToLower(c.GetName()), ""})
			}
		}
	case n.GetRenameStmt() != nil:
		r := n.GetRenameStmt()
		if s.isNew(r.GetRelation()) {
			return nil
		}
		switch {
		case r.GetRenameType() == pg_query.ObjectType_OBJECT_TABLE:
			out = append(out, removal{ruleRenameTable, tableName(r.GetRelation()), strings.ToLower(r.GetNewname())})
		case r.GetRenameType() == pg_query.ObjectType_OBJECT_COLUMN && r.GetRelationType() == pg_query.ObjectType_OBJECT_TABLE:
			out = append(out, removal{ruleRenameColumn, tableName(r.GetRelation()) + "." + strings.ToLower(r.GetSubname()), strings.ToLower(r.GetNewname())})
		}
	}
	return out
}

// removes returns the names for Analysis.Removes.
func removes(s *scope, n *pg_query.Node) []string {
	var out []string
	for _, r := range removals(s, n) {
		out = append(out, r.name)
	}
	return out
}

func forRemovals(s *scope, n *pg_query.Node, f func(removal) []issue) []issue {
	var out []issue
	for _, r := range removals(s, n) {
		out = append(out, f(r)...)
	}
	return out
}

// tableName normalises a table name for Removes: unqualified (the schema,
// "public" or another, is dropped, as migrate.Usage names tables without
// one) and lower-cased.
func tableName(rv *pg_query.RangeVar) string { return strings.ToLower(rv.GetRelname()) }

// display names a table as the migration wrote it, schema included.
func display(rv *pg_query.RangeVar) string {
	if rv.GetSchemaname() != "" {
		return rv.GetSchemaname() + "." + rv.GetRelname()
	}
	return rv.GetRelname()
}

// article puts "a" or "an" before a lock mode.
func article(mode string) string {
	if strings.HasPrefix(mode, "A") || strings.HasPrefix(mode, "E") {
		return "an " + mode
	}
	return "a " + mode
}

func indexName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

func orUnnamed(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

func orPlaceholder(name string) string {
	if name == "" {
		return "<name>"
	}
	return name
}

func hasConstraint(col *pg_query.ColumnDef, t pg_query.ConstrType) bool {
	for _, c := range col.GetConstraints() {
		if c.GetConstraint().GetContype() == t {
			return true
		}
	}
	return false
}

// How Postgres fills a column being added, as defaultOf says it.
const (
	defIdentity = "IDENTITY"
	defStored   = "GENERATED … STORED"
	defDefault  = "a DEFAULT"
)

// defaultOf says how Postgres fills the rows of a column being added: "a
// DEFAULT" (any, NULL included), "type serial" (and the like), "GENERATED
// … STORED" or "IDENTITY"; "" when it is NULL in every row. All but
// IDENTITY set the column's raw default, which makes Postgres check a
// foreign key on it.
func defaultOf(col *pg_query.ColumnDef) string {
	switch {
	case hasConstraint(col, pg_query.ConstrType_CONSTR_DEFAULT):
		return defDefault
	case isSerial(col):
		return "type " + typeName(col)
	case hasConstraint(col, pg_query.ConstrType_CONSTR_GENERATED):
		return defStored
	case hasConstraint(col, pg_query.ConstrType_CONSTR_IDENTITY):
		return defIdentity
	}
	return ""
}

// typeName returns the last part of a column's type name, lower-cased.
func typeName(col *pg_query.ColumnDef) string {
	names := col.GetTypeName().GetNames()
	if len(names) == 0 {
		return ""
	}
	return strings.ToLower(names[len(names)-1].GetString_().GetSval())
}

// isSerial reports whether a column's type is a serial pseudo-type, which
// stands for a nextval() default.
func isSerial(col *pg_query.ColumnDef) bool {
	switch typeName(col) {
	case "serial", "serial2", "serial4", "serial8", "smallserial", "bigserial":
		return true
	}
	return false
}

// volatileFuncs are built-in functions Postgres marks VOLATILE that appear
// in column defaults; stableFuncs are built-in STABLE or IMMUTABLE ones,
// evaluated once by ADD COLUMN (no rewrite since PG11). A function in
// neither list counts as volatile: CREATE FUNCTION makes a function
// VOLATILE unless it says otherwise.
var (
	volatileFuncs = map[string]bool{
		"random": true, "random_normal": true, "setseed": true,
		"gen_random_uuid": true, "uuidv4": true, "uuidv7": true, "gen_random_bytes": true,
		"uuid_generate_v1": true, "uuid_generate_v1mc": true, "uuid_generate_v4": true,
		"nextval": true, "setval": true,
		"clock_timestamp": true, "timeofday": true,
	}
	stableFuncs = map[string]bool{
		"now": true, "transaction_timestamp": true, "statement_timestamp": true,
		"current_setting": true, "current_database": true, "current_schema": true,
		"lower": true, "upper": true, "btrim": true, "ltrim": true, "rtrim": true, "concat": true, "concat_ws": true,
		"length": true, "md5": true, "replace": true, "substring": true, "left": true, "right": true,
		"to_char": true, "to_date": true, "to_timestamp": true, "to_number": true,
		"make_date": true, "make_time": true, "make_timestamp": true, "make_timestamptz": true, "make_interval": true,
		"date_trunc": true, "date_part": true, "timezone": true, "age": true,
		"to_json": true, "to_jsonb": true, "json_build_object": true, "jsonb_build_object": true,
		"json_build_array": true, "jsonb_build_array": true, "array_fill": true,
		"uuid_nil": true, "uuid_ns_url": true, "uuid_generate_v3": true, "uuid_generate_v5": true,
		"abs": true, "round": true, "floor": true, "ceil": true, "power": true,
	}
)

// volatileCall returns the first function in expression e that makes it
// volatile, and why, or "" if there is none.
func volatileCall(e *pg_query.Node) (name, reason string) {
	walk(e.ProtoReflect(), func(m protoreflect.Message) bool {
		f, ok := m.Interface().(*pg_query.FuncCall)
		if !ok || name != "" {
			return name == ""
		}
		switch fn := funcName(f); {
		case volatileFuncs[fn]:
			name, reason = fn, "is VOLATILE"
		case !stableFuncs[fn]:
			name, reason = fn, "is not a known non-volatile built-in (functions are VOLATILE unless declared otherwise)"
		}
		return name == ""
	})
	return name, reason
}

// walk calls f on m and every message under it, depth first, until f
// returns false. It reports whether the walk went to the end.
func walk(m protoreflect.Message, f func(protoreflect.Message) bool) bool {
	if !m.IsValid() {
		return true
	}
	if !f(m) {
		return false
	}
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && ok; i++ {
				ok = walk(v.List().Get(i).Message(), f)
			}
		case fd.Message() != nil && !fd.IsMap():
			ok = walk(v.Message(), f)
		}
		return ok
	})
	return ok
}
