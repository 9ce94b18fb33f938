package pglint_test

import (
	"testing"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/pglint"
)

func rules(t *testing.T, sql string) map[string]bool {
	t.Helper()
	a, err := pglint.Linter{RunnerSetsLockTimeout: true}.Lint(t.Context(), migrate.Migration{ID: "m", SQL: sql})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range a.Findings {
		out[f.Rule] = true
	}
	return out
}

// TestPrimaryKeyUsingIndex: the suggested fix for a primary key — build the
// unique index concurrently, then ADD CONSTRAINT … PRIMARY KEY USING INDEX —
// is not itself flagged.
func TestPrimaryKeyUsingIndex(t *testing.T) {
	if got := rules(t, "ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX orders_pkey;"); got["disallowed-unique-constraint"] {
		t.Error("PRIMARY KEY USING INDEX flagged as disallowed-unique-constraint")
	}
	if got := rules(t, "ALTER TABLE orders ADD PRIMARY KEY (id);"); !got["disallowed-unique-constraint"] {
		t.Error("a primary key built under the lock is not flagged")
	}
}

// TestSetNotNullTrustsOnlyItsOwnCheck: validating an unrelated constraint
// from an earlier migration does not excuse SET NOT NULL on any column.
func TestSetNotNullTrustsOnlyItsOwnCheck(t *testing.T) {
	unrelated := "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;\nALTER TABLE orders ALTER COLUMN status SET NOT NULL;"
	if got := rules(t, unrelated); !got["adding-not-nullable-field"] {
		t.Error("SET NOT NULL after validating an unrelated foreign key is not flagged")
	}
	own := "ALTER TABLE orders VALIDATE CONSTRAINT orders_status_not_null;\nALTER TABLE orders ALTER COLUMN status SET NOT NULL;"
	if got := rules(t, own); got["adding-not-nullable-field"] {
		t.Error("SET NOT NULL after validating its own check is flagged")
	}
}
