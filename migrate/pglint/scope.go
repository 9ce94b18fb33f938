package pglint

import (
	"strconv"
	"strings"
	"unicode"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// scope is what the statements before the current one established. The
// rules read it; only Lint's loop (through after) changes it, so disabling
// a rule never changes what another one sees.
type scope struct {
	// gooseTx says goose runs the whole migration in one transaction.
	gooseTx bool
	// tx says the current statement runs inside a transaction, and txID
	// names that transaction (outside one, each statement is its own).
	tx   bool
	txID int

	// newTables and newIndexes are what this migration created, by key.
	// Changing them locks nothing anyone else uses.
	newTables, newIndexes map[string]bool

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

// constraint is a constraint added in this migration.
type constraint struct {
	notValid bool     // added NOT VALID
	txID     int      // in this transaction
	notNull  []string // columns its CHECK proves NOT NULL
}

func newScope(gooseTx bool) *scope {
	return &scope{
		gooseTx: gooseTx, tx: gooseTx,
		newTables: map[string]bool{}, newIndexes: map[string]bool{},
		constraints: map[string]constraint{}, notNull: map[string]bool{}, validated: map[string]bool{},
	}
}

// lockTimeout reports whether a lock_timeout bounds the current statement.
func (s *scope) lockTimeout() bool { return s.sessionTimeout || s.localTimeout && s.tx }

// isNew reports whether the table rv names was created in this migration.
func (s *scope) isNew(rv *pg_query.RangeVar) bool { return s.newTables[relKey(rv)] }

// after records what statement n changes for the statements after it.
func (s *scope) after(n *pg_query.Node) {
	if s.takesLocks(n) && !s.lockTimeout() {
		s.unbounded = true
	}
	switch {
	case n.GetCreateStmt() != nil:
		s.newTables[relKey(n.GetCreateStmt().GetRelation())] = true
	case n.GetCreateTableAsStmt() != nil:
		s.newTables[relKey(n.GetCreateTableAsStmt().GetInto().GetRel())] = true
	case n.GetIndexStmt() != nil:
		if name := n.GetIndexStmt().GetIdxname(); name != "" {
			s.newIndexes[strings.ToLower(name)] = true
		}
	case n.GetRenameStmt() != nil:
		r := n.GetRenameStmt()
		if r.GetRenameType() == pg_query.ObjectType_OBJECT_TABLE && s.isNew(r.GetRelation()) {
			s.newTables[schemaKey(r.GetRelation())+"."+strings.ToLower(r.GetNewname())] = true
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
	case n.GetTransactionStmt() != nil && !s.gooseTx:
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

// takesLocks reports whether n is a statement that can queue for a lock on
// a table others use: anything but a query or DML, SET/RESET/SHOW, and
// transaction control. DML waits only for the rows it changes and blocks
// no reader, so it is left out.
func (s *scope) takesLocks(n *pg_query.Node) bool {
	switch n.GetNode().(type) {
	case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt,
		*pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt, *pg_query.Node_CopyStmt,
		*pg_query.Node_VariableSetStmt, *pg_query.Node_VariableShowStmt,
		*pg_query.Node_TransactionStmt, *pg_query.Node_ExplainStmt:
		return false
	}
	return true
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
