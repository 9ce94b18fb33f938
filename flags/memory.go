package flags

import (
	"context"
	"fmt"
	"sync"
)

var _ Store = (*Memory)(nil)

// Memory is a Store that keeps flags in memory, for tests and for tools that
// run in a single process. The zero value is an empty store ready to use.
// Memory is safe for concurrent use and must not be copied after first use.
//
// Memory never blocks, so it ignores its contexts. Its only failures are a
// missing flag (ErrNotFound) and an invalid one (ErrInvalid).
type Memory struct {
	mu    sync.Mutex
	flags map[string]Flag // nil until the first Set
}

// Get returns a copy of the named flag, or an error wrapping ErrNotFound.
func (m *Memory) Get(_ context.Context, name string) (Flag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.flags[name]
	if !ok {
		return Flag{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return f, nil
}

// Set creates or replaces the flag named f.Name. If f.Validate fails, Set
// returns its error, which wraps ErrInvalid, and stores nothing.
func (m *Memory) Set(_ context.Context, f Flag) error {
	if err := f.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.flags == nil {
		m.flags = make(map[string]Flag)
	}
	m.flags[f.Name] = f
	return nil
}

// Delete removes the named flag, or returns an error wrapping ErrNotFound.
func (m *Memory) Delete(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.flags[name]; !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	delete(m.flags, name)
	return nil
}

// List returns a copy of every flag, sorted by name. It never fails.
func (m *Memory) List(context.Context) ([]Flag, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sorted(m.flags), nil
}
