package scrape

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
)

// Synthetic scrapes for the pure core: rounds every 10 seconds from t0.

var (
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inf = math.Inf(1)
)

// at returns t0 plus sec seconds.
func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// A page is one instance's counters in one scrape: requests answered 200
// and 500, orders, and how many requests took at most 100ms.
type page struct{ ok, failed, orders, fast float64 }

func (p page) series() map[string]point {
	return map[string]point{
		`http_requests_total{code="200"}`:                 {kind: requests, value: p.ok},
		`http_requests_total{code="500"}`:                 {kind: requests, failed: true, value: p.failed},
		`orders_total`:                                    {kind: business, value: p.orders},
		`http_request_duration_seconds_bucket{le="0.1"}`:  {kind: bucket, le: 0.1, value: p.fast},
		`http_request_duration_seconds_bucket{le="+Inf"}`: {kind: bucket, le: inf, value: p.ok + p.failed},
	}
}

var errRefused = errors.New("connect: connection refused")

func ok(t Target, p page) result { return result{target: t, series: p.series()} }
func down(t Target) result       { return result{target: t, err: &TargetError{Target: t, Err: errRefused}} }

// history returns a history of rounds at 0, 10, 20… seconds.
func newHistory(rounds ...[]result) *history {
	h := &history{}
	for i, rs := range rounds {
		h.add(round{at: at(10 * i), results: rs})
	}
	return h
}

// obs builds the Observation n requests, of which failed failed and fast
// were fast, with orders business events.
func obs(n, failed, orders, fast float64, warnings ...string) verify.Observation {
	return verify.Observation{
		Requests: n, Errors: failed, Business: orders,
		Latency:  verify.Histogram{{UpperBound: 0.1, Count: fast}, {UpperBound: inf, Count: n}},
		Warnings: warnings,
	}
}

var (
	a1 = Target{URL: "http://a1/metrics", Version: "v1"}
	a2 = Target{URL: "http://a2/metrics", Version: "v1"}
	b1 = Target{URL: "http://b1/metrics", Version: "v2"}
	b2 = Target{URL: "http://b2/metrics", Version: "v2"}
)

// observe calls h.observe over [at(from), at(to)) and fails t on an error.
func observe(t *testing.T, h *history, version string, from, to int) verify.Observation {
	t.Helper()
	o, err := h.observe(version, at(from), at(to))
	if err != nil {
		t.Fatalf("observe(%q, [%d, %d)): %v", version, from, to, err)
	}
	return o
}

func TestObserveSumsInstancesOfTheVersion(t *testing.T) {
	h := newHistory(
		[]result{ok(a1, page{100, 1, 10, 90}), ok(a2, page{50, 0, 5, 50}), ok(b1, page{7, 7, 0, 0})},
		[]result{ok(a1, page{110, 2, 12, 99}), ok(a2, page{55, 0, 6, 54}), ok(b1, page{8, 9, 0, 1})},
		[]result{ok(a1, page{125, 2, 15, 113}), ok(a2, page{60, 1, 7, 58}), ok(b1, page{9, 12, 1, 3})},
	)
	// a1: 25 ok + 1 failed, a2: 10 ok + 1 failed.
	if diff := cmp.Diff(obs(37, 2, 7, 31), observe(t, h, "v1", 0, 20)); diff != "" {
		t.Errorf("v1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(obs(7, 5, 1, 3), observe(t, h, "v2", 0, 20)); diff != "" {
		t.Errorf("v2 (-want +got):\n%s", diff)
	}
}

func TestObserveWindowBounds(t *testing.T) {
	// One instance whose requests counter reads 10×i at round i.
	var rounds [][]result
	for i := range 5 { // rounds at 0, 10, 20, 30, 40
		rounds = append(rounds, []result{ok(a1, page{ok: float64(10 * i), fast: float64(10 * i)})})
	}
	h := newHistory(rounds...)
	for _, c := range []struct {
		name     string
		from, to int
		want     float64 // 0 for no data
		warning  string
	}{
		{"rounds on both ends", 10, 30, 20, ""},
		{"from the first round at or after the start", 5, 30, 20, ""},
		{"to the first round at or after the end", 10, 25, 20, ""},
		{"one round in the window", 15, 25, 10, ""},
		{"no round in the window", 11, 19, 0, ""},
		{"long before the first round", -60, 20, 20, "the window starts before the oldest scrape kept: measured from it, 1m0s after the start"},
		{"just before the first round", -1, 20, 20, ""}, // less than a tenth of the window unmeasured
		{"after the newest round", 20, 90, 20, "the window ends after the newest scrape: measured up to it, 50s before the end"},
		{"only the newest round", 40, 90, 0, ""},
		{"after everything", 50, 90, 0, ""},
	} {
		got, err := h.observe("v1", at(c.from), at(c.to))
		if c.want == 0 {
			if !errors.Is(err, verify.ErrNoData) {
				t.Errorf("%s: [%d, %d) = %+v, %v; want an error wrapping verify.ErrNoData", c.name, c.from, c.to, got, err)
			}
			continue
		}
		if err != nil || got.Requests != c.want {
			t.Errorf("%s: [%d, %d) = %v requests, %v; want %v", c.name, c.from, c.to, got.Requests, err, c.want)
		}
		if w := strings.Join(got.Warnings, "; "); w != c.warning {
			t.Errorf("%s: warnings %q, want %q", c.name, w, c.warning)
		}
	}
}

func TestObserveRestart(t *testing.T) {
	h := newHistory(
		[]result{ok(a1, page{ok: 100, failed: 5, fast: 100})},
		[]result{ok(a1, page{ok: 150, failed: 7, fast: 150})},
		[]result{ok(a1, page{ok: 20, failed: 1, fast: 20})}, // restarted: counts in full
		[]result{ok(a1, page{ok: 40, failed: 1, fast: 40})},
	)
	// ok: 50 + 20 + 20; failed: 2 + 1 + 0.
	if diff := cmp.Diff(obs(93, 3, 0, 90), observe(t, h, "v1", 0, 30)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A series a process stops exposing went with a restart: when it comes
// back, it counts from zero, even above its old value.
func TestObserveVanishedSeriesRestarts(t *testing.T) {
	p := func(ok float64, failed ...float64) result {
		r := result{target: a1, series: map[string]point{`req{code="200"}`: {kind: requests, value: ok}}}
		if len(failed) > 0 {
			r.series[`req{code="500"}`] = point{kind: requests, failed: true, value: failed[0]}
		}
		return r
	}
	h := newHistory([]result{p(100, 5)}, []result{p(110, 7)}, []result{p(3)}, []result{p(20, 9)})
	got := observe(t, h, "v1", 0, 30)
	// ok: 10 + 3 + 17; failed: 2, then 0 (gone), then 9 in full.
	if got.Requests != 30+11 || got.Errors != 11 {
		t.Errorf("got %v requests, %v errors; want 41, 11", got.Requests, got.Errors)
	}
}

func TestObserveJoinAndLeave(t *testing.T) {
	h := newHistory(
		// a1 runs throughout; a2 is listed from the first round but cannot
		// be scraped until the second; b1 leaves after the second.
		[]result{ok(a1, page{ok: 1000, fast: 1000}), down(a2), ok(b1, page{ok: 10, fast: 10})},
		[]result{ok(a1, page{ok: 1010, fast: 1010}), ok(a2, page{ok: 500, fast: 500}), ok(b1, page{ok: 20, fast: 20})},
		// b2 joins after the first round: its first sample counts in full.
		[]result{ok(a1, page{ok: 1020, fast: 1020}), ok(a2, page{ok: 505, fast: 505}), ok(b2, page{ok: 30, fast: 30})},
		[]result{ok(a1, page{ok: 1030, fast: 1030}), ok(a2, page{ok: 510, fast: 510}), ok(b2, page{ok: 35, fast: 35})},
	)
	// a2 may have served for hours before its first sample: it counts
	// from it, not from zero.
	v1 := observe(t, h, "v1", 0, 30)
	if v1.Requests != 30+10 {
		t.Errorf("v1 over [0, 30) = %v requests, want 40 (a1 30, a2 from its first sample 10); warnings %q", v1.Requests, v1.Warnings)
	}
	// b1 served 10 up to its last scrape; b2 served 35 since it started.
	if got := observe(t, h, "v2", 0, 30).Requests; got != 10+35 {
		t.Errorf("v2 over [0, 30) = %v requests, want 45", got)
	}
	if got := observe(t, h, "v2", 10, 30).Requests; got != 35 {
		t.Errorf("v2 over [10, 30) = %v requests, want 35 (b1 not scraped after the window opened)", got)
	}
	if got := observe(t, h, "v2", 20, 30).Requests; got != 5 {
		t.Errorf("v2 over [20, 30) = %v requests, want 5", got)
	}
}

func TestObserveGaps(t *testing.T) {
	h := newHistory(
		[]result{ok(a1, page{ok: 0}), ok(b1, page{ok: 0})},
		[]result{ok(a1, page{ok: 10}), ok(b1, page{ok: 10})},
		[]result{ok(a1, page{ok: 20}), down(b1)},
		[]result{ok(a1, page{ok: 30}), ok(b1, page{ok: 30})},
	)
	// The gap's traffic counts at b1's next scrape.
	want := map[[2]int]float64{{0, 30}: 30, {10, 30}: 20, {20, 30}: 20}
	for w, n := range want {
		if got := observe(t, h, "v2", w[0], w[1]).Requests; got != n {
			t.Errorf("v2 over %v = %v requests, want %v", w, got, n)
		}
	}
	got := observe(t, h, "v2", 0, 30)
	if w := `1 failed scrape(s) in the window, last: scrape http://b1/metrics (version "v2"): connect: connection refused`; len(got.Warnings) != 1 || got.Warnings[0] != w {
		t.Errorf("warnings %q, want [%q]", got.Warnings, w)
	}
	// Over [10, 20) b1 was never scraped: no data, and the error says why.
	_, err := h.observe("v2", at(10), at(20))
	if !errors.Is(err, verify.ErrNoData) || !strings.Contains(err.Error(), "1 scrape(s) of its instances in the window failed, last: scrape http://b1/metrics") {
		t.Errorf("v2 over [10, 20): error %v, want verify.ErrNoData saying the scrape failed", err)
	}
	if got := observe(t, h, "v1", 10, 20); len(got.Warnings) != 0 || got.Requests != 10 {
		t.Errorf("v1 over [10, 20) = %+v, want 10 requests and no warnings", got)
	}
}

// Adjacent windows add up to their union, whatever happens in them.
func TestObserveAdditive(t *testing.T) {
	h := newHistory(
		[]result{ok(a1, page{100, 1, 5, 50}), down(a2)},
		[]result{ok(a1, page{120, 2, 6, 60}), ok(a2, page{7, 0, 1, 7})},
		[]result{ok(a1, page{10, 0, 1, 5}), down(a2)}, // restart, gap
		[]result{ok(a1, page{30, 1, 2, 25}), ok(a2, page{20, 3, 2, 20})},
		[]result{ok(a2, page{25, 3, 3, 22})}, // a1 gone
		[]result{ok(a2, page{40, 4, 4, 30})},
	)
	observeOrZero := func(from, to int) verify.Observation {
		o, err := h.observe("v1", at(from), at(to))
		if err != nil && !errors.Is(err, verify.ErrNoData) {
			t.Fatalf("[%d, %d): %v", from, to, err)
		}
		o.Warnings = nil
		return o
	}
	whole := observeOrZero(-5, 55)
	for cut := -5; cut <= 55; cut += 3 {
		sum := observeOrZero(-5, cut).Add(observeOrZero(cut, 55))
		if diff := cmp.Diff(whole, sum, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("[-5, %d) + [%d, 55) differs from [-5, 55) (-whole +sum):\n%s", cut, cut, diff)
		}
	}
}

func TestObserveNoData(t *testing.T) {
	h := newHistory([]result{ok(a1, page{ok: 1})}, []result{ok(a1, page{ok: 2})})
	for _, c := range []struct {
		name    string
		h       *history
		version string
	}{
		{"empty history", &history{}, "v1"},
		{"unknown version", h, "v0"},
		{"only failures", newHistory([]result{down(b1)}, []result{down(b1)}), "v2"},
	} {
		_, err := c.h.observe(c.version, at(-10), at(20))
		if !errors.Is(err, verify.ErrNoData) {
			t.Errorf("%s: error %v, want one wrapping verify.ErrNoData", c.name, err)
		}
	}
}

func TestObserveLatency(t *testing.T) {
	buckets := func(counts map[float64]float64) map[string]point {
		m := map[string]point{`req`: {kind: requests, value: counts[inf]}}
		for le, n := range counts {
			m[fmt.Sprintf(`b{le="%g"}`, le)] = point{kind: bucket, le: le, value: n}
		}
		return m
	}
	same := func(scale float64) map[string]point {
		return buckets(map[float64]float64{0.1: 5 * scale, 0.5: 8 * scale, inf: 10 * scale})
	}
	h := newHistory(
		[]result{{target: a1, series: same(0)}, {target: a2, series: same(0)}},
		[]result{{target: a1, series: same(1)}, {target: a2, series: same(2)}},
	)
	want := verify.Histogram{{UpperBound: 0.1, Count: 15}, {UpperBound: 0.5, Count: 24}, {UpperBound: inf, Count: 30}}
	if diff := cmp.Diff(want, observe(t, h, "v1", 0, 10).Latency); diff != "" {
		t.Errorf("Latency (-want +got):\n%s", diff)
	}

	// An instance with other bounds: only the shared ones are kept.
	other := buckets(map[float64]float64{0.1: 1, 0.25: 2, inf: 4})
	h = newHistory(
		[]result{{target: a1, series: same(0)}, {target: a2, series: buckets(map[float64]float64{0.1: 0, 0.25: 0, inf: 0})}},
		[]result{{target: a1, series: same(1)}, {target: a2, series: other}},
	)
	got := observe(t, h, "v1", 0, 10)
	want = verify.Histogram{{UpperBound: 0.1, Count: 6}, {UpperBound: inf, Count: 14}}
	if diff := cmp.Diff(want, got.Latency); diff != "" {
		t.Errorf("mixed bounds: Latency (-want +got):\n%s", diff)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "kept the 2 bounds all share") {
		t.Errorf("mixed bounds: warnings %q, want one about the bounds kept", got.Warnings)
	}

	// Buckets without +Inf are no histogram.
	noInf := func(n float64) map[string]point { return buckets(map[float64]float64{0.1: n, 1: n}) }
	h = newHistory([]result{{target: a1, series: noInf(0)}}, []result{{target: a1, series: noInf(3)}})
	if got := observe(t, h, "v1", 0, 10); got.Latency != nil || len(got.Warnings) != 1 {
		t.Errorf("no +Inf: Latency %v, warnings %q; want none, and a warning", got.Latency, got.Warnings)
	}

	// No buckets at all, on any page: no latency, and a warning naming
	// the metric.
	h = newHistory(
		[]result{{target: a1, series: map[string]point{`req`: {kind: requests, value: 0}}}},
		[]result{{target: a1, series: map[string]point{`req`: {kind: requests, value: 4}}}},
	)
	got = observe(t, h, "v1", 0, 10)
	missing := verify.MetricsNotFound(got)
	if got.Latency != nil || got.Requests != 4 || len(missing) != 1 || missing[0].Use != verify.UseLatency || missing[0].Metric != "http_request_duration_seconds_bucket" {
		t.Errorf("no buckets: %+v, want 4 requests, no latency, and a warning that the latency metric was not found", got)
	}
}

func TestPrune(t *testing.T) {
	var rounds [][]result
	for i := range 11 { // rounds at 0…100
		rs := []result{ok(a1, page{ok: float64(10 * i)})}
		switch {
		case i == 5:
			rs = []result{down(a1)}
		case i < 3:
			rs = append(rs, ok(b1, page{ok: float64(i)})) // gone at 30
		}
		rounds = append(rounds, rs)
	}
	h := newHistory(rounds...)
	h.prune(at(45))
	if len(h.rounds) != 6 || !h.rounds[0].Equal(at(50)) {
		t.Errorf("rounds after pruning at 45s: %v, want 50s…100s", h.rounds)
	}
	if _, ok := h.instances[b1]; ok {
		t.Errorf("b1, last scraped at 20s, kept after pruning at 45s")
	}
	// a1 failed at 50: its last sample before the horizon, at 40, is kept,
	// so [50, 60) still counts from it.
	if got := observe(t, h, "v1", 50, 60); got.Requests != 20 {
		t.Errorf("v1 over [50, 60) = %v requests, want 20 (from the sample at 40)", got.Requests)
	}
	got := observe(t, h, "v1", 0, 100)
	if got.Requests != 60 || len(got.Warnings) != 1 {
		t.Errorf("v1 over [0, 100) = %v requests, warnings %q; want 60, measured from 40, with a warning for the window's start", got.Requests, got.Warnings)
	}
	if n := len(h.instances[a1].scrapes); n != 6 {
		t.Errorf("a1 keeps %d scrapes, want 6 (40, 60…100)", n)
	}
}

func TestAddKeepsRoundsInOrder(t *testing.T) {
	h := newHistory([]result{ok(a1, page{ok: 1})}, []result{ok(a1, page{ok: 2})})
	h.add(round{at: at(5), results: []result{ok(a1, page{ok: 3})}}) // before the newest: taken as simultaneous
	if len(h.rounds) != 2 {
		t.Fatalf("rounds %v, want 2", h.rounds)
	}
	if got := observe(t, h, "v1", -10, 10).Requests; got != 2 {
		t.Errorf("got %v requests, want 2", got)
	}
}

// A metric no page has is named, and not read as zero: the requests
// metric fails the observation, the others are reported as warnings.
// (Which series are which is parse's business: here, pages without them.)
func TestObserveMetricNotFound(t *testing.T) {
	without := func(k kind, p page) map[string]point {
		m := p.series()
		maps.DeleteFunc(m, func(_ string, x point) bool { return x.kind == k })
		return m
	}
	h := newHistory([]result{{target: a1, series: without(requests, page{ok: 1})}}, []result{{target: a1, series: without(requests, page{ok: 2})}})
	h.names, _ = promcount.Metrics{Requests: "http_requests_totl"}.Compile()
	_, err := h.observe("v1", at(0), at(10))
	var nf *verify.MetricNotFoundError
	if !errors.As(err, &nf) || nf.Use != verify.UseRequests || nf.Metric != "http_requests_totl" || !errors.Is(err, verify.ErrNoData) {
		t.Errorf("no requests series on any page: error %v; want a *verify.MetricNotFoundError naming http_requests_totl", err)
	}

	h = newHistory([]result{{target: a1, series: without(business, page{ok: 1})}}, []result{{target: a1, series: without(business, page{ok: 2})}})
	h.names, _ = promcount.Metrics{Business: "oders_total"}.Compile()
	got := observe(t, h, "v1", 0, 10)
	missing := verify.MetricsNotFound(got)
	if got.Requests != 1 || len(missing) != 1 || missing[0].Use != verify.UseBusiness || missing[0].Metric != "oders_total" {
		t.Errorf("no business series on any page: %+v; want 1 request and a warning that oders_total was not found", got)
	}
	h.names = nil // no business metric named: nothing to warn about
	if got := observe(t, h, "v1", 0, 10); len(got.Warnings) != 0 {
		t.Errorf("no business metric named: warnings %q", got.Warnings)
	}
}

// A version whose pages lack a metric others have did not count any: no
// requests is no data, no business events is zero, without a warning.
func TestObserveMetricOfOtherVersions(t *testing.T) {
	bare := func(tg Target, n float64) result {
		return result{target: tg, series: map[string]point{`other_total`: {kind: business, value: n}}}
	}
	h := newHistory(
		[]result{ok(a1, page{ok: 1, orders: 1}), bare(b1, 0), {target: b2, series: map[string]point{`req`: {kind: requests, value: 0}}}},
		[]result{ok(a1, page{ok: 5, orders: 2}), bare(b1, 3), {target: b2, series: map[string]point{`req`: {kind: requests, value: 9}}}},
	)
	h.names, _ = promcount.Metrics{Business: "orders_total"}.Compile()
	_, err := h.observe("v2", at(0), at(10))
	if err != nil {
		t.Fatalf("v2: %v", err)
	}
	delete(h.instances, b2)
	_, err = h.observe("v2", at(0), at(10))
	if !errors.Is(err, verify.ErrNoData) || errors.Is(err, verify.ErrMetricNotFound) || !strings.Contains(err.Error(), "exposed no series of http_requests_total") {
		t.Errorf("v2 without requests series: error %v; want verify.ErrNoData saying so, not ErrMetricNotFound", err)
	}
	h = newHistory(
		[]result{ok(a1, page{ok: 1, orders: 1}), {target: b1, series: map[string]point{`req`: {kind: requests, value: 0}}}},
		[]result{ok(a1, page{ok: 5, orders: 2}), {target: b1, series: map[string]point{`req`: {kind: requests, value: 9}}}},
	)
	h.names, _ = promcount.Metrics{Business: "orders_total"}.Compile()
	got := observe(t, h, "v2", 0, 10)
	if got.Requests != 9 || got.Business != 0 || verify.MetricsNotFound(got) != nil {
		t.Errorf("v2 without business series: %+v; want 9 requests, 0 business events and no metric reported missing", got)
	}
}

// Histograms on one page with different bounds keep the bounds they
// share; a page with a bucket whose bound is not a number drops the
// latency of the windows that hold it.
func TestObservePageHistograms(t *testing.T) {
	two := func(scale float64) map[string]point {
		return map[string]point{
			`req`:                {kind: requests, value: 20 * scale},
			`b{h="a",le="0.1"}`:  {kind: bucket, le: 0.1, group: `b{h="a"}`, value: 5 * scale},
			`b{h="a",le="0.5"}`:  {kind: bucket, le: 0.5, group: `b{h="a"}`, value: 8 * scale},
			`b{h="a",le="+Inf"}`: {kind: bucket, le: inf, group: `b{h="a"}`, value: 10 * scale},
			`b{h="b",le="0.1"}`:  {kind: bucket, le: 0.1, group: `b{h="b"}`, value: 1 * scale},
			`b{h="b",le="0.25"}`: {kind: bucket, le: 0.25, group: `b{h="b"}`, value: 3 * scale},
			`b{h="b",le="+Inf"}`: {kind: bucket, le: inf, group: `b{h="b"}`, value: 10 * scale},
		}
	}
	h := newHistory([]result{{target: a1, series: two(0)}}, []result{{target: a1, series: two(1)}}, []result{{target: a1, series: two(2), problems: []string{`series b{le="soon"} skipped: le="soon" is not a number`}}})
	got := observe(t, h, "v1", 0, 10)
	want := verify.Histogram{{UpperBound: 0.1, Count: 6}, {UpperBound: inf, Count: 20}}
	if diff := cmp.Diff(want, got.Latency); diff != "" {
		t.Errorf("Latency (-want +got):\n%s", diff)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "kept the 2 bounds all share") {
		t.Errorf("warnings %q, want one about the bounds kept", got.Warnings)
	}
	got = observe(t, h, "v1", 0, 20)
	if got.Latency != nil || got.Requests != 40 || !strings.Contains(strings.Join(got.Warnings, "\n"), `latency dropped: http://a1/metrics: series b{le="soon"} skipped`) {
		t.Errorf("with a bad bound: %+v; want 40 requests, no latency, and a warning naming the series", got)
	}
}
