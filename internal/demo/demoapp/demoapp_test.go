package demoapp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// logged serves n requests and counts the JSON lines logged by message.
func logged(t *testing.T, c Config, n int) map[string]int {
	t.Helper()
	var buf syncBuffer
	c.Log = &buf
	a := New(c)
	for range n {
		a.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/checkout", nil))
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(buf.b.String()), "\n") {
		var rec struct {
			Level, Msg, Err, Version string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Version != c.Version {
			t.Errorf("log line %q: version %q, want %q", line, rec.Version, c.Version)
		}
		key := rec.Level + " " + rec.Msg
		if strings.HasPrefix(rec.Err, "connection pool exhausted for shard ") {
			key += " (pool)"
		}
		counts[key]++
	}
	return counts
}

func TestLogBug(t *testing.T) {
	const n = 2000
	got := logged(t, Config{Version: "v2", ErrorRate: 0.01, LogBugShare: 0.05, Latency: 1, Seed: 1}, n)
	if got["INFO request served"] != n {
		t.Errorf("%d requests logged as served, want %d", got["INFO request served"], n)
	}
	if bug := got["ERROR checkout degraded (pool)"]; bug < 60 || bug > 140 {
		t.Errorf("%d pool exhaustion errors in %d requests at share 0.05, want about 100", bug, n)
	}
	if failed := got["ERROR request failed"]; failed < 5 || failed > 40 {
		t.Errorf("%d failures logged in %d requests at error rate 0.01, want about 20", failed, n)
	}
	off := logged(t, Config{Version: "v2", LogBugShare: 0.05, Latency: 1, Seed: 1, Faulty: func() bool { return false }}, 500)
	if off["ERROR checkout degraded (pool)"] != 0 {
		t.Errorf("with the flag off, %d pool exhaustion errors, want none", off["ERROR checkout degraded (pool)"])
	}
}

// A scrape counts each request in all of its series or in none: the
// histogram's count equals the requests counter's sum on every page, however
// the scrapes fall among concurrent requests. The exact conformance checks
// of the Prometheus and scrape sources, which split a window while traffic
// flows, rely on it.
func TestScrapesAreConsistent(t *testing.T) {
	app := New(Config{Version: "v1", ErrorRate: 0.1, BusinessRate: 0.2, Latency: time.Microsecond})
	srv := httptest.NewServer(app)
	defer srv.Close()
	// Enough idle connections for every client: the default two per host
	// would have the others dial anew for each request, by the thousand.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if res, err := client.Get(srv.URL + "/"); err == nil {
					res.Body.Close()
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	for i := range 300 {
		res, err := client.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var requests float64
		for _, m := range families["http_requests_total"].GetMetric() {
			requests += m.GetCounter().GetValue()
		}
		count := float64(families["http_request_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount())
		if count != requests {
			t.Fatalf("scrape %d: the histogram counts %g requests, the counter %g", i+1, count, requests)
		}
	}
}
