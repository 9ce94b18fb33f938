package prometheus_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
	"github.com/safedeploy/safedeploy/internal/testserver/promtest"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
	"github.com/safedeploy/safedeploy/verify/prometheus"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

// TestIntegration serves known traffic through two versions of an
// instrumented application, lets a real Prometheus scrape them, and checks
// that the source reports exactly what the application served.
func TestIntegration(t *testing.T) {
	began := time.Now()
	versions := map[string]demoapp.Config{
		"v1": {Version: "v1", ErrorRate: 0.03, BusinessRate: 0.3, SlowShare: 0.05, SlowLatency: 30 * time.Millisecond, Seed: 1},
		"v2": {Version: "v2", ErrorRate: 0.15, BusinessRate: 0.2, Latency: 4 * time.Millisecond, SlowShare: 0.1, SlowLatency: 120 * time.Millisecond, Seed: 2},
	}
	traffic := map[string]int{"v1": 300, "v2": 200}

	apps := map[string]*demoapp.App{}
	urls := map[string]string{}
	var targets []string
	for _, v := range slices.Sorted(maps.Keys(versions)) {
		apps[v] = demoapp.New(versions[v])
		urls[v] = serve(t, apps[v])
		targets = append(targets, strings.TrimPrefix(urls[v], "http://"))
	}
	prom := promtest.Start(t, promtest.Config{Targets: targets, Job: "demo", Interval: 250 * time.Millisecond})
	t.Logf("Prometheus ready at %s after %v", prom.URL, time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()

	// A quiet period before: Prometheus holds the untouched counters from
	// a scrape before Start, and traffic begins well after any scrape
	// that started before Start has read them.
	if err := prom.WaitScrape(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Logf("first scrapes after %v", time.Since(began).Round(time.Millisecond))
	start := time.Now()
	time.Sleep(100 * time.Millisecond)
	sent := drive(t, urls, traffic)
	trafficEnd := time.Now()
	// And after: a scrape that started after the traffic holds the final
	// values, and ends the window.
	if err := prom.WaitScrape(ctx, trafficEnd); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	t.Logf("window [%s, %s) of %v, traffic %v, ready after %v", start.Format(time.StampMilli), end.Format(time.StampMilli),
		end.Sub(start).Round(time.Millisecond), trafficEnd.Sub(start).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))

	// What the application served: its own counts, checked against the
	// client's, and its business counter and histogram read from /metrics.
	served := map[string]verify.Observation{}
	for v, app := range apps {
		requests, errs := app.Served()
		if c := sent[v]; int64(c.requests) != requests || int64(c.errors) != errs {
			t.Fatalf("%s served %d requests, %d errors; the client saw %d and %d", v, requests, errs, c.requests, c.errors)
		}
		if requests != int64(traffic[v]) || errs == 0 {
			t.Fatalf("%s served %d requests, %d errors; want %d, some failed", v, requests, errs, traffic[v])
		}
		business, latency := readMetrics(t, urls[v])
		served[v] = verify.Observation{Requests: float64(requests), Errors: float64(errs), Business: business, Latency: latency}
		t.Logf("%s served %d requests, %d errors, %g business events", v, requests, errs, business)
	}

	src := &prometheus.Source{URL: prom.URL, Labels: map[string]string{"job": "demo"}, Metrics: promcount.Metrics{Business: "business_events_total"}}
	t.Run("exact counts", func(t *testing.T) {
		for _, v := range slices.Sorted(maps.Keys(served)) {
			got, err := src.Observe(t.Context(), verify.Query{Version: v, Start: start, End: end})
			if err != nil {
				t.Fatalf("Observe(%s): %v", v, err)
			}
			if diff := cmp.Diff(served[v], got); diff != "" {
				t.Errorf("Observe(%s) mismatch (-served +got):\n%s", v, diff)
			}
			if n := got.Latency[len(got.Latency)-1]; !math.IsInf(n.UpperBound, 1) || n.Count != got.Requests {
				t.Errorf("Observe(%s): last bucket %+v, want +Inf counting all %g requests", v, n, got.Requests)
			}
		}
	})

	t.Run("conformance", func(t *testing.T) {
		verifytest.Run(t, verifytest.Harness{Source: src, Start: start, End: end, Served: served, Missing: "v0"})
	})

	t.Run("unknown version", func(t *testing.T) {
		for _, v := range []string{"v3", `v1"} or up{x="`, `v1"} or http_requests_total{version="v2`, `v1\`} {
			o, err := src.Observe(t.Context(), verify.Query{Version: v, Start: start, End: end})
			if !errors.Is(err, verify.ErrNoData) || errors.Is(err, prometheus.ErrBadQuery) {
				t.Errorf("Observe(%q) = %+v, %v; want verify.ErrNoData", v, o, err)
			}
		}
	})

	t.Run("misspelt metrics", func(t *testing.T) {
		q := verify.Query{Version: "v1", Start: start, End: end}
		wrong := &prometheus.Source{URL: prom.URL, Labels: src.Labels, Metrics: promcount.Metrics{Requests: "http_request_total"}}
		var nf *verify.MetricNotFoundError
		if o, err := wrong.Observe(t.Context(), q); !errors.As(err, &nf) || nf.Metric != "http_request_total" {
			t.Errorf("misspelt Requests: Observe = %+v, %v; want a *verify.MetricNotFoundError naming it", o, err)
		}
		wrong = &prometheus.Source{URL: prom.URL, Labels: src.Labels, Metrics: promcount.Metrics{Business: "busines_events_total"}}
		o, err := wrong.Observe(t.Context(), q)
		missing := verify.MetricsNotFound(o)
		if err != nil || o.Requests != served["v1"].Requests || len(missing) != 1 || missing[0].Metric != "busines_events_total" {
			t.Errorf("misspelt Business: Observe = %+v, %v; want the requests, and the business metric reported missing", o, err)
		}
	})

	t.Run("custom PromQL", func(t *testing.T) {
		// The apps started with the test, so the counters' largest value in
		// the window is everything they served: an exact check that
		// $version and $window (with milliseconds) expand to PromQL that
		// Prometheus accepts, as it accepts the timeout of 1s500ms.
		custom := &prometheus.Source{URL: prom.URL, Timeout: 1500 * time.Millisecond, PromQL: prometheus.PromQL{
			Requests: `sum(max_over_time(http_requests_total{job="demo",version=$version}[$window]))`,
			Errors:   `sum(max_over_time(http_requests_total{job="demo",version=$version,code=~"5.."}[$window]))`,
			Latency:  `sum by (le) (max_over_time(http_request_duration_seconds_bucket{job="demo",version=$version}[$window]))`,
			Business: `sum(max_over_time(business_events_total{job="demo",version=$version}[$window]))`,
		}}
		for _, v := range slices.Sorted(maps.Keys(served)) {
			got, err := custom.Observe(t.Context(), verify.Query{Version: v, Start: start, End: end})
			if err != nil {
				t.Fatalf("Observe(%s): %v", v, err)
			}
			if diff := cmp.Diff(served[v], got); diff != "" {
				t.Errorf("Observe(%s) mismatch (-served +got):\n%s", v, diff)
			}
		}
		if o, err := custom.Observe(t.Context(), verify.Query{Version: "v3", Start: start, End: end}); !errors.Is(err, verify.ErrNoData) {
			t.Errorf("Observe(v3) = %+v, %v; want verify.ErrNoData", o, err)
		}
	})

	t.Run("bad query", func(t *testing.T) {
		rt := &recordingTransport{}
		bad := `sum(increase(http_requests_total{version=$version}[$window])` // unbalanced
		src := &prometheus.Source{URL: prom.URL, Transport: rt, PromQL: prometheus.PromQL{Requests: bad, Errors: "sum(http_requests_total{version=$version})"}}
		o, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
		var apiErr *prometheus.APIError
		switch {
		case err == nil:
			t.Fatalf("Observe = %+v, nil error for a query with a syntax error", o)
		case errors.Is(err, verify.ErrNoData):
			t.Errorf("Observe = %v, which wraps verify.ErrNoData", err)
		case !errors.Is(err, prometheus.ErrBadQuery) || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Type != "bad_data":
			t.Errorf("Observe = %v, want an *APIError, HTTP 400 bad_data, wrapping ErrBadQuery", err)
		}
		expanded := strings.NewReplacer("$version", `"v1"`, "$window", promDuration(end.Sub(start))).Replace(bad)
		if n := rt.sent(expanded); n != 1 {
			t.Errorf("the bad query %s was sent %d times, want once", expanded, n)
		}
		t.Logf("%v", err)
	})

	t.Run("unreachable", func(t *testing.T) {
		rt := &recordingTransport{}
		src := &prometheus.Source{URL: closedPort(t), Transport: rt, RetryFor: 500 * time.Millisecond}
		o, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
		if err == nil || errors.Is(err, verify.ErrNoData) || !errors.Is(err, syscall.ECONNREFUSED) || rt.count() <= 2 {
			t.Errorf("Observe = %+v, %v after %d requests; want connection refused, retried, not verify.ErrNoData", o, err, rt.count())
		}
	})
	t.Logf("integration test took %v before stopping Prometheus", time.Since(began).Round(time.Millisecond))
}

// serve runs app on 127.0.0.1 until the test ends, and returns its URL.
func serve(t *testing.T, app *demoapp.App) string {
	ctx, cancel := context.WithCancel(context.Background())
	url, done, err := demoapp.Serve(ctx, app)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return url
}

type tally struct{ requests, errors int }

// drive sends n[v] requests to each version's URL, four at a time per
// version, and counts the answers.
func drive(t *testing.T, urls map[string]string, n map[string]int) map[string]tally {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var (
		mu    sync.Mutex
		sent  = map[string]tally{}
		wg    sync.WaitGroup
		fails []error
	)
	for v, url := range urls {
		jobs := make(chan int)
		for range 4 {
			wg.Go(func() {
				for i := range jobs {
					resp, err := client.Get(fmt.Sprintf("%s/checkout?i=%d", url, i))
					mu.Lock()
					if err != nil {
						fails = append(fails, err)
					} else {
						c := sent[v]
						c.requests++
						if resp.StatusCode >= 500 {
							c.errors++
						}
						sent[v] = c
					}
					mu.Unlock()
					if err == nil {
						resp.Body.Close()
					}
				}
			})
		}
		wg.Go(func() {
			defer close(jobs)
			for i := range n[v] {
				jobs <- i
			}
		})
	}
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d requests failed, the first: %v", len(fails), fails[0])
	}
	return sent
}

var bucketLine = regexp.MustCompile(`^http_request_duration_seconds_bucket\{.*le="([^"]+)".*\} (\S+)$`)

// readMetrics reads an app's business counter and latency histogram from
// its /metrics.
func readMetrics(t *testing.T, url string) (business float64, latency verify.Histogram) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if m := bucketLine.FindStringSubmatch(line); m != nil {
			le, err1 := strconv.ParseFloat(m[1], 64)
			n, err2 := strconv.ParseFloat(m[2], 64)
			if err := errors.Join(err1, err2); err != nil {
				t.Fatalf("%s: %q: %v", url, line, err)
			}
			latency = append(latency, verify.Bucket{UpperBound: le, Count: n})
		}
		if rest, ok := strings.CutPrefix(line, "business_events_total{"); ok {
			if business, err = strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64); err != nil {
				t.Fatalf("%s: %q: %v", url, line, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return business, latency
}

// promDuration formats d as the source does for $window.
func promDuration(d time.Duration) string {
	if r := d.Truncate(time.Millisecond); r < d {
		d = r + time.Millisecond
	}
	return model.Duration(d).String()
}
