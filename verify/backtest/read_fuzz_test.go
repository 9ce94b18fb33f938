package backtest_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/backtest"
)

// FuzzRead feeds Read arbitrary bytes. Whatever the input, Read must not
// panic, and it either fails with a *ParseError that matches ErrInvalid
// and names a line, or returns Data that keeps its promises — intervals in
// strictly increasing time order, each with a row, a positive Length,
// finite counts, histograms ending at +Inf with the row's requests — and
// that Write writes and Read reads back unchanged (but for line numbers).
//
// The seeds run with go test; to search further:
//
//	go test -run '^$' -fuzz FuzzRead -fuzztime 3m ./verify/backtest/
func FuzzRead(f *testing.F) {
	for _, seed := range []string{
		"time,arm,requests,errors\n2025-03-01T12:00:00Z,canary,100,1\n",
		"# a comment\ntime,arm,requests,errors,business,le=0.05,le=0.1,le=+Inf\n" +
			"2025-03-01T12:00:00Z,baseline,1000,10,98,510,917,1000\n" +
			"2025-03-01T12:00:00Z,canary,49,1,5,24,45,49\n" +
			"2025-03-01T12:01:00Z,baseline,1012,9,101,,,\n",
		"\ufeffarm, time ,errors,requests\ncanary,2025-03-01T12:00:00.5+02:00,0,0\nbaseline,2025-03-01T12:00:30.5+02:00,-5,1e3\n",
		"time,arm,requests,errors,le=+Inf\n2025-03-01T12:00:00Z,canary,10,11,9.999999999999\n",
		"time,arm,requests,errors\n2025-03-01T12:00:00Z,\"canary\",100,x\n",
		"time,arm,requests,errors\n2025-03-01T12:01:00Z,canary,1,0\n2025-03-01T12:00:00Z,canary,1,0\n",
		"time,arm,requests,errors\n2025-03-01T12:00:00Z,canary,1,0\n2025-03-01T12:00:00Z,canary,1,0\n",
		"time,arm,requests,errors,le=1,le=1.0,le=+Inf\n",
		"time,arm,requests,errors\n2025-03-01T12:00:00Z,canary,0x1p-2,1e308\n",
		"time,arm,requests\n",
		"",
		"\"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := backtest.Read(bytes.NewReader(in))
		if err != nil {
			var pe *backtest.ParseError
			if !errors.As(err, &pe) || !errors.Is(err, backtest.ErrInvalid) || pe.Line < 1 || err.Error() == "" {
				t.Fatalf("Read failed with %T %q, want a *ParseError matching ErrInvalid at line ≥ 1", err, err)
			}
			return
		}
		if len(d.Intervals) == 0 || d.Length <= 0 {
			t.Fatalf("Read returned %d intervals of %s", len(d.Intervals), d.Length)
		}
		for i, iv := range d.Intervals {
			if i > 0 && !iv.Time.After(d.Intervals[i-1].Time) {
				t.Fatalf("interval %d at %s is not after the one before, %s", i, iv.Time, d.Intervals[i-1].Time)
			}
			if iv.Canary == nil && iv.Baseline == nil {
				t.Fatalf("interval %d has no row", i)
			}
			for _, o := range append(observations(iv.Canary), observations(iv.Baseline)...) {
				finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
				if !finite(o.Requests) || !finite(o.Errors) || !finite(o.Business) {
					t.Fatalf("interval %d: counts %+v are not finite", i, o)
				}
				if n := len(o.Latency); n > 0 {
					if last := o.Latency[n-1]; !math.IsInf(last.UpperBound, 1) || math.Abs(last.Count-o.Requests) > 1e-9*math.Max(1, math.Abs(o.Requests)) {
						t.Fatalf("interval %d: histogram ends at le=%g with %g, want +Inf with the requests, %g", i, last.UpperBound, last.Count, o.Requests)
					}
				}
			}
		}
		var buf bytes.Buffer
		if err := backtest.Write(&buf, d); err != nil {
			t.Fatalf("Write(Read(in)) = %v", err)
		}
		again, err := backtest.Read(strings.NewReader(buf.String()))
		if err != nil {
			t.Fatalf("Read(Write(Read(in))) = %v\nwritten:\n%s", err, buf.String())
		}
		if diff := cmp.Diff(d, again, cmpopts.IgnoreFields(backtest.Interval{}, "Line")); diff != "" {
			t.Fatalf("round trip changed the data (-read +reread):\n%s\nwritten:\n%s", diff, buf.String())
		}
	})
}

// observations returns the row, if any.
func observations(o *verify.Observation) []verify.Observation {
	if o == nil {
		return nil
	}
	return []verify.Observation{*o}
}
