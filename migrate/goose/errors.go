package goose

import (
	"errors"
	"fmt"
	"strings"

	pressly "github.com/pressly/goose/v3"

	"github.com/safedeploy/safedeploy/migrate"
)

// An ApplyError is returned by [Runner.Apply] when goose ran a migration
// and it failed, or when the migration could not start because Config.Guard
// or the clean-up left over from its previous attempt failed (Statement is
// then -1). It says which migration, which statement and what is left of
// it. Its error unwraps to goose's error (a *goose.PartialError, which
// unwraps to the driver's, such as a *pgconn.PgError) and, when the failure
// is a lock timeout that is safe to retry, to [migrate.ErrLockTimeout].
type ApplyError struct {
	// Migration is the migration's ID, its file name.
	Migration string
	// Statement is the index (from 0) of the failed statement among the
	// migration's Up statements, and SQL is its text; -1 and "" when not
	// known (a Go migration, or a failure before the first statement).
	// Goose announces each statement before running it, so a failure after
	// the last statement ran (committing) is attributed to the last
	// statement — except a failure to record the version outside a
	// transaction, which is Unrecorded.
	Statement int
	SQL       string
	// Statements is how many Up statements the migration has; 0 when not
	// known (a Go migration).
	Statements int
	// InTransaction says that the migration ran in a transaction, so none
	// of it is left. Otherwise the statements before Statement stay
	// applied.
	InTransaction bool
	// Cleanup says what the runner did after the failure to undo what the
	// failed statement left behind (Config.Guard), or why it could not;
	// empty when there was nothing to do.
	Cleanup string
	// Unrecorded says that every statement ran outside a transaction and
	// stays applied, but goose could not record the migration in its
	// version table: record the version by hand; running the migration
	// again would run its statements twice.
	Unrecorded bool
	// Err is the error from goose.
	Err error

	retry   bool // a lock timeout, safe to retry
	ran     bool // goose ran the migration: the failure is the migration's own
	changed bool // outside a transaction, statements other than SET or RESET ran
}

// Error describes the failure on one line: the migration, the statement
// (counted from 1 for people), what is left, what to do — retry it, or
// fix this migration's file, which stays pending (a new migration would
// run only after it), taking out what already ran outside a transaction —
// and goose's error.
func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "migrate/goose: apply %s", e.Migration)
	if e.Statement >= 0 {
		fmt.Fprintf(&b, ": statement %d", e.Statement+1)
		if e.Statements > 0 {
			fmt.Fprintf(&b, " of %d", e.Statements)
		}
		fmt.Fprintf(&b, " (%s)", short(e.SQL))
	}
	switch {
	case e.Unrecorded:
		b.WriteString(" ran outside a transaction, but goose could not record it as applied: record the version by hand rather than run it again")
	case e.InTransaction:
		b.WriteString(" failed; the migration was rolled back")
	case e.Statement == 1:
		b.WriteString(" failed outside a transaction; statement 1 ran and stays applied")
	case e.Statement > 1:
		fmt.Fprintf(&b, " failed outside a transaction; statements 1-%d ran and stay applied", e.Statement)
	default:
		b.WriteString(" failed")
	}
	switch {
	case e.retry:
		b.WriteString("; a lock timeout, safe to retry")
	case e.ran && !e.Unrecorded:
		// A failed migration is not recorded as applied: the next
		// deployment applies it first, before any migration added since.
		b.WriteString("; it stays pending and is applied first next time, so fix this migration itself (a new migration would only run after it)")
		if e.changed {
			b.WriteString(", and take out the statements that ran, or make them safe to run again (IF NOT EXISTS)")
		}
	}
	if e.Cleanup != "" {
		fmt.Fprintf(&b, "; %s", e.Cleanup)
	}
	cause := e.Err
	var pe *pressly.PartialError // says again which migration failed
	if errors.As(cause, &pe) && pe.Err != nil {
		cause = pe.Err
	}
	fmt.Fprintf(&b, ": %v", cause)
	return b.String()
}

// Unwrap returns goose's error, and migrate.ErrLockTimeout when the
// migration gave up waiting for a lock and is safe to retry: it ran in a
// transaction, or every statement that ran before the failed one only
// changed session settings (SET, RESET).
func (e *ApplyError) Unwrap() []error {
	if e.retry {
		return []error{migrate.ErrLockTimeout, e.Err}
	}
	return []error{e.Err}
}

// short returns s on one line, cut to a readable length.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 120
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
