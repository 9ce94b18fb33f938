package scrape_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
	"github.com/safedeploy/safedeploy/verify/scrape"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

// TestMain fails the package if a test leaves goroutines of its servers,
// clients or sources behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := leaked(5 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// leaked waits up to patience for goroutines of net/http, demoapp or this
// package to end, and lists those that do not.
func leaked(patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		buf := make([]byte, 1<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		var left []string
		for _, g := range stacks[1:] { // the first is this one
			if strings.Contains(g, "net/http.") || strings.Contains(g, "/demoapp.") || strings.Contains(g, "/scrape.") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutine(s) leaked:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A fleet is demoapp instances on 127.0.0.1, and the list of targets a
// Source scrapes, which the test changes as instances join and leave.
type fleet struct {
	t      *testing.T
	client *http.Client    // for traffic, its connections closed at the end
	tr     *http.Transport // for scrapes too

	mu      sync.Mutex
	targets []scrape.Target
}

func newFleet(t *testing.T) *fleet {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &fleet{t: t, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}, tr: tr}
}

// An instance is one running demoapp.
type instance struct {
	app  *demoapp.App
	base string // "http://127.0.0.1:port"
	v    string
}

func (i instance) target() scrape.Target {
	return scrape.Target{URL: i.base + "/metrics", Version: i.v}
}

// serve runs h on 127.0.0.1 until the test ends, and returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	base, done, err := demoapp.Serve(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { <-done }) // t.Context() is cancelled before cleanups run
	return base
}

// start runs an instance of c.Version; it is not listed until list says so.
func (f *fleet) start(c demoapp.Config) instance {
	if c.Latency == 0 {
		c.Latency = 200 * time.Microsecond
	}
	app := demoapp.New(c)
	return instance{app: app, base: serve(f.t, app), v: c.Version}
}

// list makes the fleet's targets those of is.
func (f *fleet) list(is ...instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets = f.targets[:0]
	for _, i := range is {
		f.targets = append(f.targets, i.target())
	}
}

// Targets lists the fleet's targets, for a Source.
func (f *fleet) Targets(context.Context) ([]scrape.Target, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.targets), nil
}

// traffic sends n requests to each instance, instances in parallel, and
// waits for the answers.
func (f *fleet) traffic(n map[instance]int) {
	var wg sync.WaitGroup
	for i, k := range n {
		wg.Go(func() {
			for range k {
				resp, err := f.client.Get(i.base + "/order")
				if err != nil {
					f.t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

// served sums what the instances say they served: requests, errors, and
// business events (every successful request is one, with BusinessRate 1).
func served(is ...instance) verify.Observation {
	var o verify.Observation
	for _, i := range is {
		n, failed := i.app.Served()
		o.Requests += float64(n)
		o.Errors += float64(failed)
		o.Business += float64(n - failed)
	}
	return o
}

// TestFleet runs two versions on loopback, with an instance that joins
// and one that leaves, and checks the source's counts against what the
// instances served, exactly; then runs the conformance suite on it.
func TestFleet(t *testing.T) {
	ctx := t.Context()
	f := newFleet(t)
	a1 := f.start(demoapp.Config{Version: "v1", ErrorRate: 0.05, BusinessRate: 1, Seed: 1})
	a2 := f.start(demoapp.Config{Version: "v1", ErrorRate: 0.05, BusinessRate: 1, Seed: 2})
	b1 := f.start(demoapp.Config{Version: "v2", ErrorRate: 0.3, BusinessRate: 1, Seed: 3})
	f.list(a1, a2, b1)
	src := &scrape.Source{Targets: f.Targets, Transport: f.tr, Metrics: promcount.Metrics{Business: "business_events_total"}}

	start := time.Now()
	if err := src.Scrape(ctx); err != nil {
		t.Fatal(err)
	}
	f.traffic(map[instance]int{a1: 60, a2: 40, b1: 50})
	// b2 starts and serves before its first scrape: it counts from zero.
	b2 := f.start(demoapp.Config{Version: "v2", ErrorRate: 0.3, BusinessRate: 1, Seed: 4})
	f.traffic(map[instance]int{b2: 30})
	f.list(a1, a2, b1, b2)
	if err := src.Scrape(ctx); err != nil {
		t.Fatal(err)
	}
	// a2 leaves: it counts what it served up to its last scrape.
	f.list(a1, b1, b2)
	f.traffic(map[instance]int{a1: 20, b1: 20, b2: 25})
	end := time.Now()

	want := map[string]verify.Observation{"v1": served(a1, a2), "v2": served(b1, b2)}
	for _, v := range []string{"v1", "v2"} {
		// The first call scrapes now, since end is after the newest scrape.
		got, err := src.Observe(ctx, verify.Query{Version: v, Start: start, End: end})
		if err != nil {
			t.Fatalf("Observe(%s): %v", v, err)
		}
		w := want[v]
		if got.Requests != w.Requests || got.Errors != w.Errors || got.Business != w.Business {
			t.Errorf("Observe(%s) = %v requests, %v errors, %v business; the apps served %v, %v, %v",
				v, got.Requests, got.Errors, got.Business, w.Requests, w.Errors, w.Business)
		}
		if len(got.Warnings) > 0 {
			t.Errorf("Observe(%s) warned: %q", v, got.Warnings)
		}
		wantBounds := append(slices.Clone(prometheus.DefBuckets), math.Inf(1))
		var bounds []float64
		for _, b := range got.Latency {
			bounds = append(bounds, b.UpperBound)
		}
		if !slices.Equal(bounds, wantBounds) {
			t.Errorf("Observe(%s): latency bounds %v, want %v", v, bounds, wantBounds)
		} else if inf := got.Latency[len(got.Latency)-1].Count; inf != w.Requests {
			t.Errorf("Observe(%s): +Inf bucket %v, want every request, %v", v, inf, w.Requests)
		}
	}
	if want["v1"].Requests != 120 || want["v2"].Requests != 125 {
		t.Fatalf("the apps served %v and %v requests, want 120 and 125", want["v1"].Requests, want["v2"].Requests)
	}

	verifytest.Run(t, verifytest.Harness{
		Source:  src,
		Start:   start,
		End:     end,
		Served:  want,
		Missing: "v0",
	})
}

// failing serves h as the metrics page of a version of its own, next to a
// healthy instance.
func failing(t *testing.T, h http.HandlerFunc) (src *scrape.Source, good, bad scrape.Target) {
	f := newFleet(t)
	ok := f.start(demoapp.Config{Version: "v1"})
	bad = scrape.Target{URL: serve(t, h) + "/metrics", Version: "bad"}
	src = &scrape.Source{Targets: scrape.Static(ok.target(), bad), Transport: f.tr}
	return src, ok.target(), bad
}

func TestFailingTargets(t *testing.T) {
	for _, c := range []struct {
		name string
		page http.HandlerFunc
		want string
	}{
		{"malformed page", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\" 17\n")
		}, "parse metrics: text format parsing error in line 2"},
		{"not found", http.NotFound, "status 404 Not Found"},
		{"protobuf", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")
		}, "want the Prometheus text format"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			src, good, bad := failing(t, c.page)
			start := time.Now()
			for range 2 {
				// One target failing is a gap, not a failed round.
				if err := src.Scrape(ctx); err != nil {
					t.Fatalf("Scrape with one healthy target: %v", err)
				}
			}
			end := time.Now()
			_, err := src.Observe(ctx, verify.Query{Version: bad.Version, Start: start, End: end})
			if !errors.Is(err, verify.ErrNoData) || !strings.Contains(err.Error(), bad.URL) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Observe(bad) error %v; want verify.ErrNoData naming %s and saying %q", err, bad.URL, c.want)
			}
			if _, err := src.Observe(ctx, verify.Query{Version: good.Version, Start: start, End: end}); err != nil {
				t.Errorf("Observe(v1): %v", err)
			}

			// Alone, it fails the round, with an error naming its URL.
			only := &scrape.Source{Targets: scrape.Static(bad), Transport: src.Transport}
			err = only.Scrape(ctx)
			var te *scrape.TargetError
			if !errors.As(err, &te) || te.Target != bad || !strings.Contains(err.Error(), bad.URL) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Scrape of %s alone: error %v; want a *TargetError for it saying %q", c.name, err, c.want)
			}
		})
	}
}

func TestRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := scrape.Target{URL: "http://" + ln.Addr().String() + "/metrics", Version: "v1"}
	ln.Close()
	src := &scrape.Source{Targets: scrape.Static(refused), Transport: newFleet(t).tr}
	start := time.Now()
	err = src.Scrape(t.Context())
	var te *scrape.TargetError
	if !errors.As(err, &te) || te.Target != refused || !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), refused.URL) {
		t.Errorf("Scrape error %v; want a *TargetError for %s wrapping ECONNREFUSED", err, refused.URL)
	}
	if !strings.HasPrefix(err.Error(), "scrape: no target could be scraped: 1 problem(s):\n\t* ") {
		t.Errorf("Scrape error %q; want the targets' failures in the library's list format", err)
	}
	// Observe scrapes again, and fails again: a gap, so no data.
	_, err = src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: time.Now()})
	if !errors.Is(err, verify.ErrNoData) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Observe error %v; want verify.ErrNoData saying the connection was refused", err)
	}
}

func TestTimeout(t *testing.T) {
	slow := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	src := &scrape.Source{
		Targets:   scrape.Static(scrape.Target{URL: slow + "/metrics", Version: "v1"}),
		Transport: tr,
		Timeout:   50 * time.Millisecond,
	}
	err := src.Scrape(t.Context())
	var te *scrape.TargetError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "Client.Timeout exceeded") {
		t.Errorf("Scrape error %v; want a *TargetError saying the client timed out", err)
	}
}

func TestTargetsFail(t *testing.T) {
	errFleet := errors.New("fleet API: 503")
	src := &scrape.Source{Targets: func(context.Context) ([]scrape.Target, error) { return nil, errFleet }}
	if err := src.Scrape(t.Context()); !errors.Is(err, errFleet) {
		t.Errorf("Scrape error %v, want one wrapping the Targets error", err)
	}
	// The source could not look: a failure, not missing data.
	_, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: time.Now().Add(-time.Minute), End: time.Now()})
	if !errors.Is(err, errFleet) || errors.Is(err, verify.ErrNoData) {
		t.Errorf("Observe error %v, want one wrapping the Targets error and not verify.ErrNoData", err)
	}
}

func TestMisconfigured(t *testing.T) {
	ctx := t.Context()
	q := verify.Query{Version: "v1", Start: time.Now().Add(-time.Minute), End: time.Now()}
	for _, c := range []struct {
		name string
		src  *scrape.Source
		want string
	}{
		{"no targets", &scrape.Source{}, "Targets = <nil>: required"},
		{"bad error codes", &scrape.Source{Targets: scrape.Static(), Metrics: promcount.Metrics{ErrorCodes: "5(("}}, `Metrics.ErrorCodes = "5(("`},
	} {
		errs := map[string]error{"Scrape": c.src.Scrape(ctx), "Run": c.src.Run(ctx, time.Second)}
		_, errs["Observe"] = c.src.Observe(ctx, q)
		for call, err := range errs {
			if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, verify.ErrNoData) {
				t.Errorf("%s: %s error %v, want one saying %q", c.name, call, err, c.want)
			}
		}
	}
	if err := (&scrape.Source{Targets: scrape.Static()}).Run(ctx, 0); err == nil {
		t.Errorf("Run every 0: no error")
	}
}

// No targets listed: the rounds happen, and a version has no data.
func TestNoTargets(t *testing.T) {
	src := &scrape.Source{Targets: scrape.Static()}
	start := time.Now()
	if err := src.Scrape(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: time.Now()}); !errors.Is(err, verify.ErrNoData) {
		t.Errorf("Observe error %v, want verify.ErrNoData", err)
	}
}

// Misspelt metric names are errors and warnings that name them, not
// zeros: a real instrumented instance, read with the wrong names.
func TestMisspeltMetrics(t *testing.T) {
	ctx := t.Context()
	f := newFleet(t)
	a := f.start(demoapp.Config{Version: "v1", BusinessRate: 1, Seed: 1})
	f.list(a)
	observe := func(m promcount.Metrics) (verify.Observation, error) {
		src := &scrape.Source{Targets: f.Targets, Transport: f.tr, Metrics: m}
		start := time.Now()
		if err := src.Scrape(ctx); err != nil {
			t.Fatal(err)
		}
		f.traffic(map[instance]int{a: 5})
		return src.Observe(ctx, verify.Query{Version: "v1", Start: start, End: time.Now()})
	}

	got, err := observe(promcount.Metrics{Requests: "http_request_total"})
	var nf *verify.MetricNotFoundError
	if !errors.As(err, &nf) || nf.Metric != "http_request_total" || nf.Use != verify.UseRequests {
		t.Errorf("misspelt Requests: Observe = %+v, %v; want a *verify.MetricNotFoundError naming http_request_total", got, err)
	}

	got, err = observe(promcount.Metrics{Business: "busines_events_total", Latency: "http_request_duration_bucket"})
	if err != nil || got.Requests != 5 {
		t.Fatalf("misspelt Business and Latency: Observe = %+v, %v; want 5 requests", got, err)
	}
	var missing []string
	for _, m := range verify.MetricsNotFound(got) {
		missing = append(missing, m.Use+" "+m.Metric)
	}
	if want := []string{"business busines_events_total", "latency http_request_duration_bucket"}; !slices.Equal(missing, want) {
		t.Errorf("misspelt Business and Latency: metrics reported missing %q (warnings %q), want %q", missing, got.Warnings, want)
	}
}

func TestValidate(t *testing.T) {
	if err := (&scrape.Source{Targets: scrape.Static()}).Validate(); err != nil {
		t.Errorf("Validate of a Source with only Targets = %v, want nil", err)
	}
	err := (&scrape.Source{
		Timeout:   -time.Second,
		Retention: -time.Hour,
		Metrics:   promcount.Metrics{ErrorCodes: "5((", Latency: "latency", CodeLabel: "le"},
	}).Validate()
	for _, want := range []string{"Targets = <nil>", "Timeout = -1s", "Retention = -1h0m0s", `Metrics.ErrorCodes = "5(("`, `Metrics.Latency = "latency"`, `Metrics.CodeLabel = "le"`, "6 problem(s)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not mention %s:\n%v", want, err)
		}
	}
}
