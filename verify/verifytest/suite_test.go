package verifytest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

// harness is the conformance harness for script() over [1m, 11m): the
// halves split v2's traffic at 6m, one across its change of rates at 5m,
// the other into its gap at 10m.
func harness(src verify.MetricSource) verifytest.Harness {
	return verifytest.Harness{
		Source: src,
		Start:  at(1),
		End:    at(11),
		Served: map[string]verify.Observation{
			"v1": {Requests: 6000, Errors: 60, Business: 600, Latency: hist(6000)},
			// 4 minutes at 2 RPS, 5 at 4 RPS, 1 in a gap.
			"v2": {Requests: 480 + 1200, Errors: 24 + 300, Business: 48 + 60, Latency: hist(1680)},
		},
		Missing: "v0",
	}
}

func TestRunScript(t *testing.T) {
	verifytest.Run(t, harness(script()))
}

func TestRunScriptWithoutServedLatency(t *testing.T) {
	h := harness(script())
	for v, o := range h.Served {
		o.Latency = nil
		h.Served[v] = o
	}
	verifytest.Run(t, h)
}

// TestRunFleet runs the suite on the simulated fleet of package
// strategytest, whose initial instances count as having always served.
func TestRunFleet(t *testing.T) {
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 4, RPS: 50,
		Behaviors: map[string]strategytest.Behavior{
			"v1": {ErrorRate: 0.02, BusinessRate: 0.3, Latency: 30 * time.Millisecond},
		},
	})
	verifytest.Run(t, verifytest.Harness{
		Source:  fleet,
		Start:   at(0),
		End:     at(10),
		Served:  map[string]verify.Observation{"v1": {Requests: 30000, Errors: 600, Business: 9000}},
		Missing: "v2",
	})
}

// A broken source is script() with one mistake a real adapter could make.
type broken struct {
	name string
	// wrap returns the broken source.
	wrap func(s verify.MetricSource) verify.MetricSource
	// want are substrings of the suite's report: the failing subtest and
	// what it says.
	want []string
}

// mapObs returns a source that applies f to every successful observation.
func mapObs(s verify.MetricSource, f func(q verify.Query, o verify.Observation) verify.Observation) verify.MetricSource {
	return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
		o, err := s.Observe(ctx, q)
		if err != nil {
			return o, err
		}
		return f(q, o), nil
	})
}

func scale(o verify.Observation, k float64) verify.Observation {
	o.Requests, o.Errors, o.Business = k*o.Requests, k*o.Errors, k*o.Business
	o.Latency = append(verify.Histogram(nil), o.Latency...)
	for i := range o.Latency {
		o.Latency[i].Count *= k
	}
	return o
}

func TestCheckCatchesBrokenSources(t *testing.T) {
	tests := []broken{{
		name: "zero observation for a missing version",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				o, err := s.Observe(ctx, q)
				if errors.Is(err, verify.ErrNoData) {
					return verify.Observation{}, nil
				}
				return o, err
			})
		},
		want: []string{`Missing: Observe("v0" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)) = {Requests:0`, "nil error for a version without data"},
	}, {
		name: "missing data as a plain error",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				o, err := s.Observe(ctx, q)
				if errors.Is(err, verify.ErrNoData) {
					return o, errors.New("no series")
				}
				return o, err
			})
		},
		want: []string{`Missing: Observe("v0"`, `error "no series" does not wrap verify.ErrNoData`},
	}, {
		name: "inverted window as missing data",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				if q.End.Before(q.Start) {
					return verify.Observation{}, verify.ErrNoData
				}
				return s.Observe(ctx, q)
			})
		},
		want: []string{"InvertedWindow:", "wraps verify.ErrNoData; an inverted window is the caller's mistake"},
	}, {
		name: "inverted window accepted",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				if q.End.Before(q.Start) {
					q.Start, q.End = q.End, q.Start
				}
				return s.Observe(ctx, q)
			})
		},
		want: []string{`InvertedWindow: Observe("v1" over [2025-03-01T12:11:00Z, 2025-03-01T12:01:00Z)) = {Requests:6000`, "nil error for an inverted window"},
	}, {
		name: "context ignored",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				return s.Observe(context.WithoutCancel(ctx), q)
			})
		},
		want: []string{"CancelledContext:", "nil error with a cancelled context"},
	}, {
		name: "context error not wrapped",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				if err := ctx.Err(); err != nil {
					return verify.Observation{}, errors.New("request failed: " + err.Error())
				}
				return s.Observe(ctx, q)
			})
		},
		want: []string{"CancelledContext:", `error "request failed: context canceled" does not wrap context.Canceled`},
	}, {
		name: "counts 10% low",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation { return scale(o, 0.9) })
		},
		// Each failure on a line of its own, prefixed with its check.
		want: []string{
			`Served/v1: Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)): Requests = 5400, want 6000`,
			`Served/v1: Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)): Errors = 54, want 60`,
			`Served/v1: Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)): Business = 540, want 600`,
			`Served/v1: Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)): Latency bucket le=0.05 counts 2700, want 3000`,
		},
	}, {
		name: "window ignored",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				q.Start, q.End = at(1), at(11) // a cached query
				return s.Observe(ctx, q)
			})
		},
		want: []string{`Additive/v1: Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:06:00Z)) + Observe("v1" over [2025-03-01T12:06:00Z, 2025-03-01T12:11:00Z)), against Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)): Requests = 12000, want 6000`},
	}, {
		name: "more errors than requests",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation {
				o.Errors = o.Requests + 1 // errors counted twice: by status and by exception
				return o
			})
		},
		want: []string{"Served/v1:", "Errors = 6001 exceeds Requests = 6000"},
	}, {
		name: "negative business",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation {
				o.Business = -o.Business // a counter reset read as a decrease
				return o
			})
		},
		want: []string{"Served/v1:", "Business = -600, want a finite count, at least 0"},
	}, {
		name: "no +Inf bucket",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation {
				o.Latency = o.Latency[:len(o.Latency)-1]
				return o
			})
		},
		want: []string{"Served/v1:", "the last Latency bound is 0.2, want +Inf"},
	}, {
		name: "+Inf bucket not counting every request",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation {
				o.Requests += 10 // requests counted where latency is not
				return o
			})
		},
		want: []string{"Served/v1:", "the +Inf Latency bucket counts 6000 requests, but Requests = 6010"},
	}, {
		name: "non-cumulative buckets",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation {
				h := append(verify.Histogram(nil), o.Latency...)
				for i := len(h) - 1; i > 0; i-- {
					h[i].Count -= h[i-1].Count
				}
				o.Latency = h
				return o
			})
		},
		want: []string{"Served/v1:", "Latency[1].Count = 2700 is less than Latency[0].Count = 3000"},
	}, {
		name: "bounds not increasing",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation {
				h := append(verify.Histogram(nil), o.Latency...)
				h[0].UpperBound, h[1].UpperBound = h[1].UpperBound, h[0].UpperBound
				o.Latency = h
				return o
			})
		},
		want: []string{"Served/v1:", "Latency bounds [0.2 0.05 +Inf] do not increase at bucket 1"},
	}, {
		name: "bounds in milliseconds",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation {
				h := append(verify.Histogram(nil), o.Latency...)
				for i := range h {
					h[i].UpperBound *= 1000
				}
				o.Latency = h
				return o
			})
		},
		want: []string{"Served/v1:", "Latency bounds = [50 200 +Inf], want [0.05 0.2 +Inf]"},
	}, {
		name: "latency dropped",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return mapObs(s, func(_ verify.Query, o verify.Observation) verify.Observation {
				o.Latency = nil
				return o
			})
		},
		want: []string{"Served/v1:", "no Latency histogram, want [{0.05 3000}"},
	}, {
		name: "half-window fails",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				if q.End.Sub(q.Start) < 10*time.Minute {
					return verify.Observation{}, errors.New("step too small")
				}
				return s.Observe(ctx, q)
			})
		},
		want: []string{`Additive/v1: Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:06:00Z)) failed for a version that served traffic: step too small`},
	}, {
		name: "long windows as missing data",
		wrap: func(s verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
				if q.End.Sub(q.Start) > 5*time.Minute {
					return verify.Observation{}, fmt.Errorf("query range too long: %w", verify.ErrNoData)
				}
				return s.Observe(ctx, q)
			})
		},
		want: []string{
			`Served/v1: Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)) failed for a version that served traffic: query range too long`,
			`Additive/v1: Observe("v1" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)) failed for a version that served traffic`,
		},
	}, {
		name: "failing source",
		wrap: func(verify.MetricSource) verify.MetricSource {
			return verify.MetricSourceFunc(func(context.Context, verify.Query) (verify.Observation, error) {
				return verify.Observation{}, errDown
			})
		},
		want: []string{`Served/v2: Observe("v2" over [2025-03-01T12:01:00Z, 2025-03-01T12:11:00Z)) failed for a version that served traffic: metrics backend: 503`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifytest.Check(t.Context(), harness(tt.wrap(script())))
			if err == nil {
				t.Fatal("Check passed the broken source")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Check report does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestCheckPasses(t *testing.T) {
	if err := verifytest.Check(t.Context(), harness(script())); err != nil {
		t.Errorf("Check(script) = %v, want nil", err)
	}
}

// TestCheckStops checks that Check stops when its context is done, saying
// which check it did not start and why, rather than failing every check.
func TestCheckStops(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("shutting down")
	cancel(cause)
	err := verifytest.Check(ctx, harness(script()))
	if !errors.Is(err, cause) || err.Error() != "verifytest: stopped before Served/v1: shutting down" {
		t.Errorf("Check with a cancelled context = %v, want it to stop before Served/v1 with the cause", err)
	}
}

func TestCheckTolerance(t *testing.T) {
	high := mapObs(script(), func(_ verify.Query, o verify.Observation) verify.Observation { return scale(o, 1.02) })
	h := harness(high)
	if err := verifytest.Check(t.Context(), h); err == nil || !strings.Contains(err.Error(), "Requests = 6120, want 6000") {
		t.Errorf("Check with counts 2%% high and no tolerance = %v, want a Requests mismatch", err)
	}
	h.Tolerance = 0.05
	if err := verifytest.Check(t.Context(), h); err != nil {
		t.Errorf("Check with counts 2%% high and a 5%% tolerance = %v, want nil", err)
	}
	h.Tolerance = 0.01
	if err := verifytest.Check(t.Context(), h); err == nil || !strings.Contains(err.Error(), "Requests = 6120, want 6000 ± 1%") {
		t.Errorf("Check with counts 2%% high and a 1%% tolerance = %v, want a Requests mismatch", err)
	}
}

func TestCheckInvalidHarness(t *testing.T) {
	h := verifytest.Harness{
		Start:     at(5),
		End:       at(5),
		Served:    map[string]verify.Observation{"v1": {}},
		Missing:   "v1",
		Tolerance: -0.1,
	}
	err := verifytest.Check(t.Context(), h)
	if err == nil {
		t.Fatal("Check with an invalid Harness = nil, want an error")
	}
	for _, want := range []string{"invalid Harness", "Source = <nil>", "End = 2025-03-01T12:05:00Z: must be after Start", "Missing = v1: must not be in Served", "Tolerance = -0.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error does not say %q:\n%v", want, err)
		}
	}
	err = verifytest.Check(t.Context(), verifytest.Harness{Source: script(), Start: at(0), End: at(1)})
	for _, want := range []string{"Served = map[]: must hold at least one version", `Missing = "": must name a version`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check error does not say %q:\n%v", want, err)
		}
	}
}
