package promcount

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/safedeploy/safedeploy/verify"
)

// Buckets gathers the bucket counts of classic histograms, histogram by
// histogram, and sums them into one cumulative verify.Histogram. A group
// is one histogram: one series' labels but "le" (the Prometheus source),
// or one instance's page (the scrape source). Its zero value is empty and
// ready.
//
// Groups whose bounds differ cannot be summed bucket by bucket; Histogram
// keeps the bounds they all share, which is exact (a cumulative bucket
// counts the same requests whatever the other bounds are), and warns.
type Buckets struct {
	groups  map[string]map[float64]float64
	dropped []string
}

// Add adds count requests to group's bucket le (in seconds). A count that
// no counter can hold (NaN, infinite, negative) drops the latency, as
// Drop does.
func (b *Buckets) Add(group string, le, count float64) {
	if math.IsNaN(le) {
		b.Drop(fmt.Sprintf("%s: a bucket bound is NaN", group))
		return
	}
	if !(count >= 0) || math.IsInf(count, 1) {
		b.Drop(fmt.Sprintf("%s: bucket le=%g counts %g, which is not a count", group, le, count))
		return
	}
	if b.groups == nil {
		b.groups = map[string]map[float64]float64{}
	}
	g := b.groups[group]
	if g == nil {
		g = map[float64]float64{}
		b.groups[group] = g
	}
	g[le] += count
}

// Drop makes Histogram return no histogram, and reason among its
// warnings: the buckets cannot be trusted (a series whose "le" is not a
// number, say).
func (b *Buckets) Drop(reason string) { b.dropped = append(b.dropped, reason) }

// Histogram returns the groups' buckets summed bound by bound, and
// warnings saying what it left out and why. It returns nil
//
//   - without a warning when nothing was added;
//   - with one when Drop was called, or the bounds all groups share do not
//     end with +Inf, without which the buckets cannot be read as shares of
//     the requests.
//
// Counts are made non-decreasing, as Prometheus's histogram_quantile
// does: the sources find restarts series by series, so a bucket may come
// out a request or two below the one under it.
func (b *Buckets) Histogram() (verify.Histogram, []string) {
	if len(b.dropped) > 0 {
		return nil, []string{"latency dropped: " + strings.Join(b.dropped, "; ")}
	}
	if len(b.groups) == 0 {
		return nil, nil
	}
	names := slices.Sorted(maps.Keys(b.groups))
	shared := slices.Sorted(maps.Keys(b.groups[names[0]]))
	for _, name := range names[1:] {
		g := b.groups[name]
		shared = slices.DeleteFunc(shared, func(le float64) bool { _, ok := g[le]; return !ok })
	}
	var warnings []string
	for _, name := range names[1:] {
		if !sameBounds(b.groups[names[0]], b.groups[name]) {
			warnings = append(warnings, fmt.Sprintf("latency buckets differ between histograms (%s has %s, %s has %s): kept the %d bounds all share",
				names[0], Bounds(slices.Collect(maps.Keys(b.groups[names[0]]))), name, Bounds(slices.Collect(maps.Keys(b.groups[name]))), len(shared)))
			break
		}
	}
	if len(shared) == 0 || !math.IsInf(shared[len(shared)-1], 1) {
		return nil, append(warnings, `latency dropped: the buckets all histograms share do not end with le="+Inf"`)
	}
	h := make(verify.Histogram, len(shared))
	for i, le := range shared {
		h[i].UpperBound = le
		for _, name := range names {
			h[i].Count += b.groups[name][le]
		}
		if i > 0 && h[i].Count < h[i-1].Count {
			h[i].Count = h[i-1].Count
		}
	}
	return h, warnings
}

// sameBounds reports whether g and h have the same bounds.
func sameBounds(g, h map[float64]float64) bool {
	if len(g) != len(h) {
		return false
	}
	for le := range g {
		if _, ok := h[le]; !ok {
			return false
		}
	}
	return true
}

// ParseBound parses the value of an "le" label: a number, "+Inf"
// included, and not NaN.
func ParseBound(le string) (float64, error) {
	v, err := strconv.ParseFloat(le, 64)
	if err != nil || math.IsNaN(v) {
		return 0, fmt.Errorf("le=%q is not a number", le)
	}
	return v, nil
}

// Bounds formats bucket bounds for messages, in order: "le=0.1,0.5,+Inf".
func Bounds(les []float64) string {
	les = slices.Sorted(slices.Values(les))
	s := make([]string, len(les))
	for i, le := range les {
		s[i] = strconv.FormatFloat(le, 'g', -1, 64)
	}
	return "le=" + strings.Join(s, ",")
}
