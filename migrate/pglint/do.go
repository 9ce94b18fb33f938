package pglint

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/safedeploy/safedeploy/internal/sqltext"
)

// maxDoDepth bounds DO blocks run by EXECUTE inside DO blocks.
const maxDoDepth = 4

// A doStmt is one thing a DO block runs, in the order of its text: a
// statement n at byte offset pos of the migration's SQL, COMMIT or
// ROLLBACK (commit), or a DO block run by EXECUTE whose statements are
// nested. A statement the linter cannot read is the DO statement itself
// (n is a DoStmt), which the rules treat as SQL they cannot see.
type doStmt struct {
	n      *pg_query.Node
	pos    int
	commit bool
	nested []doStmt
	isDo   bool // nested holds a DO block's statements
}

// readDo returns what DO block n runs, as far as the linter can read it,
// and false when it cannot read the block at all: another language than
// PL/pgSQL, a body the PL/pgSQL parser refuses, or DO blocks nested deeper
// than maxDoDepth. sql is the migration's SQL; n was parsed from src,
// which starts at byte srcAt of sql (-1 when src is not a part of sql, as
// for the string of an EXECUTE with quotes doubled); pos is where n
// starts in sql, the position of anything that cannot be placed better.
//
// The body is read by PL/pgSQL's own parser (pg_query's
// ParsePlPgSqlToJSON). Every statement in it is taken, in the order of the
// text: both branches of an IF, a loop's body once, exception handlers as
// if they ran. EXECUTE of a string literal is read as the SQL in the
// string; EXECUTE of anything else (format(), concatenation, a variable)
// and CALL are SQL the linter cannot see, as are functions the statements
// call.
func readDo(n *pg_query.Node, sql, src string, srcAt, pos, depth int) ([]doStmt, bool) {
	if depth > maxDoDepth {
		return nil, false
	}
	var body, lang string
	bodyAt := -1
	for _, a := range n.GetDoStmt().GetArgs() {
		d := a.GetDefElem()
		switch d.GetDefname() {
		case "as":
			body = d.GetArg().GetString_().GetSval()
			bodyAt = bodyStart(sql, src, srcAt, int(d.GetLocation()), body)
		case "language":
			lang = d.GetArg().GetString_().GetSval()
		}
	}
	if lang != "" && !strings.EqualFold(lang, "plpgsql") {
		return nil, false
	}
	js, err := pg_query.ParsePlPgSqlToJSON("DO " + dollarQuote(body))
	if err != nil {
		return nil, false
	}
	pls, err := plStatements(js)
	if err != nil {
		return nil, false
	}
	var out []doStmt
	for _, p := range pls {
		// Where the statement's text starts in the body, and whether it is
		// there verbatim (PL/pgSQL blanks out the INTO of SELECT … INTO).
		off, verbatim := locate(body, p.query, p.line)
		at := pos
		if bodyAt >= 0 {
			at = bodyAt + off
		}
		switch p.kind {
		case plCommit:
			out = append(out, doStmt{pos: at, commit: true})
			continue
		case plDynamic:
			lit, ok := stringLiteral(p.query)
			if !ok {
				out = append(out, doStmt{n: n, pos: at})
				continue
			}
			// The literal's text is in sql from just past its opening
			// quote, unless quotes in it are doubled or it is E'…'.
			litAt := -1
			if bodyAt >= 0 && verbatim && strings.HasPrefix(p.query, "'") && strings.HasPrefix(sql[bodyAt+off+1:], lit) {
				litAt = bodyAt + off + 1
			}
			out = append(out, readSQL(n, sql, lit, litAt, at, depth)...)
		default:
			qAt := -1
			if bodyAt >= 0 && verbatim {
				qAt = bodyAt + off
			}
			out = append(out, readSQL(n, sql, p.query, qAt, at, depth)...)
		}
	}
	return out, true
}

// readSQL returns the statements of text, which a DO block (do) runs; text
// starts at byte textAt of sql (-1: not verbatim in sql, so every
// statement is placed at pos). Text the parser refuses is SQL the linter
// cannot see.
func readSQL(do *pg_query.Node, sql, text string, textAt, pos, depth int) []doStmt {
	tree, err := pg_query.Parse(text)
	if err != nil {
		return []doStmt{{n: do, pos: pos}}
	}
	var out []doStmt
	for _, raw := range tree.GetStmts() {
		at := pos
		if textAt >= 0 {
			at = textAt + sqltext.SkipSpace(text, int(raw.GetStmtLocation()))
		}
		n := raw.GetStmt()
		if n.GetDoStmt() == nil {
			out = append(out, doStmt{n: n, pos: at})
			continue
		}
		nested, ok := readDo(n, sql, text, textAt, at, depth+1)
		if !ok {
			out = append(out, doStmt{n: n, pos: at})
			continue
		}
		out = append(out, doStmt{pos: at, nested: nested, isDo: true})
	}
	return out
}

// bodyStart returns the byte offset in sql of the first byte of a DO
// block's body, when the body stands there verbatim between dollar quotes;
// otherwise -1. The body's string constant starts at byte loc of src,
// which starts at byte srcAt of sql.
func bodyStart(sql, src string, srcAt, loc int, body string) int {
	if srcAt < 0 || loc < 0 || loc >= len(src) || src[loc] != '$' {
		return -1
	}
	end := strings.IndexByte(src[loc+1:], '$')
	if end < 0 {
		return -1
	}
	at := srcAt + loc + end + 2
	if at > len(sql) || !strings.HasPrefix(sql[at:], body) {
		return -1
	}
	return at
}

// locate returns the byte offset in body where a statement whose text is
// query, on 1-based line line, starts, and whether query stands there
// verbatim. It looks for query from the start of that line, then for its
// first words, and settles for the first non-blank byte of the line.
func locate(body, query string, line int) (int, bool) {
	lineAt := 0
	for i := 1; i < line; i++ {
		nl := strings.IndexByte(body[lineAt:], '\n')
		if nl < 0 {
			lineAt = 0
			break
		}
		lineAt += nl + 1
	}
	if query != "" {
		if i := strings.Index(body[lineAt:], query); i >= 0 {
			return lineAt + i, true
		}
		prefix := query
		if i := strings.Index(prefix, "  "); i > 0 {
			prefix = prefix[:i] // SELECT … INTO has the INTO blanked out
		}
		if i := strings.Index(body[lineAt:], prefix); i >= 0 {
			return lineAt + i, false
		}
	}
	rest := body[lineAt:]
	return lineAt + len(rest) - len(strings.TrimLeft(rest, " \t\r\n")), false
}

// stringLiteral returns the value of expr when it is a single string
// constant ('…', E'…', $$…$$).
func stringLiteral(expr string) (string, bool) {
	tree, err := pg_query.Parse("SELECT " + expr)
	if err != nil || len(tree.GetStmts()) != 1 {
		return "", false
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	if len(sel.GetTargetList()) != 1 || sel.GetFromClause() != nil {
		return "", false
	}
	c := sel.GetTargetList()[0].GetResTarget().GetVal().GetAConst()
	if c.GetSval() == nil {
		return "", false
	}
	return c.GetSval().GetSval(), true
}

// dollarQuote quotes s with a dollar-quote tag that does not occur in it.
func dollarQuote(s string) string {
	tag := "$pglint$"
	for i := 0; strings.Contains(s, tag); i++ {
		tag = "$pglint" + strconv.Itoa(i) + "$"
	}
	return tag + s + tag
}

// Kinds of statements plStatements returns.
const (
	plSQL     = iota // SQL run as written: a statement, PERFORM, CALL
	plDynamic        // EXECUTE of an expression
	plCommit         // COMMIT or ROLLBACK
)

// plStmt is a statement of a PL/pgSQL body that runs SQL: its kind, its
// SQL (the expression, for EXECUTE) and its 1-based line in the body.
type plStmt struct {
	kind  int
	query string
	line  int
}

// plExpr is how the PL/pgSQL parse tree holds an expression or query.
type plExpr struct {
	Expr struct {
		Query string `json:"query"`
	} `json:"PLpgSQL_expr"`
}

var errPLDepth = errors.New("PL/pgSQL parse tree nested too deep")

// plStatements returns the statements that run SQL in the PL/pgSQL parse
// tree js (pg_query's JSON), in the order of the text, which is the order
// of the JSON: the JSON is walked token by token, since decoding objects
// into maps would lose it.
func plStatements(js string) ([]plStmt, error) {
	dec := json.NewDecoder(strings.NewReader(js))
	var out []plStmt
	err := plWalk(dec, &out, 0)
	return out, err
}

func plWalk(dec *json.Decoder, out *[]plStmt, depth int) error {
	if depth > 1000 {
		return errPLDepth
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	switch delim {
	case '[':
		for dec.More() {
			if err := plWalk(dec, out, depth+1); err != nil {
				return err
			}
		}
	case '{':
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			var st struct {
				Lineno  int    `json:"lineno"`
				Sqlstmt plExpr `json:"sqlstmt"`
				Query   plExpr `json:"query"`
				Expr    plExpr `json:"expr"`
			}
			kind := -1
			switch key {
			case "PLpgSQL_stmt_execsql", "PLpgSQL_stmt_perform", "PLpgSQL_stmt_call":
				kind = plSQL
			case "PLpgSQL_stmt_dynexecute":
				kind = plDynamic
			case "PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback":
				kind = plCommit
			}
			if kind < 0 {
				if err := plWalk(dec, out, depth+1); err != nil {
					return err
				}
				continue
			}
			if err := dec.Decode(&st); err != nil {
				return err
			}
			query := st.Sqlstmt.Expr.Query + st.Expr.Expr.Query
			if kind == plDynamic {
				query = st.Query.Expr.Query
			}
			*out = append(*out, plStmt{kind, query, st.Lineno})
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
