package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrLockTimeout is returned (wrapped) by a Runner when a migration gave up
// waiting for a lock. The executor retries such migrations with backoff;
// every other error stops the deployment.
var ErrLockTimeout = errors.New("migrate: lock timeout")

// A Migration is one schema change.
type Migration struct {
	// ID orders and names the migration ("0042_add_orders_status").
	ID string
	// SQL is the migration's statements, for runners and linters that read SQL.
	SQL string
	// Removes names the tables ("orders") and columns ("orders.note") the
	// migration drops or renames away, for the expand/contract check. A
	// linter that parses SQL fills it in; without one, declare it.
	Removes []string
}

// A Runner applies migrations to one database. The executor calls Pending
// during pre-flight, then, before any code changes, Apply for each pending
// migration in order, then Pending again (expecting none) and Verify. It
// adds the expand/contract check (CheckRemovals) and retries of
// ErrLockTimeout with backoff around them; any other error stops the
// deployment.
type Runner interface {
	// Pending returns the migrations not yet applied, in the order to apply them.
	Pending(ctx context.Context) ([]Migration, error)
	// Apply applies one migration, entirely or not at all where the database
	// allows. It bounds its own wait for locks to a few seconds, since a
	// statement queued for a lock blocks every query behind it, and then
	// returns an error wrapping ErrLockTimeout. Runners over one database,
	// in one process or several, take turns, so that no migration is
	// applied twice; a migration already applied (by another runner while
	// this one waited, say) is left as it is, and Apply returns nil. A
	// migration that is unknown or not the next pending one is refused.
	Apply(ctx context.Context, m Migration) error
	// Verify reports whether the database is healthy after migrating: it
	// answers, and nothing is left half-built. It returns nil when healthy.
	Verify(ctx context.Context) error
}

// Severity ranks findings.
type Severity int

// Severities. Error findings stop a deployment in pre-flight.
const (
	Warning Severity = iota
	Error
)

// String returns "error" for Error and "warning" for any other value.
func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// MarshalText encodes the severity as its String form. It never fails.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes "warning" or "error", so that findings written as
// JSON read back. Any other text is an error and leaves s unchanged.
func (s *Severity) UnmarshalText(text []byte) error {
	switch string(text) {
	case "warning":
		*s = Warning
	case "error":
		*s = Error
	default:
		return fmt.Errorf("migrate: unknown severity %q (want \"warning\" or \"error\")", text)
	}
	return nil
}

// A Finding is one problem a safety check found in a migration.
type Finding struct {
	// Rule names the check, using squawk's rule names where they match.
	Rule string `json:"rule"`
	// Severity says whether the finding stops the deployment (Error) or not.
	Severity Severity `json:"severity"`
	// Migration is the ID of the migration, Statement the index of the
	// statement in it and Pos the byte offset in its SQL, where known (-1 if not).
	Migration string `json:"migration"`
	Statement int    `json:"statement"`
	Pos       int    `json:"pos"`
	// Message says what is wrong and why; Fix says the safe alternative.
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// String formats the finding on one line.
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s [%s]: %s; fix: %s", f.Migration, f.Severity, f.Rule, f.Message, f.Fix)
}

// Usage says which tables and columns ("orders", "orders.note") each
// version of the code reads or writes.
type Usage struct {
	// Running is what the version serving now uses.
	Running []string
	// New is what the version being deployed uses.
	New []string
}

// CheckRemovals returns a finding for every pending migration that drops or
// renames something a version of the code still uses. Old instances keep
// running until the deployment completes, so removing what the running
// version uses breaks it — including something the new version stops
// using: that removal belongs to a later deployment. Removing a table
// removes its columns. Findings are errors, ruled "ban-drop-table" for a
// table and "ban-drop-column" for a column, as squawk names them; names are
// compared exactly, so "orders" does not cover "orders_archive". A removal
// when u declares nothing at all is an error too (rule "undeclared-usage"):
// without knowing what the code uses, nothing shows the removal is safe.
// It returns nil when every removal is safe.
func CheckRemovals(pending []Migration, u Usage) []Finding {
	var out []Finding
	undeclared := len(u.Running) == 0 && len(u.New) == 0
	for _, m := range pending {
		for _, gone := range m.Removes {
			rule := "ban-drop-column"
			if !strings.Contains(gone, ".") {
				rule = "ban-drop-table"
			}
			if undeclared {
				out = append(out, Finding{
					Rule: "undeclared-usage", Severity: Error, Migration: m.ID, Statement: -1, Pos: -1,
					Message: fmt.Sprintf("removes %s, but no version declares what it uses, so nothing shows the running version does not need it", gone),
					Fix:     "declare the tables and columns the running and the new version use (deploy.Plan.Schema)",
				})
				continue
			}
			for _, used := range u.Running {
				if covers(gone, used) {
					out = append(out, Finding{
						Rule: rule, Severity: Error, Migration: m.ID, Statement: -1, Pos: -1,
						Message: fmt.Sprintf("removes %s, which the running version still uses: its instances break while the deployment runs", used),
						Fix:     "keep it in this deployment; remove it in a later one, once no running version uses it (expand, migrate, then contract)",
					})
				}
			}
			for _, used := range u.New {
				if covers(gone, used) && !slices.Contains(u.Running, used) {
					out = append(out, Finding{
						Rule: rule, Severity: Error, Migration: m.ID, Statement: -1, Pos: -1,
						Message: fmt.Sprintf("removes %s, which the new version uses", used),
						Fix:     "do not remove what the new code needs",
					})
				}
			}
		}
	}
	return out
}

// covers reports whether removing gone removes used: the same name, or a
// table and one of its columns.
func covers(gone, used string) bool {
	return gone == used || strings.HasPrefix(used, gone+".")
}

// A Linter reads a migration's SQL and reports what is unsafe about it, and
// what it removes. The executor lints every pending migration in
// pre-flight: error findings stop the deployment, and the removals feed the
// expand/contract check (CheckRemovals) against what the code uses.
type Linter interface {
	// Lint analyses m. It returns an error only when it cannot read m's
	// SQL at all (a syntax error); unsafe SQL is a finding, not an error.
	Lint(ctx context.Context, m Migration) (Analysis, error)
}

// LinterFunc turns a function into a Linter.
type LinterFunc func(ctx context.Context, m Migration) (Analysis, error)

// Lint calls f(ctx, m).
func (f LinterFunc) Lint(ctx context.Context, m Migration) (Analysis, error) { return f(ctx, m) }

// An Analysis is what a Linter found in one migration.
type Analysis struct {
	// Findings are the unsafe operations, in statement order.
	Findings []Finding
	// Removes names the tables ("orders") and columns ("orders.note") the
	// migration drops or renames away, as Migration.Removes does.
	Removes []string
}
