// Package promcount is what the two Prometheus-format metric sources,
// [github.com/safedeploy/safedeploy/verify/scrape] and
// [github.com/safedeploy/safedeploy/verify/prometheus], share: which
// series they read ([Metrics]) and how the bucket counts of classic
// histograms become one [verify.Histogram] ([Buckets]). Both sources take
// the same Metrics, with the same defaults, and treat a histogram whose
// series disagree the same way.
package promcount

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// The defaults of Metrics' fields: what client_golang's promhttp
// instrumentation exposes.
const (
	DefaultRequests   = "http_requests_total"
	DefaultCodeLabel  = "code"
	DefaultErrorCodes = "5.."
	DefaultLatency    = "http_request_duration_seconds_bucket"
)

// Metrics names the series a source reads: a counter of requests labelled
// by status code, the buckets of a latency histogram, and optionally a
// counter of business events. Every series of a named metric counts,
// whatever its other labels (handler, method, instance…). The zero value
// reads what client_golang's instrumentation exposes, and no business
// events.
//
// Names may be any UTF-8, as Prometheus 3 allows; the Prometheus source
// quotes those that are not classic names, which Prometheus 2 rejects.
type Metrics struct {
	// Requests is the counter of requests served, with one series per
	// status code. Empty means DefaultRequests ("http_requests_total").
	Requests string
	// CodeLabel is Requests' status code label. Empty means
	// DefaultCodeLabel ("code").
	CodeLabel string
	// ErrorCodes is a regular expression (RE2), matched against the whole
	// of a CodeLabel value, for the statuses that count as errors. Empty
	// means DefaultErrorCodes ("5..").
	ErrorCodes string
	// Latency is the bucket series of a classic histogram of request
	// durations in seconds, with its bounds in the "le" label; its name
	// ends in "_bucket". Empty means DefaultLatency
	// ("http_request_duration_seconds_bucket").
	Latency string
	// Business is a counter of business events (orders, sign-ups…).
	// Empty means none: Observation.Business is 0 and no rule reads it.
	Business string
}

// Names is a valid Metrics with its defaults in place, as Compile returns
// it: what a source reads series by.
type Names struct {
	Requests, CodeLabel, Latency, Business string
	errorCodes                             *regexp.Regexp
}

// Failed reports whether a CodeLabel value counts as an error.
func (n *Names) Failed(code string) bool { return n.errorCodes.MatchString(code) }

// Validate returns nil, or one error listing every invalid field of m,
// each named as "Metrics.<Field>" with its value.
func (m Metrics) Validate() error {
	_, err := m.Compile()
	return err
}

// Compile returns m with its defaults in place and ErrorCodes compiled, or
// the error of Validate.
func (m Metrics) Compile() (*Names, error) {
	n := &Names{
		Requests:  cmp.Or(m.Requests, DefaultRequests),
		CodeLabel: cmp.Or(m.CodeLabel, DefaultCodeLabel),
		Latency:   cmp.Or(m.Latency, DefaultLatency),
		Business:  m.Business,
	}
	var errs []error
	bad := func(field, value, problem string) {
		errs = append(errs, fmt.Errorf("Metrics.%s = %q: %s", field, value, problem))
	}
	for _, f := range []struct{ field, value string }{{"Requests", n.Requests}, {"Latency", n.Latency}, {"Business", n.Business}} {
		if f.value != "" && !model.UTF8Validation.IsValidMetricName(f.value) {
			bad(f.field, f.value, "must be a metric name (UTF-8)")
		}
	}
	if !strings.HasSuffix(n.Latency, "_bucket") {
		bad("Latency", n.Latency, `must name the histogram's bucket series, which end in "_bucket"`)
	}
	switch {
	case !model.UTF8Validation.IsValidLabelName(n.CodeLabel):
		bad("CodeLabel", n.CodeLabel, "must be a label name (UTF-8)")
	case n.CodeLabel == model.BucketLabel || n.CodeLabel == model.MetricNameLabel:
		bad("CodeLabel", n.CodeLabel, "must not be a label Prometheus reserves")
	}
	re, err := regexp.Compile("^(?:" + cmp.Or(m.ErrorCodes, DefaultErrorCodes) + ")$")
	if err != nil {
		bad("ErrorCodes", m.ErrorCodes, err.Error())
	}
	n.errorCodes = re
	if err := errlist.Join(errs...); err != nil {
		return nil, err
	}
	return n, nil
}
