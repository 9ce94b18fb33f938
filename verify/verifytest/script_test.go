package verifytest_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

var (
	start   = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	errDown = errors.New("metrics backend: 503 Service Unavailable")
	inf     = math.Inf(1)
	approx  = cmpopts.EquateApprox(1e-9, 1e-9)
)

// at returns start plus m minutes.
func at(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }

// P50 50ms, P95 200ms.
var lat = verifytest.Latency(map[time.Duration]float64{50 * time.Millisecond: 0.5, 200 * time.Millisecond: 0.95})

// hist scales lat to n requests.
func hist(n float64) verify.Histogram {
	return verify.Histogram{{UpperBound: 0.05, Count: 0.5 * n}, {UpperBound: 0.2, Count: 0.95 * n}, {UpperBound: inf, Count: n}}
}

// script returns v1 serving steadily since the beginning of time, and v2
// from minute 0 with a change of rates at 5, a gap from 10 to 12, an outage
// of the metrics backend from 15 to 20, then idle.
func script() verifytest.Script {
	return verifytest.Script{
		"v1": {{RPS: 10, ErrorRate: 0.01, BusinessRate: 0.1, Latency: lat}},
		"v2": {
			{At: at(0), RPS: 2, ErrorRate: 0.05, BusinessRate: 0.1, Latency: lat},
			{At: at(5), RPS: 4, ErrorRate: 0.25, BusinessRate: 0.05, Latency: lat},
			{At: at(10), Gap: true},
			{At: at(12), RPS: 4, Latency: lat},
			{At: at(15), Err: errDown},
			{At: at(20)},
		},
	}
}

func TestScriptObserve(t *testing.T) {
	s := script()
	tests := []struct {
		name     string
		version  string
		from, to time.Time
		want     verify.Observation
	}{
		{"one segment", "v2", at(0), at(5), verify.Observation{Requests: 600, Errors: 30, Business: 60, Latency: hist(600)}},
		{"part of one segment", "v2", at(1), at(2), verify.Observation{Requests: 120, Errors: 6, Business: 12, Latency: hist(120)}},
		{"across segments", "v2", at(3), at(7), verify.Observation{Requests: 240 + 480, Errors: 12 + 120, Business: 24 + 24, Latency: hist(720)}},
		{"partly before the first segment", "v2", at(-5), at(5), verify.Observation{Requests: 600, Errors: 30, Business: 60, Latency: hist(600)}},
		{"partly in a gap", "v2", at(9), at(13), verify.Observation{Requests: 240 + 240, Errors: 60, Business: 12, Latency: hist(480)}},
		{"sub-second window", "v2", at(0), at(0).Add(250 * time.Millisecond), verify.Observation{Requests: 0.5, Errors: 0.025, Business: 0.05, Latency: hist(0.5)}},
		{"idle", "v2", at(20), at(30), verify.Observation{}},
		{"since the beginning of time", "v1", at(-60), at(0), verify.Observation{Requests: 36000, Errors: 360, Business: 3600, Latency: hist(36000)}},
		{"the last segment lasts for ever", "v1", at(100000), at(100001), verify.Observation{Requests: 600, Errors: 6, Business: 60, Latency: hist(600)}},
	}
	for _, tt := range tests {
		got, err := s.Observe(t.Context(), verify.Query{Version: tt.version, Start: tt.from, End: tt.to})
		if err != nil {
			t.Errorf("%s: Observe: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, approx); diff != "" {
			t.Errorf("%s: Observe mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestScriptObserveFails(t *testing.T) {
	s := script()
	s["v3"] = []verifytest.Segment(nil) // listed without segments: no data
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		version  string
		from, to time.Time
		want     error // errors.Is target, or nil for a plain error
		contains string
	}{
		{"before the first segment", nil, "v2", at(-10), at(-5), verify.ErrNoData, "only gaps"},
		{"wholly in a gap", nil, "v2", at(10), at(12), verify.ErrNoData, "only gaps"},
		{"unknown version", nil, "v9", at(0), at(5), verify.ErrNoData, `"v9" is not in the script`},
		{"version without segments", nil, "v3", at(0), at(5), verify.ErrNoData, "not in the script"},
		{"in an outage", nil, "v2", at(16), at(17), errDown, "503"},
		{"overlapping an outage", nil, "v2", at(14), at(21), errDown, "503"},
		{"inverted window", nil, "v2", at(5), at(0), nil, "inverted window"},
		{"empty window", nil, "v2", at(5), at(5), nil, "empty or inverted window"},
		{"cancelled context", cancelled, "v2", at(0), at(5), context.Canceled, "canceled"},
	}
	for _, tt := range tests {
		ctx := tt.ctx
		if ctx == nil {
			ctx = t.Context()
		}
		got, err := s.Observe(ctx, verify.Query{Version: tt.version, Start: tt.from, End: tt.to})
		if err == nil {
			t.Errorf("%s: Observe = %+v, nil error; want an error", tt.name, got)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Observe error %q does not wrap %q", tt.name, err, tt.want)
		}
		if tt.want != verify.ErrNoData && errors.Is(err, verify.ErrNoData) {
			t.Errorf("%s: Observe error %q wraps ErrNoData; only missing data may", tt.name, err)
		}
		if !strings.Contains(err.Error(), tt.contains) {
			t.Errorf("%s: Observe error %q does not say %q", tt.name, err, tt.contains)
		}
		if diff := cmp.Diff(verify.Observation{}, got); diff != "" {
			t.Errorf("%s: Observe returned data with its error (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestScriptValidate(t *testing.T) {
	if err := script().Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
	if err := (verifytest.Script{}).Validate(); err != nil {
		t.Errorf("empty Script: Validate() = %v, want nil", err)
	}
	other := verifytest.Latency(map[time.Duration]float64{time.Second: 0.99})
	bad := verifytest.Script{
		"a": {
			{At: at(5), RPS: 1, Latency: lat},
			{At: at(5), RPS: -1},
			{At: at(6), RPS: 1, ErrorRate: 1.5, BusinessRate: math.NaN()},
			{At: at(7), Err: errDown, Gap: true},
			{At: at(8), RPS: 1, Latency: other},
			{At: at(9), RPS: inf, Latency: verify.Histogram{}},
		},
		"b": {
			{RPS: 1, Latency: verify.Histogram{{UpperBound: 0.1, Count: 0.8}, {UpperBound: 0.2, Count: 0.5}, {UpperBound: inf, Count: 1}}},
			{At: at(0), RPS: 1, Latency: verify.Histogram{{UpperBound: 0.1, Count: 0.5}, {UpperBound: 0.2, Count: 0.9}}},
			{At: at(1), RPS: 1, Latency: verify.Histogram{{UpperBound: 0.2, Count: 0.5}, {UpperBound: 0.1, Count: 0.9}, {UpperBound: inf, Count: 1}}},
			{At: at(2), RPS: 1, Latency: verify.Histogram{{UpperBound: 0.2, Count: -0.5}, {UpperBound: inf, Count: 1}}},
		},
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want an error listing every problem")
	}
	// The library's one list format: a count, then a problem per line.
	if !strings.HasPrefix(err.Error(), "18 problem(s):\n\t* ") {
		t.Errorf("Validate() error is not in the library's list format:\n%v", err)
	}
	for _, want := range []string{
		`Script["a"][1].At = 2025-03-01T12:05:00Z: must be after segment 0's`,
		`Script["a"][1].RPS = -1`,
		`Script["a"][2].ErrorRate = 1.5`,
		`Script["a"][2].BusinessRate = NaN`,
		`Script["a"][3].Gap = true`,
		`Script["a"][4].Latency`, "same bounds as segment 0's",
		`Script["a"][5].RPS = +Inf`,
		`Script["a"][5].Latency = []: must hold at least the +Inf bucket`,
		`Script["b"][0].Latency`, "fractions must not decrease",
		`Script["b"][1].Latency`, "last bound must be +Inf",
		`Script["b"][2].Latency`, "bounds must increase",
		`Script["b"][3].Latency`, "fractions must be in [0, 1]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() error does not say %q:\n%v", want, err)
		}
	}

	// Observe reports the queried version's problems, and they are not missing data.
	_, err = bad.Observe(t.Context(), verify.Query{Version: "a", Start: at(0), End: at(10)})
	if err == nil || errors.Is(err, verify.ErrNoData) || !strings.Contains(err.Error(), `Script["a"][1].RPS = -1`) {
		t.Errorf("Observe on an invalid version: error = %v, want one naming the bad field and not wrapping ErrNoData", err)
	}
	if strings.Contains(err.Error(), `Script["b"]`) {
		t.Errorf("Observe(a) reports problems of version b: %v", err)
	}
}

func TestScriptLatencyConsistency(t *testing.T) {
	// A serving segment without latency next to one with it would give a
	// histogram that does not count every request.
	s := verifytest.Script{"v": {{RPS: 1, Latency: lat}, {At: at(0), RPS: 1}}}
	if _, err := s.Observe(t.Context(), verify.Query{Version: "v", Start: at(-1), End: at(1)}); err == nil || !strings.Contains(err.Error(), "every serving segment or in none") {
		t.Errorf("Observe with latency in one serving segment only: error = %v, want one saying so", err)
	}
	// Idle segments, gaps and failures need no latency.
	s = verifytest.Script{"v": {{RPS: 1, Latency: lat}, {At: at(0)}, {At: at(1), Gap: true}, {At: at(2), Err: errDown}, {At: at(3), RPS: 1, Latency: lat}}}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
	got, err := s.Observe(t.Context(), verify.Query{Version: "v", Start: at(-1), End: at(1)})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if diff := cmp.Diff(verify.Observation{Requests: 60, Latency: hist(60)}, got, approx); diff != "" {
		t.Errorf("Observe mismatch (-want +got):\n%s", diff)
	}
	// An idle segment's latency, whatever its bounds, shapes nothing.
	s = verifytest.Script{"v": {{Latency: verifytest.Latency(nil)}, {At: at(0), RPS: 1, Latency: lat}}}
	got, err = s.Observe(t.Context(), verify.Query{Version: "v", Start: at(-1), End: at(1)})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if diff := cmp.Diff(verify.Observation{Requests: 60, Latency: hist(60)}, got, approx); diff != "" {
		t.Errorf("Observe after an idle segment with other bounds: mismatch (-want +got):\n%s", diff)
	}
	// No latency anywhere: none reported.
	s = verifytest.Script{"v": {{RPS: 1}}}
	if got, err := s.Observe(t.Context(), verify.Query{Version: "v", Start: at(0), End: at(1)}); err != nil || got.Latency != nil {
		t.Errorf("Observe without latency = %+v, %v; want no histogram", got, err)
	}
}

func TestLatency(t *testing.T) {
	h := verifytest.Latency(map[time.Duration]float64{200 * time.Millisecond: 0.95, 50 * time.Millisecond: 0.5, time.Second: 0.99})
	want := verify.Histogram{{UpperBound: 0.05, Count: 0.5}, {UpperBound: 0.2, Count: 0.95}, {UpperBound: 1, Count: 0.99}, {UpperBound: inf, Count: 1}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("Latency mismatch (-want +got):\n%s", diff)
	}
	// Each fraction's quantile is its duration, once scaled by Observe.
	s := verifytest.Script{"v": {{RPS: 7, Latency: h}}}
	got, err := s.Observe(t.Context(), verify.Query{Version: "v", Start: at(0), End: at(3)})
	if err != nil {
		t.Fatal(err)
	}
	for q, d := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.95: 200 * time.Millisecond, 0.99: time.Second} {
		if v, ok := got.Latency.Quantile(q); !ok || math.Abs(v-d.Seconds()) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, %v; want %v", q, v, ok, d.Seconds())
		}
	}
	if got := verifytest.Latency(nil); len(got) != 1 || !math.IsInf(got[0].UpperBound, 1) || got[0].Count != 1 {
		t.Errorf("Latency(nil) = %v, want just the +Inf bucket", got)
	}
}

func TestScriptConcurrent(t *testing.T) {
	s := script()
	q := verify.Query{Version: "v2", Start: at(3), End: at(13)}
	want, err := s.Observe(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got, err := s.Observe(t.Context(), q)
				if err != nil {
					t.Error(err)
					return
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Observe not deterministic (-first +later):\n%s", diff)
					return
				}
				got.Latency[0].Count = -1 // results must not share memory
			}
		})
	}
	wg.Wait()
}
