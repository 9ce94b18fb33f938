package migrate

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Memory is an in-memory Runner for tests and examples. It applies
// migrations in order by recording them, and can be told to fail: a
// migration that errors, one that meets lock contention a number of times,
// a database that is unhealthy afterwards. It is safe for concurrent use.
type Memory struct {
	mu         sync.Mutex
	migrations []Migration
	applied    map[string]bool
	fail       map[string]error
	contention map[string]int
	unhealthy  error
	attempts   map[string]int
}

// NewMemory returns a runner that knows the given migrations, none applied.
func NewMemory(ms ...Migration) *Memory {
	return &Memory{
		migrations: slices.Clone(ms),
		applied:    map[string]bool{},
		fail:       map[string]error{},
		contention: map[string]int{},
		attempts:   map[string]int{},
	}
}

// FailApply makes every Apply of migration id fail with err.
func (m *Memory) FailApply(id string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail[id] = err
}

// Contend makes the next n Apply calls of migration id time out waiting for
// a lock (ErrLockTimeout), as if another transaction held it.
func (m *Memory) Contend(id string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
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

// Attempts returns how many times Apply was called for migration id.
func (m *Memory) Attempts(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attempts[id]
}

// Pending implements Runner.
func (m *Memory) Pending(ctx context.Context) ([]Migration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Migration
	for _, mg := range m.migrations {
		if !m.applied[mg.ID] {
			out = append(out, mg)
		}
	}
	return out, nil
}

// Apply implements Runner. It refuses a migration that is unknown, already
// applied, or not the next pending one.
func (m *Memory) Apply(ctx context.Context, mg Migration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts[mg.ID]++
	next := ""
	for _, x := range m.migrations {
		if !m.applied[x.ID] {
			next = x.ID
			break
		}
	}
	if next != mg.ID {
		return fmt.Errorf("migrate: apply %q: the next pending migration is %q", mg.ID, next)
	}
	if n := m.contention[mg.ID]; n > 0 {
		m.contention[mg.ID] = n - 1
		return fmt.Errorf("migrate: apply %q: %w", mg.ID, ErrLockTimeout)
	}
	if err := m.fail[mg.ID]; err != nil {
		return fmt.Errorf("migrate: apply %q: %w", mg.ID, err)
	}
	m.applied[mg.ID] = true
	return nil
}

// Verify implements Runner.
func (m *Memory) Verify(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unhealthy != nil {
		return fmt.Errorf("migrate: database unhealthy: %w", m.unhealthy)
	}
	return nil
}
