package pglint

import (
	"strconv"
	"strings"
	"unicode"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// scope is what the statements before the current one established. The
// rules read it; only Lint's loop (through after and the DO block methods)
// changes it, so disabling a rule never changes what another one sees.
type scope struct {
	// wrapped says the runner runs the whole migration in one transaction
	// (goose without NO TRANSACTION, or plain SQL with
	// AssumeInTransaction); wrapper says which, for messages.
	wrapped bool
	wrapper string
	// goose says the file is a goose migration, for the fixes' wording.
	goose bool
	// tx says the current statement runs inside a transaction, and txID
	// names that transaction (outside one, each statement is its own).
	tx   bool
	txID int
	// do says the current statement runs inside a DO block's body, and
	// doOwnTx that the block is a transaction of its own (it did not start
	// inside one).
	do, doOwnTx bool

	// newTables, newIndexes and newSchemas are what this migration
	// created, by key. Changing them locks nothing anyone else uses.
	newTables, newIndexes, newSchemas map[string]bool
	// freed holds the keys of tables that existed before the migration
	// and that it dropped or renamed away; takeover holds the new tables
	// that took such a name, with the transaction in which they did. Once
	// that transaction commits, the running version uses the new table
	// under the old name: it is no longer new.
	freed    map[string]bool
	takeover map[string]int
	// locked holds the tables that existed before the migration on which
	// the current transaction holds a lock that blocks writes (or reads
	// and writes), with what took it.
	locked map[string]heldLock
	// nullCols holds "table key.column" for columns this migration added
	// without a default: NULL in every row until a backfill.
	nullCols map[string]bool

	// sessionTimeout and localTimeout say a non-zero lock_timeout is set
	// for the session or, with SET LOCAL, until the transaction ends.
	sessionTimeout, localTimeout bool
	// unbounded says an earlier statement already ran without a
	// lock_timeout (and was reported, if the rule is on).
	unbounded bool

	// constraints are the constraints added in this migration, by
	// table key and name.
	constraints map[string]constraint
	// notNull holds "table key.column" for columns that a validated CHECK
	// (col IS NOT NULL) proves; validated holds "table key/constraint" for
	// constraints not added in this migration that it validates.
	notNull, validated map[string]bool
}

// heldLock is a lock a transaction holds on a table: the transaction, the
// statement that took it and the lock mode.
type heldLock struct {
	txID       int
	stmt, mode string
}

// constraint is a constraint added in this migration.
type constraint struct {
	notValid bool     // added NOT VALID
	txID     int      // in this transaction
	notNull  []string // columns its CHECK proves NOT NULL
}

// newScope returns the scope before a migration's first statement;
// wrapper, when not "", names the transaction the runner wraps the whole
// migration in.
func newScope(goose bool, wrapper string) *scope {
	return &scope{
		goose: goose, wrapped: wrapper != "", wrapper: wrapper, tx: wrapper != "",
		newTables: map[string]bool{}, newIndexes: map[string]bool{}, newSchemas: map[string]bool{},
		freed: map[string]bool{}, takeover: map[string]int{}, locked: map[string]heldLock{}, nullCols: map[string]bool{},
		constraints: map[string]constraint{}, notNull: map[string]bool{}, validated: map[string]bool{},
	}
}

// lockTimeout reports whether a lock_timeout bounds the current statement.
func (s *scope) lockTimeout() bool { return s.sessionTimeout || s.localTimeout && s.tx }

// isNew reports whether the table rv names was created in this migration
// and is still used by nobody else: not a new table that took over the
// name of one the migration dropped or renamed away, once the transaction
// that did so has committed (outside a transaction, at once).
func (s *scope) isNew(rv *pg_query.RangeVar) bool {
	key := relKey(rv)
	if !s.newTables[key] {
		return false
	}
	if tx, ok := s.takeover[key]; ok && (!s.tx || tx != s.txID) {
		return false
	}
	return true
}

// holds returns the lock the current transaction holds on the table rv
// names, if any.
func (s *scope) holds(rv *pg_query.RangeVar) (heldLock, bool) {
	l, ok := s.locked[relKey(rv)]
	return l, ok && s.tx && l.txID == s.txID
}

// noTx says how to run a statement outside a transaction, in the words of
// the migration's format.
func (s *scope) noTx() string {
	if s.goose {
		return "in a migration marked -- +goose NO TRANSACTION"
	}
	return "in a file of its own that the runner does not wrap in a transaction"
}

// newTable records a table this migration creates (or renames a new table
// to): a name it freed is taken over.
func (s *scope) newTable(key string) {
	s.newTables[key] = true
	if s.freed[key] {
		s.takeover[key] = s.txID
	}
}

// enterDo starts a DO block's body: a transaction of its own unless the
// block runs inside one.
func (s *scope) enterDo() {
	s.do = true
	if !s.tx {
		s.doOwnTx, s.tx = true, true
	}
}

// commitInDo records COMMIT or ROLLBACK inside a DO block, which ends the
// block's transaction and starts the next (Postgres refuses it in a block
// that runs inside a transaction, so there it changes nothing).
func (s *scope) commitInDo() {
	if s.doOwnTx {
		s.txID++
		s.localTimeout = false
	}
}

// leaveDo ends a DO block's body, and its transaction if it had its own.
func (s *scope) leaveDo() {
	if s.doOwnTx {
		s.tx, s.localTimeout = false, false
		s.txID++
	}
	s.do, s.doOwnTx = false, false
}

// after records what statement n changes for the statements after it.
func (s *scope) after(n *pg_query.Node) {
	if s.takesLocks(n) && !s.lockTimeout() {
		s.unbounded = true
	}
	if s.tx {
		for _, l := range s.locks(n) {
			if held, ok := s.locked[l.key]; ok && held.txID == s.txID && strength[held.mode] >= strength[l.mode] {
				continue // the transaction already holds as strong a lock
			}
			s.locked[l.key] = heldLock{s.txID, l.stmt, l.mode}
		}
	}
	switch {
	case n.GetCreateStmt() != nil:
		s.newTable(relKey(n.GetCreateStmt().GetRelation()))
	case n.GetCreateTableAsStmt() != nil:
		s.newTable(relKey(n.GetCreateTableAsStmt().GetInto().GetRel()))
	case n.GetCreateSchemaStmt() != nil:
		s.newSchemas[strings.ToLower(n.GetCreateSchemaStmt().GetSchemaname())] = true
	case n.GetIndexStmt() != nil:
		if name := n.GetIndexStmt().GetIdxname(); name != "" {
			s.newIndexes[strings.ToLower(name)] = true
		}
	case n.GetDropStmt() != nil:
		d := n.GetDropStmt()
		if d.GetRemoveType() == pg_query.ObjectType_OBJECT_TABLE {
			for _, obj := range d.GetObjects() {
				if rv := objectName(obj); !s.isNew(rv) {
					s.freed[relKey(rv)] = true
				}
			}
		}
	case n.GetRenameStmt() != nil:
		r := n.GetRenameStmt()
		if r.GetRenameType() == pg_query.ObjectType_OBJECT_TABLE {
			to := schemaKey(r.GetRelation()) + "." + strings.ToLower(r.GetNewname())
			if s.isNew(r.GetRelation()) {
				s.newTable(to)
			} else {
				s.freed[relKey(r.GetRelation())] = true
			}
		}
	case n.GetAlterTableStmt() != nil:
		s.alterTable(n.GetAlterTableStmt())
	case n.GetVariableSetStmt() != nil:
		v := n.GetVariableSetStmt()
		switch v.GetKind() {
		case pg_query.VariableSetKind_VAR_RESET_ALL:
			s.sessionTimeout, s.localTimeout = false, false
		case pg_query.VariableSetKind_VAR_SET_VALUE, pg_query.VariableSetKind_VAR_SET_DEFAULT, pg_query.VariableSetKind_VAR_RESET:
			if v.GetName() == "lock_timeout" {
				on := v.GetKind() == pg_query.VariableSetKind_VAR_SET_VALUE && len(v.GetArgs()) == 1 && nonZero(v.GetArgs()[0])
				s.setTimeout(on, v.GetIsLocal())
			}
		}
	case n.GetSelectStmt() != nil:
		// SELECT set_config('lock_timeout', '2s', is_local)
		for _, t := range n.GetSelectStmt().GetTargetList() {
			f := t.GetResTarget().GetVal().GetFuncCall()
			if funcName(f) != "set_config" || len(f.GetArgs()) != 3 || constString(f.GetArgs()[0]) != "lock_timeout" {
				continue
			}
			s.setTimeout(nonZero(f.GetArgs()[1]), f.GetArgs()[2].GetAConst().GetBoolval().GetBoolval())
		}
	case n.GetTransactionStmt() != nil && !s.wrapped && !s.do:
		switch n.GetTransactionStmt().GetKind() {
		case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
			s.tx = true
			s.txID++
			return
		case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK,
			pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
			s.tx, s.localTimeout = false, false
		}
	}
	if !s.tx {
		s.txID++ // the next statement commits on its own
	}
}

// tableLock is a lock a statement takes on a table: the table's key, the
// statement and the lock mode.
type tableLock struct{ key, stmt, mode string }

// locks returns the locks statement n takes that block writes (SHARE and
// stronger) on tables that existed before the migration. Statements whose
// table the linter cannot name (DROP INDEX, REINDEX INDEX) are left out.
func (s *scope) locks(n *pg_query.Node) []tableLock {
	var out []tableLock
	add := func(rv *pg_query.RangeVar, stmt, mode string) {
		if rv != nil && rv.GetRelname() != "" && !s.isNew(rv) {
			out = append(out, tableLock{relKey(rv), stmt, mode})
		}
	}
	switch {
	case n.GetAlterTableStmt() != nil:
		a := n.GetAlterTableStmt()
		if mode := alterLockMode(a); mode != "" {
			add(a.GetRelation(), "ALTER TABLE", mode)
		}
		for _, c := range alterCmds(a) {
			for _, fk := range foreignKeys(c) {
				add(fk.GetPktable(), "ALTER TABLE (a foreign key)", "SHARE ROW EXCLUSIVE")
			}
		}
	case n.GetIndexStmt() != nil && !n.GetIndexStmt().GetConcurrent():
		add(n.GetIndexStmt().GetRelation(), "CREATE INDEX", "SHARE")
	case n.GetCreateTrigStmt() != nil:
		add(n.GetCreateTrigStmt().GetRelation(), "CREATE TRIGGER", "SHARE ROW EXCLUSIVE")
	case n.GetRenameStmt() != nil:
		r := n.GetRenameStmt()
		if r.GetRenameType() == pg_query.ObjectType_OBJECT_TABLE || r.GetRelationType() == pg_query.ObjectType_OBJECT_TABLE {
			add(r.GetRelation(), "ALTER TABLE … RENAME", "ACCESS EXCLUSIVE")
		}
	case n.GetLockStmt() != nil:
		l := n.GetLockStmt()
		if mode, ok := lockModes[int(l.GetMode())]; ok && l.GetMode() >= 5 {
			for _, r := range l.GetRelations() {
				add(r.GetRangeVar(), "LOCK TABLE", mode)
			}
		}
	case n.GetTruncateStmt() != nil:
		for _, r := range n.GetTruncateStmt().GetRelations() {
			add(r.GetRangeVar(), "TRUNCATE", "ACCESS EXCLUSIVE")
		}
	case n.GetReindexStmt() != nil:
		r := n.GetReindexStmt()
		if r.GetKind() == pg_query.ReindexObjectType_REINDEX_OBJECT_TABLE && !reindexConcurrent(r) {
			add(r.GetRelation(), "REINDEX", "SHARE")
		}
	case n.GetClusterStmt() != nil:
		add(n.GetClusterStmt().GetRelation(), "CLUSTER", "ACCESS EXCLUSIVE")
	case n.GetVacuumStmt() != nil && vacuumFull(n.GetVacuumStmt()):
		for _, r := range n.GetVacuumStmt().GetRels() {
			add(r.GetVacuumRelation().GetRelation(), "VACUUM FULL", "ACCESS EXCLUSIVE")
		}
	case n.GetCreateStmt() != nil:
		c := n.GetCreateStmt()
		for _, fk := range createForeignKeys(c) {
			add(fk.GetPktable(), "CREATE TABLE (a foreign key)", "SHARE ROW EXCLUSIVE")
		}
		if c.GetPartbound() != nil {
			for _, p := range c.GetInhRelations() {
				add(p.GetRangeVar(), "CREATE TABLE … PARTITION OF", "ACCESS EXCLUSIVE")
			}
		}
	}
	return out
}

// lockModes names the lock modes of LOCK TABLE, by Postgres's numbers.
var lockModes = map[int]string{
	1: "ACCESS SHARE", 2: "ROW SHARE", 3: "ROW EXCLUSIVE", 4: "SHARE UPDATE EXCLUSIVE",
	5: "SHARE", 6: "SHARE ROW EXCLUSIVE", 7: "EXCLUSIVE", 8: "ACCESS EXCLUSIVE",
}

// strength orders the lock modes by Postgres's numbers (stronger later).
var strength = func() map[string]int {
	m := map[string]int{}
	for n, mode := range lockModes {
		m[mode] = n
	}
	return m
}()

// alterLockMode returns the strongest lock an ALTER TABLE takes on its
// table when that lock blocks writes, or "" when it takes at most SHARE
// UPDATE EXCLUSIVE (VALIDATE CONSTRAINT, SET STATISTICS, storage options,
// CLUSTER ON, ATTACH PARTITION on the parent, DETACH PARTITION
// CONCURRENTLY). Adding a foreign key or changing triggers takes SHARE ROW
// EXCLUSIVE; everything else ACCESS EXCLUSIVE, as Postgres's
// AlterTableGetLockLevel says.
func alterLockMode(a *pg_query.AlterTableStmt) string {
	mode := ""
	for _, c := range alterCmds(a) {
		switch c.GetSubtype() {
		case pg_query.AlterTableType_AT_ValidateConstraint, pg_query.AlterTableType_AT_SetStatistics,
			pg_query.AlterTableType_AT_SetOptions, pg_query.AlterTableType_AT_ResetOptions,
			pg_query.AlterTableType_AT_SetRelOptions, pg_query.AlterTableType_AT_ResetRelOptions,
			pg_query.AlterTableType_AT_ClusterOn, pg_query.AlterTableType_AT_DropCluster,
			pg_query.AlterTableType_AT_AttachPartition:
		case pg_query.AlterTableType_AT_DetachPartition:
			if c.GetDef().GetPartitionCmd().GetConcurrent() {
				continue
			}
			return "ACCESS EXCLUSIVE"
		case pg_query.AlterTableType_AT_EnableTrig, pg_query.AlterTableType_AT_EnableAlwaysTrig,
			pg_query.AlterTableType_AT_EnableReplicaTrig, pg_query.AlterTableType_AT_DisableTrig,
			pg_query.AlterTableType_AT_EnableTrigAll, pg_query.AlterTableType_AT_DisableTrigAll,
			pg_query.AlterTableType_AT_EnableTrigUser, pg_query.AlterTableType_AT_DisableTrigUser:
			mode = "SHARE ROW EXCLUSIVE"
		case pg_query.AlterTableType_AT_AddConstraint:
			if c.GetDef().GetConstraint().GetContype() != pg_query.ConstrType_CONSTR_FOREIGN {
				return "ACCESS EXCLUSIVE"
			}
			mode = "SHARE ROW EXCLUSIVE"
		default:
			return "ACCESS EXCLUSIVE"
		}
	}
	return mode
}

// foreignKeys returns the foreign keys an ALTER TABLE command adds: a
// table constraint, or the REFERENCES of a column it adds.
func foreignKeys(c *pg_query.AlterTableCmd) []*pg_query.Constraint {
	var out []*pg_query.Constraint
	switch c.GetSubtype() {
	case pg_query.AlterTableType_AT_AddConstraint:
		if con := c.GetDef().GetConstraint(); con.GetContype() == pg_query.ConstrType_CONSTR_FOREIGN {
			out = append(out, con)
		}
	case pg_query.AlterTableType_AT_AddColumn:
		for _, con := range c.GetDef().GetColumnDef().GetConstraints() {
			if con.GetConstraint().GetContype() == pg_query.ConstrType_CONSTR_FOREIGN {
				out = append(out, con.GetConstraint())
			}
		}
	}
	return out
}

// createForeignKeys returns the foreign keys a CREATE TABLE declares, on
// its columns or as table constraints.
func createForeignKeys(c *pg_query.CreateStmt) []*pg_query.Constraint {
	var out []*pg_query.Constraint
	add := func(cons []*pg_query.Node) {
		for _, con := range cons {
			if con.GetConstraint().GetContype() == pg_query.ConstrType_CONSTR_FOREIGN {
				out = append(out, con.GetConstraint())
			}
		}
	}
	for _, e := range c.GetTableElts() {
		add(e.GetColumnDef().GetConstraints())
		if e.GetConstraint() != nil {
			add([]*pg_query.Node{e})
		}
	}
	add(c.GetConstraints())
	return out
}

// reindexConcurrent reports whether a REINDEX says CONCURRENTLY.
func reindexConcurrent(r *pg_query.ReindexStmt) bool {
	for _, p := range r.GetParams() {
		if d := p.GetDefElem(); strings.EqualFold(d.GetDefname(), "concurrently") && defBool(d) {
			return true
		}
	}
	return false
}

// vacuumFull reports whether a VACUUM says FULL.
func vacuumFull(v *pg_query.VacuumStmt) bool {
	if !v.GetIsVacuumcmd() {
		return false
	}
	for _, o := range v.GetOptions() {
		if d := o.GetDefElem(); strings.EqualFold(d.GetDefname(), "full") && defBool(d) {
			return true
		}
	}
	return false
}

// defBool reads an option's boolean: no value, true, on or 1 is true.
func defBool(d *pg_query.DefElem) bool {
	if d.GetArg() == nil {
		return true
	}
	switch v := d.GetArg(); {
	case v.GetBoolean() != nil:
		return v.GetBoolean().GetBoolval()
	case v.GetInteger() != nil:
		return v.GetInteger().GetIval() != 0
	case v.GetString_() != nil:
		switch strings.ToLower(v.GetString_().GetSval()) {
		case "false", "off", "0", "no":
			return false
		}
	}
	return true
}

// setTimeout records a SET [LOCAL] lock_timeout. SET LOCAL outside a
// transaction block has no effect.
func (s *scope) setTimeout(on, local bool) {
	switch {
	case local && s.tx:
		s.localTimeout = on
	case !local:
		s.sessionTimeout = on
		if !on || s.tx {
			// A session SET also replaces the transaction's local value.
			s.localTimeout = false
		}
	}
}

// alterTable records the constraints an ALTER TABLE adds and validates.
func (s *scope) alterTable(a *pg_query.AlterTableStmt) {
	table := relKey(a.GetRelation())
	for _, c := range alterCmds(a) {
		switch c.GetSubtype() {
		case pg_query.AlterTableType_AT_AddColumn:
			col := c.GetDef().GetColumnDef()
			if defaultOf(col) == "" {
				s.nullCols[table+"."+strings.ToLower(col.GetColname())] = true
			}
		case pg_query.AlterTableType_AT_AddConstraint:
			con := c.GetDef().GetConstraint()
			if con.GetContype() != pg_query.ConstrType_CONSTR_CHECK && con.GetContype() != pg_query.ConstrType_CONSTR_FOREIGN {
				continue
			}
			rec := constraint{notValid: con.GetSkipValidation(), txID: s.txID}
			if con.GetContype() == pg_query.ConstrType_CONSTR_CHECK {
				rec.notNull = notNullColumns(con.GetRawExpr())
			}
			if !rec.notValid {
				for _, col := range rec.notNull {
					s.notNull[table+"."+col] = true
				}
			}
			if name := con.GetConname(); name != "" {
				s.constraints[table+"/"+strings.ToLower(name)] = rec
			}
		case pg_query.AlterTableType_AT_ValidateConstraint:
			rec, ok := s.constraints[table+"/"+strings.ToLower(c.GetName())]
			if !ok {
				s.validated[table+"/"+strings.ToLower(c.GetName())] = true
				continue
			}
			for _, col := range rec.notNull {
				s.notNull[table+"."+col] = true
			}
		}
	}
}

// takesLocks reports whether n is a statement that can queue for a lock
// that blocks reads or writes on a table others use, which is what makes a
// missing lock_timeout an outage. It is true for every statement except:
// queries and DML (they wait only for the rows they change and block no
// reader), SET/RESET/SHOW, EXPLAIN and transaction control; CREATE TABLE
// without a foreign key to a table that existed before the migration and
// not a partition of one (it locks no existing table, or only with SHARE
// UPDATE EXCLUSIVE for INHERITS and ACCESS SHARE for LIKE); CREATE TABLE …
// AS and SELECT INTO (they read); ANALYZE and VACUUM without FULL (SHARE
// UPDATE EXCLUSIVE blocks neither reads nor writes). A DO block whose body
// the linter reads never reaches the rules itself: its statements do, one
// by one. A DO block it cannot read takes locks, as far as it knows.
// CREATE INDEX, ALTER TABLE, CREATE TRIGGER and RENAME on a table created
// in this migration take no lock anyone waits on, unless they add a
// foreign key to a table that existed before.
func (s *scope) takesLocks(n *pg_query.Node) bool {
	switch n.GetNode().(type) {
	case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt,
		*pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt, *pg_query.Node_CopyStmt,
		*pg_query.Node_VariableSetStmt, *pg_query.Node_VariableShowStmt,
		*pg_query.Node_TransactionStmt, *pg_query.Node_ExplainStmt, *pg_query.Node_CreateTableAsStmt:
		return false
	case *pg_query.Node_VacuumStmt:
		return vacuumFull(n.GetVacuumStmt())
	case *pg_query.Node_CreateStmt:
		return len(s.locks(n)) > 0
	}
	if rv := target(n); rv != nil && s.isNew(rv) {
		return len(s.locks(n)) > 0
	}
	return true
}

// target returns the table a CREATE INDEX, ALTER TABLE, CREATE TRIGGER or
// table or column RENAME changes, or nil for other statements. On a table
// created in this migration they lock nobody out; what they lock besides
// (the table a foreign key references) [scope.locks] says.
func target(n *pg_query.Node) *pg_query.RangeVar {
	switch {
	case n.GetIndexStmt() != nil:
		return n.GetIndexStmt().GetRelation()
	case n.GetAlterTableStmt() != nil && n.GetAlterTableStmt().GetObjtype() == pg_query.ObjectType_OBJECT_TABLE:
		return n.GetAlterTableStmt().GetRelation()
	case n.GetCreateTrigStmt() != nil:
		return n.GetCreateTrigStmt().GetRelation()
	case n.GetRenameStmt() != nil:
		r := n.GetRenameStmt()
		if r.GetRenameType() == pg_query.ObjectType_OBJECT_TABLE || r.GetRelationType() == pg_query.ObjectType_OBJECT_TABLE {
			return r.GetRelation()
		}
	}
	return nil
}

// everyRow reports whether UPDATE u changes every row of its table: it has
// no WHERE clause, or one that only asks (alone or ANDed) for columns this
// migration added without a default to be NULL, which every row is.
func (s *scope) everyRow(u *pg_query.UpdateStmt) bool {
	table := relKey(u.GetRelation())
	var nullOnly func(e *pg_query.Node) bool
	nullOnly = func(e *pg_query.Node) bool {
		if t := e.GetNullTest(); t != nil {
			return t.GetNulltesttype() == pg_query.NullTestType_IS_NULL && s.nullCols[table+"."+columnName(t.GetArg())]
		}
		if b := e.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
			for _, arg := range b.GetArgs() {
				if !nullOnly(arg) {
					return false
				}
			}
			return true
		}
		return false
	}
	return u.GetWhereClause() == nil || nullOnly(u.GetWhereClause())
}

// notNullColumns returns the columns a CHECK expression proves NOT NULL:
// "col IS NOT NULL", alone or ANDed with other conditions.
func notNullColumns(e *pg_query.Node) []string {
	if t := e.GetNullTest(); t != nil {
		if t.GetNulltesttype() == pg_query.NullTestType_IS_NOT_NULL {
			if col := columnName(t.GetArg()); col != "" {
				return []string{col}
			}
		}
		return nil
	}
	if b := e.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		var out []string
		for _, arg := range b.GetArgs() {
			out = append(out, notNullColumns(arg)...)
		}
		return out
	}
	return nil
}

// columnName returns the lower-cased name of a column reference, or "".
func columnName(e *pg_query.Node) string {
	fields := e.GetColumnRef().GetFields()
	if len(fields) == 0 {
		return ""
	}
	return strings.ToLower(fields[len(fields)-1].GetString_().GetSval())
}

// nonZero reports whether a SET value is a timeout other than 0 (which
// turns lock_timeout off): 2000, '2s', '500ms'. A value that is not a
// constant counts as set.
func nonZero(v *pg_query.Node) bool {
	c := v.GetAConst()
	if c == nil {
		return true
	}
	switch {
	case c.GetIval() != nil:
		return c.GetIval().GetIval() != 0
	case c.GetFval() != nil:
		f, err := strconv.ParseFloat(c.GetFval().GetFval(), 64)
		return err != nil || f != 0
	case c.GetSval() != nil:
		t := strings.TrimSpace(c.GetSval().GetSval())
		digits := strings.TrimRightFunc(t, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsSpace(r) })
		f, err := strconv.ParseFloat(digits, 64)
		return err != nil || f != 0
	}
	return !c.GetIsnull()
}

// constString returns the value of a string constant, or "".
func constString(v *pg_query.Node) string { return v.GetAConst().GetSval().GetSval() }

// funcName returns the lower-cased, unqualified name of a function call.
func funcName(f *pg_query.FuncCall) string {
	names := f.GetFuncname()
	if len(names) == 0 {
		return ""
	}
	return strings.ToLower(names[len(names)-1].GetString_().GetSval())
}

// alterCmds returns the commands of an ALTER TABLE (not ALTER INDEX or
// VIEW).
func alterCmds(a *pg_query.AlterTableStmt) []*pg_query.AlterTableCmd {
	if a.GetObjtype() != pg_query.ObjectType_OBJECT_TABLE {
		return nil
	}
	out := make([]*pg_query.AlterTableCmd, 0, len(a.GetCmds()))
	for _, c := range a.GetCmds() {
		if cmd := c.GetAlterTableCmd(); cmd != nil {
			out = append(out, cmd)
		}
	}
	return out
}

// relKey identifies a table within the migration: schema ("public" when
// none is named) and name, lower-cased.
func relKey(rv *pg_query.RangeVar) string {
	return schemaKey(rv) + "." + strings.ToLower(rv.GetRelname())
}

func schemaKey(rv *pg_query.RangeVar) string {
	if rv.GetSchemaname() == "" {
		return "public"
	}
	return strings.ToLower(rv.GetSchemaname())
}

// objectName turns a DROP's object name list ([schema,] name) into a
// RangeVar.
func objectName(obj *pg_query.Node) *pg_query.RangeVar {
	items := obj.GetList().GetItems()
	rv := &pg_query.RangeVar{}
	if len(items) > 0 {
		rv.Relname = items[len(items)-1].GetString_().GetSval()
	}
	if len(items) > 1 {
		rv.Schemaname = items[len(items)-2].GetString_().GetSval()
	}
	return rv
}

// validatedFor reports whether this migration validates a constraint from
// an earlier one, on the table with key table, whose name mentions col: the
// linter cannot see that constraint's expression, and trusts the name
// (orders_status_not_null) to say which column it proves NOT NULL.
func (s *scope) validatedFor(table, col string) bool {
	for k := range s.validated {
		if name, ok := strings.CutPrefix(k, table+"/"); ok && strings.Contains(name, col) {
			return true
		}
	}
	return false
}
