package prometheus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"

	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
)

// Defaults for the zero values of Source's fields; those of Metrics are
// promcount's.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultRetryFor     = 30 * time.Second
	DefaultLookback     = 5 * time.Minute
	DefaultVersionLabel = "version"
)

// ErrBadQuery is wrapped by every error that asking again cannot fix: the
// Source's configuration is invalid (see [Source.Validate]), the Query's
// window is empty or inverted or its version "", Prometheus rejected the
// PromQL (HTTP 400 or
// 422, as an [*APIError]), or a custom query returned something that is not
// a count. Observe never retries these.
var ErrBadQuery = errors.New("prometheus: bad query")

// A Source is a verify.MetricSource that reads a version's metrics from a
// Prometheus server's HTTP API. The zero value of every field but URL
// means the default documented with it; URL is required.
//
// For each of requests, errors and latency buckets (and business events if
// Metrics.Business is set), Observe fetches the raw samples of every series
// of the version, from Lookback before the window to its end, and computes
// each series' exact increase over [Start, End) itself — see the package
// documentation. PromQL replaces any of these with a query of your own.
//
// A Source is safe for concurrent use as long as its fields are not
// modified.
type Source struct {
	// URL is the Prometheus server's base URL, such as
	// "http://prometheus.monitoring:9090", or "https://example.com/prom"
	// behind a path prefix. Observe posts to URL + "/api/v1/query".
	URL string

	// Transport carries every request, so that it can add authentication,
	// present a TLS client certificate or trust a private CA. Nil means
	// http.DefaultTransport.
	Transport http.RoundTripper

	// Timeout bounds each HTTP request, and is sent to Prometheus as the
	// query's evaluation timeout. A request that times out is retried.
	// Zero means DefaultTimeout (10s).
	Timeout time.Duration

	// RetryFor is how long Observe keeps retrying a query that failed
	// transiently — connection refused or reset, a timeout, HTTP 429 or
	// 5xx — with exponential backoff from 100ms up to 5s between
	// attempts: it gives up rather than wait past RetryFor after the
	// first attempt, so one query takes at most about RetryFor + Timeout.
	// The context passed to Observe bounds it too. Zero means
	// DefaultRetryFor (30s); a negative value disables retries.
	RetryFor time.Duration

	// Lookback is how far before the window Observe looks for each
	// series' last sample: its value is where counting starts. It must
	// exceed the longest interval between two scrapes, or a series whose
	// scrape before Start is older than Lookback is counted from zero, as
	// if born in the window. Zero means DefaultLookback (5m, as
	// Prometheus's own staleness).
	Lookback time.Duration

	// VersionLabel is the label whose value is the version, matched
	// exactly against Query.Version. Empty means "version".
	VersionLabel string

	// Labels are extra equality matchers added to every selector, such
	// as {"job": "checkout"}, so that one Prometheus can serve many
	// services. Their values are escaped like the version's.
	Labels map[string]string

	// Metrics names the series to read, as the scrape source's do. The
	// zero value reads what client_golang's instrumentation exposes, and
	// no business events. Names that are not classic Prometheus names
	// (UTF-8 ones, such as "http.requests") are quoted in the queries, as
	// Prometheus 3 allows; Prometheus 2 rejects them (ErrBadQuery).
	Metrics promcount.Metrics

	// PromQL replaces the built-in queries with yours, kind by kind.
	PromQL PromQL
}

// PromQL holds custom queries, one per kind of count; an empty one leaves
// the Source's built-in query for that kind. Each is a template with two
// placeholders:
//
//   - $version expands to Query.Version as an escaped PromQL string
//     literal, quotes included: write {release=$version}, not
//     {release="$version"};
//   - $window expands to the window's length as a PromQL duration, such
//     as 5m or 1m30s500ms, rounded up to the millisecond.
//
// Each template must use $version. Observe evaluates it as an instant
// query at the window's end and sums the result: the query must return an
// instant vector or a scalar of counts over the window, such as
//
//	sum(increase(orders_total{service="shop",release=$version}[$window]))
//
// increase() extrapolates to the window's edges, so its counts are
// estimates, not the exact ones the built-in queries compute. NaN results
// are ignored, so an empty answer and scalar() of one both mean no data.
type PromQL struct {
	// Requests counts requests served. An empty result is no data.
	Requests string
	// Errors counts failed requests. An empty result is 0.
	Errors string
	// Latency counts requests per histogram bucket: its result is summed
	// per value of its "le" label, which must include "+Inf", as in
	// sum by (le) (increase(latency_bucket{release=$version}[$window])).
	// An empty result is a nil Latency.
	Latency string
	// Business counts business events. An empty result is 0.
	Business string
}

var _ verify.MetricSource = (*Source)(nil)

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate returns one error listing every invalid field of s, or nil. It
// does not contact the server. Observe validates s in the same way, so
// calling Validate is optional: it finds mistakes before the first query.
func (s *Source) Validate() error {
	_, err := s.compile()
	return err
}

// config is a validated Source with its defaults filled in.
type config struct {
	endpoint                    string
	client                      *http.Client
	timeout, retryFor, lookback time.Duration
	versionLabel                string
	matchers                    string // the extra matchers, formatted: `,job="checkout"`
	names                       *promcount.Names
	promql                      PromQL
}

func (s *Source) compile() (*config, error) {
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("%s = %q: %s", field, value, problem))
	}
	c := &config{
		timeout:      cmp.Or(s.Timeout, DefaultTimeout),
		retryFor:     cmp.Or(s.RetryFor, DefaultRetryFor),
		lookback:     cmp.Or(s.Lookback, DefaultLookback),
		versionLabel: cmp.Or(s.VersionLabel, DefaultVersionLabel),
		promql:       s.PromQL,
		client:       &http.Client{Transport: s.Transport},
	}
	if s.Transport == nil {
		c.client.Transport = http.DefaultTransport
	}

	if u, err := url.Parse(s.URL); s.URL == "" {
		bad("URL", s.URL, "must be the Prometheus server's base URL")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("URL", s.URL, "must be an absolute http or https URL")
	} else {
		c.endpoint = strings.TrimRight(s.URL, "/") + "/api/v1/query"
	}
	if s.Timeout < 0 {
		bad("Timeout", s.Timeout.String(), "must not be negative")
	}
	if s.Lookback < 0 {
		bad("Lookback", s.Lookback.String(), "must not be negative")
	}
	if !labelNameRE.MatchString(c.versionLabel) {
		bad("VersionLabel", c.versionLabel, "must be a label name")
	}
	names, err := s.Metrics.Compile()
	errs = append(errs, err)
	c.names = names
	var m strings.Builder
	for _, name := range slices.Sorted(maps.Keys(s.Labels)) {
		switch {
		case !labelNameRE.MatchString(name):
			bad(fmt.Sprintf("Labels[%q]", name), s.Labels[name], "the key must be a label name")
		case name == c.versionLabel:
			bad(fmt.Sprintf("Labels[%q]", name), s.Labels[name], "must not match the version label, which Observe sets")
		}
		fmt.Fprintf(&m, ",%s=%s", name, strconv.Quote(s.Labels[name]))
	}
	c.matchers = m.String()
	for _, f := range []struct{ field, value string }{
		{"PromQL.Requests", s.PromQL.Requests}, {"PromQL.Errors", s.PromQL.Errors},
		{"PromQL.Latency", s.PromQL.Latency}, {"PromQL.Business", s.PromQL.Business},
	} {
		if f.value != "" && !strings.Contains(f.value, "$version") {
			bad(f.field, f.value, "must use $version, or every version would get the same answer")
		}
	}
	if err := errlist.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: invalid Source: %w", ErrBadQuery, err)
	}
	return c, nil
}

// Observe implements verify.MetricSource: it returns what q.Version served
// over [q.Start, q.End), querying Prometheus once per kind of count, in
// parallel. It fails
//
//   - with an error wrapping ctx.Err() if ctx ends first;
//   - with an error wrapping ErrBadQuery if s is invalid, the window is
//     empty or inverted, the version is "" (which PromQL would read as
//     "no version label"), or Prometheus rejects a query (never retried);
//   - with an error wrapping verify.ErrNoData if no requests series of
//     the version has a sample inside the window (the version is unknown,
//     or its scrapes stopped), or a custom Requests query returns nothing;
//   - with an error wrapping a *verify.MetricNotFoundError (which matches
//     verify.ErrNoData too) when the requests metric has no series at all
//     with Labels, of any version, from Lookback before the window to its
//     end: its name, or Labels, are most likely wrong;
//   - with another error, such as an [*APIError] for HTTP 5xx or a
//     connection refused, if Prometheus cannot be read even after retries.
//
// Observation.Warnings holds Prometheus's query warnings, and the
// source's own: about a histogram it had to change or drop, and, when the
// latency or business metric has no series at all in that range, the text
// of a *verify.MetricNotFoundError, which verify.MetricsNotFound reads
// back; Latency is then nil, or Business 0.
func (s *Source) Observe(ctx context.Context, q verify.Query) (verify.Observation, error) {
	fail := func(err error) (verify.Observation, error) {
		return verify.Observation{}, fmt.Errorf("prometheus: observe %s: %w", q, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	c, err := s.compile()
	if err != nil {
		return fail(err)
	}
	if !q.End.After(q.Start) {
		return fail(fmt.Errorf("%w: empty or inverted window", ErrBadQuery))
	}
	if q.Version == "" {
		// In PromQL, version="" selects the series without the label.
		return fail(fmt.Errorf("%w: empty version", ErrBadQuery))
	}

	f := c.plan(q)
	if err := c.fetch(ctx, f.at, f.all()); err != nil {
		return fail(err)
	}
	obs, err := c.count(f, q)
	if errors.Is(err, verify.ErrNoData) || err == nil {
		// Where the version had no series at all, is that because the
		// metric has none?
		missing, ferr := c.notFound(ctx, f)
		if ferr != nil {
			return fail(ferr)
		}
		for _, nf := range missing {
			switch {
			case nf.Use == verify.UseRequests:
				return fail(fmt.Errorf("query %s: no samples: %w", f.raw.promql, nf))
			case err == nil:
				f.warnings = append(f.warnings, nf.Error())
			}
		}
	}
	if err != nil {
		return fail(err)
	}
	seen := map[string]bool{}
	for _, x := range append(f.all(), f.exists...) {
		for _, w := range x.warnings {
			if !seen[w] {
				seen[w] = true
				obs.Warnings = append(obs.Warnings, w)
			}
		}
	}
	obs.Warnings = append(obs.Warnings, f.warnings...)
	return obs, nil
}

// fetch asks all the queries, in parallel.
func (c *config) fetch(ctx context.Context, at time.Time, all []*fetch) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, x := range all {
		g.Go(func() (err error) {
			x.value, x.warnings, err = c.query(gctx, x.promql, at)
			return err
		})
	}
	return g.Wait()
}

// A fetch is one query of an Observe, and its answer.
type fetch struct {
	promql   string
	value    model.Value
	warnings []string
	// For a built-in query: the metric, what it is read for, and the
	// selector of its series of every version.
	metric, use, every string
	// empty is set by count when the version has no series of it.
	empty bool
}

// fetches are the queries of one Observe, all evaluated at the instant at;
// a nil one is not asked. raw is the raw requests, for requests or errors
// or both; the others are the custom or raw queries of their kind.
type fetches struct {
	at                                       time.Time
	raw, requests, errors, latency, business *fetch
	exists                                   []*fetch // asked when a built-in query found no series of the version
	warnings                                 []string // the source's own
}

func (f *fetches) all() []*fetch {
	var all []*fetch
	for _, x := range []*fetch{f.raw, f.requests, f.errors, f.latency, f.business} {
		if x != nil {
			all = append(all, x)
		}
	}
	return all
}

// plan returns the queries that observe q.
func (c *config) plan(q verify.Query) *fetches {
	// Evaluate at End rounded up to Prometheus's millisecond, so that
	// every sample before End is in range; counter.Increase ignores those
	// at or after End.
	f := &fetches{at: ceilMilli(q.End)}
	version := strconv.Quote(q.Version)
	// A raw query's range reaches Lookback before Start, where counting starts.
	rng := promDuration(f.at.Sub(q.Start.Add(-c.lookback)))
	raw := func(metric, use string) *fetch {
		return &fetch{
			promql: selector(metric, c.versionLabel+"="+version+c.matchers) + "[" + rng + "]",
			metric: metric, use: use,
			every: selector(metric, strings.TrimPrefix(c.matchers, ",")) + "[" + rng + "]",
		}
	}
	expand := strings.NewReplacer("$version", version, "$window", promDuration(q.End.Sub(q.Start)))
	custom := func(template string) *fetch { return &fetch{promql: expand.Replace(template)} }

	n := c.names
	if c.promql.Requests == "" || c.promql.Errors == "" {
		f.raw = raw(n.Requests, verify.UseRequests)
	}
	if c.promql.Requests != "" {
		f.requests = custom(c.promql.Requests)
	}
	if c.promql.Errors != "" {
		f.errors = custom(c.promql.Errors)
	}
	if c.promql.Latency != "" {
		f.latency = custom(c.promql.Latency)
	} else {
		f.latency = raw(n.Latency, verify.UseLatency)
	}
	if c.promql.Business != "" {
		f.business = custom(c.promql.Business)
	} else if n.Business != "" {
		f.business = raw(n.Business, verify.UseBusiness)
	}
	return f
}

// selector returns the series selector of metric with matchers (such as
// `version="v1",job="shop"`), writing the name inside the braces, quoted,
// when it is not a classic name.
func selector(metric, matchers string) string {
	if model.LegacyValidation.IsValidMetricName(metric) {
		return metric + "{" + matchers + "}"
	}
	if matchers != "" {
		matchers = "," + matchers
	}
	return "{" + strconv.Quote(metric) + matchers + "}"
}

// notFound asks, for each built-in query that found no series of the
// version, whether the metric has any series at all, and returns an error
// for each that has none.
func (c *config) notFound(ctx context.Context, f *fetches) ([]*verify.MetricNotFoundError, error) {
	var asked []*fetch
	for _, x := range f.all() {
		if x.empty && x.use != "" {
			e := &fetch{promql: "count(last_over_time(" + x.every + "))", metric: x.metric, use: x.use}
			asked = append(asked, e)
		}
	}
	if len(asked) == 0 {
		return nil, nil
	}
	if err := c.fetch(ctx, f.at, asked); err != nil {
		return nil, err
	}
	f.exists = asked
	var out []*verify.MetricNotFoundError
	for _, e := range asked {
		n, ok, err := sum(e.promql, e.value)
		if err != nil {
			return nil, err
		}
		if !ok || n == 0 {
			out = append(out, &verify.MetricNotFoundError{Use: e.use, Metric: e.metric,
				Where: fmt.Sprintf("no series of any version in Prometheus: %s is empty", e.promql)})
		}
	}
	return out, nil
}

// count computes the observation from the answers to f, and marks the
// built-in queries that found no series of the version.
func (c *config) count(f *fetches, q verify.Query) (verify.Observation, error) {
	var obs verify.Observation
	data := false
	if f.raw != nil {
		m, err := matrix(f.raw.promql, f.raw.value)
		if err != nil {
			return obs, err
		}
		f.raw.empty = len(m) == 0
		var total, failed float64
		for _, ss := range m {
			inc, in := increase(ss, q.Start, q.End)
			data = data || in
			total += inc
			if c.names.Failed(string(ss.Metric[model.LabelName(c.names.CodeLabel)])) {
				failed += inc
			}
		}
		obs.Requests, obs.Errors = total, failed
	}
	if f.requests != nil {
		n, ok, err := sum(f.requests.promql, f.requests.value)
		if err != nil {
			return obs, err
		}
		obs.Requests, data = n, ok
	}
	if !data {
		which := f.raw
		if f.requests != nil {
			which = f.requests
		}
		return verify.Observation{}, fmt.Errorf("query %s: no samples in the window: %w", which.promql, verify.ErrNoData)
	}

	var err error
	if f.errors != nil {
		if obs.Errors, _, err = sum(f.errors.promql, f.errors.value); err != nil {
			return obs, err
		}
	}
	switch {
	case f.business == nil:
	case c.promql.Business != "":
		obs.Business, _, err = sum(f.business.promql, f.business.value)
	default:
		obs.Business, f.business.empty, err = rawSum(f.business.promql, f.business.value, q.Start, q.End)
	}
	if err != nil {
		return obs, err
	}
	var warnings []string
	if c.promql.Latency != "" {
		obs.Latency, warnings, err = bucketsByLE(f.latency.promql, f.latency.value)
	} else {
		obs.Latency, warnings, f.latency.empty, err = rawBuckets(f.latency.promql, f.latency.value, q.Start, q.End)
	}
	f.warnings = append(f.warnings, warnings...)
	return obs, err
}
