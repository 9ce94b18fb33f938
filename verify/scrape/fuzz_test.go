package scrape

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
)

// FuzzParse feeds two scrapes of one instance, as pages of any text,
// through the parser and the history: whatever the pages hold, parsing
// fails cleanly or yields only values a counter can hold, and the window
// between the scrapes is counted in finite, non-negative numbers, no more
// errors than requests, and a well-formed histogram.
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 3m ./verify/scrape
func FuzzParse(f *testing.F) {
	f.Add(clientGolangPage, clientGolangPage)
	f.Add("# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 5\nhttp_requests_total{code=\"500\"} 1\n",
		"# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 2\nhttp_requests_total{code=\"503\"} 7\n")
	f.Add(`{"http.requests.total", "status code"="500"} 2
# TYPE latency histogram
latency_bucket{le="0.25"} 4
latency_count 8
`, `{"http.requests.total", "status code"="500"} 9
latency_bucket{le="0.25"} 1
latency_bucket{le="0.5"} 1
latency_bucket{le="+Inf"} 2
`)
	f.Add("http_request_duration_seconds_bucket{le=\"soon\"} 4\nhttp_requests_total 1\n", "http_requests_total NaN\nhttp_requests_total{code=\"500\"} -1\n")
	f.Add("http_requests_total{code=\"200\" 17\n", "<html></html>")
	f.Add(`http_request_duration_seconds_bucket{h="a",le="0.1"} 3
http_request_duration_seconds_bucket{h="a",le="+Inf"} 4
http_request_duration_seconds_bucket{h="b",le="0.2"} 3
http_request_duration_seconds_bucket{h="b",le="+Inf"} 9
http_requests_total{code="200"} 13
orders_total 1e308
`, `http_request_duration_seconds_bucket{h="a",le="0.1"} 1e308
http_request_duration_seconds_bucket{h="a",le="+Inf"} 2
http_requests_total{code="200"} 1.5e308
orders_total 1.7976931348623157e308
`)
	names, err := promcount.Metrics{Business: "orders_total"}.Compile()
	if err != nil {
		f.Fatal(err)
	}
	utf8, err := promcount.Metrics{Requests: "http.requests.total", CodeLabel: "status code", Latency: "latency_bucket"}.Compile()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		for _, n := range []*promcount.Names{names, utf8} {
			h := &history{names: n}
			for i, page := range []string{first, second} {
				series, problems, err := parse(strings.NewReader(page), n)
				if err != nil {
					if series != nil || problems != nil {
						t.Fatalf("parse failed (%v) and returned series %v, problems %q", err, series, problems)
					}
					h.add(round{at: at(10 * i), results: []result{{target: a1, err: &TargetError{Target: a1, Err: err}}}})
					continue
				}
				for key, p := range series {
					if !(p.value >= 0) || math.IsInf(p.value, 1) || p.kind > bucket || p.failed && p.kind != requests || math.IsNaN(p.le) || (p.kind == bucket) != (p.group != "") {
						t.Fatalf("parse returned %s = %+v", key, p)
					}
				}
				h.add(round{at: at(10 * i), results: []result{{target: a1, series: series, problems: problems}}})
			}
			o, err := h.observe(a1.Version, at(0), at(10))
			if err != nil {
				if !errors.Is(err, verify.ErrNoData) {
					t.Fatalf("observe: %v, want nil or an error wrapping verify.ErrNoData", err)
				}
				continue
			}
			checkObservation(t, o)
		}
	})
}

// checkObservation fails t unless o is well formed.
func checkObservation(t *testing.T, o verify.Observation) {
	t.Helper()
	count := func(v float64) bool { return v >= 0 && !math.IsNaN(v) }
	if !count(o.Requests) || !count(o.Errors) || !count(o.Business) || o.Errors > o.Requests {
		t.Fatalf("observation %+v: counts must be non-negative numbers, errors at most requests", o)
	}
	for i, b := range o.Latency {
		if !count(b.Count) || i > 0 && (b.UpperBound <= o.Latency[i-1].UpperBound || b.Count < o.Latency[i-1].Count) {
			t.Fatalf("histogram %v: bounds must increase and counts not decrease", o.Latency)
		}
	}
	if n := len(o.Latency); n > 0 && !math.IsInf(o.Latency[n-1].UpperBound, 1) {
		t.Fatalf("histogram %v does not end with +Inf", o.Latency)
	}
}
