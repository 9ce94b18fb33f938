package verifytest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/internal/kit"
	"github.com/safedeploy/safedeploy/verify"
)

// A Harness describes a MetricSource under test and the traffic its backend
// is known to have served.
type Harness struct {
	// Source is the implementation under test.
	Source verify.MetricSource
	// Start and End bound a past window [Start, End) over which the
	// backend served known traffic.
	Start, End time.Time
	// Served is what each version really served over the window. Latency
	// is optional: when it is nil the source's histogram is only checked
	// for being well formed. At least one version is required.
	Served map[string]verify.Observation
	// Missing is a version the backend has no data for.
	Missing string
	// Tolerance is the relative error allowed in every count, for sources
	// that estimate (Prometheus's increase() extrapolates to the window's
	// edges). Zero means exact, up to floating-point rounding.
	Tolerance float64
}

// rounding is the relative error allowed even with a zero Tolerance.
const rounding = 1e-9

// Run tests h.Source against the MetricSource contract as subtests of t,
// reporting in each failure what the source returned and what it should
// have. It fails t at once if h itself is invalid.
//
// The subtests check, for each version in h.Served, that observing the
// window returns what was served, within h.Tolerance; that every
// observation is well formed (finite, non-negative counts, no more errors
// than requests, a histogram with increasing bounds, non-decreasing counts
// and a last +Inf bucket counting every request); and that the two halves
// of the window add up to the whole. They also check that h.Missing fails
// with an error wrapping verify.ErrNoData rather than a zero Observation,
// that an inverted window fails with an error that does not wrap it (a bad
// query is not missing data), and that a cancelled context fails with an
// error wrapping context.Canceled.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if err := h.validate(); err != nil {
		t.Fatalf("verifytest: invalid Harness: %v", err)
	}
	suite(h).Run(t, func(*testing.T) Harness { return h })
}

// Check runs the checks of [Run] outside a test, with ctx, and returns nil
// or one error listing every failure, each prefixed with the name of its
// check (the name of its subtest under Run): "Served/v1: …". It returns an
// error at once if h itself is invalid. If ctx is done before a check
// starts, Check stops and returns the failures so far together with an
// error that wraps the context's cause.
func Check(ctx context.Context, h Harness) error {
	if err := h.validate(); err != nil {
		return fmt.Errorf("verifytest: invalid Harness: %w", err)
	}
	return suite(h).Check(ctx, func() (Harness, error) { return h, nil })
}

func (h Harness) validate() error {
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", field, value, problem))
	}
	if h.Source == nil {
		bad("Source", nil, "must be the MetricSource under test")
	}
	if !h.End.After(h.Start) {
		bad("End", h.End.Format(time.RFC3339Nano), "must be after Start ("+h.Start.Format(time.RFC3339Nano)+")")
	}
	if len(h.Served) == 0 {
		bad("Served", h.Served, "must hold at least one version")
	}
	if h.Missing == "" {
		bad("Missing", `""`, "must name a version without data")
	} else if _, ok := h.Served[h.Missing]; ok {
		bad("Missing", h.Missing, "must not be in Served")
	}
	if !(h.Tolerance >= 0 && h.Tolerance < 1) {
		bad("Tolerance", h.Tolerance, "must be a fraction in [0, 1)")
	}
	return errlist.Join(errs...)
}

// suite returns the checks, in the order they run: those of one version
// for each version in h.Served, then the others. Each is given h and
// reports what it finds wrong to r.
func suite(h Harness) kit.Suite[Harness] {
	versions := slices.Sorted(maps.Keys(h.Served))
	return kit.Suite[Harness]{Kit: "verifytest", Checks: slices.Concat(
		kit.Each("Served", versions, checkServed),
		kit.Each("Additive", versions, checkAdditive),
		[]kit.Check[Harness]{
			{Name: "Missing", Run: checkMissing},
			{Name: "InvertedWindow", Run: checkInverted},
			{Name: "CancelledContext", Run: checkCancelled},
		},
	)}
}

func checkServed(ctx context.Context, h Harness, version string, r *kit.Report) {
	call := describe(version, h.Start, h.End)
	got, err := h.Source.Observe(ctx, verify.Query{Version: version, Start: h.Start, End: h.End})
	if err != nil {
		r.Errorf("%s failed for a version that served traffic: %w", call, err)
		return
	}
	want := h.Served[version]
	wellFormed(r, call, got, h.Tolerance)
	counts(r, call, got, want, h.Tolerance)
	if len(want.Latency) > 0 {
		histograms(r, call, got.Latency, want.Latency, h.Tolerance)
	}
}

// checkAdditive observes both halves of the window and the whole, and
// checks that the halves sum to the whole. A half with no data counts as
// zero: the version may have started serving mid-window.
func checkAdditive(ctx context.Context, h Harness, version string, r *kit.Report) {
	mid := h.Start.Add(h.End.Sub(h.Start) / 2)
	var parts [3]verify.Observation
	for i, w := range [3][2]time.Time{{h.Start, mid}, {mid, h.End}, {h.Start, h.End}} {
		call := describe(version, w[0], w[1])
		o, err := h.Source.Observe(ctx, verify.Query{Version: version, Start: w[0], End: w[1]})
		switch {
		case i < 2 && errors.Is(err, verify.ErrNoData):
		case err != nil:
			r.Errorf("%s failed for a version that served traffic: %w", call, err)
			return
		default:
			wellFormed(r, call, o, h.Tolerance)
		}
		parts[i] = o
	}
	first, second, whole := parts[0], parts[1], parts[2]
	call := fmt.Sprintf("%s + %s, against %s", describe(version, h.Start, mid), describe(version, mid, h.End), describe(version, h.Start, h.End))
	sum := verify.Observation{
		Requests: first.Requests + second.Requests,
		Errors:   first.Errors + second.Errors,
		Business: first.Business + second.Business,
	}
	counts(r, call, sum, whole, h.Tolerance)
	if len(whole.Latency) == 0 {
		return
	}
	sum.Latency = make(verify.Histogram, len(whole.Latency))
	for i, b := range whole.Latency {
		sum.Latency[i].UpperBound = b.UpperBound
	}
	for _, half := range []verify.Observation{first, second} {
		if half.Requests == 0 && len(half.Latency) == 0 {
			continue // nothing served in this half
		}
		if len(half.Latency) == 0 {
			r.Errorf("%s: a half has Requests = %g but no Latency histogram, while the whole window has one", call, half.Requests)
			return
		}
		if !sameBounds(half.Latency, whole.Latency) {
			r.Errorf("%s: the halves' histogram bounds %v differ from the whole window's %v", call, bounds(half.Latency), bounds(whole.Latency))
			return
		}
		for i, b := range half.Latency {
			sum.Latency[i].Count += b.Count
		}
	}
	histograms(r, call, sum.Latency, whole.Latency, h.Tolerance)
}

func checkMissing(ctx context.Context, h Harness, r *kit.Report) {
	call := describe(h.Missing, h.Start, h.End)
	got, err := h.Source.Observe(ctx, verify.Query{Version: h.Missing, Start: h.Start, End: h.End})
	switch {
	case err == nil:
		r.Errorf("%s = %+v, nil error for a version without data; want an error wrapping verify.ErrNoData (an observation must never stand for missing data: a judge would take it as traffic)", call, got)
	case !errors.Is(err, verify.ErrNoData):
		r.Errorf("%s for a version without data: error %q does not wrap verify.ErrNoData, so callers cannot tell missing data from a failing source", call, err)
	}
}

func checkInverted(ctx context.Context, h Harness, r *kit.Report) {
	version := slices.Min(slices.Collect(maps.Keys(h.Served)))
	call := describe(version, h.End, h.Start)
	got, err := h.Source.Observe(ctx, verify.Query{Version: version, Start: h.End, End: h.Start})
	switch {
	case err == nil:
		r.Errorf("%s = %+v, nil error for an inverted window; want an error", call, got)
	case errors.Is(err, verify.ErrNoData):
		r.Errorf("%s for an inverted window: error %q wraps verify.ErrNoData; an inverted window is the caller's mistake, not missing data", call, err)
	}
}

func checkCancelled(ctx context.Context, h Harness, r *kit.Report) {
	version := slices.Min(slices.Collect(maps.Keys(h.Served)))
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	call := describe(version, h.Start, h.End)
	got, err := h.Source.Observe(ctx, verify.Query{Version: version, Start: h.Start, End: h.End})
	switch {
	case err == nil:
		r.Errorf("%s = %+v, nil error with a cancelled context; want an error wrapping context.Canceled", call, got)
	case !errors.Is(err, context.Canceled):
		r.Errorf("%s with a cancelled context: error %q does not wrap context.Canceled", call, err)
	}
}

// wellFormed reports what makes o impossible as an observation.
func wellFormed(r *kit.Report, call string, o verify.Observation, tol float64) {
	bad := func(format string, args ...any) {
		r.Errorf("%s: %s", call, fmt.Sprintf(format, args...))
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"Requests", o.Requests}, {"Errors", o.Errors}, {"Business", o.Business}} {
		if !(c.v >= 0) || math.IsInf(c.v, 1) {
			bad("%s = %g, want a finite count, at least 0", c.name, c.v)
		}
	}
	if o.Errors > o.Requests*(1+math.Max(tol, rounding)) {
		bad("Errors = %g exceeds Requests = %g", o.Errors, o.Requests)
	}
	h := o.Latency
	if len(h) == 0 {
		return
	}
	for i, b := range h {
		switch {
		case math.IsNaN(b.UpperBound) || i > 0 && !(b.UpperBound > h[i-1].UpperBound):
			bad("Latency bounds %v do not increase at bucket %d", bounds(h), i)
		case !(b.Count >= 0) || math.IsInf(b.Count, 1):
			bad("Latency[%d].Count = %g, want a finite count, at least 0", i, b.Count)
		case i > 0 && b.Count < h[i-1].Count*(1-math.Max(tol, rounding)):
			bad("Latency[%d].Count = %g is less than Latency[%d].Count = %g: a cumulative histogram's counts must not decrease", i, b.Count, i-1, h[i-1].Count)
		default:
			continue
		}
		return
	}
	if last := h[len(h)-1]; !math.IsInf(last.UpperBound, 1) {
		bad("the last Latency bound is %g, want +Inf", last.UpperBound)
	} else if !near(last.Count, o.Requests, tol) {
		bad("the +Inf Latency bucket counts %g requests, but Requests = %g; they must be equal%s", last.Count, o.Requests, within(tol))
	}
}

// counts compares got's counts with want's.
func counts(r *kit.Report, call string, got, want verify.Observation, tol float64) {
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"Requests", got.Requests, want.Requests}, {"Errors", got.Errors, want.Errors}, {"Business", got.Business, want.Business}} {
		if !near(c.got, c.want, tol) {
			r.Errorf("%s: %s = %g, want %g%s", call, c.name, c.got, c.want, within(tol))
		}
	}
}

// histograms compares got's buckets with want's.
func histograms(r *kit.Report, call string, got, want verify.Histogram, tol float64) {
	if len(got) == 0 {
		r.Errorf("%s: no Latency histogram, want %v", call, want)
		return
	}
	if !sameBounds(got, want) {
		r.Errorf("%s: Latency bounds = %v, want %v", call, bounds(got), bounds(want))
		return
	}
	for i := range want {
		if !near(got[i].Count, want[i].Count, tol) {
			r.Errorf("%s: Latency bucket le=%g counts %g, want %g%s", call, want[i].UpperBound, got[i].Count, want[i].Count, within(tol))
		}
	}
}

// near reports whether got is within the relative tolerance of want.
func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= math.Max(tol, rounding)*math.Max(math.Abs(got), math.Abs(want))
}

func within(tol float64) string {
	if tol == 0 {
		return ""
	}
	return fmt.Sprintf(" ± %g%%", 100*tol)
}

func bounds(h verify.Histogram) []float64 {
	out := make([]float64, len(h))
	for i, b := range h {
		out[i] = b.UpperBound
	}
	return out
}

// describe names an Observe call in failure messages.
func describe(version string, start, end time.Time) string {
	return fmt.Sprintf("Observe(%s)", verify.Query{Version: version, Start: start, End: end})
}
