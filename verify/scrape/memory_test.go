package scrape

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"
)

// A synthetic fleet for measuring what a history keeps: every instance
// exposes, per handler, four request series (by status code), fifteen
// latency buckets and a business counter — 20 series a handler.
const seriesPerHandler = 20

// syntheticKeys returns the identities of one instance's series.
func syntheticKeys(handlers int) []string {
	keys := make([]string, 0, handlers*seriesPerHandler)
	for h := range handlers {
		for _, code := range []string{"200", "404", "500", "503"} {
			keys = append(keys, fmt.Sprintf(`"http_requests_total"{"code"=%q,"handler"="/h%d"}`, code, h))
		}
		for b := range 15 {
			keys = append(keys, fmt.Sprintf(`"http_request_duration_seconds_bucket"{"handler"="/h%d","le"="%d"}`, h, b))
		}
		keys = append(keys, fmt.Sprintf(`"orders_total"{"handler"="/h%d"}`, h))
	}
	return keys
}

// syntheticPage returns one scrape of an instance that has served 10
// requests a second per handler for sec seconds: a new map each time, as
// parsing a page makes.
func syntheticPage(keys []string, sec int) map[string]point {
	n := float64(10 * sec)
	page := make(map[string]point, len(keys))
	for i, k := range keys {
		var p point
		switch j := i % seriesPerHandler; {
		case j < 4:
			p = point{kind: requests, failed: j >= 2, value: n / float64(1+j)}
		case j < 19:
			le := math.Inf(1)
			if j < 18 {
				le = 0.005 * float64(int(1)<<(j-4))
			}
			p = point{kind: bucket, le: le, value: n * float64(j-3) / 15}
		default:
			p = point{kind: business, value: n / 3}
		}
		page[k] = p
	}
	return page
}

// fillHistory records rounds scrapes, one a second, of instances instances
// with handlers handlers each, into h.
func fillHistory(h *history, instances, handlers, rounds int) {
	keys := syntheticKeys(handlers)
	targets := make([]Target, instances)
	for i := range targets {
		targets[i] = Target{URL: fmt.Sprintf("http://10.0.0.%d:8080/metrics", i), Version: "v1"}
	}
	for sec := range rounds {
		r := round{at: t0.Add(time.Duration(sec) * time.Second)}
		for _, t := range targets {
			r.results = append(r.results, result{target: t, series: syntheticPage(keys, sec)})
		}
		h.add(r)
	}
}

// retained returns the heap bytes that build's result keeps alive.
func retained(build func() *history) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(h)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// A history keeps what windows need, not every sample of every series: 4
// instances × 1,000 series scraped 300 times (1.2 million samples, 38 MB
// at 32 bytes each) must fit in a few megabytes.
func TestHistoryMemory(t *testing.T) {
	const instances, handlers, rounds = 4, 50, 300
	got := retained(func() *history {
		h := &history{}
		fillHistory(h, instances, handlers, rounds)
		return h
	})
	if limit := uint64(8 << 20); got > limit {
		t.Errorf("a history of %d instances × %d series × %d scrapes keeps %.1f MB; want at most %d MB",
			instances, handlers*seriesPerHandler, rounds, float64(got)/(1<<20), limit>>20)
	}
}

// BenchmarkHistoryMemory reports the heap an hour of 1-second scrapes of 10
// instances × 1,000 series keeps (retained-B), and per sample scraped
// (B/sample). Run it once: go test -run '^$' -bench HistoryMemory -benchtime 1x ./verify/scrape
func BenchmarkHistoryMemory(b *testing.B) {
	const instances, handlers, rounds = 10, 50, 3600
	var bytes uint64
	for b.Loop() {
		bytes = retained(func() *history {
			h := &history{}
			fillHistory(h, instances, handlers, rounds)
			return h
		})
	}
	b.ReportMetric(float64(bytes), "retained-B")
	b.ReportMetric(float64(bytes)/float64(instances*handlers*seriesPerHandler*rounds), "B/sample")
}
