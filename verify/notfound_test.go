package verify_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/verify"
)

func TestMetricNotFoundError(t *testing.T) {
	e := &verify.MetricNotFoundError{Use: verify.UseRequests, Metric: "http_requests_totl", Where: "on the 2 pages scraped in the window"}
	err := fmt.Errorf("scrape: observe %q: %w", "v2", e)
	if !errors.Is(err, verify.ErrMetricNotFound) || !errors.Is(err, verify.ErrNoData) {
		t.Errorf("errors.Is(%v, ErrMetricNotFound / ErrNoData) = false, want true", err)
	}
	var got *verify.MetricNotFoundError
	if !errors.As(err, &got) || got.Metric != "http_requests_totl" {
		t.Errorf("errors.As(%v) = %v, want the *MetricNotFoundError", err, got)
	}
	if want := `verify: requests metric "http_requests_totl" not found: on the 2 pages scraped in the window`; e.Error() != want {
		t.Errorf("Error() = %s, want %s", e.Error(), want)
	}
}

// The warnings a source writes are read back, once each, whatever else
// the Observation warns about.
func TestMetricsNotFound(t *testing.T) {
	business := &verify.MetricNotFoundError{Use: verify.UseBusiness, Metric: `orders "total"`, Where: "no series: with {job=\"shop\"}"}
	latency := &verify.MetricNotFoundError{Use: verify.UseLatency, Metric: "lat_bucket"}
	o := verify.Observation{Warnings: []string{"query may be slow", business.Error()}}
	o = o.Add(verify.Observation{Warnings: []string{latency.Error(), business.Error(), "verify: business metric orders not found", `verify: business metric "x" not foundling`}})
	got := verify.MetricsNotFound(o)
	if diff := cmp.Diff([]*verify.MetricNotFoundError{business, latency}, got); diff != "" {
		t.Errorf("MetricsNotFound (-want +got):\n%s", diff)
	}
	if got := verify.MetricsNotFound(verify.Observation{}); got != nil {
		t.Errorf("MetricsNotFound of no warnings = %v, want nil", got)
	}
}

func ExampleMetricsNotFound() {
	// A source that found no series of the business metric answers
	// without it, and says so.
	o := verify.Observation{Requests: 1200, Errors: 3, Warnings: []string{
		(&verify.MetricNotFoundError{Use: verify.UseBusiness, Metric: "oders_total", Where: "on the 4 pages scraped in the window"}).Error(),
	}}
	for _, m := range verify.MetricsNotFound(o) {
		fmt.Printf("the %s rule cannot be judged: metric %q not found (%s)\n", m.Use, m.Metric, m.Where)
	}
	// Output:
	// the business rule cannot be judged: metric "oders_total" not found (on the 4 pages scraped in the window)
}
