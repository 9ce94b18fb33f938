package loki

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs/logstest"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// served returns lines for two versions over a minute, as logstest wants
// them: info lines, an error both log, one only v2 logs, and bursts of
// lines at the same time stamp.
func served() map[string][]logstest.Line {
	out := map[string][]logstest.Line{}
	for i := range 60 {
		at := start.Add(time.Duration(i) * time.Second)
		for _, v := range []string{"v1", "v2"} {
			out[v] = append(out[v], logstest.Line{At: at, Text: fmt.Sprintf(`{"level":"INFO","msg":"request served","id":%d}`, i)})
			if i%10 == 0 {
				for j := range 3 { // three lines at the same instant
					out[v] = append(out[v], logstest.Line{At: at.Add(time.Millisecond), Text: fmt.Sprintf(`{"level":"ERROR","msg":"request failed","err":"upstream timeout after %dms"}`, 100+i+j)})
				}
			}
		}
		if i%15 == 3 {
			out["v2"] = append(out["v2"], logstest.Line{At: at.Add(2 * time.Millisecond), Text: fmt.Sprintf(`{"level":"ERROR","msg":"checkout degraded","err":"connection pool exhausted for shard %d"}`, i%7)})
		}
	}
	return out
}

func TestSourceConformsOnFake(t *testing.T) {
	f := &fakeLoki{}
	lines := served()
	for v, ls := range lines {
		for i, l := range ls {
			// Two streams per version, as two instances would push.
			f.push(map[string]string{"app": "shop", "version": v, "instance": fmt.Sprint(i % 2)}, l.At, l.Text)
		}
	}
	f.push(map[string]string{"app": "other", "version": "v1"}, start, "ERROR not ours")
	src := &Source{URL: startFake(t, f), Selector: `{app="shop"}`, Limit: 7}
	logstest.Run(t, logstest.Harness{Source: src, Start: start, End: start.Add(time.Minute), Served: lines, Missing: "v0"})
}

func TestSourceRetriesTransientFailures(t *testing.T) {
	f := &fakeLoki{fail: []int{http.StatusServiceUnavailable, http.StatusTooManyRequests}}
	f.push(map[string]string{"app": "shop", "version": "v1"}, start, "ERROR boom")
	src := &Source{URL: startFake(t, f), Selector: `{app="shop"}`}
	o, err := src.Patterns(t.Context(), verify.Query{Version: "v1", Start: start, End: start.Add(time.Second)})
	if err != nil || o.Lines != 1 || f.queries != 3 {
		t.Errorf("after two transient failures: %+v, %v, %d queries; want the line after 3", o, err, f.queries)
	}
	f.fail = []int{http.StatusBadRequest}
	f.queries = 0
	_, err = src.Patterns(t.Context(), verify.Query{Version: "v1", Start: start, End: start.Add(time.Second)})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, ErrBadQuery) || f.queries != 1 {
		t.Errorf("HTTP 400: %v after %d queries; want an APIError wrapping ErrBadQuery, not retried", err, f.queries)
	}
}

func TestSourceValidate(t *testing.T) {
	src := &Source{URL: "ftp://x", Selector: "app=shop", VersionLabel: "1bad", Limit: -1, MaxLines: -2}
	err := src.Validate()
	for _, want := range []string{"URL", "Selector", "VersionLabel", "Limit", "MaxLines"} {
		if err == nil || !strings.Contains(err.Error(), "loki.Source."+want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	if err == nil || !strings.HasPrefix(err.Error(), "5 problem(s):\n\t* ") {
		t.Errorf("Validate() = %v, want the library's list format", err)
	}
	if _, err := src.Patterns(t.Context(), verify.Query{Version: "v1", Start: start, End: start.Add(time.Second)}); !errors.Is(err, ErrBadQuery) {
		t.Errorf("Patterns with invalid fields: %v, want ErrBadQuery", err)
	}
	good := &Source{Selector: ` {app="shop", env="prod"} `, VersionLabel: "app_version", Pipeline: `|= "error"`}
	if got, want := good.Query(`v"2`), `{app="shop", env="prod", app_version="v\"2"} |= "error"`; got != want {
		t.Errorf("Query = %s, want %s", got, want)
	}
}

func TestSourceMaxLines(t *testing.T) {
	f := &fakeLoki{}
	for i := range 50 {
		f.push(map[string]string{"app": "shop", "version": "v1"}, start.Add(time.Duration(i)*time.Millisecond), "ERROR x")
	}
	src := &Source{URL: startFake(t, f), Selector: `{app="shop"}`, Limit: 10, MaxLines: 20}
	if _, err := src.Patterns(t.Context(), verify.Query{Version: "v1", Start: start, End: start.Add(time.Second)}); !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), "narrow") {
		t.Errorf("more lines than MaxLines: %v", err)
	}
	same := &fakeLoki{}
	for range 5 {
		same.push(map[string]string{"app": "shop", "version": "v1"}, start, "ERROR x")
	}
	src = &Source{URL: startFake(t, same), Selector: `{app="shop"}`, Limit: 5}
	same.push(map[string]string{"app": "shop", "version": "v1"}, start.Add(time.Millisecond), "ERROR y")
	o, err := src.Patterns(t.Context(), verify.Query{Version: "v1", Start: start, End: start.Add(time.Second)})
	if err != nil || o.Lines != 6 || len(o.Warnings) != 1 || !strings.Contains(o.Warnings[0], "raise Limit") {
		t.Errorf("Limit lines at one instant, then one more: %+v, %v; want all 6 and a warning that more at that instant would be missed", o, err)
	}
}
