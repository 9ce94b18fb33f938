package lokitest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"
)

func TestMissingBinary(t *testing.T) {
	t.Setenv(Binary, filepath.Join(t.TempDir(), "loki"))
	start := func(require string) *proctest.Recorder {
		t.Setenv(Require, require)
		r := &proctest.Recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r)
		}()
		<-done
		return r
	}
	const advice = "build-loki.sh"
	if r := start(""); !strings.Contains(r.SkipMsg, advice) || r.FatalMsg != "" {
		t.Errorf("without %s: skipped %q, failed %q; want a skip saying to run %s", Require, r.SkipMsg, r.FatalMsg, advice)
	}
	if r := start("1"); !strings.Contains(r.FatalMsg, advice) || !strings.Contains(r.FatalMsg, Require+"=1") || r.SkipMsg != "" {
		t.Errorf("with %s=1: skipped %q, failed %q; want a failure saying to run %s", Require, r.SkipMsg, r.FatalMsg, advice)
	}
}

// TestPushAndQuery starts a real Loki, pushes lines and reads them back
// with a range query: the server works on loopback as configured.
func TestPushAndQuery(t *testing.T) {
	s := Start(t)
	now := time.Now().Truncate(time.Second)
	entries := []Entry{{now.Add(-2 * time.Second), "one"}, {now.Add(-time.Second), "two"}}
	if err := s.Push(t.Context(), map[string]string{"app": "t", "version": "v1"}, entries); err != nil {
		t.Fatal(err)
	}
	q := url.Values{
		"query":     {`{app="t"}`},
		"start":     {strconv.FormatInt(now.Add(-time.Minute).UnixNano(), 10)},
		"end":       {strconv.FormatInt(now.Add(time.Minute).UnixNano(), 10)},
		"direction": {"forward"},
	}
	resp, err := http.Get(s.URL + "/loki/api/v1/query_range?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Values [][2]string `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	var got []string
	for _, st := range r.Data.Result {
		for _, v := range st.Values {
			got = append(got, v[1])
		}
	}
	if strings.Join(got, ",") != "one,two" {
		t.Errorf("query_range returned %q, want one,two", got)
	}
}
