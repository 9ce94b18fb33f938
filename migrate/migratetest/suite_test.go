package migratetest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
)

// memoryDatabase returns an Opener over one Memory, which fails the
// migrations that read no_such_table, as a database would.
func memoryDatabase() migratetest.Opener {
	var (
		once sync.Once
		db   *migratetest.Memory
	)
	return func(ms []migrate.Migration) (migrate.Runner, error) {
		once.Do(func() {
			db = migratetest.NewMemory(ms...)
			for _, m := range ms {
				if strings.Contains(m.SQL, "no_such_table") {
					db.FailApply(m.ID, errors.New("no such table: no_such_table"))
				}
			}
		})
		return db, nil
	}
}

func TestRunMemory(t *testing.T) {
	migratetest.Run(t, func(*testing.T) migratetest.Opener { return memoryDatabase() })
}

func TestCheckMemory(t *testing.T) {
	if err := migratetest.Check(t.Context(), func() (migratetest.Opener, error) { return memoryDatabase(), nil }); err != nil {
		t.Errorf("Check(Memory) = %v, want nil", err)
	}
}

// strict refuses an applied migration, as runners did before deployments
// could share a database.
type strict struct{ *migratetest.Memory }

func (s strict) Apply(ctx context.Context, m migrate.Migration) error {
	ms, err := s.Pending(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ms, func(p migrate.Migration) bool { return p.ID == m.ID }) {
		return fmt.Errorf("apply %s: already applied", m.ID)
	}
	return s.Memory.Apply(ctx, m)
}

// swallow reports success whatever happened.
type swallow struct{ *migratetest.Memory }

func (s swallow) Apply(ctx context.Context, m migrate.Migration) error {
	s.Memory.Apply(ctx, m)
	return nil
}

// retryable wraps every failure in migrate.ErrLockTimeout.
type retryable struct{ *migratetest.Memory }

func (s retryable) Apply(ctx context.Context, m migrate.Migration) error {
	if err := s.Memory.Apply(ctx, m); err != nil {
		return fmt.Errorf("%w: %w", migrate.ErrLockTimeout, err)
	}
	return nil
}

// liar applies with a cancelled context, and says it did not.
type liar struct{ *migratetest.Memory }

func (s liar) Apply(ctx context.Context, m migrate.Migration) error {
	if err := s.Memory.Apply(context.WithoutCancel(ctx), m); err != nil {
		return err
	}
	return ctx.Err()
}

// A broken runner is Memory with one mistake a real runner could make.
type broken struct {
	name string
	// newDatabase returns the broken Opener.
	newDatabase func() migratetest.Opener
	// fails are the checks that must fail; mayFail those that may, by
	// chance of timing.
	fails, mayFail []string
	// says are substrings of Check's report.
	says []string
}

func wrap(w func(*migratetest.Memory) migrate.Runner) func() migratetest.Opener {
	return func() migratetest.Opener {
		open := memoryDatabase()
		return func(ms []migrate.Migration) (migrate.Runner, error) {
			r, err := open(ms)
			return w(r.(*migratetest.Memory)), err
		}
	}
}

func brokenRunners() []broken {
	return []broken{{
		name:        "applied-is-refused",
		newDatabase: wrap(func(m *migratetest.Memory) migrate.Runner { return strict{m} }),
		fails:       []string{"AppliedIsLeftAlone"},
		mayFail:     []string{"TakeTurns"},
		says:        []string{"AppliedIsLeftAlone: Apply(00002_credit.sql) of an applied migration = apply 00002_credit.sql: already applied, want nil"},
	}, {
		name:        "failures-swallowed",
		newDatabase: wrap(func(m *migratetest.Memory) migrate.Runner { return swallow{m} }),
		fails:       []string{"OutOfOrder", "Unknown", "FailureStaysPending", "CancelledContext"},
		says: []string{
			"FailureStaysPending: Apply(00002_broken.sql) = nil, but the migration fails at its second statement",
			"Unknown: Apply(00009_unknown.sql) of an unknown migration = nil, want it refused",
			"CancelledContext: Pending after an Apply(00001_accounts.sql) with a cancelled context",
		},
	}, {
		name:        "every-failure-retryable",
		newDatabase: wrap(func(m *migratetest.Memory) migrate.Runner { return retryable{m} }),
		fails:       []string{"OutOfOrder", "Unknown", "FailureStaysPending"},
		says:        []string{"which wraps migrate.ErrLockTimeout: the executor would retry a migration that fails every time"},
	}, {
		name:        "cancelled-but-applied",
		newDatabase: wrap(func(m *migratetest.Memory) migrate.Runner { return liar{m} }),
		fails:       []string{"CancelledContext"},
		says:        []string{`CancelledContext: Pending after an Apply(00001_accounts.sql) with a cancelled context = ["00002_credit.sql" "00003_refunds.sql"], want ["00001_accounts.sql" "00002_credit.sql" "00003_refunds.sql"]`},
	}, {
		name: "a-database-per-runner",
		newDatabase: func() migratetest.Opener {
			return func(ms []migrate.Migration) (migrate.Runner, error) { return memoryDatabase()(ms) }
		},
		fails: []string{"SecondRunner"},
		says:  []string{`SecondRunner: Pending on a second runner, after the first applied 00001_accounts.sql = ["00001_accounts.sql" "00002_credit.sql" "00003_refunds.sql"], want ["00002_credit.sql" "00003_refunds.sql"]`},
	}}
}

var checkNames = []string{"PendingInOrder", "ApplyInOrder", "AppliedIsLeftAlone", "OutOfOrder", "Unknown", "FailureStaysPending", "SecondRunner", "TakeTurns", "CancelledContext"}

// Check finds each broken runner's mistake, in the checks that test for
// it and no others, and says what it did.
func TestCheckFindsMistakes(t *testing.T) {
	for _, b := range brokenRunners() {
		t.Run(b.name, func(t *testing.T) {
			err := migratetest.Check(t.Context(), func() (migratetest.Opener, error) { return b.newDatabase(), nil })
			if err == nil {
				t.Fatal("Check = nil, want failures")
			}
			report := err.Error()
			t.Log(report)
			for _, name := range checkNames {
				failed := strings.Contains(report, name+": ")
				switch {
				case slices.Contains(b.fails, name) && !failed:
					t.Errorf("check %s passed, want it to fail", name)
				case !slices.Contains(b.fails, name) && !slices.Contains(b.mayFail, name) && failed:
					t.Errorf("check %s failed, want it to pass", name)
				}
			}
			for _, s := range b.says {
				if !strings.Contains(report, s) {
					t.Errorf("report does not say %q", s)
				}
			}
		})
	}
}

func TestCheckStops(t *testing.T) {
	calls := 0
	boom := errors.New("no disk")
	err := migratetest.Check(t.Context(), func() (migratetest.Opener, error) {
		if calls++; calls == 3 {
			return nil, boom
		}
		return memoryDatabase(), nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "stopped at AppliedIsLeftAlone") {
		t.Errorf("Check with a failing newDatabase = %v, want it to stop at the third check, wrapping the error", err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("shutting down")
	cancel(stop)
	if err := migratetest.Check(ctx, func() (migratetest.Opener, error) { return memoryDatabase(), nil }); !errors.Is(err, stop) {
		t.Errorf("Check with a cancelled context = %v, want the cause", err)
	}
}

func TestFS(t *testing.T) {
	fsys := migratetest.FS(migratetest.Migrations())
	for _, m := range migratetest.Migrations() {
		if string(fsys[m.ID].Data) != m.SQL {
			t.Errorf("%s: %q, want the migration's SQL", m.ID, fsys[m.ID].Data)
		}
	}
}
