// Package sqltext reads the parts of SQL text that need no parser: the
// white space and comments between statements.
package sqltext

import "strings"

// SkipSpace returns the offset of the first byte at or after i in sql that
// is neither white space nor inside a comment ("-- …" to the end of the
// line, "/* … */", nested as Postgres nests them): len(sql) when there is
// none, or when a block comment is not closed.
func SkipSpace(sql string, i int) int {
	for i < len(sql) {
		switch {
		case strings.IndexByte(" \t\n\r\f\v", sql[i]) >= 0:
			i++
		case strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				return len(sql)
			}
			i += end + 1
		case strings.HasPrefix(sql[i:], "/*"):
			depth := 0
			for i < len(sql) {
				if strings.HasPrefix(sql[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(sql[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		default:
			return i
		}
	}
	return len(sql)
}
