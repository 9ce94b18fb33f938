package scrape_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/scrape"
)

// fakeRoundTripper serves, with no network, the metrics page of an instance
// that answers 10 requests a second since start, one in ten failing. It
// counts the scrapes.
type fakeRoundTripper struct {
	start   time.Time
	scrapes atomic.Int64
}

func (f *fakeRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	f.scrapes.Add(1)
	s := time.Since(f.start).Seconds()
	page := fmt.Sprintf("# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} %g\nhttp_requests_total{code=\"500\"} %g\n"+
		"# TYPE http_request_duration_seconds histogram\nhttp_request_duration_seconds_bucket{le=\"0.1\"} %g\nhttp_request_duration_seconds_count %g\n", 9*s, s, 8*s, 10*s)
	return &http.Response{
		StatusCode: http.StatusOK,
		Status:     "200 OK",
		Header:     http.Header{"Content-Type": {"text/plain; version=0.0.4; charset=utf-8"}},
		Body:       io.NopCloser(strings.NewReader(page)),
		Request:    r,
	}, nil
}

var fakeTarget = scrape.Target{URL: "http://fake.invalid/metrics", Version: "v1"}

// Run scrapes at once and on every tick; Observe answers from its rounds.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &fakeRoundTripper{start: time.Now()}
		src := &scrape.Source{Targets: scrape.Static(fakeTarget), Transport: rt}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, 15*time.Second) }()

		time.Sleep(time.Minute)
		synctest.Wait() // the round at one minute
		if n := rt.scrapes.Load(); n != 5 {
			t.Errorf("%d scrapes in a minute, every 15s from the start; want 5", n)
		}
		q := verify.Query{Version: "v1", Start: rt.start.Add(15 * time.Second), End: rt.start.Add(45 * time.Second)}
		got, err := src.Observe(ctx, q)
		if err != nil || got.Requests != 300 || got.Errors != 30 || len(got.Warnings) > 0 {
			t.Errorf("Observe(15s…45s) = %+v, %v; want 300 requests, 30 errors", got, err)
		}
		if n := rt.scrapes.Load(); n != 5 {
			t.Errorf("Observe of a window the rounds cover scraped: %d scrapes, want 5", n)
		}

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

// Without Run, Observe scrapes when its window ends after the newest round.
func TestObserveScrapesWhenStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &fakeRoundTripper{start: time.Now()}
		src := &scrape.Source{Targets: scrape.Static(fakeTarget), Transport: rt}
		if err := src.Scrape(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i, want := range []float64{100, 200, 300} {
			time.Sleep(10 * time.Second)
			start := rt.start.Add(time.Duration(10*i) * time.Second)
			got, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: start, End: time.Now()})
			if err != nil || got.Requests != 100 || len(got.Warnings) > 0 {
				t.Errorf("interval %d: Observe = %+v, %v; want 100 requests", i, got, err)
			}
			got, err = src.Observe(t.Context(), verify.Query{Version: "v1", Start: rt.start, End: time.Now()})
			if err != nil || got.Requests != want {
				t.Errorf("since the start: Observe = %+v, %v; want %v requests", got, err, want)
			}
		}
		if n := rt.scrapes.Load(); n != 4 {
			t.Errorf("%d scrapes, want 4: the first, and one per interval", n)
		}

		// A window reaching into the future is measured up to now.
		got, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: rt.start, End: time.Now().Add(time.Minute)})
		if err != nil || got.Requests != 300 || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "ends after the newest scrape") {
			t.Errorf("future window: Observe = %+v, %v; want 300 requests so far, with a warning", got, err)
		}
	})
}

// A round that cannot list its targets is reported by the windows that
// hold it; so is a failed scrape when Observe answers from stored rounds.
func TestListingFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &fakeRoundTripper{start: time.Now()}
		var broken atomic.Bool
		errFleet := errors.New("fleet API: 503")
		targets := func(context.Context) ([]scrape.Target, error) {
			if broken.Load() {
				return nil, errFleet
			}
			return []scrape.Target{fakeTarget}, nil
		}
		src := &scrape.Source{Targets: targets, Transport: rt}
		for _, b := range []bool{false, false, true, false} { // rounds at 0, 10s, 20s (fails), 30s
			broken.Store(b)
			err := src.Scrape(t.Context())
			if b != errors.Is(err, errFleet) {
				t.Errorf("Scrape with listing broken %v: %v", b, err)
			}
			time.Sleep(10 * time.Second)
		}
		got, err := src.Observe(t.Context(), verify.Query{Version: "v1", Start: rt.start, End: rt.start.Add(30 * time.Second)})
		if err != nil || got.Requests != 300 || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "could not list the targets, last: scrape: list targets: fleet API: 503") {
			t.Errorf("Observe = %+v, %v; want 300 requests and a warning for the failed listing", got, err)
		}

		// Now at 40s, the listing broken: Observe answers up to 30s, and warns.
		broken.Store(true)
		got, err = src.Observe(t.Context(), verify.Query{Version: "v1", Start: rt.start, End: time.Now()})
		if err != nil || got.Requests != 300 || !strings.Contains(strings.Join(got.Warnings, "\n"), "could not scrape now") {
			t.Errorf("Observe with listing broken = %+v, %v; want the stored 300 requests, and a warning", got, err)
		}
	})
}
