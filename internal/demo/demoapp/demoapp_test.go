package demoapp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
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
