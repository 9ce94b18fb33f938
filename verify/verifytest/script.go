package verifytest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"

	"github.com/safedeploy/safedeploy/verify"
)

// A Segment is one stretch of a version's timeline. It starts At and lasts
// until the next segment of the same version starts; the last one lasts
// for ever. During a segment the version serves RPS requests per second at
// constant rates, unless Err or Gap says its metrics cannot be read.
type Segment struct {
	// At is when the segment starts. The zero time is the beginning of time.
	At time.Time
	// RPS is requests served per second. Zero is a version that is up but
	// idle: Observe reports zero requests, not verify.ErrNoData.
	RPS float64
	// ErrorRate is the fraction of requests that fail, in [0, 1].
	ErrorRate float64
	// BusinessRate is business events (orders, sign-ups…) per request.
	BusinessRate float64
	// Latency gives, for each upper bound in seconds, the fraction of
	// requests that took at most that long: cumulative fractions, the last
	// bound +Inf with fraction 1. [Latency] builds one. Observe scales it by
	// the requests served. Nil means the source reports no latency; segments
	// of a version that serve traffic must either all have it, with the
	// same bounds, or all lack it.
	Latency verify.Histogram
	// Err, if set, makes Observe fail with an error wrapping Err for any
	// window that overlaps the segment: the metrics backend is down.
	Err error
	// Gap, if set, means nothing was collected during the segment: it
	// counts for nothing, and a window with nothing but gaps (or time
	// before the version's first segment) has no data.
	Gap bool
}

// A Script is a scripted verify.MetricSource: for each version, its
// segments in order of At. Observe integrates the segments' constant rates
// exactly over the window asked about.
//
// A Script's traffic is what its segments say, whatever a router does. To
// test a canary deployment, use a [Routed] instead (it takes the same
// segments): a Script would have to spell out each step's split to the
// second, and one that does not ends a window inconclusive on a
// sample-ratio mismatch, which rolls back a good version and lets a test
// that expects a rollback pass for the wrong reason.
//
// A Script is read-only once built, so it is safe for concurrent use and
// the same query always gets the same answer.
type Script map[string][]Segment

// Observe implements verify.MetricSource. It returns what q.Version served
// over [q.Start, q.End), counting only the parts of the window its segments
// cover with data. It fails
//
//   - with an error wrapping ctx.Err() if ctx is done;
//   - with a plain error if the window is empty or inverted, or the
//     version's segments are invalid (see [Script.Validate]);
//   - with an error wrapping a segment's Err if the window overlaps it;
//   - with an error wrapping verify.ErrNoData if the version is not in the
//     script, or the window lies wholly in gaps or before its first segment.
func (s Script) Observe(ctx context.Context, q verify.Query) (verify.Observation, error) {
	if err := ctx.Err(); err != nil {
		return verify.Observation{}, fmt.Errorf("verifytest: observe %q: %w", q.Version, err)
	}
	if !q.End.After(q.Start) {
		return verify.Observation{}, fmt.Errorf("verifytest: observe %s: empty or inverted window", q)
	}
	segs := s[q.Version]
	if len(segs) == 0 {
		return verify.Observation{}, fmt.Errorf("verifytest: version %q is not in the script: %w", q.Version, verify.ErrNoData)
	}
	if errs := validate(q.Version, segs); len(errs) > 0 {
		return verify.Observation{}, fmt.Errorf("verifytest: invalid script: %w", errlist.Join(errs...))
	}
	var obs verify.Observation
	covered := false
	for i, seg := range segs {
		from, to := later(seg.At, q.Start), q.End
		if i+1 < len(segs) && segs[i+1].At.Before(to) {
			to = segs[i+1].At
		}
		if !to.After(from) {
			continue
		}
		switch {
		case seg.Err != nil:
			return verify.Observation{}, fmt.Errorf("verifytest: observe %s: %w", q, seg.Err)
		case seg.Gap:
			continue
		}
		covered = true
		n := seg.RPS * to.Sub(from).Seconds()
		obs.Requests += n
		obs.Errors += n * seg.ErrorRate
		obs.Business += n * seg.BusinessRate
		if len(seg.Latency) == 0 || n == 0 {
			continue
		}
		if obs.Latency == nil {
			obs.Latency = make(verify.Histogram, len(seg.Latency))
			for j, b := range seg.Latency {
				obs.Latency[j].UpperBound = b.UpperBound
			}
		}
		for j, b := range seg.Latency {
			obs.Latency[j].Count += n * b.Count
		}
	}
	if !covered {
		return verify.Observation{}, fmt.Errorf("verifytest: version %s: only gaps: %w", q, verify.ErrNoData)
	}
	return obs, nil
}

// Validate returns one error listing every invalid segment field, with its
// value, of every version, or nil. Observe checks the version it is asked
// about in the same way, so calling Validate is optional: it finds mistakes
// in versions a test does not query yet.
func (s Script) Validate() error {
	var errs []error
	for _, v := range slices.Sorted(maps.Keys(s)) {
		errs = append(errs, validate(v, s[v])...)
	}
	return errlist.Join(errs...)
}

// validate lists what is wrong with one version's segments.
func validate(version string, segs []Segment) []error {
	var errs []error
	bad := func(i int, field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("Script[%q][%d].%s = %v: %s", version, i, field, value, problem))
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	latency := -1 // index of the first serving segment, whose latency the others must match
	for i, seg := range segs {
		if i > 0 && !seg.At.After(segs[i-1].At) {
			bad(i, "At", seg.At.Format(time.RFC3339Nano), fmt.Sprintf("must be after segment %d's (%s)", i-1, segs[i-1].At.Format(time.RFC3339Nano)))
		}
		if !(seg.RPS >= 0) || !finite(seg.RPS) {
			bad(i, "RPS", seg.RPS, "must be a finite rate, at least 0")
		}
		if !(seg.ErrorRate >= 0 && seg.ErrorRate <= 1) {
			bad(i, "ErrorRate", seg.ErrorRate, "must be a fraction in [0, 1]")
		}
		if !(seg.BusinessRate >= 0) || !finite(seg.BusinessRate) {
			bad(i, "BusinessRate", seg.BusinessRate, "must be a finite rate, at least 0")
		}
		if seg.Err != nil && seg.Gap {
			bad(i, "Gap", seg.Gap, "must be false when Err is set: a segment is a failure or a gap, not both")
		}
		if seg.Latency != nil {
			if problem := fractionsProblem(seg.Latency); problem != "" {
				bad(i, "Latency", seg.Latency, problem)
			}
		}
		if seg.RPS == 0 || seg.Gap || seg.Err != nil {
			continue
		}
		switch first := latency; {
		case first < 0:
			latency = i
		case (segs[first].Latency == nil) != (seg.Latency == nil):
			bad(i, "Latency", seg.Latency, fmt.Sprintf("must be set in every serving segment or in none (segment %d's is %v)", first, segs[first].Latency))
		case !sameBounds(segs[first].Latency, seg.Latency):
			bad(i, "Latency", seg.Latency, fmt.Sprintf("must have the same bounds as segment %d's %v", first, segs[first].Latency))
		}
	}
	return errs
}

// fractionsProblem says what is wrong with a histogram of cumulative
// fractions, or returns "".
func fractionsProblem(h verify.Histogram) string {
	if len(h) == 0 {
		return "must hold at least the +Inf bucket, or be nil"
	}
	for i, b := range h {
		switch {
		case math.IsNaN(b.UpperBound) || i > 0 && !(b.UpperBound > h[i-1].UpperBound):
			return "bounds must increase"
		case !(b.Count >= 0 && b.Count <= 1):
			return "fractions must be in [0, 1]"
		case i > 0 && b.Count < h[i-1].Count:
			return "fractions must not decrease"
		}
	}
	if last := h[len(h)-1]; !math.IsInf(last.UpperBound, 1) || last.Count != 1 {
		return "the last bound must be +Inf, with fraction 1"
	}
	return ""
}

func sameBounds(a, b verify.Histogram) bool {
	return slices.EqualFunc(a, b, func(x, y verify.Bucket) bool { return x.UpperBound == y.UpperBound })
}

// Latency returns the histogram a Segment takes from the fraction of
// requests that took at most each duration, adding the +Inf bucket with
// fraction 1. A fraction f at duration d makes d the f-quantile exactly:
//
//	Latency(map[time.Duration]float64{50 * time.Millisecond: 0.5, 200 * time.Millisecond: 0.95})
//
// is a latency whose P50 is 50ms and P95 is 200ms. Latency does not check
// the fractions; Observe and Validate report fractions that decrease or
// leave [0, 1].
func Latency(fractions map[time.Duration]float64) verify.Histogram {
	h := make(verify.Histogram, 0, len(fractions)+1)
	for d, f := range fractions {
		h = append(h, verify.Bucket{UpperBound: d.Seconds(), Count: f})
	}
	slices.SortFunc(h, func(a, b verify.Bucket) int { return cmp.Compare(a.UpperBound, b.UpperBound) })
	return append(h, verify.Bucket{UpperBound: math.Inf(1), Count: 1})
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
