package journal

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/runbook"
)

// Memory is a Journal in memory, for tests and for one process. Its clock
// is time.Now, so it runs in testing/synctest bubbles. The zero value is
// an empty journal, ready to use; a Memory must not be copied after first
// use.
type Memory struct {
	mu      sync.Mutex
	leases  map[string]Lease
	tokens  map[string]int64 // the newest token of each key
	runs    map[string]*memRun
	order   []string // run IDs in the order begun
	records map[string]runbook.Record
}

type memRun struct {
	run     Run
	entries []Entry
}

func (m *Memory) init() {
	if m.leases == nil {
		m.leases = map[string]Lease{}
		m.tokens = map[string]int64{}
		m.runs = map[string]*memRun{}
		m.records = map[string]runbook.Record{}
	}
}

// Acquire implements Leases.
func (m *Memory) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	if key == "" || holder == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("journal: Acquire(%q, %q, %s): key and holder must be named and ttl positive", key, holder, ttl)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	now := time.Now()
	if l, ok := m.leases[key]; ok && now.Before(l.Expires) {
		return Lease{}, m.heldLocked(l)
	}
	m.tokens[key]++
	l := Lease{Key: key, Holder: holder, Token: m.tokens[key], Expires: now.Add(ttl)}
	m.leases[key] = l
	return l, nil
}

// heldLocked describes who holds l, with the newest unfinished run.
func (m *Memory) heldLocked(l Lease) *HeldError {
	e := &HeldError{Lease: l}
	for _, id := range slices.Backward(m.order) {
		r := m.runs[id].run
		if r.Key == l.Key && r.Finished.IsZero() {
			e.Run, e.Started = r.ID, r.Started
			break
		}
	}
	return e
}

// checkLocked returns ErrFenced unless l is the key's live, newest lease.
func (m *Memory) checkLocked(l Lease) error {
	cur, ok := m.leases[l.Key]
	if !ok || cur.Token != l.Token || m.tokens[l.Key] != l.Token {
		return fmt.Errorf("%w: %s token %d (newest %d)", ErrFenced, l.Key, l.Token, m.tokens[l.Key])
	}
	if !time.Now().Before(cur.Expires) {
		return fmt.Errorf("%w: %s token %d expired at %s", ErrFenced, l.Key, l.Token, cur.Expires.Format(time.RFC3339Nano))
	}
	return nil
}

// Renew implements Leases.
func (m *Memory) Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	if ttl <= 0 {
		return Lease{}, fmt.Errorf("journal: Renew(%s token %d, %s): ttl must be positive", l.Key, l.Token, ttl)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if err := m.checkLocked(l); err != nil {
		return Lease{}, err
	}
	l.Expires = time.Now().Add(ttl)
	m.leases[l.Key] = l
	return l, nil
}

// Release implements Leases.
func (m *Memory) Release(ctx context.Context, l Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if cur, ok := m.leases[l.Key]; ok && cur.Token == l.Token {
		cur.Expires = time.Now()
		m.leases[l.Key] = cur
	}
	return nil
}

// Begin implements Writer.
func (m *Memory) Begin(ctx context.Context, l Lease, r Run) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if err := m.checkLocked(l); err != nil {
		return err
	}
	switch {
	case r.ID == "":
		return fmt.Errorf("journal: Begin: run ID is empty")
	case r.Key != l.Key:
		return fmt.Errorf("journal: Begin: run %s has key %q, lease %q", r.ID, r.Key, l.Key)
	case m.runs[r.ID] != nil:
		return fmt.Errorf("journal: Begin: run %s already exists", r.ID)
	}
	r.Holder, r.Token = l.Holder, l.Token
	if r.Started.IsZero() {
		r.Started = time.Now()
	}
	r.Finished, r.Outcome, r.Reason = time.Time{}, "", ""
	m.runs[r.ID] = &memRun{run: r}
	m.order = append(m.order, r.ID)
	return nil
}

// runLocked returns run id under lease l, unfinished.
func (m *Memory) runLocked(l Lease, id string) (*memRun, error) {
	if err := m.checkLocked(l); err != nil {
		return nil, err
	}
	r := m.runs[id]
	switch {
	case r == nil:
		return nil, fmt.Errorf("%w: run %s", ErrNotFound, id)
	case r.run.Key != l.Key:
		return nil, fmt.Errorf("journal: run %s has key %q, lease %q", id, r.run.Key, l.Key)
	case !r.run.Finished.IsZero():
		return nil, fmt.Errorf("journal: run %s finished at %s", id, r.run.Finished.Format(time.RFC3339))
	}
	return r, nil
}

// Append implements Writer.
func (m *Memory) Append(ctx context.Context, l Lease, run string, es ...Entry) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for i, e := range es {
		if err := e.Validate(); err != nil {
			return 0, fmt.Errorf("journal: Append to %s, entry %d: %w", run, i, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	r, err := m.runLocked(l, run)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	for _, e := range es {
		e.Seq, e.Time = int64(len(r.entries))+1, now
		e.Data = slices.Clone(e.Data)
		r.entries = append(r.entries, e)
	}
	return int64(len(r.entries)), nil
}

// Finish implements Writer.
func (m *Memory) Finish(ctx context.Context, l Lease, run, outcome, reason string, rec runbook.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if outcome == "" {
		return fmt.Errorf("journal: Finish %s: outcome is empty", run)
	}
	data, err := rec.JSON() // a deep copy, and a check that it stores
	if err != nil {
		return fmt.Errorf("journal: Finish %s: %w", run, err)
	}
	stored, err := runbook.ParseRecord(data)
	if err != nil {
		return fmt.Errorf("journal: Finish %s: %w", run, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	r, err := m.runLocked(l, run)
	if err != nil {
		return err
	}
	r.run.Finished, r.run.Outcome, r.run.Reason = time.Now(), outcome, reason
	m.records[run] = *stored
	return nil
}

// Post implements Writer.
func (m *Memory) Post(ctx context.Context, run string, c Control) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := c.Validate(); err != nil {
		return 0, err
	}
	e, err := NewEntry(TypeControl, fmt.Sprintf("%s asked to %s: %s", c.Who, c.Op, c.Why), c)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	r := m.runs[run]
	if r == nil || !r.run.Finished.IsZero() {
		return 0, fmt.Errorf("%w: no running run %s", ErrNotFound, run)
	}
	e.Seq, e.Time = int64(len(r.entries))+1, time.Now()
	r.entries = append(r.entries, e)
	return e.Seq, nil
}

// Runs implements Reader.
func (m *Memory) Runs(ctx context.Context, key string, limit int) ([]Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Run
	for _, id := range slices.Backward(m.order) {
		if r := m.runs[id].run; r.Key == key {
			out = append(out, r)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Entries implements Reader.
func (m *Memory) Entries(ctx context.Context, run string, after int64) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[run]
	if r == nil {
		return nil, fmt.Errorf("%w: run %s", ErrNotFound, run)
	}
	var out []Entry
	for _, e := range r.entries {
		if e.Seq > after {
			e.Data = slices.Clone(e.Data)
			out = append(out, e)
		}
	}
	return out, nil
}

// Record implements Reader.
func (m *Memory) Record(ctx context.Context, run string) (runbook.Record, error) {
	if err := ctx.Err(); err != nil {
		return runbook.Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[run]
	if !ok {
		return runbook.Record{}, fmt.Errorf("%w: no record of run %s", ErrNotFound, run)
	}
	data, err := rec.JSON()
	if err != nil {
		return runbook.Record{}, err
	}
	out, err := runbook.ParseRecord(data)
	if err != nil {
		return runbook.Record{}, err
	}
	return *out, nil
}

// Holder implements Reader.
func (m *Memory) Holder(ctx context.Context, key string) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[key]
	if !ok {
		return Lease{}, fmt.Errorf("%w: no lease for %s", ErrNotFound, key)
	}
	return l, nil
}
