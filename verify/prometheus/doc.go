// Package prometheus is a [verify.MetricSource] that reads per-version
// request, error, latency and business counts from a Prometheus server's
// HTTP API.
//
//	src := &prometheus.Source{
//		URL:     "http://prometheus.monitoring:9090",
//		Labels:  map[string]string{"job": "checkout"},
//		Metrics: promcount.Metrics{Business: "orders_total"},
//	}
//	obs, err := src.Observe(ctx, verify.Query{Version: "v2", Start: start, End: end})
//
// # Exact counts
//
// A judge compares versions by counts, often small ones — a canary at 1%
// may serve a few hundred requests per window — so the counts should be
// what the application counted, not estimates. PromQL's increase()
// extrapolates to the window's edges and can report 7.5 errors where 6
// happened. So, for each kind of count, Observe asks Prometheus for the
// raw samples of every series of the version, with a range-vector
// selector evaluated at the window's end:
//
//	http_requests_total{version="v2",job="checkout"}[20m]
//
// for a 15-minute window, reaching Lookback (5m) before its start, and
// computes each
// series' increase itself: from its last sample before Start to its last
// sample before End, a drop counted as a restart from zero and a series
// born in the window counted from zero. The counts of adjacent windows
// therefore add up exactly. Requests sum every series of Metrics.Requests;
// Errors those whose Metrics.CodeLabel matches Metrics.ErrorCodes
// ("5.."); Latency sums the bucket series of Metrics.Latency per "le"
// bound into a cumulative [verify.Histogram] ending at +Inf, with
// [promcount.Buckets]; Business sums Metrics.Business. [promcount.Metrics]
// is the scrape source's too, with the same defaults. At
// Prometheus's default scrape interval of 15s that is 80 samples per
// series for a 15-minute window, and about 5,800 for a day: for very long
// windows over very many series, custom queries cost the server less.
//
// The window's edges are exact to the scrape: a request counts in the
// window of the first scrape that sees it. The resolution of Prometheus's
// timestamps is the millisecond.
//
// # Custom queries
//
// [PromQL] replaces any kind's query with your own, as a template whose
// $version placeholder expands to the version as an escaped string literal
// and whose $window expands to the window's length as a PromQL duration.
// Its instant-query result, at the window's end, is summed (per "le" for
// latency); if it uses increase(), the extrapolation is yours.
//
// # Safety
//
// Versions and label values are always written into PromQL as escaped
// string literals (strconv.Quote, whose escapes are PromQL's), never
// spliced raw: a version such as `v1"} or up{x="` selects the series whose
// version label is exactly that string, and there are none. So are metric
// names that are not classic names ({"http.requests",version="v2"}, which
// only Prometheus 3 reads); label names must be classic names.
//
// # Failures
//
// Observe tells its outcomes apart:
//
//   - no series of the version with a sample in the window: an error
//     wrapping [verify.ErrNoData];
//   - no series of the requests metric at all, of any version, with
//     Labels: an error wrapping a [*verify.MetricNotFoundError] naming it
//     (it matches verify.ErrNoData too). For the latency and business
//     metrics, the Observation leaves them out and its Warnings hold that
//     error's text, which [verify.MetricsNotFound] reads back. Observe
//     asks count(last_over_time(...)) of a metric only when the version
//     has no series of it;
//   - a query Prometheus rejects (HTTP 400 or 422), an invalid Source or an
//     empty window: an error wrapping [ErrBadQuery], at once, never retried;
//   - connection refused or reset, a Timeout, HTTP 429 or 5xx: retried
//     with exponential backoff for up to RetryFor, within the caller's
//     context; then an error wrapping the last failure (an [*APIError] for
//     an HTTP status) and, if the context ended, its error;
//   - warnings in Prometheus's answer: passed up in Observation.Warnings.
//
// Authentication and TLS are the Transport's: any http.RoundTripper, such
// as one adding an Authorization header or an *http.Transport with a
// TLSClientConfig.
//
// # Why plain net/http and prometheus/common/model
//
// The official client, client_golang's api/prometheus/v1, was the
// alternative. This package uses one endpoint, /api/v1/query, so the
// client's value would be the JSON envelope and the result types — and the
// types are prometheus/common/model's, which this package uses directly.
// Against it: for an HTTP error without Prometheus's JSON body it keeps only
// an error type and a message ("client error: 429"), so telling a
// retryable 429 from a 400 would mean parsing messages, while here the
// status code decides (see [APIError]); before Go 1.27 its v1 package
// decodes with json-iterator, which would add three modules and unsafe
// code to every program that links this one; and its method signatures
// change between minor versions (v1.25's Query returns one more value
// than v1.23's). A form POSTed to one endpoint and a short decoder are
// less to depend on.
//
// # Limits
//
// Only classic histograms are read (native histogram samples are
// ignored by the built-in queries and rejected from custom ones).
// Histograms (series that differ but for "le") whose bounds differ keep
// the bounds they all share, with a warning; without a shared +Inf
// bucket, or with a bucket whose "le" is not a number, Latency is nil and
// a warning says why. Samples no counter holds (NaN, negative, infinite)
// are skipped.
package prometheus
