package scrape

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/verify/promcount"
)

// key returns the identity of the series with name and labels, given as
// name, value pairs.
func key(name string, labels ...string) string {
	m := model.Metric{model.MetricNameLabel: model.LabelValue(name)}
	for i := 0; i+1 < len(labels); i += 2 {
		m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return identity(m)
}

func mustCompile(t *testing.T, m promcount.Metrics) *promcount.Names {
	t.Helper()
	n, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// What client_golang exposes, with other metrics around it.
const clientGolangPage = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 7
# HELP http_request_duration_seconds Request durations.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{version="v1",le="0.005"} 3
http_request_duration_seconds_bucket{version="v1",le="0.1"} 9
http_request_duration_seconds_bucket{version="v1",le="+Inf"} 10
http_request_duration_seconds_sum{version="v1"} 0.8
http_request_duration_seconds_count{version="v1"} 10
# HELP http_requests_total Requests served, by status code.
# TYPE http_requests_total counter
http_requests_total{code="200",version="v1"} 8
http_requests_total{code="404",version="v1"} 1
http_requests_total{code="503",version="v1"} 1
# HELP rpc_duration_seconds A summary.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 0.01
rpc_duration_seconds_sum 1
rpc_duration_seconds_count 100
some_untyped_thing{a="b"} 42
business_events_total{version="v1"} 4
`

func TestParse(t *testing.T) {
	got, problems, err := parse(strings.NewReader(clientGolangPage), mustCompile(t, promcount.Metrics{Business: "business_events_total"}))
	if err != nil || problems != nil {
		t.Fatal(err, problems)
	}
	want := map[string]point{
		key("http_requests_total", "code", "200", "version", "v1"):                  {kind: requests, value: 8},
		key("http_requests_total", "code", "404", "version", "v1"):                  {kind: requests, value: 1},
		key("http_requests_total", "code", "503", "version", "v1"):                  {kind: requests, failed: true, value: 1},
		key("http_request_duration_seconds_bucket", "le", "0.005", "version", "v1"): {kind: bucket, le: 0.005, group: key("http_request_duration_seconds_bucket", "version", "v1"), value: 3},
		key("http_request_duration_seconds_bucket", "le", "0.1", "version", "v1"):   {kind: bucket, le: 0.1, group: key("http_request_duration_seconds_bucket", "version", "v1"), value: 9},
		key("http_request_duration_seconds_bucket", "le", "+Inf", "version", "v1"):  {kind: bucket, le: inf, group: key("http_request_duration_seconds_bucket", "version", "v1"), value: 10},
		key("business_events_total", "version", "v1"):                               {kind: business, value: 4},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(point{})); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
}

func TestParseUntypedAndUTF8(t *testing.T) {
	// No TYPE lines, a histogram whose +Inf bucket is implied by _count,
	// and UTF-8 names, quoted.
	page := `{"http.requests.total", "status code"="500"} 2
{"http.requests.total", "status code"="201"} 5
{"http.requests.total", "status code"="500x"} 1
# TYPE latency histogram
latency_bucket{le="0.25"} 4
latency_count 8
latency_sum 3
{"orders.completed"} 3 1700000000000
`
	n := mustCompile(t, promcount.Metrics{Requests: "http.requests.total", CodeLabel: "status code", Latency: "latency_bucket", Business: "orders.completed"})
	got, problems, err := parse(strings.NewReader(page), n)
	if err != nil || problems != nil {
		t.Fatal(err, problems)
	}
	want := map[string]point{
		key("http.requests.total", "status code", "500"):  {kind: requests, failed: true, value: 2},
		key("http.requests.total", "status code", "201"):  {kind: requests, value: 5},
		key("http.requests.total", "status code", "500x"): {kind: requests, value: 1}, // the pattern matches whole values
		key("latency_bucket", "le", "0.25"):               {kind: bucket, le: 0.25, group: key("latency_bucket"), value: 4},
		key("latency_bucket", "le", "+Inf"):               {kind: bucket, le: inf, group: key("latency_bucket"), value: 8},
		key("orders.completed"):                           {kind: business, value: 3},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(point{})); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
}

func TestParseUntypedBucketsAndInvalidValues(t *testing.T) {
	page := `http_request_duration_seconds_bucket{le="1"} 2
http_request_duration_seconds_bucket{le="+Inf"} 3
http_requests_total{code="200"} NaN
http_requests_total{code="404"} -3
http_requests_total{code="429"} +Inf
http_requests_total{code="500"} 1
`
	got, problems, err := parse(strings.NewReader(page), mustCompile(t, promcount.Metrics{}))
	if err != nil || problems != nil {
		t.Fatal(err, problems)
	}
	want := map[string]point{
		key("http_request_duration_seconds_bucket", "le", "1"):    {kind: bucket, le: 1, group: key("http_request_duration_seconds_bucket"), value: 2},
		key("http_request_duration_seconds_bucket", "le", "+Inf"): {kind: bucket, le: inf, group: key("http_request_duration_seconds_bucket"), value: 3},
		key("http_requests_total", "code", "500"):                 {kind: requests, failed: true, value: 1},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(point{})); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, page, want string }{
		{"not the text format", "<html><body>Hello</body></html>\n", "text format parsing error"},
		{"bad value", "http_requests_total{code=\"200\"} lots\n", "text format parsing error"},
		{"unterminated labels", "http_requests_total{code=\"200\" 4\n", "text format parsing error"},
	} {
		_, _, err := parse(strings.NewReader(c.page), mustCompile(t, promcount.Metrics{}))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// A bucket without a numeric bound is skipped, with a problem that drops
// the latency; the rest of the page counts.
func TestParseBadBound(t *testing.T) {
	page := `http_request_duration_seconds_bucket{le="soon"} 4
http_request_duration_seconds_bucket{le="+Inf"} 5
http_requests_total{code="200"} 5
`
	got, problems, err := parse(strings.NewReader(page), mustCompile(t, promcount.Metrics{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(problems) != 1 || !strings.Contains(problems[0], `le="soon" is not a number`) {
		t.Errorf("parse = %v, problems %q; want the requests and +Inf series, and a problem with le=\"soon\"", got, problems)
	}
}

func TestIdentity(t *testing.T) {
	for _, c := range []struct {
		m    model.Metric
		want string
	}{
		{model.Metric{"__name__": "up"}, `"up"{}`},
		{model.Metric{"__name__": "x", "b": "2", "A": "1"}, `"x"{"A"="1","b"="2"}`},
		{model.Metric{"__name__": "a.b", "c d": `e", f="g`}, `"a.b"{"c d"="e\", f=\"g"}`},
	} {
		if got := identity(c.m); got != c.want {
			t.Errorf("identity(%v) = %s, want %s", c.m, got, c.want)
		}
	}
}

func TestLimited(t *testing.T) {
	read := func(s string, n int64) (string, error) {
		b, err := io.ReadAll(&limited{r: strings.NewReader(s), n: n})
		return string(b), err
	}
	if got, err := read("12345", 5); got != "12345" || err != nil {
		t.Errorf("exactly the limit: %q, %v", got, err)
	}
	if _, err := read("123456", 5); !errors.Is(err, errTooLarge) {
		t.Errorf("over the limit: error %v, want errTooLarge", err)
	}
}
