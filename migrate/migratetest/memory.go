package migratetest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/safedeploy/safedeploy/migrate"
)

// Memory is an in-memory [migrate.Runner] for tests and examples. It
// applies migrations in order by recording them, and can be told to fail:
// a migration that errors, one that meets lock contention a number of
// times, a database that is unhealthy afterwards. It is safe for
// concurrent use, and passes the conformance suite ([Run]): one Memory
// stands for one database, however many goroutines use it. The zero value
// is a runner with no migrations; NewMemory gives it some. Migration IDs
// are expected to be unique: an ID names one migration.
type Memory struct {
	mu         sync.Mutex
	migrations []migrate.Migration
	applied    map[string]bool
	fail       map[string]error
	contention map[string]int
	unhealthy  error
	attempts   map[string]int
}

// NewMemory returns a runner that knows the given migrations, in the order
// given, none applied. It copies the list.
func NewMemory(ms ...migrate.Migration) *Memory {
	return &Memory{
		migrations: slices.Clone(ms),
		applied:    map[string]bool{},
		fail:       map[string]error{},
		contention: map[string]int{},
		attempts:   map[string]int{},
	}
}

// init makes the zero value usable. The caller holds m.mu.
func (m *Memory) init() {
	if m.applied == nil {
		m.applied = map[string]bool{}
		m.fail = map[string]error{}
		m.contention = map[string]int{}
		m.attempts = map[string]int{}
	}
}

// FailApply makes every Apply of migration id fail with an error wrapping
// err, leaving the migration unapplied, as a transactional migration that
// errors does. A nil err makes it succeed again.
func (m *Memory) FailApply(id string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.fail[id] = err
}

// Contend makes the next n Apply calls of migration id return an error
// wrapping migrate.ErrLockTimeout, leaving it unapplied, as if another transaction
// held the lock. Contention comes before any FailApply error; n <= 0 ends it.
func (m *Memory) Contend(id string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.contention[id] = n
}

// SetUnhealthy makes Verify return err; nil makes the database healthy.
func (m *Memory) SetUnhealthy(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unhealthy = err
}

// Applied returns the IDs of the applied migrations, in order.
func (m *Memory) Applied() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, mg := range m.migrations {
		if m.applied[mg.ID] {
			ids = append(ids, mg.ID)
		}
	}
	return ids
}

// Attempts returns how many times Apply was called for migration id,
// counting calls that failed or were refused but not those made with a
// context that was already done.
func (m *Memory) Attempts(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attempts[id]
}

// Pending implements migrate.Runner: it returns the migrations not yet applied, in
// order. It fails only if ctx is done.
func (m *Memory) Pending(ctx context.Context) ([]migrate.Migration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []migrate.Migration
	for _, mg := range m.migrations {
		if !m.applied[mg.ID] {
			out = append(out, mg)
		}
	}
	return out, nil
}

// Apply implements migrate.Runner: it records migration mg as applied,
// matching it to a known migration by ID. It returns ctx's error if ctx is
// done. A migration already applied is left as it is, and Apply returns
// nil, as a runner does when another one applied it first. It refuses a
// migration that is unknown or not the next pending one, with an error
// that says which (and names the next pending one); then fails as Contend
// and FailApply say. A migration that fails or is refused stays pending.
func (m *Memory) Apply(ctx context.Context, mg migrate.Migration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.attempts[mg.ID]++
	known, next, found := false, "", false
	for _, x := range m.migrations {
		known = known || x.ID == mg.ID
		if !found && !m.applied[x.ID] {
			next, found = x.ID, true
		}
	}
	switch {
	case !known:
		return fmt.Errorf("migratetest: apply %q: unknown migration", mg.ID)
	case m.applied[mg.ID]:
		return nil
	case next != mg.ID:
		return fmt.Errorf("migratetest: apply %q out of order: the next pending migration is %q", mg.ID, next)
	}
	if n := m.contention[mg.ID]; n > 0 {
		m.contention[mg.ID] = n - 1
		return fmt.Errorf("migratetest: apply %q: %w", mg.ID, migrate.ErrLockTimeout)
	}
	if err := m.fail[mg.ID]; err != nil {
		return fmt.Errorf("migratetest: apply %q: %w", mg.ID, err)
	}
	m.applied[mg.ID] = true
	return nil
}

// Verify implements migrate.Runner: it returns an error wrapping the error given to
// SetUnhealthy, if any, or ctx's error if ctx is done, and nil otherwise.
func (m *Memory) Verify(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unhealthy != nil {
		return fmt.Errorf("migratetest: database unhealthy: %w", m.unhealthy)
	}
	return nil
}

// Lint reports what mg declares it removes: a Memory's migrations are
// written by hand, Removes included, so they are their own analysis. It
// makes a Memory usable where pre-flight needs a Linter (Plan.Schema).
func (m *Memory) Lint(ctx context.Context, mg migrate.Migration) (migrate.Analysis, error) {
	return migrate.Analysis{Removes: slices.Clone(mg.Removes)}, nil
}
