package verify_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/verify"
)

var inf = math.Inf(1)

func TestHistogramQuantile(t *testing.T) {
	// 10 requests ≤ 0.1s, 20 more in (0.1s, 0.2s], 10 more above 0.2s.
	h := verify.Histogram{{UpperBound: 0.1, Count: 10}, {UpperBound: 0.2, Count: 30}, {UpperBound: inf, Count: 40}}
	tests := []struct {
		name string
		h    verify.Histogram
		q    float64
		want float64
	}{
		// rank = q × 40; inside a bucket, lower + width × (rank − below) / (count − below).
		{"first bucket from zero", h, 0.1, 0.04}, // rank 4: 0 + 0.1 × 4/10
		{"first bucket's bound", h, 0.25, 0.1},   // rank 10: exactly the first count
		{"second bucket", h, 0.5, 0.15},          // rank 20: 0.1 + 0.1 × 10/20
		{"second bucket high", h, 0.7, 0.19},     // rank 28: 0.1 + 0.1 × 18/20
		{"second bucket's bound", h, 0.75, 0.2},  // rank 30
		{"+Inf bucket", h, 0.8, 0.2},             // rank 32: largest finite bound
		{"+Inf bucket near 1", h, 0.999, 0.2},    // rank 39.96

		// No finite bound at all: the largest finite bound is taken as 0.
		{"only +Inf", verify.Histogram{{UpperBound: inf, Count: 5}}, 0.5, 0},
		{"empty bucket skipped", verify.Histogram{{UpperBound: 0.1, Count: 0}, {UpperBound: 0.5, Count: 10}, {UpperBound: inf, Count: 10}}, 0.5, 0.3},
	}
	for _, tt := range tests {
		got, ok := tt.h.Quantile(tt.q)
		if !ok || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Quantile(%v) = %v, %v; want %v, true", tt.name, tt.q, got, ok, tt.want)
		}
	}
}

func TestHistogramQuantileUndefined(t *testing.T) {
	h := verify.Histogram{{UpperBound: 0.1, Count: 10}, {UpperBound: inf, Count: 20}}
	tests := []struct {
		name string
		h    verify.Histogram
		q    float64
	}{
		{"nil histogram", nil, 0.5},
		{"empty histogram", verify.Histogram{}, 0.5},
		{"zero count", verify.Histogram{{UpperBound: 0.1, Count: 0}, {UpperBound: inf, Count: 0}}, 0.5},
		{"q = 0", h, 0},
		{"q = 1", h, 1},
		{"q < 0", h, -0.5},
		{"q > 1", h, 1.5},
		{"q NaN", h, math.NaN()},
	}
	for _, tt := range tests {
		if got, ok := tt.h.Quantile(tt.q); ok {
			t.Errorf("%s: Quantile(%v) = %v, true; want false", tt.name, tt.q, got)
		}
	}
}

func TestObservationAdd(t *testing.T) {
	bounds := func(c1, c2 float64) verify.Histogram {
		return verify.Histogram{{UpperBound: 0.1, Count: c1}, {UpperBound: inf, Count: c2}}
	}
	other := verify.Histogram{{UpperBound: 0.5, Count: 1}, {UpperBound: inf, Count: 2}}
	tests := []struct {
		name string
		o, p verify.Observation
		want verify.Observation
	}{{
		name: "matching bounds add bucket by bucket",
		o:    verify.Observation{Requests: 100, Errors: 2, Business: 10, Latency: bounds(60, 100)},
		p:    verify.Observation{Requests: 50, Errors: 3, Business: 4, Latency: bounds(20, 50)},
		want: verify.Observation{Requests: 150, Errors: 5, Business: 14, Latency: bounds(80, 150)},
	}, {
		name: "mismatching bounds keep the receiver's",
		o:    verify.Observation{Requests: 100, Latency: bounds(60, 100)},
		p:    verify.Observation{Requests: 2, Latency: other},
		want: verify.Observation{Requests: 102, Latency: bounds(60, 100)},
	}, {
		name: "mismatching length keeps the receiver's",
		o:    verify.Observation{Requests: 2, Latency: other},
		p:    verify.Observation{Requests: 1, Latency: verify.Histogram{{UpperBound: inf, Count: 1}}},
		want: verify.Observation{Requests: 3, Latency: other},
	}, {
		name: "receiver without latency takes the argument's",
		o:    verify.Observation{Requests: 1},
		p:    verify.Observation{Requests: 2, Latency: other},
		want: verify.Observation{Requests: 3, Latency: other},
	}, {
		name: "argument without latency",
		o:    verify.Observation{Requests: 2, Latency: other},
		p:    verify.Observation{Requests: 1},
		want: verify.Observation{Requests: 3, Latency: other},
	}, {
		name: "neither has latency",
		o:    verify.Observation{Requests: 1, Errors: 1},
		p:    verify.Observation{Requests: 1},
		want: verify.Observation{Requests: 2, Errors: 1},
	}}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.o.Add(tt.p)); diff != "" {
			t.Errorf("%s: Add mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestObservationAddDoesNotAlias mutates every sum and checks that neither
// input changed, whichever branch of Add produced it.
func TestObservationAddDoesNotAlias(t *testing.T) {
	h := func() verify.Histogram {
		return verify.Histogram{{UpperBound: 0.1, Count: 1}, {UpperBound: inf, Count: 2}}
	}
	other := func() verify.Histogram {
		return verify.Histogram{{UpperBound: 0.5, Count: 1}, {UpperBound: inf, Count: 2}}
	}
	pairs := []struct {
		name string
		o, p func() verify.Histogram
	}{
		{"matching", h, h},
		{"mismatching", h, other},
		{"receiver without latency", func() verify.Histogram { return nil }, h},
		{"argument without latency", h, func() verify.Histogram { return nil }},
	}
	for _, pair := range pairs {
		o := verify.Observation{Requests: 2, Latency: pair.o()}
		p := verify.Observation{Requests: 2, Latency: pair.p()}
		sum := o.Add(p)
		for i := range sum.Latency {
			sum.Latency[i].Count = -1
			sum.Latency[i].UpperBound = -1
		}
		if diff := cmp.Diff(pair.o(), o.Latency); diff != "" {
			t.Errorf("%s: mutating the sum changed the receiver (-want +got):\n%s", pair.name, diff)
		}
		if diff := cmp.Diff(pair.p(), p.Latency); diff != "" {
			t.Errorf("%s: mutating the sum changed the argument (-want +got):\n%s", pair.name, diff)
		}
	}
}

func TestObservationRates(t *testing.T) {
	o := verify.Observation{Requests: 200, Errors: 5, Business: 30}
	if got := o.ErrorRate(); got != 0.025 {
		t.Errorf("ErrorRate() = %v, want 0.025", got)
	}
	if got := o.BusinessRate(); got != 0.15 {
		t.Errorf("BusinessRate() = %v, want 0.15", got)
	}
	// Counts without exposure (a source's rounding, say) must not divide by zero.
	for _, o := range []verify.Observation{{}, {Errors: 3, Business: 4}, {Requests: -1, Errors: 1, Business: 1}} {
		if got := o.ErrorRate(); got != 0 {
			t.Errorf("%+v.ErrorRate() = %v, want 0", o, got)
		}
		if got := o.BusinessRate(); got != 0 {
			t.Errorf("%+v.BusinessRate() = %v, want 0", o, got)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[verify.Outcome]string{
		verify.Continue: "continue", verify.Pass: "pass", verify.Fail: "fail",
		verify.Inconclusive: "inconclusive", verify.Outcome(7): "Outcome(7)", verify.Outcome(-1): "Outcome(-1)",
	} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(o), got, want)
		}
		text, err := o.MarshalText()
		if err != nil || string(text) != want {
			t.Errorf("Outcome(%d).MarshalText() = %q, %v; want %q, nil", int(o), text, err, want)
		}
	}
}

// approx compares floats to within rounding.
var approx = cmpopts.EquateApprox(1e-9, 1e-12)

// TestHistogramSnap: a quantile snaps to the bound whose share of slower
// requests is closest to the quantile's tail, not to the bound nearest an
// interpolated value.
func TestHistogramSnap(t *testing.T) {
	// 8.3% of requests are slower than 100ms, 0.06% slower than 250ms: the
	// interpolated P95 (~160ms) is nearer 250ms, but P95 means "5% slower".
	h := verify.Histogram{{UpperBound: 0.05, Count: 5000}, {UpperBound: 0.1, Count: 9170}, {UpperBound: 0.25, Count: 9994}, {UpperBound: math.Inf(1), Count: 10000}}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 0.05}, {0.95, 0.1}, {0.999, 0.25}} {
		if got, ok := h.Snap(c.q); !ok || got != c.want {
			t.Errorf("Snap(%g) = %g, %v; want %g", c.q, got, ok, c.want)
		}
	}
	if _, ok := (verify.Histogram{{UpperBound: math.Inf(1), Count: 10}}).Snap(0.95); ok {
		t.Error("Snap found a bound in a histogram with none finite")
	}
}

// Query.String quotes the version, so that an empty or odd one shows in
// an error message, and gives the window in RFC 3339.
func TestQueryString(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		q    verify.Query
		want string
	}{
		{verify.Query{Version: "v2", Start: start, End: start.Add(90 * time.Second)}, `"v2" over [2025-03-01T12:00:00Z, 2025-03-01T12:01:30Z)`},
		{verify.Query{Start: start, End: start.Add(time.Millisecond)}, `"" over [2025-03-01T12:00:00Z, 2025-03-01T12:00:00.001Z)`},
		{verify.Query{Version: "v 2\n"}, `"v 2\n" over [0001-01-01T00:00:00Z, 0001-01-01T00:00:00Z)`},
	} {
		if got := c.q.String(); got != c.want {
			t.Errorf("String() = %s, want %s", got, c.want)
		}
	}
}
