package pglint

import (
	"strings"
)

// span is a byte range [start, end) of a migration's SQL that the Postgres
// parser reads as a whole.
type span struct{ start, end int }

// upSection is what goose would run going up: the spans of SQL to parse,
// in order, whether the file is a goose migration at all, and whether goose
// wraps the spans in a transaction.
type upSection struct {
	spans []span
	goose bool
	tx    bool
}

// annotationError is a malformed goose annotation at byte pos.
type annotationError struct {
	pos int
	msg string
}

// The annotations goose knows, matched case-insensitively as goose does.
const (
	annUp             = "Up"
	annDown           = "Down"
	annStatementBegin = "StatementBegin"
	annStatementEnd   = "StatementEnd"
	annNoTransaction  = "NO TRANSACTION"
	annEnvsubOn       = "ENVSUB ON"
	annEnvsubOff      = "ENVSUB OFF"
)

var annotations = []string{annUp, annDown, annStatementBegin, annStatementEnd, annNoTransaction, annEnvsubOn, annEnvsubOff}

// gooseUp splits sql the way goose reads a migration file: annotations are
// whole comment lines ("-- +goose Up"), read line by line as goose reads
// them, so that the linter sees exactly the statements goose runs. Only the
// Up section is returned; each StatementBegin … StatementEnd block is a span
// of its own (goose sends it as one statement), and the SQL between blocks
// is one span. NO TRANSACTION anywhere in the file means no transaction.
//
// SQL without any goose annotation is plain SQL: one span, goose false and
// tx false (whether a runner wraps it in a transaction is for the Linter's
// AssumeInTransaction to say).
func gooseUp(sql string) (upSection, *annotationError) {
	const (
		start = iota
		up
		upBlock
		down
		downBlock
	)
	if !annotated(sql) {
		return upSection{spans: []span{{0, len(sql)}}}, nil
	}
	sec := upSection{goose: true, tx: true}
	state := start
	spanStart := -1 // start of the span being collected, or -1
	closeSpan := func(end int) {
		if spanStart >= 0 && end > spanStart {
			sec.spans = append(sec.spans, span{spanStart, end})
		}
		spanStart = -1
	}
	for lineStart, line := range lines(sql) {
		next := lineStart + len(line) + 1
		ann, isAnn, msg := annotation(line)
		if msg != "" {
			return upSection{}, &annotationError{lineStart, msg}
		}
		if !isAnn {
			// Only comments may precede the Up annotation; goose refuses
			// the file otherwise.
			if t := strings.TrimSpace(line); state == start && t != "" && !strings.HasPrefix(t, "--") {
				return upSection{}, &annotationError{lineStart, "SQL before the -- +goose Up annotation"}
			}
			continue
		}
		switch ann {
		case annUp:
			if state != start {
				return upSection{}, &annotationError{lineStart, "duplicate -- +goose Up annotation"}
			}
			state, spanStart = up, next
		case annDown:
			switch state {
			case up:
				closeSpan(lineStart)
				state = down
			case start:
				return upSection{}, &annotationError{lineStart, "-- +goose Down before -- +goose Up"}
			case upBlock, downBlock:
				return upSection{}, &annotationError{lineStart, "-- +goose Down inside a StatementBegin block"}
			default:
				return upSection{}, &annotationError{lineStart, "duplicate -- +goose Down annotation"}
			}
		case annStatementBegin:
			switch state {
			case up:
				closeSpan(lineStart)
				state, spanStart = upBlock, next
			case down:
				state = downBlock
			default:
				return upSection{}, &annotationError{lineStart, "-- +goose StatementBegin outside an Up or Down section, or inside another block"}
			}
		case annStatementEnd:
			switch state {
			case upBlock:
				closeSpan(lineStart)
				state, spanStart = up, next
			case downBlock:
				state = down
			default:
				return upSection{}, &annotationError{lineStart, "-- +goose StatementEnd without StatementBegin"}
			}
		case annNoTransaction:
			sec.tx = false
		}
	}
	switch state {
	case start:
		return upSection{}, &annotationError{0, "no -- +goose Up annotation"}
	case upBlock, downBlock:
		return upSection{}, &annotationError{len(sql), "missing -- +goose StatementEnd"}
	}
	closeSpan(len(sql))
	return sec, nil
}

// annotated reports whether any line of sql is a goose annotation, well
// formed or not.
func annotated(sql string) bool {
	if !strings.Contains(sql, "+goose") {
		return false
	}
	for _, line := range lines(sql) {
		if _, isAnn, msg := annotation(line); isAnn || msg != "" {
			return true
		}
	}
	return false
}

// lines yields each line of sql without its newline, keyed by the byte
// offset where it starts.
func lines(sql string) func(yield func(int, string) bool) {
	return func(yield func(int, string) bool) {
		for start := 0; start < len(sql); {
			end := strings.IndexByte(sql[start:], '\n')
			if end < 0 {
				end = len(sql) - start
			}
			if !yield(start, sql[start:start+end]) {
				return
			}
			start += end + 1
		}
	}
}

// annotation reads one line as goose (v3.28) does: a line whose trimmed
// text starts with "--" and that contains "+goose" is an annotation, which
// must start at the beginning of the line and name a known annotation
// (case-insensitively). It returns the annotation's canonical name and
// true, or a message saying why goose would refuse the line.
func annotation(line string) (name string, ok bool, msg string) {
	if !strings.Contains(line, "+goose") || !strings.HasPrefix(strings.TrimSpace(line), "--") {
		return "", false, ""
	}
	if line[0] == ' ' || line[0] == '\t' {
		return "", false, "goose annotation with leading whitespace"
	}
	cmd := strings.Replace(strings.ReplaceAll(line, "--", ""), "+goose", "", 1)
	if strings.Contains(cmd, "+goose") {
		return "", false, "more than one +goose on a line"
	}
	cmd = strings.TrimSpace(cmd)
	for _, a := range annotations {
		if strings.EqualFold(a, cmd) {
			return a, true, ""
		}
	}
	return "", false, "unknown goose annotation \"" + cmd + "\""
}
