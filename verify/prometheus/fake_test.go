package prometheus_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// A fakeProm is a fake Prometheus HTTP API on 127.0.0.1 that holds raw
// samples and answers instant queries of one range-vector selector with
// equality matchers — the queries Source builds — as Prometheus 2 does:
// the samples of the matching series in [time-range, time]; and
// count(last_over_time(selector)), which counts those series. Anything
// else is a bad_data error, unless handle answers it first.
type fakeProm struct {
	*httptest.Server
	series []fakeSeries
	// warnings are added to every successful answer.
	warnings []string
	// handle, if set, sees every request first, and answers it by
	// returning true.
	handle func(w http.ResponseWriter, r *http.Request, query string) bool

	mu       sync.Mutex
	requests []fakeRequest
}

type fakeSeries struct {
	labels  model.Metric
	samples []model.SamplePair
}

// A fakeRequest is what the fake received.
type fakeRequest struct {
	Query, Time, Timeout string
	Header               http.Header
}

// newFakeProm starts a fake holding series. Close it when done.
func newFakeProm(series ...fakeSeries) *fakeProm {
	f := &fakeProm{series: series}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// counterSeries returns a series labelled by name and labels (pairs of
// label name and value), with one sample per step from first on, of the
// given values.
func counterSeries(name string, labels []string, first time.Time, step time.Duration, values ...float64) fakeSeries {
	m := model.Metric{model.MetricNameLabel: model.LabelValue(name)}
	for i := 0; i+1 < len(labels); i += 2 {
		m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	s := fakeSeries{labels: m}
	for i, v := range values {
		s.samples = append(s.samples, model.SamplePair{Timestamp: model.TimeFromUnixNano(first.Add(time.Duration(i) * step).UnixNano()), Value: model.SampleValue(v)})
	}
	return s
}

// linear returns n values a + b·k for k = 0…n-1.
func linear(n int, a, b float64) []float64 {
	out := make([]float64, n)
	for k := range out {
		out[k] = a + b*float64(k)
	}
	return out
}

// queries returns the queries received, in order.
func (f *fakeProm) queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var qs []string
	for _, r := range f.requests {
		qs = append(qs, r.Query)
	}
	return qs
}

// received returns the requests received, in order.
func (f *fakeProm) received() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeProm) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	query := r.PostForm.Get("query")
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{Query: query, Time: r.PostForm.Get("time"), Timeout: r.PostForm.Get("timeout"), Header: r.Header.Clone()})
	f.mu.Unlock()
	if f.handle != nil && f.handle(w, r, query) {
		return
	}
	at, err := strconv.ParseFloat(r.PostForm.Get("time"), 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "invalid time")
		return
	}
	inner, counting := strings.CutPrefix(query, "count(last_over_time(")
	if counting {
		if inner, counting = strings.CutSuffix(inner, "))"); !counting {
			writeError(w, http.StatusBadRequest, "bad_data", "fake: unbalanced count(last_over_time(")
			return
		}
		query = inner
	}
	name, matchers, rng, err := parseSelector(query)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	end := model.Time(int64(at*1000 + 0.5))
	start := end.Add(-rng)
	result := model.Matrix{}
	for _, s := range f.series {
		if string(s.labels[model.MetricNameLabel]) != name || !matches(s.labels, matchers) {
			continue
		}
		ss := &model.SampleStream{Metric: s.labels}
		for _, p := range s.samples {
			if !p.Timestamp.Before(start) && !p.Timestamp.After(end) {
				ss.Values = append(ss.Values, p)
			}
		}
		if len(ss.Values) > 0 {
			result = append(result, ss)
		}
	}
	switch {
	case !counting:
		f.writeResult(w, "matrix", result)
	case len(result) == 0:
		f.writeResult(w, "vector", model.Vector{})
	default:
		f.writeResult(w, "vector", model.Vector{sample(model.Metric{}, float64(len(result)))})
	}
}

func matches(m model.Metric, matchers map[string]string) bool {
	for k, v := range matchers {
		if string(m[model.LabelName(k)]) != v {
			return false
		}
	}
	return true
}

// writeResult answers with a successful result.
func (f *fakeProm) writeResult(w http.ResponseWriter, resultType string, result any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"status":   "success",
		"data":     map[string]any{"resultType": resultType, "result": result},
		"warnings": f.warnings,
	})
}

// writeError answers as Prometheus does when a query fails.
func writeError(w http.ResponseWriter, status int, errorType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": errorType, "error": msg})
}

// sample returns an instant-vector sample.
func sample(m model.Metric, v float64) *model.Sample {
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

// parseSelector parses name{label="value",…}[range] or
// {"name",label="value",…}[range], with values quoted as PromQL strings,
// and nothing else.
func parseSelector(q string) (name string, matchers map[string]string, rng time.Duration, err error) {
	bad := func(msg string) (string, map[string]string, time.Duration, error) {
		return "", nil, 0, fmt.Errorf("fake: cannot parse %q: %s", q, msg)
	}
	i := strings.IndexByte(q, '{')
	if i < 0 {
		return bad("no {")
	}
	name, rest := q[:i], q[i+1:]
	if i == 0 { // {"name",…}
		quoted, err := strconv.QuotedPrefix(rest)
		if err != nil || !strings.HasPrefix(quoted, `"`) {
			return bad("no name")
		}
		name, _ = strconv.Unquote(quoted)
		rest = strings.TrimPrefix(rest[len(quoted):], ",")
	}
	matchers = map[string]string{}
	for !strings.HasPrefix(rest, "}") {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return bad("no =")
		}
		label := rest[:eq]
		quoted, err := strconv.QuotedPrefix(rest[eq+1:])
		if err != nil || !strings.HasPrefix(quoted, `"`) {
			return bad("value of " + label + " is not a double-quoted string")
		}
		value, _ := strconv.Unquote(quoted)
		matchers[label] = value
		rest = rest[eq+1+len(quoted):]
		if strings.HasPrefix(rest, ",") {
			rest = rest[1:]
		} else if !strings.HasPrefix(rest, "}") {
			return bad("expected , or }")
		}
	}
	rest = rest[1:]
	if !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
		return bad("no [range]")
	}
	d, err := model.ParseDuration(rest[1 : len(rest)-1])
	if err != nil {
		return bad(err.Error())
	}
	return name, matchers, time.Duration(d), nil
}

// recordingTransport records the query of each request it carries.
type recordingTransport struct {
	mu      sync.Mutex
	queries []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, _ := url.ParseQuery(string(body))
	rt.mu.Lock()
	rt.queries = append(rt.queries, form.Get("query"))
	rt.mu.Unlock()
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *recordingTransport) count() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.queries)
}

// sent returns how many times query was sent.
func (rt *recordingTransport) sent(query string) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return countOf(rt.queries, query)
}
