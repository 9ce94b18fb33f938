package prometheus_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
	"github.com/safedeploy/safedeploy/verify/prometheus"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

var (
	t0    = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	inf   = math.Inf(1)
	start = t0.Add(time.Minute)     // 12:01, sample 6
	end   = t0.Add(6 * time.Minute) // 12:06, sample 16
)

// fixture returns series scraped every 30s from 11:58 to 12:08 (samples
// k = 0…20), and what v1 served over [12:01, 12:06): from sample 5 to
// sample 15.
func fixture() ([]fakeSeries, verify.Observation) {
	first, step := t0.Add(-2*time.Minute), 30*time.Second
	shop := func(labels ...string) []string { return append([]string{"job", "shop", "version", "v1"}, labels...) }
	// Instance b restarted at sample 10: all its counters start again from 0.
	b := func(perStep float64) []float64 {
		v := linear(21, 0, perStep)
		for k := 10; k < len(v); k++ {
			v[k] = perStep * float64(k-10)
		}
		return v
	}
	series := []fakeSeries{
		counterSeries("http_requests_total", shop("instance", "a", "code", "200"), first, step, linear(21, 0, 10)...), // 100
		counterSeries("http_requests_total", shop("instance", "a", "code", "500"), first, step, linear(21, 0, 1)...),  // 10
		counterSeries("http_requests_total", shop("instance", "b", "code", "200"), first, step, b(5)...),              // 20 + 25
		counterSeries("http_requests_total", shop("instance", "b", "code", "503"), first, step, b(2)...),              // 8 + 10
		counterSeries("http_requests_total", shop("instance", "b", "code", "429"), first, step, b(1)...),              // 4 + 5
		counterSeries("http_request_duration_seconds_bucket", shop("instance", "a", "le", "0.1"), first, step, linear(21, 0, 8)...),
		counterSeries("http_request_duration_seconds_bucket", shop("instance", "a", "le", "0.5"), first, step, linear(21, 0, 10)...),
		counterSeries("http_request_duration_seconds_bucket", shop("instance", "a", "le", "+Inf"), first, step, linear(21, 0, 11)...),
		counterSeries("http_request_duration_seconds_bucket", shop("instance", "b", "le", "0.1"), first, step, b(3)...),
		counterSeries("http_request_duration_seconds_bucket", shop("instance", "b", "le", "0.5"), first, step, b(6)...),
		counterSeries("http_request_duration_seconds_bucket", shop("instance", "b", "le", "+Inf"), first, step, b(8)...),
		counterSeries("orders_total", shop("instance", "a"), first, step, linear(21, 0, 3)...), // 30
		// Another service's v1, which Labels exclude.
		counterSeries("http_requests_total", []string{"job", "other", "version", "v1", "code", "500"}, first, step, linear(21, 0, 1000)...),
		// v2 was last scraped at 11:59:30: a gap over the window.
		counterSeries("http_requests_total", []string{"job", "shop", "version", "v2", "code", "200"}, first, step, linear(4, 0, 1)...),
	}
	want := verify.Observation{
		Requests: 182,
		Errors:   28,
		Business: 30,
		Latency:  verify.Histogram{{UpperBound: 0.1, Count: 107}, {UpperBound: 0.5, Count: 154}, {UpperBound: inf, Count: 182}},
	}
	return series, want
}

func shopSource(url string) *prometheus.Source {
	return &prometheus.Source{URL: url, Labels: map[string]string{"job": "shop"}, Metrics: promcount.Metrics{Business: "orders_total"}}
}

func TestObserve(t *testing.T) {
	series, want := fixture()
	f := newFakeProm(series...)
	defer f.Close()
	got, err := shopSource(f.URL).Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Observe mismatch (-want +got):\n%s", diff)
	}

	// The queries: raw samples from Lookback (5m) before the window to its
	// end, evaluated at the end, with the server-side timeout.
	var gotQueries []string
	for _, r := range f.received() {
		gotQueries = append(gotQueries, r.Query)
		if r.Time != "1740830760.000" || r.Timeout != "10s" {
			t.Errorf("query %s sent with time=%s timeout=%s, want time=1740830760.000 (12:06) timeout=10s", r.Query, r.Time, r.Timeout)
		}
	}
	slices.Sort(gotQueries)
	wantQueries := []string{
		`http_request_duration_seconds_bucket{version="v1",job="shop"}[10m]`,
		`http_requests_total{version="v1",job="shop"}[10m]`,
		`orders_total{version="v1",job="shop"}[10m]`,
	}
	if diff := cmp.Diff(wantQueries, gotQueries); diff != "" {
		t.Errorf("queries mismatch (-want +got):\n%s", diff)
	}
}

func TestObserveConfigured(t *testing.T) {
	first, step := t0.Add(-2*time.Minute), 30*time.Second
	series := []fakeSeries{
		counterSeries("requests", []string{"release", "v1", "status", "200"}, first, step, linear(21, 0, 10)...),
		counterSeries("requests", []string{"release", "v1", "status", "429"}, first, step, linear(21, 0, 1)...),
		counterSeries("requests", []string{"release", "v1", "status", "503"}, first, step, linear(21, 0, 2)...),
		counterSeries("latency_bucket", []string{"release", "v1", "le", "+Inf"}, first, step, linear(21, 0, 13)...),
	}
	f := newFakeProm(series...)
	defer f.Close()
	src := &prometheus.Source{
		URL:          f.URL + "/",
		VersionLabel: "release",
		Metrics:      promcount.Metrics{Requests: "requests", CodeLabel: "status", ErrorCodes: "5..|429", Latency: "latency_bucket"},
		Lookback:     90 * time.Second,
		Timeout:      1500 * time.Millisecond,
	}
	// A window ending just after the sample at 12:06 (sample 16), with
	// milliseconds: the evaluation time and range are rounded up to them.
	got, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end.Add(500*time.Millisecond + 1)})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	want := verify.Observation{Requests: 143, Errors: 33, Latency: verify.Histogram{{UpperBound: inf, Count: 143}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Observe mismatch (-want +got):\n%s", diff)
	}
	for _, r := range f.received() {
		if !strings.HasSuffix(r.Query, `{release="v1"}[6m30s501ms]`) || r.Time != "1740830760.501" || r.Timeout != "1s500ms" {
			t.Errorf("query %s sent with time=%s timeout=%s, want a 6m30s501ms range at 1740830760.501, timeout 1s500ms", r.Query, r.Time, r.Timeout)
		}
	}
}

// The conformance suite, against the fake.
func TestConformanceFake(t *testing.T) {
	series, want := fixture()
	f := newFakeProm(series...)
	defer f.Close()
	verifytest.Run(t, verifytest.Harness{
		Source:  shopSource(f.URL),
		Start:   start,
		End:     end,
		Served:  map[string]verify.Observation{"v1": want},
		Missing: "v0",
	})
}

func TestNoData(t *testing.T) {
	series, _ := fixture()
	f := newFakeProm(series...)
	defer f.Close()
	for _, tt := range []struct{ name, version string }{
		{"unknown version", "v9"},
		{"scrapes stopped before the window", "v2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := shopSource(f.URL).Observe(t.Context(), verify.Query{Version: tt.version, Start: start, End: end})
			if !errors.Is(err, verify.ErrNoData) {
				t.Fatalf("Observe(%q) = %+v, %v; want an error wrapping verify.ErrNoData", tt.version, o, err)
			}
			if errors.Is(err, prometheus.ErrBadQuery) {
				t.Errorf("Observe(%q) = %v, which wraps ErrBadQuery too", tt.version, err)
			}
		})
	}
}

// Versions are PromQL string literals, whatever they hold: a version that
// looks like PromQL selects the series labelled with exactly that string.
func TestEscaping(t *testing.T) {
	first, step := t0.Add(-2*time.Minute), 30*time.Second
	weird := []string{`v1"} or up{x="`, `back\slash`, "new\nline", `it's "quoted"`, "ünï©ødé", `$window`, "{}[]"}
	var series []fakeSeries
	for i, v := range weird {
		series = append(series, counterSeries("http_requests_total", []string{"version", v, "code", "200"}, first, step, linear(21, 0, float64(i+1))...))
	}
	series = append(series, counterSeries("http_requests_total", []string{"version", "v1", "code", "200"}, first, step, linear(21, 0, 1000)...))
	f := newFakeProm(series...)
	defer f.Close()
	src := &prometheus.Source{URL: f.URL, Metrics: promcount.Metrics{Latency: "none_bucket"}, Lookback: time.Minute}
	for i, v := range weird {
		got, err := src.Observe(t.Context(), verify.Query{Version: v, Start: start, End: end})
		if err != nil {
			t.Errorf("Observe(%q): %v", v, err)
			continue
		}
		if want := 10 * float64(i+1); got.Requests != want {
			t.Errorf("Observe(%q).Requests = %g, want %g: the version was not matched exactly", v, got.Requests, want)
		}
	}
	// A version that would escape its string if spliced raw.
	injection := `v2"} or http_requests_total{version="v1`
	if o, err := src.Observe(t.Context(), verify.Query{Version: injection, Start: start, End: end}); !errors.Is(err, verify.ErrNoData) {
		t.Errorf("Observe(%q) = %+v, %v; want verify.ErrNoData, as no series has that version", injection, o, err)
	}
	want := `http_requests_total{version="v2\"} or http_requests_total{version=\"v1"}[6m]`
	if qs := f.queries(); !slices.Contains(qs, want) {
		t.Errorf("queries sent = %q, want one of them to be %s", qs, want)
	}
}

// A fake that fails the first request with status, then answers.
func failFirst(f *fakeProm, status int, body string) {
	var n atomic.Int32
	f.handle = func(w http.ResponseWriter, r *http.Request, _ string) bool {
		if n.Add(1) > 1 {
			return false
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
		return true
	}
}

func TestRetry(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
	}{
		{"503", http.StatusServiceUnavailable, `{"status":"error","errorType":"unavailable","error":"starting up"}`},
		{"429", http.StatusTooManyRequests, "slow down\n"},
		{"502 from a proxy", http.StatusBadGateway, "<html><body>Bad Gateway</body></html>"},
		{"timeout", http.StatusServiceUnavailable, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			series, want := fixture()
			f := newFakeProm(series...)
			defer f.Close()
			failFirst(f, tt.status, tt.body)
			got, err := shopSource(f.URL).Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
			if err != nil {
				t.Fatalf("Observe after one HTTP %d: %v; want it retried", tt.status, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Observe mismatch (-want +got):\n%s", diff)
			}
			if n := len(f.queries()); n != 4 {
				t.Errorf("the fake received %d requests, want 4 (3 queries, one of them retried)", n)
			}
		})
	}
}

func TestNoRetry(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		bad    bool // wraps ErrBadQuery
	}{
		{"400 bad_data", http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"1:27: parse error: unexpected \"}\""}`, true},
		{"422 execution", http.StatusUnprocessableEntity, `{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory"}`, true},
		{"401", http.StatusUnauthorized, "Unauthorized\n", false},
		{"404", http.StatusNotFound, "404 page not found\n", false},
		{"200 that is not the API", http.StatusOK, "<html>login</html>", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			series, _ := fixture()
			f := newFakeProm(series...)
			defer f.Close()
			f.handle = func(w http.ResponseWriter, r *http.Request, _ string) bool {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
				return true
			}
			o, err := shopSource(f.URL).Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
			if err == nil {
				t.Fatalf("Observe = %+v, nil error; want an error", o)
			}
			if errors.Is(err, verify.ErrNoData) {
				t.Errorf("Observe = %v, which wraps verify.ErrNoData", err)
			}
			if errors.Is(err, prometheus.ErrBadQuery) != tt.bad {
				t.Errorf("Observe = %v; errors.Is(err, ErrBadQuery) = %v, want %v", err, !tt.bad, tt.bad)
			}
			var apiErr *prometheus.APIError
			if tt.status != http.StatusOK && (!errors.As(err, &apiErr) || apiErr.StatusCode != tt.status) {
				t.Errorf("Observe = %v, want an *APIError with status %d", err, tt.status)
			}
			qs := f.queries()
			for _, q := range qs {
				if n := countOf(qs, q); n > 1 {
					t.Errorf("query %s sent %d times, want once: HTTP %d is not transient", q, n, tt.status)
				}
			}
		})
	}
}

func countOf(qs []string, q string) int {
	n := 0
	for _, x := range qs {
		if x == q {
			n++
		}
	}
	return n
}

// closedPort returns the URL of a port on 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

func TestUnreachable(t *testing.T) {
	url := closedPort(t)
	q := verify.Query{Version: "v1", Start: start, End: end}

	t.Run("retries until RetryFor", func(t *testing.T) {
		rt := &recordingTransport{}
		src := &prometheus.Source{URL: url, Transport: rt, RetryFor: 400 * time.Millisecond}
		begin := time.Now()
		o, err := src.Observe(t.Context(), q)
		took := time.Since(begin)
		switch {
		case err == nil:
			t.Fatalf("Observe = %+v, nil error, from a closed port", o)
		case errors.Is(err, verify.ErrNoData), errors.Is(err, prometheus.ErrBadQuery):
			t.Errorf("Observe = %v; an unreachable server is neither no data nor a bad query", err)
		case !errors.Is(err, syscall.ECONNREFUSED):
			t.Errorf("Observe = %v, want it to wrap ECONNREFUSED", err)
		}
		if n := rt.count(); n <= 2 {
			t.Errorf("%d requests for 2 queries, want retries", n)
		}
		if took > 2*time.Second {
			t.Errorf("Observe took %v, want at most about RetryFor (400ms)", took)
		}
		t.Logf("%v, %d requests: %v", took, rt.count(), err)
	})

	t.Run("bounded by the context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		begin := time.Now()
		_, err := (&prometheus.Source{URL: url}).Observe(ctx, q)
		took := time.Since(begin)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, verify.ErrNoData) {
			t.Errorf("Observe = %v, want an error wrapping both context.DeadlineExceeded and ECONNREFUSED, not verify.ErrNoData", err)
		}
		if took > 2*time.Second {
			t.Errorf("Observe took %v with a 300ms context", took)
		}
	})

	t.Run("no retries", func(t *testing.T) {
		rt := &recordingTransport{}
		_, err := (&prometheus.Source{URL: url, Transport: rt, RetryFor: -1}).Observe(t.Context(), q)
		if err == nil || rt.count() != 2 {
			t.Errorf("Observe = %v after %d requests; want an error after 2 (one per query)", err, rt.count())
		}
	})
}

// TestTimeout runs in a bubble, against a transport that hangs until the
// attempt's context ends, so that the attempts' timeouts and the retries
// between them happen on the bubble's clock: on a loaded machine, real
// 50ms attempts could use up a real 300ms RetryFor before any retry.
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &hangingTransport{}
		src := &prometheus.Source{URL: "http://prometheus.invalid", Transport: rt, Timeout: 50 * time.Millisecond, RetryFor: 300 * time.Millisecond}
		begin := time.Now()
		_, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
		took := time.Since(begin)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, verify.ErrNoData) {
			t.Errorf("Observe = %v, want an error wrapping context.DeadlineExceeded (each attempt's timeout)", err)
		}
		qs, timeouts := rt.sent()
		if !slices.ContainsFunc(qs, func(q string) bool { return countOf(qs, q) > 1 }) {
			t.Errorf("requests %q, want a query's timeout retried", qs)
		}
		if took > 300*time.Millisecond+5*time.Second+50*time.Millisecond {
			t.Errorf("Observe took %v, want at most RetryFor, a last backoff and a Timeout", took)
		}
		if len(timeouts) == 0 || timeouts[0] != "50ms" {
			t.Errorf("timeouts sent = %q, want 50ms", timeouts)
		}
	})
}

// hangingTransport records each request's query and timeout, and answers
// none: it returns when the request's context ends.
type hangingTransport struct {
	mu                sync.Mutex
	queries, timeouts []string
}

func (h *hangingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, _ := url.ParseQuery(string(body))
	h.mu.Lock()
	h.queries = append(h.queries, form.Get("query"))
	h.timeouts = append(h.timeouts, form.Get("timeout"))
	h.mu.Unlock()
	<-r.Context().Done()
	return nil, r.Context().Err()
}

func (h *hangingTransport) sent() (queries, timeouts []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.queries), slices.Clone(h.timeouts)
}

// headerTransport adds an Authorization header, as a caller's
// RoundTripper for authentication would.
type headerTransport struct{ token string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+h.token)
	return http.DefaultTransport.RoundTrip(r)
}

func TestTransport(t *testing.T) {
	series, want := fixture()
	f := newFakeProm(series...)
	defer f.Close()
	f.handle = func(w http.ResponseWriter, r *http.Request, _ string) bool {
		if r.Header.Get("Authorization") == "Bearer s3cret" {
			return false
		}
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return true
	}
	q := verify.Query{Version: "v1", Start: start, End: end}

	src := shopSource(f.URL)
	src.Transport = headerTransport{"s3cret"}
	got, err := src.Observe(t.Context(), q)
	if err != nil {
		t.Fatalf("Observe with the token: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Observe mismatch (-want +got):\n%s", diff)
	}

	var apiErr *prometheus.APIError
	if _, err := shopSource(f.URL).Observe(t.Context(), q); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("Observe without the token = %v, want an *APIError with status 401", err)
	}
}

func TestWarnings(t *testing.T) {
	series, want := fixture()
	f := newFakeProm(series...)
	defer f.Close()
	f.warnings = []string{"remote read: partial response", "query may be slow"}
	got, err := shopSource(f.URL).Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	want.Warnings = f.warnings // once each, though all three queries had them
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Observe mismatch (-want +got):\n%s", diff)
	}
}

// Histograms are summed as the scrape source sums them (promcount.Buckets):
// histograms with different bounds keep those they share, and warn;
// buckets without +Inf, or with a bound that is not a number, are no
// histogram.
func TestLatencyBuckets(t *testing.T) {
	first, step := t0.Add(-2*time.Minute), 30*time.Second
	bucket := func(instance, le string, perStep float64) fakeSeries {
		return counterSeries("http_request_duration_seconds_bucket", []string{"version", "v1", "instance", instance, "le", le}, first, step, linear(21, 0, perStep)...)
	}
	for _, tt := range []struct {
		name    string
		buckets []fakeSeries
		want    verify.Histogram
		warning string
	}{{
		name:    "no +Inf bucket",
		buckets: []fakeSeries{bucket("a", "0.1", 1)},
		warning: `latency dropped: the buckets all histograms share do not end with le="+Inf"`,
	}, {
		name:    "different bounds",
		buckets: []fakeSeries{bucket("a", "0.1", 3), bucket("a", "0.5", 4), bucket("a", "+Inf", 5), bucket("b", "0.2", 0), bucket("b", "0.5", 0), bucket("b", "+Inf", 0)},
		want:    verify.Histogram{{UpperBound: 0.5, Count: 40}, {UpperBound: inf, Count: 50}},
		warning: `latency buckets differ between histograms (http_request_duration_seconds_bucket{instance="a", version="v1"} has le=0.1,0.5,+Inf, http_request_duration_seconds_bucket{instance="b", version="v1"} has le=0.2,0.5,+Inf): kept the 2 bounds all share`,
	}, {
		name:    "a bound that is not a number",
		buckets: []fakeSeries{bucket("a", "0.1", 3), bucket("a", "+Inf", 5), bucket("b", "soon", 0)},
		warning: `latency dropped: series http_request_duration_seconds_bucket{instance="b", le="soon", version="v1"}: le="soon" is not a number`,
	}} {
		t.Run(tt.name, func(t *testing.T) {
			series := append(tt.buckets, counterSeries("http_requests_total", []string{"version", "v1", "code", "200"}, first, step, linear(21, 0, 5)...))
			f := newFakeProm(series...)
			defer f.Close()
			got, err := (&prometheus.Source{URL: f.URL}).Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
			if err != nil {
				t.Fatal(err)
			}
			if got.Requests != 50 || !cmp.Equal(got.Latency, tt.want) || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], tt.warning) {
				t.Errorf("Observe = %+v, want 50 requests, latency %v and a warning saying %q", got, tt.want, tt.warning)
			}
		})
	}
}

// A metric with no series of any version is named, and not read as zero:
// the requests metric fails the observation, the others are reported as
// warnings. A version without series of a metric others have is not.
func TestMetricNotFound(t *testing.T) {
	series, want := fixture()
	f := newFakeProm(series...)
	defer f.Close()
	q := verify.Query{Version: "v1", Start: start, End: end}
	src := shopSource(f.URL)
	src.Metrics.Requests = "http_request_total"
	_, err := src.Observe(t.Context(), q)
	var nf *verify.MetricNotFoundError
	if !errors.As(err, &nf) || nf.Use != verify.UseRequests || nf.Metric != "http_request_total" || !errors.Is(err, verify.ErrNoData) {
		t.Errorf("misspelt Requests: error %v; want a *verify.MetricNotFoundError naming http_request_total", err)
	}

	src = shopSource(f.URL)
	src.Metrics.Business, src.Metrics.Latency = "oders_total", "http_request_duration_bucket"
	got, err := src.Observe(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, m := range verify.MetricsNotFound(got) {
		missing = append(missing, m.Use+" "+m.Metric)
	}
	if got.Requests != want.Requests || got.Business != 0 || got.Latency != nil || !slices.Equal(missing, []string{"latency http_request_duration_bucket", "business oders_total"}) {
		t.Errorf("misspelt Business and Latency: Observe = %+v; want %v requests and both metrics reported missing", got, want.Requests)
	}
	if qs := f.queries(); !slices.Contains(qs, `count(last_over_time(oders_total{job="shop"}[10m]))`) {
		t.Errorf("queries %q: want the business metric looked for across versions", qs)
	}

	// v3 serves, but has no orders or latency series; v1 has.
	series = append(series, counterSeries("http_requests_total", []string{"job", "shop", "version", "v3", "code", "200"}, t0.Add(-2*time.Minute), 30*time.Second, linear(21, 0, 1)...))
	g := newFakeProm(series...)
	defer g.Close()
	got, err = shopSource(g.URL).Observe(t.Context(), verify.Query{Version: "v3", Start: start, End: end})
	if err != nil || got.Requests != 10 || got.Business != 0 || len(got.Warnings) != 0 {
		t.Errorf("v3 = %+v, %v; want 10 requests, no business events and no warnings", got, err)
	}
}

// Names that are not classic Prometheus names are quoted inside the
// braces, as Prometheus 3 reads them.
func TestUTF8Names(t *testing.T) {
	first, step := t0.Add(-2*time.Minute), 30*time.Second
	f := newFakeProm(
		counterSeries("http.requests", []string{"version", "v1", "status code", "503"}, first, step, linear(21, 0, 2)...),
		counterSeries("http.latency_bucket", []string{"version", "v1", "le", "+Inf"}, first, step, linear(21, 0, 2)...),
	)
	defer f.Close()
	src := &prometheus.Source{URL: f.URL, Metrics: promcount.Metrics{Requests: "http.requests", CodeLabel: "status code", Latency: "http.latency_bucket"}}
	got, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
	if err != nil || got.Requests != 20 || got.Errors != 20 || len(got.Latency) != 1 {
		t.Errorf("Observe = %+v, %v; want 20 requests, all errors, and a histogram", got, err)
	}
	if qs := f.queries(); !slices.Contains(qs, `{"http.requests",version="v1"}[10m]`) {
		t.Errorf("queries %q, want the name quoted inside the braces", qs)
	}
}

func TestPromQL(t *testing.T) {
	f := newFakeProm()
	defer f.Close()
	answers := map[string]func() (string, any){
		`sum(increase(orders_total{release="v\"2"}[5m]))`: func() (string, any) {
			return "vector", model.Vector{sample(model.Metric{}, 12.5)}
		},
		`increase(requests{release="v\"2"}[5m])`: func() (string, any) {
			return "vector", model.Vector{sample(model.Metric{"code": "200"}, 400), sample(model.Metric{"code": "500"}, 20)}
		},
		`scalar(sum(increase(errors{release="v\"2"}[5m])))`: func() (string, any) {
			return "scalar", &model.Scalar{Value: 20, Timestamp: model.TimeFromUnix(end.Unix())}
		},
		`sum by (le) (increase(lat_bucket{release="v\"2"}[5m]))`: func() (string, any) {
			return "vector", model.Vector{
				sample(model.Metric{"le": "+Inf"}, 420), sample(model.Metric{"le": "0.25"}, 400), sample(model.Metric{"le": "1e-1"}, 300),
			}
		},
		`scalar(sum(increase(requests{release="v3"}[5m])))`: func() (string, any) {
			return "scalar", &model.Scalar{Value: model.SampleValue(math.NaN()), Timestamp: model.TimeFromUnix(end.Unix())}
		},
		`requests{release="v\"2"}[5m]`: func() (string, any) {
			return "matrix", model.Matrix{}
		},
	}
	f.handle = func(w http.ResponseWriter, r *http.Request, query string) bool {
		switch answer, ok := answers[query]; {
		case ok:
			resultType, result := answer()
			f.writeResult(w, resultType, result)
		case strings.HasSuffix(query, "]"):
			f.writeResult(w, "matrix", model.Matrix{})
		default:
			f.writeResult(w, "vector", model.Vector{})
		}
		return true
	}
	custom := prometheus.PromQL{
		Requests: `increase(requests{release=$version}[$window])`,
		Errors:   `scalar(sum(increase(errors{release=$version}[$window])))`,
		Latency:  `sum by (le) (increase(lat_bucket{release=$version}[$window]))`,
		Business: `sum(increase(orders_total{release=$version}[$window]))`,
	}
	q := verify.Query{Version: `v"2`, Start: start, End: end}
	got, err := (&prometheus.Source{URL: f.URL, PromQL: custom}).Observe(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := verify.Observation{
		Requests: 420, Errors: 20, Business: 12.5,
		Latency: verify.Histogram{{UpperBound: 0.1, Count: 300}, {UpperBound: 0.25, Count: 400}, {UpperBound: inf, Count: 420}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Observe mismatch (-want +got):\n%s", diff)
	}

	t.Run("NaN is no data", func(t *testing.T) {
		src := &prometheus.Source{URL: f.URL, PromQL: prometheus.PromQL{Requests: `scalar(sum(increase(requests{release=$version}[$window])))`, Errors: "sum(increase(orders_total{release=$version}[$window]))"}}
		if o, err := src.Observe(t.Context(), verify.Query{Version: "v3", Start: start, End: end}); !errors.Is(err, verify.ErrNoData) {
			t.Errorf("Observe = %+v, %v; want verify.ErrNoData", o, err)
		}
	})
	t.Run("a range vector is a bad query", func(t *testing.T) {
		src := &prometheus.Source{URL: f.URL, PromQL: prometheus.PromQL{Requests: `requests{release=$version}[$window]`, Errors: "sum(increase(orders_total{release=$version}[$window]))"}}
		if o, err := src.Observe(t.Context(), q); !errors.Is(err, prometheus.ErrBadQuery) {
			t.Errorf("Observe = %+v, %v; want ErrBadQuery", o, err)
		}
	})
}

func TestValidate(t *testing.T) {
	if err := (&prometheus.Source{URL: "http://127.0.0.1:9090"}).Validate(); err != nil {
		t.Errorf("Validate of a Source with only a URL = %v, want nil", err)
	}
	src := &prometheus.Source{
		URL:          "prometheus:9090",
		Timeout:      -time.Second,
		VersionLabel: "ver-sion",
		Metrics:      promcount.Metrics{Requests: "up\xff", ErrorCodes: "5("},
		Labels:       map[string]string{"job": "ok", "version": "v1", "bad name": "x"},
		PromQL:       prometheus.PromQL{Errors: `sum(increase(errors_total[$window]))`},
	}
	err := src.Validate()
	if !errors.Is(err, prometheus.ErrBadQuery) {
		t.Fatalf("Validate = %v, want an error wrapping ErrBadQuery", err)
	}
	for _, want := range []string{
		`URL = "prometheus:9090"`, `Timeout = "-1s"`, `VersionLabel = "ver-sion"`, `Metrics.Requests = "up\xff"`,
		`Metrics.ErrorCodes = "5("`, `Labels["bad name"]`, `PromQL.Errors`, "7 problem(s)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not mention %s:\n%v", want, err)
		}
	}
	// "version" is not the version label here, so it is a fine extra matcher.
	if strings.Contains(err.Error(), `Labels["version"]`) {
		t.Errorf("Validate error mentions Labels[\"version\"], which does not clash with VersionLabel %q:\n%v", src.VersionLabel, err)
	}
	if o, err := (&prometheus.Source{URL: "http://127.0.0.1:9090"}).Observe(t.Context(), verify.Query{Start: start, End: end}); !errors.Is(err, prometheus.ErrBadQuery) {
		t.Errorf("Observe of version \"\" = %+v, %v; want ErrBadQuery (it would select the series without a version)", o, err)
	}
	o, oerr := src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: end})
	if !errors.Is(oerr, prometheus.ErrBadQuery) {
		t.Errorf("Observe with an invalid Source = %+v, %v; want ErrBadQuery", o, oerr)
	}
	if err := (&prometheus.Source{URL: "http://x", Labels: map[string]string{"version": "v1"}}).Validate(); err == nil {
		t.Error("Validate accepted an extra matcher on the version label")
	}
}
