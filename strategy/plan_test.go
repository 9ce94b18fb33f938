package strategy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBatches(t *testing.T) {
	tests := []struct {
		n, surge, unavailable int
		want                  []batch
	}{
		// Kubernetes' default, 25%/25%, on 4 instances: 1 surge, 1 unavailable.
		{4, 1, 1, []batch{{Down: 1, Up: 2, Extra: 1}, {Down: 1, Up: 2, Extra: 1}}},
		// 25%/25% on 10: 3 surge (rounded up), 2 unavailable (rounded down).
		{10, 3, 2, []batch{{Down: 2, Up: 5, Extra: 3}, {Down: 2, Up: 5, Extra: 3}}},
		// Surge only: one new instance at a time, never below full capacity.
		{3, 1, 0, []batch{{Down: 0, Up: 1, Extra: 1}, {Down: 0, Up: 1, Extra: 1}, {Down: 0, Up: 1, Extra: 1}}},
		// Unavailable only: replace in place, never above full size.
		{5, 0, 2, []batch{{Down: 2, Up: 2}, {Down: 2, Up: 2}, {Down: 1, Up: 1}}},
		// Both zero: one unavailable, as Kubernetes refuses to do nothing.
		{3, 0, 0, []batch{{Down: 1, Up: 1}, {Down: 1, Up: 1}, {Down: 1, Up: 1}}},
		// Limits above the fleet's size: everything at once.
		{3, 5, 0, []batch{{Down: 0, Up: 3, Extra: 3}}},
		{3, 0, 9, []batch{{Down: 3, Up: 3}}},
		{1, 1, 0, []batch{{Down: 0, Up: 1, Extra: 1}}},
		{1, 0, 1, []batch{{Down: 1, Up: 1}}},
		{0, 1, 1, nil},
	}
	for _, tt := range tests {
		got := batches(tt.n, tt.surge, tt.unavailable)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("batches(%d, %d, %d) mismatch (-want +got):\n%s", tt.n, tt.surge, tt.unavailable, diff)
		}
	}
}

// TestBatchesBounds plays every plan out instance by instance and checks the
// promises a rolling update makes, at every moment of every batch.
func TestBatchesBounds(t *testing.T) {
	limits := []int{0, 1, 2, 3, 5, 8, 13, 29, 30, 31, 100}
	for n := 1; n <= 30; n++ {
		for _, surge := range limits {
			for _, unavailable := range limits {
				if err := checkPlan(n, surge, unavailable, batches(n, surge, unavailable)); err != nil {
					t.Errorf("batches(%d, %d, %d) = %v: %v", n, surge, unavailable, batches(n, surge, unavailable), err)
				}
			}
		}
	}
}

// checkPlan simulates plan on n instances. Instances being started count
// towards the total but are not ready; stopped ones count towards neither.
func checkPlan(n, surge, unavailable int, plan []batch) error {
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	old, updated := n, 0
	for i, b := range plan {
		if b.Down < 0 || b.Up < 0 || b.Extra < 0 {
			return fmt.Errorf("batch %d: negative count", i+1)
		}
		if b.Down > old {
			return fmt.Errorf("batch %d stops %d old instances, only %d left", i+1, b.Down, old)
		}
		old -= b.Down
		if ready := old + updated; ready < n-unavailable {
			return fmt.Errorf("batch %d: %d ready instances, fewer than %d-%d", i+1, ready, n, unavailable)
		}
		if total := old + updated + b.Up; total > n+surge {
			return fmt.Errorf("batch %d: %d instances while starting, more than %d+%d", i+1, total, n, surge)
		}
		if b.Up == 0 {
			return fmt.Errorf("batch %d starts no new instance: no progress", i+1)
		}
		updated += b.Up
		if b.Extra > old {
			return fmt.Errorf("batch %d stops %d surplus old instances, only %d left", i+1, b.Extra, old)
		}
		old -= b.Extra
		if old+updated > n {
			return fmt.Errorf("batch %d leaves %d instances, more than %d", i+1, old+updated, n)
		}
	}
	if old != 0 || updated != n {
		return fmt.Errorf("ends with %d old and %d new instances, want 0 and %d", old, updated, n)
	}
	return nil
}

func TestAmountResolve(t *testing.T) {
	tests := []struct {
		a       Amount
		n       int
		roundUp bool
		want    int
	}{
		{"25%", 10, true, 3}, // surge rounds up
		{"25%", 10, false, 2},
		{"25%", 4, true, 1},
		{"25%", 4, false, 1},
		{"25%", 1, true, 1},
		{"25%", 1, false, 0},
		{"0%", 10, true, 0},
		{"100%", 7, false, 7},
		{"33.3%", 10, true, 4},
		{"2", 10, true, 2},
		{"2", 10, false, 2},
		{"0", 10, true, 0},
		{"15", 10, false, 15}, // a count is not capped by the fleet's size
		{" 3 ", 10, true, 3},
	}
	for _, tt := range tests {
		got, err := tt.a.resolve(tt.n, tt.roundUp)
		if err != nil || got != tt.want {
			t.Errorf("Amount(%q).resolve(%d, roundUp=%t) = %d, %v; want %d", tt.a, tt.n, tt.roundUp, got, err, tt.want)
		}
	}

	for _, a := range []Amount{"abc", "-1", "150%", "", "-5%", "NaN%", "1.5", "%", "25 %x"} {
		got, err := a.resolve(10, true)
		if err == nil {
			t.Errorf("Amount(%q).resolve = %d, want an error", a, got)
			continue
		}
		if want := fmt.Sprintf("%q", string(a)); !strings.Contains(err.Error(), want) {
			t.Errorf("Amount(%q).resolve error %q does not name the value", a, err)
		}
	}
}

func TestSplitCounts(t *testing.T) {
	tests := []struct {
		n              int
		weight         float64
		canary, stable int
	}{
		// Argo Rollouts' vectors for a canary without traffic routing.
		{10, 15, 2, 8},
		{10, 14, 1, 9},
		{3, 50, 2, 1},
		{1, 49, 0, 1},
		// Between 1% and 99% a fleet of two or more runs both versions.
		{10, 1, 1, 9},
		{10, 99, 9, 1},
		{2, 1, 1, 1},
		{2, 99, 1, 1},
		{10, 100, 10, 0},
		{4, 50, 2, 2},
		{4, 25, 1, 3},
		{1, 50, 1, 0}, // a tie rounds up
		{1, 100, 1, 0},
		{1, 1, 0, 1},
	}
	for _, tt := range tests {
		c, s := splitCounts(tt.n, tt.weight)
		if c != tt.canary || s != tt.stable {
			t.Errorf("splitCounts(%d, %g) = %d/%d, want %d/%d", tt.n, tt.weight, c, s, tt.canary, tt.stable)
		}
	}
}

func TestCanaryStepsDefault(t *testing.T) {
	tests := []struct {
		steps []float64
		want  []float64
	}{
		{nil, []float64{1, 5, 25, 50, 100}},
		{[]float64{10, 50}, []float64{10, 50, 100}},
		{[]float64{20, 100}, []float64{20, 100}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Canary{Steps: tt.steps}.steps()); diff != "" {
			t.Errorf("Canary{Steps: %v}.steps() mismatch (-want +got):\n%s", tt.steps, diff)
		}
	}

	// The implicit 100 must not be written into the caller's array.
	backing := []float64{10, 50, -1}
	Canary{Steps: backing[:2]}.steps()
	if backing[2] != -1 {
		t.Errorf("steps() wrote %g past the end of the caller's Steps", backing[2])
	}
}
