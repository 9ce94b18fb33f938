package prometheus

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/internal/counter"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
)

// increase returns the exact increase of one series over [start, end), and
// whether it has a sample inside the window. Samples no counter can hold
// (NaN, negative, infinite) are skipped.
func increase(ss *model.SampleStream, start, end time.Time) (inc float64, in bool) {
	samples := make([]counter.Sample, 0, len(ss.Values))
	for _, p := range ss.Values {
		t := p.Timestamp.Time()
		samples = append(samples, counter.Sample{T: t, V: float64(p.Value)})
		in = in || counter.Valid(float64(p.Value)) && !t.Before(start) && t.Before(end)
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

// rawSum returns the sum of the increases of the series in v, and whether
// there were none.
func rawSum(promql string, v model.Value, start, end time.Time) (total float64, empty bool, err error) {
	m, err := matrix(promql, v)
	if err != nil {
		return 0, false, err
	}
	for _, ss := range m {
		inc, _ := increase(ss, start, end)
		total += inc
	}
	return total, len(m) == 0, nil
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
// series in v, summed per bound by promcount.Buckets (each series' labels
// but "le" are one histogram), or nil when no bucket series has a sample
// inside the window; the warnings say what it changed or dropped, and
// empty whether v had no series.
func rawBuckets(promql string, v model.Value, start, end time.Time) (h verify.Histogram, warnings []string, empty bool, err error) {
	m, err := matrix(promql, v)
	if err != nil {
		return nil, nil, false, err
	}
	var b promcount.Buckets
	data := false
	for _, ss := range m {
		inc, in := increase(ss, start, end)
		data = data || in
		bound, err := le(ss.Metric)
		if err != nil {
			b.Drop(err.Error())
			continue
		}
		b.Add(histogramOf(ss.Metric), bound, inc)
	}
	if !data {
		return nil, nil, len(m) == 0, nil
	}
	h, warnings = b.Histogram()
	return h, prefix("query "+promql+": ", warnings), false, nil
}

// bucketsByLE returns the histogram of a custom latency query's instant
// vector, summed per "le" by promcount.Buckets, or nil for an empty one.
func bucketsByLE(promql string, v model.Value) (verify.Histogram, []string, error) {
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, nil, fmt.Errorf("%w: query %s returned a %s; a custom latency query must return an instant vector with an \"le\" label", ErrBadQuery, promql, v.Type())
	}
	var b promcount.Buckets
	for _, s := range vec {
		if s.Histogram != nil {
			return nil, nil, fmt.Errorf("%w: query %s returned a native histogram; a custom latency query must return classic buckets", ErrBadQuery, promql)
		}
		x := float64(s.Value)
		switch {
		case math.IsNaN(x):
			continue
		case !counter.Valid(x):
			return nil, nil, fmt.Errorf("%w: query %s returned %g, which is not a count", ErrBadQuery, promql, x)
		}
		bound, err := le(s.Metric)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: query %s: %w", ErrBadQuery, promql, err)
		}
		b.Add(histogramOf(s.Metric), bound, x)
	}
	h, warnings := b.Histogram()
	return h, prefix("query "+promql+": ", warnings), nil
}

// histogramOf names the histogram a bucket series belongs to: its labels
// but "le".
func histogramOf(m model.Metric) string {
	g := m.Clone()
	delete(g, model.BucketLabel)
	return g.String()
}

// le returns the bucket bound in m's "le" label.
func le(m model.Metric) (float64, error) {
	s, ok := m[model.BucketLabel]
	if !ok {
		return 0, fmt.Errorf("series %s has no %q label", m, model.BucketLabel)
	}
	bound, err := promcount.ParseBound(string(s))
	if err != nil {
		return 0, fmt.Errorf("series %s: %w", m, err)
	}
	return bound, nil
}

// prefix returns ss, each prefixed with p.
func prefix(p string, ss []string) []string {
	for i := range ss {
		ss[i] = p + ss[i]
	}
	return ss
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
