package loki

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeLoki serves GET /loki/api/v1/query_range over streams held in
// memory, as Loki does for a log query: the lines of the streams whose
// labels match every matcher of the selector (equality only), in
// [start, end), forward, at most limit of them, grouped by stream.
type fakeLoki struct {
	mu      sync.Mutex
	streams map[string][]fakeEntry // labels JSON → entries
	labels  map[string]map[string]string
	queries int
	fail    []int // status codes to answer the next queries with
}

type fakeEntry struct {
	at   time.Time
	line string
}

func (f *fakeLoki) push(labels map[string]string, at time.Time, line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streams == nil {
		f.streams, f.labels = map[string][]fakeEntry{}, map[string]map[string]string{}
	}
	k := streamKey(labels)
	f.streams[k] = append(f.streams[k], fakeEntry{at, line})
	f.labels[k] = labels
}

var matcher = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*("(?:[^"\\]|\\.)*")`)

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	if len(f.fail) > 0 {
		code := f.fail[0]
		f.fail = f.fail[1:]
		http.Error(w, "injected failure", code)
		return
	}
	if r.URL.Path != "/loki/api/v1/query_range" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	want := map[string]string{}
	for _, m := range matcher.FindAllStringSubmatch(q.Get("query"), -1) {
		v, err := strconv.Unquote(m[2])
		if err != nil {
			http.Error(w, "parse error: "+err.Error(), http.StatusBadRequest)
			return
		}
		want[m[1]] = v
	}
	if len(want) == 0 {
		http.Error(w, "parse error: no matcher", http.StatusBadRequest)
		return
	}
	start, _ := strconv.ParseInt(q.Get("start"), 10, 64)
	end, _ := strconv.ParseInt(q.Get("end"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	type hit struct {
		stream string
		e      fakeEntry
	}
	var hits []hit
	for k, es := range f.streams {
		ok := true
		for l, v := range want {
			ok = ok && f.labels[k][l] == v
		}
		if !ok {
			continue
		}
		for _, e := range es {
			if ns := e.at.UnixNano(); ns >= start && ns < end {
				hits = append(hits, hit{k, e})
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return a.e.at.Compare(b.e.at) })
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	type stream struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	}
	byStream := map[string]*stream{}
	var result []*stream
	for _, h := range hits {
		s := byStream[h.stream]
		if s == nil {
			s = &stream{Stream: f.labels[h.stream]}
			byStream[h.stream] = s
			result = append(result, s)
		}
		s.Values = append(s.Values, [2]string{strconv.FormatInt(h.e.at.UnixNano(), 10), h.e.line})
	}
	json.NewEncoder(w).Encode(map[string]any{
		"status": "success",
		"data":   map[string]any{"resultType": "streams", "result": result},
	})
}

func startFake(t *testing.T, f *fakeLoki) string {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}
