package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
	"github.com/safedeploy/safedeploy/verify/prometheus"
)

// Against the default instrumentation of client_golang services. The fake
// Prometheus holds 10 minutes of raw samples of a shop's v1 on two
// instances, one of which restarted in the window.
func Example() {
	series, _ := fixture()
	prom := newFakeProm(series...) // a fake Prometheus HTTP API on 127.0.0.1
	defer prom.Close()

	src := &prometheus.Source{
		URL:     prom.URL,
		Labels:  map[string]string{"job": "shop"},
		Metrics: promcount.Metrics{Business: "orders_total"},
	}
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 12, 1, 0, 0, time.UTC)
	end := start.Add(5 * time.Minute)

	obs, err := src.Observe(ctx, verify.Query{Version: "v1", Start: start, End: end})
	if err != nil {
		fmt.Println(err)
		return
	}
	p50, _ := obs.Latency.Quantile(0.5)
	fmt.Printf("v1: %.0f requests, %.0f errors (%.1f%%), %.0f orders, P50 %.0fms\n",
		obs.Requests, obs.Errors, 100*obs.ErrorRate(), obs.Business, 1000*p50)

	queries := prom.queries()
	slices.Sort(queries)
	for _, q := range queries {
		fmt.Println(q)
	}

	_, err = src.Observe(ctx, verify.Query{Version: "v3", Start: start, End: end})
	fmt.Println("v3 has no data:", errors.Is(err, verify.ErrNoData))
	// Output:
	// v1: 182 requests, 28 errors (15.4%), 30 orders, P50 85ms
	// http_request_duration_seconds_bucket{version="v1",job="shop"}[10m]
	// http_requests_total{version="v1",job="shop"}[10m]
	// orders_total{version="v1",job="shop"}[10m]
	// v3 has no data: true
}

// Custom queries are templates: $version becomes an escaped string
// literal, whatever the version holds, and $window the window's length.
func ExampleSource_promQL() {
	prom := newFakeProm()
	defer prom.Close()
	prom.handle = func(w http.ResponseWriter, r *http.Request, query string) bool {
		switch {
		case strings.HasPrefix(query, "sum by (le)"):
			prom.writeResult(w, "vector", model.Vector{
				sample(model.Metric{"le": "0.1"}, 900), sample(model.Metric{"le": "0.5"}, 990), sample(model.Metric{"le": "+Inf"}, 1000),
			})
		case strings.Contains(query, "failed"):
			prom.writeResult(w, "vector", model.Vector{sample(model.Metric{}, 12)})
		default:
			prom.writeResult(w, "vector", model.Vector{sample(model.Metric{}, 1000)})
		}
		return true
	}

	src := &prometheus.Source{
		URL: prom.URL,
		PromQL: prometheus.PromQL{
			Requests: `sum(increase(checkout_requests_total{release=$version}[$window]))`,
			Errors:   `sum(increase(checkout_requests_total{release=$version,outcome="failed"}[$window]))`,
			Latency:  `sum by (le) (increase(checkout_seconds_bucket{release=$version}[$window]))`,
		},
	}
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	q := verify.Query{Version: `rc1"} or up{x="`, Start: start, End: start.Add(90 * time.Second)}
	obs, err := src.Observe(context.Background(), q)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.0f requests, %.0f errors, %v\n", obs.Requests, obs.Errors, obs.Latency)
	queries := prom.queries()
	slices.Sort(queries)
	for _, q := range queries {
		fmt.Println(q)
	}
	// Output:
	// 1000 requests, 12 errors, [{0.1 900} {0.5 990} {+Inf 1000}]
	// sum by (le) (increase(checkout_seconds_bucket{release="rc1\"} or up{x=\""}[1m30s]))
	// sum(increase(checkout_requests_total{release="rc1\"} or up{x=\"",outcome="failed"}[1m30s]))
	// sum(increase(checkout_requests_total{release="rc1\"} or up{x=\""}[1m30s]))
}

// Authentication and TLS belong to the Transport.
func ExampleSource_transport() {
	series, _ := fixture()
	prom := newFakeProm(series...)
	defer prom.Close()
	prom.handle = func(w http.ResponseWriter, r *http.Request, _ string) bool {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return true
		}
		return false // answer from the samples
	}

	q := verify.Query{Version: "v1", Start: time.Date(2025, 3, 1, 12, 1, 0, 0, time.UTC), End: time.Date(2025, 3, 1, 12, 6, 0, 0, time.UTC)}
	src := &prometheus.Source{URL: prom.URL, Labels: map[string]string{"job": "shop"}, Transport: bearer("s3cret")}
	obs, err := src.Observe(context.Background(), q)
	fmt.Println(obs.Requests, err)

	src.Transport = nil
	_, err = src.Observe(context.Background(), q)
	var apiErr *prometheus.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Message)
	}
	// Output:
	// 182 <nil>
	// 401 Unauthorized
}

// bearer is an http.RoundTripper that authenticates with a bearer token.
type bearer string

func (token bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(token))
	return http.DefaultTransport.RoundTrip(r)
}

// Observe's errors say whether asking again could help.
func ExampleErrBadQuery() {
	prom := newFakeProm()
	defer prom.Close()
	prom.handle = func(w http.ResponseWriter, r *http.Request, query string) bool {
		writeError(w, http.StatusBadRequest, "bad_data", `1:34: parse error: unexpected "]"`)
		return true
	}
	src := &prometheus.Source{URL: prom.URL, PromQL: prometheus.PromQL{Requests: `sum(increase(requests_total{version=$version}[]))`}}
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	_, err := src.Observe(context.Background(), verify.Query{Version: "v2", Start: start, End: start.Add(time.Minute)})

	var apiErr *prometheus.APIError
	fmt.Println("bad query:", errors.Is(err, prometheus.ErrBadQuery))
	fmt.Println("no data:", errors.Is(err, verify.ErrNoData))
	fmt.Println(errors.As(err, &apiErr), apiErr.StatusCode, apiErr.Type, apiErr.Message)
	// Output:
	// bad query: true
	// no data: false
	// true 400 bad_data 1:34: parse error: unexpected "]"
}
