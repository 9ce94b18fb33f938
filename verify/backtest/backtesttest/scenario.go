// Package backtesttest simulates canary deployments as replay files, for
// tests of code that reads or replays them.
//
// A [Scenario] says what happened — traffic, the canary's share, its error
// rate and latency against the old version's, when a regression began,
// gaps and counter resets — and [Scenario.Data] draws the counts from it,
// interval by interval, with Poisson traffic and binomial errors. The
// same Scenario always gives the same data: the draws come from a
// generator seeded with Seed.
//
//	// 15 pre-deploy minutes, then an hour of a canary at 5% failing 5× as often
//	d := backtesttest.Scenario{Before: 15, Share: 0.05, ErrorRatio: 5}.Data()
//	path := backtesttest.File(t, backtesttest.Scenario{Before: 15, Share: 0.05, ErrorRatio: 5})
package backtesttest

import (
	"bytes"
	"cmp"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/backtest"
)

// A Scenario describes a simulated canary deployment, interval by interval:
// Before intervals in which only the old version (the baseline arm) serves,
// then Intervals in which the canary serves Share of the traffic. Zero
// fields take the defaults in their comments, so the zero Scenario is a
// good canary at 5% of 1,000 requests per minute, with a 1% error rate and
// latency, for an hour, and no pre-deploy period. Where zero is a
// meaningful value (ErrorRate, ErrorRatio, BusinessRatio), a negative value
// asks for it.
type Scenario struct {
	// Seed seeds the random draws.
	Seed uint64
	// Start is the time of the first interval; zero means
	// 2025-03-01T12:00:00Z.
	Start time.Time
	// Interval is the length of an interval; zero means one minute.
	Interval time.Duration
	// Before is the number of pre-deploy intervals, with a baseline row
	// only. Zero means none.
	Before int
	// Intervals is the number of intervals with the canary serving; zero
	// means 60.
	Intervals int
	// Requests is the mean number of requests per interval, both arms
	// together; zero means 1,000.
	Requests float64
	// Share is the canary's share of requests, in (0, 1]; zero means 0.05.
	Share float64
	// ErrorRate is the old version's error rate; zero means 0.01, and a
	// negative value means none: no errors at all.
	ErrorRate float64
	// ErrorRatio multiplies the canary's error rate from interval Onset
	// (counted from the first canary interval); zero means 1, and a
	// negative value means 0: a canary without errors.
	ErrorRatio float64
	// Slower multiplies the canary's latencies from interval Onset; zero
	// means 1. Latencies are log-normal, median 50ms and σ 0.5 (P95
	// about 114ms), counted into Prometheus's default buckets.
	Slower float64
	// Onset is the canary interval, from 0, at which ErrorRatio and Slower
	// take effect.
	Onset int
	// BusinessRate is business events per request for both arms; zero
	// means no business column.
	BusinessRate float64
	// BusinessRatio multiplies the canary's business rate from Onset; zero
	// means 1, and a negative value means 0: a canary that stops producing
	// business events.
	BusinessRatio float64
	// NoLatency leaves out the histogram columns.
	NoLatency bool
	// Gaps are canary intervals (from 0) missing from the file: neither
	// arm has a row for them.
	Gaps []int
	// Resets are canary intervals (from 0) whose canary row is a raw delta
	// across a counter reset: every count a large negative number.
	Resets []int
}

// bounds are the histogram's bucket bounds in seconds: Prometheus's
// defaults. Never written.
var bounds = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.Inf(1)}

// Bounds returns the histogram's bucket bounds in seconds, Prometheus's
// defaults ending in +Inf: a new slice on every call, so that changing it
// changes nothing else.
func Bounds() []float64 { return slices.Clone(bounds[:]) }

// resetOffset is how far a counter reset takes requests back.
const resetOffset = 1e6

// withDefaults returns s with zero fields set to their defaults, and the
// negative ErrorRate, ErrorRatio and BusinessRatio that ask for zero set to
// zero.
func (s Scenario) withDefaults() Scenario {
	if s.Start.IsZero() {
		s.Start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	}
	s.Interval = cmp.Or(s.Interval, time.Minute)
	s.Intervals = cmp.Or(s.Intervals, 60)
	s.Requests = cmp.Or(s.Requests, 1000)
	s.Share = cmp.Or(s.Share, 0.05)
	s.ErrorRate = max(cmp.Or(s.ErrorRate, 0.01), 0)
	s.ErrorRatio = max(cmp.Or(s.ErrorRatio, 1), 0)
	s.Slower = cmp.Or(s.Slower, 1)
	s.BusinessRatio = max(cmp.Or(s.BusinessRatio, 1), 0)
	return s
}

// Data draws the scenario's counts. Its Length is s.Interval.
func (s Scenario) Data() *backtest.Data {
	s = s.withDefaults()
	rng := rand.New(rand.NewPCG(s.Seed, 0x5afed3910e))
	d := &backtest.Data{Length: s.Interval}
	for i := range s.Before + s.Intervals {
		iv := backtest.Interval{Time: s.Start.Add(time.Duration(i) * s.Interval)}
		share := 0.0
		c := i - s.Before // canary interval, negative before the deploy
		if c >= 0 {
			share = s.Share
		}
		if share < 1 {
			o := s.draw(rng, s.Requests*(1-share), 1, 1, 1)
			iv.Baseline = &o
		}
		if c >= 0 {
			errs, slower, business := 1.0, 1.0, 1.0
			if c >= s.Onset {
				errs, slower, business = s.ErrorRatio, s.Slower, s.BusinessRatio
			}
			o := s.draw(rng, s.Requests*share, errs, slower, business)
			if slices.Contains(s.Resets, c) {
				o = reset(o, s.BusinessRate > 0)
			}
			iv.Canary = &o
		}
		if c >= 0 && slices.Contains(s.Gaps, c) {
			continue // drawn all the same, so that a gap changes nothing else
		}
		d.Intervals = append(d.Intervals, iv)
	}
	return d
}

// draw simulates one arm over one interval.
func (s Scenario) draw(rng *rand.Rand, mean, errs, slower, business float64) verify.Observation {
	n := poisson(rng, mean)
	o := verify.Observation{Requests: float64(n)}
	var counts []float64
	if !s.NoLatency {
		counts = make([]float64, len(bounds))
	}
	pErr := math.Min(1, s.ErrorRate*errs)
	pBiz := math.Min(1, s.BusinessRate*business)
	for range n {
		if rng.Float64() < pErr {
			o.Errors++
		}
		if pBiz > 0 && rng.Float64() < pBiz {
			o.Business++
		}
		if counts != nil {
			lat := 0.05 * math.Exp(0.5*rng.NormFloat64()) * slower
			i, _ := slices.BinarySearch(bounds[:], lat) // the first bound ≥ lat
			counts[i]++
		}
	}
	if counts != nil {
		cum := 0.0
		for i, b := range bounds {
			cum += counts[i]
			o.Latency = append(o.Latency, verify.Bucket{UpperBound: b, Count: cum})
		}
	}
	return o
}

// reset returns o as a raw delta across a counter reset: each counter's
// count since the reset, minus where it stood before.
func reset(o verify.Observation, business bool) verify.Observation {
	r := verify.Observation{
		Requests: o.Requests - resetOffset,
		Errors:   o.Errors - resetOffset/100,
	}
	if business {
		r.Business = o.Business - resetOffset/10
	}
	for _, b := range o.Latency {
		share := 1.0
		if o.Requests > 0 {
			share = b.Count / o.Requests
		}
		r.Latency = append(r.Latency, verify.Bucket{UpperBound: b.UpperBound, Count: b.Count - math.Round(share*resetOffset)})
	}
	return r
}

// poisson draws a Poisson count: exactly for small means, by the normal
// approximation for large ones.
func poisson(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
	limit, p, k := math.Exp(-mean), 1.0, 0
	for {
		p *= rng.Float64()
		if p <= limit {
			return k
		}
		k++
	}
}

// WriteCSV writes the scenario's data in the replay format.
func (s Scenario) WriteCSV(w io.Writer) error { return backtest.Write(w, s.Data()) }

// File writes the scenario's data to a file in t.TempDir() and returns its
// path. It fails t if the file cannot be written.
func File(t testing.TB, s Scenario) string {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteCSV(&buf); err != nil {
		t.Fatalf("backtesttest: %v", err)
	}
	path := filepath.Join(t.TempDir(), "replay.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatalf("backtesttest: %v", err)
	}
	return path
}
