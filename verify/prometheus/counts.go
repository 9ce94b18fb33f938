package prometheus

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/internal/counter"
	"github.com/safedeploy/safedeploy/verify"
)

// increase returns the exact increase of one series over [start, end), and
// whether it has a sample inside the window. NaN samples are skipped.
func increase(ss *model.SampleStream, start, end time.Time) (inc float64, in bool) {
	samples := make([]counter.Sample, 0, len(ss.Values))
	for _, p := range ss.Values {
		if math.IsNaN(float64(p.Value)) {
			continue
		}
		t := p.Timestamp.Time()
		samples = append(samples, counter.Sample{T: t, V: float64(p.Value)})
		in = in || !t.Before(start) && t.Before(end)
	}
	inc, _ = counter.Increase(samples, start, end)
	return inc, in
}

// matrix returns v as the range vector a raw selector returns.
func matrix(promql string, v model.Value) (model.Matrix, error) {
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("query %s returned a %s, want a range vector", promql, v.Type())
	}
	return m, nil
}

// rawSum returns the sum of the increases of the series in v.
func rawSum(promql string, v model.Value, start, end time.Time) (float64, error) {
	m, err := matrix(promql, v)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, ss := range m {
		inc, _ := increase(ss, start, end)
		total += inc
	}
	return total, nil
}

// sum returns the sum of the values of a custom query's instant vector or
// scalar, NaN values ignored, and whether there was any other value.
func sum(promql string, v model.Value) (total float64, ok bool, err error) {
	add := func(x float64) error {
		switch {
		case math.IsNaN(x):
		case math.IsInf(x, 0) || x < 0:
			return fmt.Errorf("%w: query %s returned %g, which is not a count", ErrBadQuery, promql, x)
		default:
			total += x
			ok = true
		}
		return nil
	}
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			if s.Histogram != nil {
				return 0, false, fmt.Errorf("%w: query %s returned a native histogram, not a count", ErrBadQuery, promql)
			}
			if err := add(float64(s.Value)); err != nil {
				return 0, false, err
			}
		}
	case *model.Scalar:
		if err := add(float64(v.Value)); err != nil {
			return 0, false, err
		}
	default:
		return 0, false, fmt.Errorf("%w: query %s returned a %s; a custom query must return an instant vector or a scalar", ErrBadQuery, promql, v.Type())
	}
	return total, ok, nil
}

// rawBuckets returns the histogram of the exact increases of the bucket
// series in v, summed per bound, or nil when no bucket series has a sample
// inside the window. The warning, if any, says why a histogram was
// dropped.
func rawBuckets(promql string, v model.Value, start, end time.Time) (verify.Histogram, string, error) {
	m, err := matrix(promql, v)
	if err != nil {
		return nil, "", err
	}
	perBound := map[float64]float64{}
	data := false
	for _, ss := range m {
		bound, err := le(ss.Metric)
		if err != nil {
			return nil, fmt.Sprintf("query %s: %v; latency dropped", promql, err), nil
		}
		inc, in := increase(ss, start, end)
		perBound[bound] += inc
		data = data || in
	}
	if !data {
		return nil, "", nil
	}
	h, warn := histogram(perBound)
	if warn != "" {
		warn = fmt.Sprintf("query %s: %s; latency dropped", promql, warn)
	}
	return h, warn, nil
}

// bucketsByLE returns the histogram of a custom latency query's instant
// vector, summed per "le", or nil for an empty one.
func bucketsByLE(promql string, v model.Value) (verify.Histogram, string, error) {
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, "", fmt.Errorf("%w: query %s returned a %s; a custom latency query must return an instant vector with an \"le\" label", ErrBadQuery, promql, v.Type())
	}
	perBound := map[float64]float64{}
	for _, s := range vec {
		if s.Histogram != nil {
			return nil, "", fmt.Errorf("%w: query %s returned a native histogram; a custom latency query must return classic buckets", ErrBadQuery, promql)
		}
		x := float64(s.Value)
		switch {
		case math.IsNaN(x):
			continue
		case math.IsInf(x, 0) || x < 0:
			return nil, "", fmt.Errorf("%w: query %s returned %g, which is not a count", ErrBadQuery, promql, x)
		}
		bound, err := le(s.Metric)
		if err != nil {
			return nil, "", fmt.Errorf("%w: query %s: %w", ErrBadQuery, promql, err)
		}
		perBound[bound] += x
	}
	if len(perBound) == 0 {
		return nil, "", nil
	}
	h, warn := histogram(perBound)
	if warn != "" {
		warn = fmt.Sprintf("query %s: %s; latency dropped", promql, warn)
	}
	return h, warn, nil
}

// le returns the bucket bound in m's "le" label.
func le(m model.Metric) (float64, error) {
	s, ok := m[model.BucketLabel]
	if !ok {
		return 0, fmt.Errorf("series %s has no %q label", m, model.BucketLabel)
	}
	bound, err := strconv.ParseFloat(string(s), 64)
	if err != nil || math.IsNaN(bound) {
		return 0, fmt.Errorf("series %s has a %q label that is not a number", m, model.BucketLabel)
	}
	return bound, nil
}

// histogram returns the counts per bound as a cumulative histogram, or nil
// and the reason when they do not make one: no +Inf bucket, or counts that
// decrease (series with different bucket layouts).
func histogram(perBound map[float64]float64) (verify.Histogram, string) {
	h := make(verify.Histogram, 0, len(perBound))
	for b, n := range perBound {
		h = append(h, verify.Bucket{UpperBound: b, Count: n})
	}
	slices.SortFunc(h, func(a, b verify.Bucket) int { return cmp.Compare(a.UpperBound, b.UpperBound) })
	if !math.IsInf(h[len(h)-1].UpperBound, 1) {
		return nil, "no +Inf bucket"
	}
	for i := 1; i < len(h); i++ {
		if h[i].Count < h[i-1].Count {
			return nil, fmt.Sprintf("bucket le=%g counts %g, fewer than le=%g's %g (do the series share their bucket bounds?)", h[i].UpperBound, h[i].Count, h[i-1].UpperBound, h[i-1].Count)
		}
	}
	return h, ""
}

// ceilMilli rounds t up to Prometheus's millisecond.
func ceilMilli(t time.Time) time.Time {
	if r := t.Truncate(time.Millisecond); r.Before(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

// promDuration formats d, rounded up to the millisecond, as a PromQL
// duration such as 5m or 1m30s500ms.
func promDuration(d time.Duration) string {
	if r := d.Truncate(time.Millisecond); r < d {
		d = r + time.Millisecond
	}
	return model.Duration(d).String()
}

// window formats [start, end) for error messages.
func window(start, end time.Time) string {
	return "[" + start.Format(time.RFC3339Nano) + ", " + end.Format(time.RFC3339Nano) + ")"
}
