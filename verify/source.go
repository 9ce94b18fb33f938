package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// ErrNoData is returned (wrapped) by a MetricSource that has nothing for the
// version and window it was asked about: no series, or a gap in collection.
// It is distinct from every other error, and a judge never reads it as a pass.
var ErrNoData = errors.New("verify: no data")

// A Query asks for one version's metrics over the half-open window [Start, End).
type Query struct {
	Version    string
	Start, End time.Time
}

// String formats q as `"VERSION" over [START, END)`, the version quoted
// (so that an empty one shows) and the times in RFC 3339, for error
// messages and events.
func (q Query) String() string {
	return strconv.Quote(q.Version) + " over [" + q.Start.Format(time.RFC3339Nano) + ", " + q.End.Format(time.RFC3339Nano) + ")"
}

// An Observation is what a MetricSource saw of one version over one window:
// counts with their exposure, so that a judge can weigh evidence by traffic.
type Observation struct {
	// Requests is the exposure: requests served in the window.
	Requests float64 `json:"requests"`
	// Errors counts the failed requests among them.
	Errors float64 `json:"errors"`
	// Business counts business events (orders, sign-ups…) in the window.
	Business float64 `json:"business,omitempty"`
	// Latency is the distribution of request durations, or nil when the
	// source has none.
	Latency Histogram `json:"latency,omitempty"`
	// Warnings are what the source's backend warned about while answering
	// (Prometheus's query warnings, say): the answer stands, but a person
	// may want to know.
	Warnings []string `json:"warnings,omitempty"`
}

// Validate returns nil when o's counts are possible, or one error naming
// every impossible field and its value: counts that are NaN, infinite or
// negative, more errors than requests, or a latency histogram that is not
// cumulative (bounds increasing, counts finite and non-decreasing). A judge
// fed such counts would compute NaN rates, and a rule on NaN never fails.
func (o Observation) Validate() error {
	var errs []error
	count := func(name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			errs = append(errs, fmt.Errorf("%s = %g: must be a finite count, not negative", name, v))
		}
	}
	count("Requests", o.Requests)
	count("Errors", o.Errors)
	count("Business", o.Business)
	if o.Errors > o.Requests {
		errs = append(errs, fmt.Errorf("Errors = %g: more than Requests = %g", o.Errors, o.Requests))
	}
	for i, b := range o.Latency {
		count(fmt.Sprintf("Latency[%d].Count", i), b.Count)
		if i > 0 && !(b.UpperBound > o.Latency[i-1].UpperBound) {
			errs = append(errs, fmt.Errorf("Latency[%d].UpperBound = %g: not above the bucket before it (%g)", i, b.UpperBound, o.Latency[i-1].UpperBound))
		}
		if i > 0 && b.Count < o.Latency[i-1].Count {
			errs = append(errs, fmt.Errorf("Latency[%d].Count = %g: below the bucket before it (%g); buckets are cumulative", i, b.Count, o.Latency[i-1].Count))
		}
	}
	return errlist.Join(errs...)
}

// ErrorRate returns Errors/Requests, or 0 when there were no requests.
func (o Observation) ErrorRate() float64 { return ratio(o.Errors, o.Requests) }

// BusinessRate returns business events per request, or 0 when there were no requests.
func (o Observation) BusinessRate() float64 { return ratio(o.Business, o.Requests) }

func ratio(n, d float64) float64 {
	if d <= 0 {
		return 0
	}
	return n / d
}

// Add returns the sum of o and p, as if both windows had been one.
// Histograms are summed bucket by bucket when their bounds match; when they
// do not, the result keeps o's and drops p's latency rather than invent counts.
func (o Observation) Add(p Observation) Observation {
	sum := Observation{
		Requests: o.Requests + p.Requests,
		Errors:   o.Errors + p.Errors,
		Business: o.Business + p.Business,
	}
	if len(o.Warnings)+len(p.Warnings) > 0 {
		sum.Warnings = append(append([]string(nil), o.Warnings...), p.Warnings...)
	}
	switch {
	case len(o.Latency) == 0:
		sum.Latency = p.Latency.clone()
	case len(p.Latency) == 0 || !o.Latency.sameBounds(p.Latency):
		sum.Latency = o.Latency.clone()
	default:
		sum.Latency = o.Latency.clone()
		for i := range sum.Latency {
			sum.Latency[i].Count += p.Latency[i].Count
		}
	}
	return sum
}

// A Bucket is one bucket of a cumulative histogram, as Prometheus stores them:
// Count requests took at most UpperBound seconds.
type Bucket struct {
	UpperBound float64 `json:"le"`
	Count      float64 `json:"count"`
}

// A Histogram is a cumulative latency histogram: buckets sorted by
// UpperBound, counts non-decreasing, the last bound +Inf.
type Histogram []Bucket

// Quantile estimates the q-quantile (0 < q < 1) in seconds by linear
// interpolation inside the bucket that holds it, as Prometheus's
// histogram_quantile does. It returns false when the histogram is empty or
// q is out of range. A quantile that falls in the +Inf bucket is reported as
// the largest finite bound.
func (h Histogram) Quantile(q float64) (float64, bool) {
	if len(h) == 0 || !(q > 0 && q < 1) {
		return 0, false
	}
	total := h[len(h)-1].Count
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range h {
		if b.Count >= rank {
			if math.IsInf(b.UpperBound, 1) {
				return lower, true
			}
			return lower + (b.UpperBound-lower)*(rank-below)/(b.Count-below), true
		}
		lower, below = b.UpperBound, b.Count
	}
	return lower, true
}

func (h Histogram) clone() Histogram {
	if h == nil {
		return nil
	}
	return append(Histogram(nil), h...)
}

func (h Histogram) sameBounds(g Histogram) bool {
	if len(h) != len(g) {
		return false
	}
	for i := range h {
		if h[i].UpperBound != g[i].UpperBound {
			return false
		}
	}
	return true
}

// A MetricSource reports what one version did over a window. It returns an
// error wrapping ErrNoData when it has nothing for that version and window,
// and any other error when it could not tell; it never returns a zero
// Observation to stand for either.
type MetricSource interface {
	Observe(ctx context.Context, q Query) (Observation, error)
}

// MetricSourceFunc turns a function into a MetricSource.
type MetricSourceFunc func(ctx context.Context, q Query) (Observation, error)

// Observe calls f(ctx, q).
func (f MetricSourceFunc) Observe(ctx context.Context, q Query) (Observation, error) {
	return f(ctx, q)
}

// Above returns how many requests took longer than bound seconds, and false
// when bound is not one of h's bucket bounds.
func (h Histogram) Above(bound float64) (float64, bool) {
	if len(h) == 0 {
		return 0, false
	}
	for _, b := range h {
		if b.UpperBound == bound {
			return h[len(h)-1].Count - b.Count, true
		}
	}
	return 0, false
}

// Snap returns the finite bucket bound that best stands for the
// q-quantile when the data come as buckets: the one above which the share
// of requests is closest, as a ratio, to 1−q (5% for P95). Choosing by share
// rather than by distance from an interpolated quantile keeps the bound
// stable, and its meaning: a P95 rule watches about 5% of requests, not the
// far tail the next bucket up may hold. It returns false when no finite
// bound has requests above it.
func (h Histogram) Snap(q float64) (float64, bool) { return h.snapAbove(q, math.Inf(-1)) }

// snapAbove is Snap among the bounds above floor.
func (h Histogram) snapAbove(q, floor float64) (float64, bool) {
	if len(h) == 0 || !(q > 0 && q < 1) {
		return 0, false
	}
	total := h[len(h)-1].Count
	best, bestDist := 0.0, math.Inf(1)
	for _, b := range h {
		above := total - b.Count
		if math.IsInf(b.UpperBound, 1) || b.UpperBound <= floor || above <= 0 || total <= 0 {
			continue
		}
		if d := math.Abs(math.Log(above / total / (1 - q))); d < bestDist {
			best, bestDist = b.UpperBound, d
		}
	}
	return best, !math.IsInf(bestDist, 1)
}
