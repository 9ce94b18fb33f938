package prometheus

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/verify"
)

// FuzzResponse feeds any body, with any HTTP status, to the parser of the
// query API's answers, and what it accepts to the code that counts: it
// must fail with an error, never a panic, and count only in non-negative
// numbers and well-formed histograms.
//
//	go test -run '^$' -fuzz FuzzResponse -fuzztime 3m ./verify/prometheus
func FuzzResponse(f *testing.F) {
	matrix := `{"status":"success","data":{"resultType":"matrix","result":[` +
		`{"metric":{"__name__":"http_requests_total","code":"500","le":"0.1"},"values":[[1740830400,"1"],[1740830430,"7"],[1740830460,"NaN"],[1740830490,"3"]]},` +
		`{"metric":{"code":"200","le":"+Inf"},"values":[[1740830400,"10"],[1740830500,"25"]]}]}}`
	f.Add(200, []byte(matrix))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"le":"0.25"},"value":[1740830760,"400"]},{"metric":{"le":"+Inf"},"value":[1740830760,"420"]}]},"warnings":["partial"]}`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"scalar","result":[1740830760,"20"]}}`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"string","result":[1740830760,"x"]}}`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1740830760,{"count":"3","sum":"1","buckets":[[0,"0.1","0.2","3"]]}]}]}}`))
	f.Add(400, []byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
	f.Add(503, []byte("<html>Service Unavailable</html>"))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"matrix","result":[null]}}`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"vector","result":null}}`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"scalar","result":null}}`))
	f.Add(200, []byte(`{"status":"succ`))
	start, end := time.Unix(1740830430, 0), time.Unix(1740830760, 0)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		v, warnings, err := parseResponse(status, body)
		if err != nil {
			if v != nil || warnings != nil {
				t.Fatalf("parseResponse failed (%v) and returned %v, %q", err, v, warnings)
			}
			var apiErr *APIError
			if status/100 != 2 && !errors.As(err, &apiErr) {
				t.Fatalf("status %d: error %v, want an *APIError", status, err)
			}
			return
		}
		if status/100 != 2 || v == nil {
			t.Fatalf("status %d: parseResponse accepted %v", status, v)
		}
		count := func(what string, x float64) {
			if !(x >= 0) {
				t.Fatalf("%s = %g from %s", what, x, body)
			}
		}
		if n, _, err := sum("q", v); err == nil {
			count("sum", n)
		}
		if n, _, err := rawSum("q", v, start, end); err == nil {
			count("rawSum", n)
		}
		h, _, _, err := rawBuckets("q", v, start, end)
		if err == nil {
			checkHistogram(t, h)
		}
		h, _, err = bucketsByLE("q", v)
		if err == nil {
			checkHistogram(t, h)
		}
		if m, ok := v.(model.Matrix); ok {
			for _, ss := range m {
				inc, _ := increase(ss, start, end)
				count("increase", inc)
			}
		}
	})
}

// checkHistogram fails t unless h is empty or well formed.
func checkHistogram(t *testing.T, h verify.Histogram) {
	t.Helper()
	for i, b := range h {
		if !(b.Count >= 0) || i > 0 && (b.UpperBound <= h[i-1].UpperBound || b.Count < h[i-1].Count) {
			t.Fatalf("histogram %v: bounds must increase and counts not decrease", h)
		}
	}
	if n := len(h); n > 0 && !math.IsInf(h[n-1].UpperBound, 1) {
		t.Fatalf("histogram %v does not end with +Inf", h)
	}
}
