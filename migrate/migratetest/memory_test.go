package migratetest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/migratetest"
)

var _ migrate.Runner = (*migratetest.Memory)(nil)

func three() (a, b, c migrate.Migration) {
	return migrate.Migration{ID: "0001_add_status", SQL: "ALTER TABLE orders ADD COLUMN status text DEFAULT 'new'"},
		migrate.Migration{ID: "0002_backfill", SQL: "UPDATE orders SET status = 'done' WHERE shipped"},
		migrate.Migration{ID: "0003_drop_note", SQL: "ALTER TABLE orders DROP COLUMN note", Removes: []string{"orders.note"}}
}

func pendingIDs(t *testing.T, r migrate.Runner) []string {
	t.Helper()
	ms, err := r.Pending(t.Context())
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestMemoryPendingInOrder(t *testing.T) {
	a, b, c := three()
	m := migratetest.NewMemory(a, b, c)
	got, err := m.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]migrate.Migration{a, b, c}, got); diff != "" {
		t.Errorf("Pending mismatch (-want +got):\n%s", diff)
	}
	if got := m.Applied(); len(got) != 0 {
		t.Errorf("Applied() = %q before any Apply, want none", got)
	}
}

func TestMemoryApplyInOrder(t *testing.T) {
	a, b, c := three()
	m := migratetest.NewMemory(a, b, c)
	ctx := t.Context()
	for i, mg := range []migrate.Migration{a, b, c} {
		if err := m.Apply(ctx, mg); err != nil {
			t.Fatalf("Apply(%s): %v", mg.ID, err)
		}
		want := []string{a.ID, b.ID, c.ID}
		if diff := cmp.Diff(want[:i+1], m.Applied()); diff != "" {
			t.Errorf("Applied after %s (-want +got):\n%s", mg.ID, diff)
		}
		if diff := cmp.Diff(want[i+1:], pendingIDs(t, m), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Pending after %s (-want +got):\n%s", mg.ID, diff)
		}
	}
	if err := m.Verify(ctx); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestMemoryApplyRefuses(t *testing.T) {
	a, b, c := three()
	tests := []struct {
		name    string
		applied []migrate.Migration // applied first, successfully
		apply   migrate.Migration
		// The error must contain every one of these.
		mentions []string
	}{
		{name: "out of order", apply: c, mentions: []string{`"0003_drop_note"`, `"0001_add_status"`, "next pending"}},
		{name: "unknown", apply: migrate.Migration{ID: "9999_mystery"}, mentions: []string{`"9999_mystery"`, "unknown"}},
		{name: "unknown, nothing pending", applied: []migrate.Migration{a, b, c}, apply: migrate.Migration{ID: "0004"}, mentions: []string{`"0004"`, "unknown"}},
		{name: "empty ID", apply: migrate.Migration{}, mentions: []string{"unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := migratetest.NewMemory(a, b, c)
			for _, mg := range tt.applied {
				if err := m.Apply(t.Context(), mg); err != nil {
					t.Fatalf("Apply(%s): %v", mg.ID, err)
				}
			}
			before := m.Applied()
			err := m.Apply(t.Context(), tt.apply)
			if err == nil {
				t.Fatalf("Apply(%q) = nil, want it refused", tt.apply.ID)
			}
			for _, s := range tt.mentions {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
			if errors.Is(err, migrate.ErrLockTimeout) {
				t.Errorf("refusal %v is a lock timeout; the executor would retry it", err)
			}
			if diff := cmp.Diff(before, m.Applied()); diff != "" {
				t.Errorf("refused Apply changed Applied (-before +after):\n%s", diff)
			}
		})
	}
}

func TestMemoryLeavesAppliedAlone(t *testing.T) {
	a, b, c := three()
	m := migratetest.NewMemory(a, b, c)
	for _, mg := range []migrate.Migration{a, b, a, b} {
		if err := m.Apply(t.Context(), mg); err != nil {
			t.Fatalf("Apply(%s) = %v, want nil", mg.ID, err)
		}
	}
	m.FailApply(a.ID, errors.New("boom")) // it would fail if it ran again
	if err := m.Apply(t.Context(), a); err != nil {
		t.Errorf("Apply of an applied migration = %v, want nil: it does not run again", err)
	}
	if diff := cmp.Diff([]string{a.ID, b.ID}, m.Applied()); diff != "" {
		t.Errorf("Applied (-want +got):\n%s", diff)
	}
}

func TestMemoryFailApplyLeavesItPending(t *testing.T) {
	a, b, c := three()
	m := migratetest.NewMemory(a, b, c)
	boom := errors.New("syntax error at or near DROP")
	m.FailApply(b.ID, boom)
	ctx := t.Context()
	if err := m.Apply(ctx, a); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		err := m.Apply(ctx, b)
		if !errors.Is(err, boom) {
			t.Fatalf("Apply(%s) = %v, want it to wrap %v", b.ID, err, boom)
		}
		if errors.Is(err, migrate.ErrLockTimeout) {
			t.Errorf("Apply(%s) = %v, a lock timeout; want a permanent failure", b.ID, err)
		}
	}
	if diff := cmp.Diff([]string{a.ID}, m.Applied()); diff != "" {
		t.Errorf("Applied (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{b.ID, c.ID}, pendingIDs(t, m)); diff != "" {
		t.Errorf("Pending (-want +got):\n%s", diff)
	}
	// The failed migration is still the next one: nothing after it can jump ahead.
	if err := m.Apply(ctx, c); err == nil {
		t.Errorf("Apply(%s) after %s failed = nil, want it refused", c.ID, b.ID)
	}
	// Clearing the failure lets it through.
	m.FailApply(b.ID, nil)
	if err := m.Apply(ctx, b); err != nil {
		t.Errorf("Apply(%s) after FailApply(nil) = %v", b.ID, err)
	}
}

func TestMemoryContend(t *testing.T) {
	a, b, _ := three()
	m := migratetest.NewMemory(a, b)
	m.Contend(a.ID, 3)
	ctx := t.Context()
	for i := range 3 {
		err := m.Apply(ctx, a)
		if !errors.Is(err, migrate.ErrLockTimeout) {
			t.Fatalf("attempt %d: Apply = %v, want ErrLockTimeout", i+1, err)
		}
		if diff := cmp.Diff([]string{a.ID, b.ID}, pendingIDs(t, m)); diff != "" {
			t.Fatalf("attempt %d: a lock timeout changed Pending (-want +got):\n%s", i+1, diff)
		}
	}
	if err := m.Apply(ctx, a); err != nil {
		t.Fatalf("attempt 4: Apply = %v, want success once contention is over", err)
	}
	if got := m.Attempts(a.ID); got != 4 {
		t.Errorf("Attempts(%s) = %d, want 4", a.ID, got)
	}
	if got := m.Attempts(b.ID); got != 0 {
		t.Errorf("Attempts(%s) = %d, want 0", b.ID, got)
	}
	if diff := cmp.Diff([]string{a.ID}, m.Applied()); diff != "" {
		t.Errorf("Applied (-want +got):\n%s", diff)
	}
}

func TestMemoryContendBeforeFailApply(t *testing.T) {
	a, _, _ := three()
	m := migratetest.NewMemory(a)
	boom := errors.New("boom")
	m.Contend(a.ID, 1)
	m.FailApply(a.ID, boom)
	if err := m.Apply(t.Context(), a); !errors.Is(err, migrate.ErrLockTimeout) {
		t.Errorf("first Apply = %v, want ErrLockTimeout", err)
	}
	if err := m.Apply(t.Context(), a); !errors.Is(err, boom) {
		t.Errorf("second Apply = %v, want %v", err, boom)
	}
}

func TestMemoryAttemptsCountsRefusals(t *testing.T) {
	a, b, _ := three()
	m := migratetest.NewMemory(a, b)
	_ = m.Apply(t.Context(), b) // out of order
	_ = m.Apply(t.Context(), b)
	if got := m.Attempts(b.ID); got != 2 {
		t.Errorf("Attempts(%s) = %d, want 2", b.ID, got)
	}
	if got := m.Attempts("never"); got != 0 {
		t.Errorf("Attempts(never) = %d, want 0", got)
	}
}

func TestMemorySetUnhealthy(t *testing.T) {
	m := migratetest.NewMemory()
	ctx := t.Context()
	if err := m.Verify(ctx); err != nil {
		t.Fatalf("Verify on a new runner = %v, want nil", err)
	}
	sick := errors.New("replica lag 40s")
	m.SetUnhealthy(sick)
	if err := m.Verify(ctx); !errors.Is(err, sick) {
		t.Errorf("Verify = %v, want it to wrap %v", err, sick)
	}
	m.SetUnhealthy(nil)
	if err := m.Verify(ctx); err != nil {
		t.Errorf("Verify after SetUnhealthy(nil) = %v, want nil", err)
	}
}

func TestMemoryCancelledContext(t *testing.T) {
	a, _, _ := three()
	m := migratetest.NewMemory(a)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Pending(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Pending = %v, want context.Canceled", err)
	}
	if err := m.Apply(ctx, a); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply = %v, want context.Canceled", err)
	}
	if err := m.Verify(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify = %v, want context.Canceled", err)
	}
	if got := m.Applied(); len(got) != 0 {
		t.Errorf("Applied = %q after a cancelled Apply, want none", got)
	}
	if got := m.Attempts(a.ID); got != 0 {
		t.Errorf("Attempts = %d after a cancelled Apply, want 0 (it never reached the database)", got)
	}
}

func TestMemoryZeroValue(t *testing.T) {
	var m migratetest.Memory
	ctx := t.Context()
	if got := pendingIDs(t, &m); len(got) != 0 {
		t.Errorf("Pending = %q, want none", got)
	}
	if err := m.Apply(ctx, migrate.Migration{ID: "0001"}); err == nil {
		t.Error("Apply of an unknown migration on a zero Memory = nil, want it refused")
	}
	m.FailApply("0001", errors.New("x"))
	m.Contend("0001", 1)
	if got := m.Attempts("0001"); got != 1 {
		t.Errorf("Attempts = %d, want 1", got)
	}
	if err := m.Verify(ctx); err != nil {
		t.Errorf("Verify = %v, want nil", err)
	}
}

func TestMemoryNewMemoryCopies(t *testing.T) {
	a, b, _ := three()
	ms := []migrate.Migration{a, b}
	m := migratetest.NewMemory(ms...)
	ms[0].ID = "changed"
	if diff := cmp.Diff([]string{a.ID, b.ID}, pendingIDs(t, m)); diff != "" {
		t.Errorf("changing the caller's slice changed the runner (-want +got):\n%s", diff)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	a, b, c := three()
	m := migratetest.NewMemory(a, b, c)
	m.Contend(a.ID, 5)
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, mg := range []migrate.Migration{a, b, c} {
				_ = m.Apply(ctx, mg)
				_, _ = m.Pending(ctx)
				_ = m.Applied()
				_ = m.Attempts(mg.ID)
				_ = m.Verify(ctx)
			}
		})
	}
	wg.Wait()
	// Whatever the interleaving, applied is a prefix of the order.
	got := m.Applied()
	want := []string{a.ID, b.ID, c.ID}
	if diff := cmp.Diff(want[:len(got)], got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Applied is not a prefix of the order (-want +got):\n%s", diff)
	}
}
