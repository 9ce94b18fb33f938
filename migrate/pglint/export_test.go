package pglint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Statements returns how many statements Lint reads in sql's Up section,
// for the benchmark's statements per second.
func Statements(sql string) (int, error) {
	sec, aerr := gooseUp(sql)
	if aerr != nil {
		return 0, &SyntaxError{Pos: aerr.pos, Msg: aerr.msg}
	}
	n := 0
	for _, sp := range sec.spans {
		if text := sql[sp.start:sp.end]; strings.TrimSpace(text) != "" {
			tree, err := pg_query.Parse(text)
			if err != nil {
				return 0, err
			}
			n += len(tree.GetStmts())
		}
	}
	return n, nil
}
