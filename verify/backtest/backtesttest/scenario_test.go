package backtesttest_test

import (
	"bytes"
	"math"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/backtest"
	"github.com/safedeploy/safedeploy/verify/backtest/backtesttest"
)

func TestDataIsDeterministic(t *testing.T) {
	s := backtesttest.Scenario{Seed: 7, Before: 3, Intervals: 5, BusinessRate: 0.1}
	if diff := cmp.Diff(s.Data(), s.Data()); diff != "" {
		t.Errorf("the same scenario drew different data (-first +second):\n%s", diff)
	}
	s2 := s
	s2.Seed++
	if cmp.Equal(s.Data(), s2.Data()) {
		t.Error("two seeds drew the same data")
	}
}

func TestDataDefaults(t *testing.T) {
	d := backtesttest.Scenario{Before: 15}.Data()
	if len(d.Intervals) != 75 || d.Length != time.Minute {
		t.Fatalf("%d intervals of %s, want 15+60 of 1m", len(d.Intervals), d.Length)
	}
	if got := d.Intervals[0].Time; !got.Equal(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("starts at %s, want 2025-03-01T12:00:00Z", got)
	}
	var canary, all, errs, slow float64
	for i, iv := range d.Intervals {
		if (iv.Canary != nil) != (i >= 15) || iv.Baseline == nil {
			t.Fatalf("interval %d: canary %v, baseline %v; want the canary from 15, the baseline throughout", i, iv.Canary, iv.Baseline)
		}
		if iv.Canary == nil {
			continue
		}
		canary += iv.Canary.Requests
		all += iv.Canary.Requests + iv.Baseline.Requests
		errs += iv.Baseline.Errors
		above, _ := iv.Baseline.Latency.Above(0.1)
		slow += above
	}
	share, rate, p95 := canary/all, errs/(all-canary), slow/(all-canary)
	// 60,000 requests: these are many standard errors wide.
	if math.Abs(all-60000) > 1500 || math.Abs(share-0.05) > 0.005 || math.Abs(rate-0.01) > 0.002 || math.Abs(p95-0.083) > 0.01 {
		t.Errorf("%.0f requests, canary share %.3g, error rate %.3g, share over 100ms %.3g; want about 60000, 0.05, 0.01, 0.083", all, share, rate, p95)
	}
}

func TestDataRegression(t *testing.T) {
	d := backtesttest.Scenario{Intervals: 40, Share: 0.5, ErrorRatio: 3, Slower: 2, BusinessRate: 0.1, BusinessRatio: 0.5, Onset: 20}.Data()
	// sum returns both arms' totals over intervals [from, to).
	sum := func(from, to int) (base, canary verify.Observation) {
		for _, iv := range d.Intervals[from:to] {
			base, canary = base.Add(*iv.Baseline), canary.Add(*iv.Canary)
		}
		return base, canary
	}
	fast := func(o verify.Observation) float64 { return o.Latency[3].Count / o.Requests } // at most 50ms
	for _, tt := range []struct {
		name                 string
		from, to             int
		errors, business, at float64
	}{
		{"before the onset", 0, 20, 1, 1, 0.5},
		{"after the onset", 20, 40, 3, 0.5, 0.083},
	} {
		b, c := sum(tt.from, tt.to)
		errs, business := c.ErrorRate()/b.ErrorRate(), c.BusinessRate()/b.BusinessRate()
		if math.Abs(errs/tt.errors-1) > 0.3 || math.Abs(business/tt.business-1) > 0.2 || math.Abs(fast(c)-tt.at) > 0.05 {
			t.Errorf("%s: canary/baseline errors ×%.2g, business ×%.2g, canary share under 50ms %.2g; want about %g, %g, %g",
				tt.name, errs, business, fast(c), tt.errors, tt.business, tt.at)
		}
	}
}

func TestDataGapsAndResets(t *testing.T) {
	s := backtesttest.Scenario{Before: 2, Intervals: 10, Gaps: []int{3, 4}, Resets: []int{6}}
	d := s.Data()
	plain := backtesttest.Scenario{Before: 2, Intervals: 10}.Data()
	if len(d.Intervals) != 10 {
		t.Fatalf("%d intervals, want 12 less 2 gaps", len(d.Intervals))
	}
	for _, iv := range d.Intervals {
		if m := iv.Time.Sub(d.Intervals[0].Time) / time.Minute; m == 5 || m == 6 {
			t.Errorf("interval at minute %d present: want a gap", m)
		}
	}
	// The gaps do not change the draws of other intervals.
	if diff := cmp.Diff(plain.Intervals[9], d.Intervals[7]); diff != "" {
		t.Errorf("the interval after the gaps differs (-without +with):\n%s", diff)
	}
	reset := d.Intervals[2+6-2].Canary
	if reset.Requests >= 0 || reset.Errors >= 0 || reset.Latency[len(reset.Latency)-1].Count != reset.Requests {
		t.Errorf("reset row %+v: want negative counts with le=+Inf equal to requests", reset)
	}
}

func TestFile(t *testing.T) {
	s := backtesttest.Scenario{Intervals: 3}
	b, err := os.ReadFile(backtesttest.File(t, s))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := s.WriteCSV(&want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want.Bytes()) {
		t.Errorf("File wrote\n%s\nwant\n%s", b, want.Bytes())
	}
	if _, err := backtest.Read(bytes.NewReader(b)); err != nil {
		t.Errorf("Read(File): %v", err)
	}
}

// TestBounds: Bounds returns Prometheus's default bounds, a fresh copy each
// time, so a caller that changes it changes neither later calls nor the
// data drawn.
func TestBounds(t *testing.T) {
	want := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.Inf(1)}
	s := backtesttest.Scenario{Seed: 3, Intervals: 2}
	before := s.Data()
	b := backtesttest.Bounds()
	if diff := cmp.Diff(want, b); diff != "" {
		t.Fatalf("Bounds() (-want +got):\n%s", diff)
	}
	for i := range b {
		b[i] = 0
	}
	if diff := cmp.Diff(want, backtesttest.Bounds()); diff != "" {
		t.Errorf("Bounds() after changing an earlier result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, s.Data()); diff != "" {
		t.Errorf("data after changing Bounds()'s result (-before +after):\n%s", diff)
	}
}

// A negative ErrorRate, ErrorRatio or BusinessRatio asks for zero, where
// zero takes the default.
func TestDataNegativeMeansZero(t *testing.T) {
	sum := func(d *backtest.Data, canary bool, f func(verify.Observation) float64) (n float64) {
		for _, iv := range d.Intervals {
			o := iv.Baseline
			if canary {
				o = iv.Canary
			}
			if o != nil {
				n += f(*o)
			}
		}
		return n
	}
	errs := func(o verify.Observation) float64 { return o.Errors }
	biz := func(o verify.Observation) float64 { return o.Business }

	clean := backtesttest.Scenario{Seed: 1, ErrorRate: -1, Share: 0.5}.Data()
	if e := sum(clean, false, errs) + sum(clean, true, errs); e != 0 {
		t.Errorf("ErrorRate -1: %g errors, want none", e)
	}
	fixed := backtesttest.Scenario{Seed: 1, ErrorRatio: -1, Share: 0.5, BusinessRate: 0.1, BusinessRatio: -1}.Data()
	if e, b := sum(fixed, true, errs), sum(fixed, true, biz); e != 0 || b != 0 {
		t.Errorf("ErrorRatio -1, BusinessRatio -1: canary %g errors, %g business events; want none", e, b)
	}
	if e, b := sum(fixed, false, errs), sum(fixed, false, biz); e == 0 || b == 0 {
		t.Errorf("the baseline arm drew %g errors, %g business events; want its own", e, b)
	}
	dflt := backtesttest.Scenario{Seed: 1, Share: 0.5, BusinessRate: 0.1}.Data()
	if e, b := sum(dflt, true, errs), sum(dflt, true, biz); e == 0 || b == 0 {
		t.Errorf("zero ErrorRatio and BusinessRatio: canary %g errors, %g business events; want the defaults' (1×)", e, b)
	}
}
