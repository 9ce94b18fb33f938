package verify

import (
	"errors"
	"strconv"
	"strings"
)

// ErrMetricNotFound is matched, with errors.Is, by every
// *MetricNotFoundError.
var ErrMetricNotFound = errors.New("verify: metric not found")

// What a source reads a metric for, in MetricNotFoundError.Use.
const (
	UseRequests = "requests" // the exposure and the errors: nothing can be judged without it
	UseLatency  = "latency"  // the latency rules
	UseBusiness = "business" // the business rule
)

// A MetricNotFoundError says that a metric a MetricSource was configured to
// read has no series at all where the source looked — for no version, not
// only for the one asked about — which most often means its name is
// misspelt. A version that simply served nothing is not this error.
//
// A source returns it from Observe, wrapped, when the missing metric is the
// one that counts requests: then there is no data (it matches ErrNoData as
// well as ErrMetricNotFound). When the metric feeds only some rules —
// latency, business events — the source answers without it and puts the
// error's text in Observation.Warnings, where MetricsNotFound finds it, so
// that a judge can say that those rules cannot be judged rather than let a
// zero stand for the metric.
type MetricNotFoundError struct {
	// Use is what the source reads the metric for: UseRequests,
	// UseLatency or UseBusiness.
	Use string
	// Metric is the metric's name as configured.
	Metric string
	// Where says where the source looked, such as "on the 3 pages
	// scraped in the window"; it may be empty.
	Where string
}

// Error returns `verify: <use> metric "<name>" not found`, followed by
// ": <where>" when Where is set. MetricsNotFound reads this form back.
func (e *MetricNotFoundError) Error() string {
	s := "verify: " + e.Use + " metric " + strconv.Quote(e.Metric) + " not found"
	if e.Where != "" {
		s += ": " + e.Where
	}
	return s
}

// Is reports whether target is ErrMetricNotFound or ErrNoData.
func (e *MetricNotFoundError) Is(target error) bool {
	return target == ErrMetricNotFound || target == ErrNoData
}

// MetricsNotFound returns the metrics that o's source reported missing in
// o.Warnings, in order, each once (Observation.Add repeats warnings). Only
// warnings that are the text of a *MetricNotFoundError count.
func MetricsNotFound(o Observation) []*MetricNotFoundError {
	var out []*MetricNotFoundError
	seen := map[[2]string]bool{}
	for _, w := range o.Warnings {
		e, ok := parseNotFound(w)
		if !ok || seen[[2]string{e.Use, e.Metric}] {
			continue
		}
		seen[[2]string{e.Use, e.Metric}] = true
		out = append(out, e)
	}
	return out
}

// parseNotFound reads back the text of a MetricNotFoundError.
func parseNotFound(w string) (*MetricNotFoundError, bool) {
	rest, ok := strings.CutPrefix(w, "verify: ")
	if !ok {
		return nil, false
	}
	use, rest, ok := strings.Cut(rest, " metric ")
	if !ok || use == "" || strings.Contains(use, " ") {
		return nil, false
	}
	quoted, err := strconv.QuotedPrefix(rest)
	if err != nil || !strings.HasPrefix(quoted, `"`) {
		return nil, false
	}
	name, _ := strconv.Unquote(quoted)
	rest, ok = strings.CutPrefix(rest[len(quoted):], " not found")
	if !ok {
		return nil, false
	}
	e := &MetricNotFoundError{Use: use, Metric: name}
	if rest != "" {
		if e.Where, ok = strings.CutPrefix(rest, ": "); !ok {
			return nil, false
		}
	}
	return e, true
}
