package promcount_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
)

var inf = math.Inf(1)

func TestCompile(t *testing.T) {
	n, err := promcount.Metrics{ErrorCodes: "5..|429"}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if n.Requests != promcount.DefaultRequests || n.CodeLabel != promcount.DefaultCodeLabel || n.Latency != promcount.DefaultLatency || n.Business != "" {
		t.Errorf("Compile of the zero Metrics = %+v, want the defaults", n)
	}
	for code, want := range map[string]bool{"500": true, "503": true, "429": true, "4290": false, "200": false, "": false, "x500": false} {
		if got := n.Failed(code); got != want {
			t.Errorf("ErrorCodes 5..|429: Failed(%q) = %v, want %v", code, got, want)
		}
	}
	if _, err := (promcount.Metrics{Requests: "http.requests", CodeLabel: "status code", Latency: "lat.bucket_bucket", Business: "orders ✓"}).Compile(); err != nil {
		t.Errorf("UTF-8 names: %v", err)
	}
}

func TestValidate(t *testing.T) {
	err := promcount.Metrics{Requests: "bad\xff", CodeLabel: "le", ErrorCodes: "5((", Latency: "latency_seconds", Business: "\xfe"}.Validate()
	for _, want := range []string{
		`Metrics.Requests = "bad\xff"`, `Metrics.CodeLabel = "le"`, `Metrics.ErrorCodes = "5(("`,
		`Metrics.Latency = "latency_seconds": must name the histogram's bucket series`, `Metrics.Business = "\xfe"`, "5 problem(s)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not mention %s:\n%v", want, err)
		}
	}
}

func TestBuckets(t *testing.T) {
	type add struct {
		group     string
		le, count float64
	}
	for _, c := range []struct {
		name     string
		adds     []add
		drop     string
		want     verify.Histogram
		warnings []string
	}{
		{name: "nothing"},
		{
			name: "summed by bound",
			adds: []add{{"a", 0.1, 3}, {"a", inf, 5}, {"b", inf, 10}, {"b", 0.1, 1}, {"a", 0.1, 1}},
			want: verify.Histogram{{UpperBound: 0.1, Count: 5}, {UpperBound: inf, Count: 15}},
		},
		{
			name:     "different bounds keep those all share",
			adds:     []add{{"a", 0.1, 3}, {"a", 0.5, 4}, {"a", inf, 5}, {"b", 0.25, 1}, {"b", 0.5, 2}, {"b", inf, 2}},
			want:     verify.Histogram{{UpperBound: 0.5, Count: 6}, {UpperBound: inf, Count: 7}},
			warnings: []string{"latency buckets differ between histograms (a has le=0.1,0.5,+Inf, b has le=0.25,0.5,+Inf): kept the 2 bounds all share"},
		},
		{
			name:     "no +Inf",
			adds:     []add{{"a", 0.1, 3}, {"a", 0.5, 4}},
			warnings: []string{`latency dropped: the buckets all histograms share do not end with le="+Inf"`},
		},
		{
			name: "counts made non-decreasing",
			adds: []add{{"a", 0.1, 4}, {"a", 0.5, 3}, {"a", inf, 9}},
			want: verify.Histogram{{UpperBound: 0.1, Count: 4}, {UpperBound: 0.5, Count: 4}, {UpperBound: inf, Count: 9}},
		},
		{
			name:     "dropped",
			adds:     []add{{"a", inf, 3}},
			drop:     `series x{le="soon"}: le="soon" is not a number`,
			warnings: []string{`latency dropped: series x{le="soon"}: le="soon" is not a number`},
		},
		{
			name:     "not a count",
			adds:     []add{{"a", inf, math.NaN()}},
			warnings: []string{"latency dropped: a: bucket le=+Inf counts NaN, which is not a count"},
		},
	} {
		var b promcount.Buckets
		for _, a := range c.adds {
			b.Add(a.group, a.le, a.count)
		}
		if c.drop != "" {
			b.Drop(c.drop)
		}
		h, warnings := b.Histogram()
		if diff := cmp.Diff(c.want, h); diff != "" {
			t.Errorf("%s: histogram (-want +got):\n%s", c.name, diff)
		}
		if diff := cmp.Diff(c.warnings, warnings); diff != "" {
			t.Errorf("%s: warnings (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestParseBound(t *testing.T) {
	for s, want := range map[string]float64{"0.1": 0.1, "+Inf": inf, "1e-3": 0.001, "5": 5} {
		if got, err := promcount.ParseBound(s); err != nil || got != want {
			t.Errorf("ParseBound(%q) = %g, %v; want %g", s, got, err, want)
		}
	}
	for _, s := range []string{"", "NaN", "soon"} {
		if _, err := promcount.ParseBound(s); err == nil {
			t.Errorf("ParseBound(%q): no error", s)
		}
	}
}

// Two instances' histograms, one with a finer layout: the sum keeps the
// bounds both have.
func ExampleBuckets() {
	var b promcount.Buckets
	for le, n := range map[float64]float64{0.1: 80, 0.5: 95, inf: 100} {
		b.Add("10.0.0.7", le, n)
	}
	for le, n := range map[float64]float64{0.1: 30, 0.25: 45, 0.5: 48, inf: 50} {
		b.Add("10.0.0.8", le, n)
	}
	h, warnings := b.Histogram()
	fmt.Println(h)
	fmt.Println(warnings)
	// Output:
	// [{0.1 110} {0.5 143} {+Inf 150}]
	// [latency buckets differ between histograms (10.0.0.7 has le=0.1,0.5,+Inf, 10.0.0.8 has le=0.1,0.25,0.5,+Inf): kept the 3 bounds all share]
}

// The metrics a service instrumented by hand exposes, with 429 counted
// as an error.
func ExampleMetrics() {
	m := promcount.Metrics{Requests: "shop_requests_total", CodeLabel: "status", ErrorCodes: "5..|429", Business: "shop_orders_total"}
	n, err := m.Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Requests, n.Latency, n.Failed("429"), n.Failed("404"))
	fmt.Println(promcount.Metrics{ErrorCodes: "5(("}.Validate())
	// Output:
	// shop_requests_total http_request_duration_seconds_bucket true false
	// 1 problem(s):
	// 	* Metrics.ErrorCodes = "5((": error parsing regexp: missing closing ): `^(?:5(()$`
}
