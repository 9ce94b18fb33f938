package deploy_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// The templates of the log tests: one both versions log, one only a buggy
// v2 logs.
const (
	upstream = "request failed: upstream timeout after <*>ms"
	poolBug  = "checkout degraded: connection pool exhausted for shard <*>"
)

// fleetLogs is a log source whose counts follow the fleet's traffic: each
// version logs each of its templates at a fixed share of the requests it
// served, as a real service does.
func fleetLogs(f *strategytest.Fleet, shares map[string]map[string]float64) verify.LogSourceFunc {
	return func(ctx context.Context, q verify.Query) (verify.LogObservation, error) {
		o, err := f.Observe(ctx, q)
		if err != nil {
			return verify.LogObservation{}, err
		}
		obs := verify.LogObservation{Lines: o.Requests}
		for _, tmpl := range slices.Sorted(func(yield func(string) bool) {
			for k := range shares[q.Version] {
				if !yield(k) {
					return
				}
			}
		}) {
			obs.Patterns = append(obs.Patterns, verify.LogPattern{ID: tmpl, Template: tmpl, Level: slog.LevelError,
				Count: shares[q.Version][tmpl] * o.Requests, Example: `{"level":"ERROR","msg":"` + tmpl + `"}`, FirstSeen: q.Start})
		}
		return obs, nil
	}
}

// logPlan returns a canary plan whose v1 logs upstream errors on 1% of
// requests and whose v2 does the same and, with bug, also logs poolBug on
// 5% of requests — an error that does not move the error rate.
func logPlan(bug bool) (*deploy.Plan, *recorder, *strategytest.Fleet) {
	fleet := newFleet(healthy)
	p, rec := newPlan(fleet)
	v2 := map[string]float64{upstream: 0.01}
	if bug {
		v2[poolBug] = 0.05
	}
	p.Logs = fleetLogs(fleet, map[string]map[string]float64{"v1": {upstream: 0.01}, "v2": v2})
	return p, rec, fleet
}

func TestLogPatternHoldsTheStep(t *testing.T) {
	t.Run("rolls back at the end of the window by default", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, rec, fleet := logPlan(true)
			start := time.Now()
			rep, err := deploy.Run(t.Context(), p)
			var v *verify.Verdict
			if !errors.Is(err, deploy.ErrRolledBack) || !errors.As(err, &v) || v.Outcome != verify.Inconclusive {
				t.Fatalf("err = %v, want a rollback on an inconclusive verdict", err)
			}
			if len(v.Patterns) != 1 || v.Patterns[0].Template != poolBug || v.Patterns[0].OldCount != 0 || v.Patterns[0].NewCount < 3 {
				t.Errorf("verdict patterns = %+v, want %q alone, never logged by v1", v.Patterns, poolBug)
			}
			if !strings.Contains(v.Reason, poolBug) || !strings.Contains(v.Reason, "from the new version, 0 from the old") {
				t.Errorf("reason %q does not name the template and its counts", v.Reason)
			}
			if got := time.Since(start); got != 5*time.Minute {
				t.Errorf("rolled back after %s, want the end of the first step's 5m window: held, not failed", got)
			}
			if n := rec.count(deploy.KindPattern); n != 1 {
				t.Errorf("%d pattern events, want 1", n)
			}
			assertVersions(t, fleet, map[string]int{"v1": 8})
			found := false
			for _, e := range rep.Record.Entries {
				for _, pt := range e.Patterns {
					found = found || pt.Template == poolBug && pt.NewCount > 0 && !pt.FirstSeen.IsZero()
				}
			}
			if !found {
				t.Error("the record has no entry with the pattern")
			}
		})
	})
	t.Run("escalated once and approved", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, _, _ := logPlan(true)
			asked := 0
			p.Verify.Escalate = func(ctx context.Context, v *verify.Verdict) error {
				asked++
				if len(v.Patterns) == 0 {
					t.Errorf("escalated verdict without patterns: %v", v)
				}
				return nil
			}
			rep, err := deploy.Run(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if asked != 1 {
				t.Errorf("escalated %d times, want once: a pattern accepted at one step does not hold the next", asked)
			}
			if rep.Verdict == nil || len(rep.Verdict.Patterns) != 1 {
				t.Errorf("final verdict %v does not list the accepted pattern", rep.Verdict)
			}
		})
	})
}

func TestLogPatternActions(t *testing.T) {
	t.Run("rollback fails at the interval it is found", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, _, _ := logPlan(true)
			p.Verify.Patterns.Action = verify.PatternRollback
			start := time.Now()
			_, err := deploy.Run(t.Context(), p)
			var v *verify.Verdict
			if !errors.Is(err, deploy.ErrRolledBack) || !errors.As(err, &v) || v.Outcome != verify.Fail || !strings.Contains(v.Reason, poolBug) {
				t.Fatalf("err = %v, want a failed verdict naming %q", err, poolBug)
			}
			if got := time.Since(start); got >= 5*time.Minute {
				t.Errorf("rolled back after %s, want within the first step's window", got)
			}
		})
	})
	t.Run("report completes and lists it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, rec, _ := logPlan(true)
			p.Verify.Patterns.Action = verify.PatternReport
			rep, err := deploy.Run(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict == nil || len(rep.Verdict.Patterns) != 1 || !strings.Contains(rep.Verdict.Reason, "reported, not judged") {
				t.Errorf("final verdict %v does not report the pattern", rep.Verdict)
			}
			if rec.index(deploy.KindPattern, "reported only") < 0 {
				t.Error("no pattern event saying it is reported only")
			}
		})
	})
}

func TestLogPatternNoFalseAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, rec, _ := logPlan(false)
		rep, err := deploy.Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if n := rec.count(deploy.KindPattern); n != 0 || len(rep.Verdict.Patterns) != 0 {
			t.Errorf("%d pattern events, verdict patterns %v: want none when both versions log alike", n, rep.Verdict.Patterns)
		}
		if rec.index(deploy.KindBaseline, "log baseline v1") < 0 {
			t.Error("no log baseline event")
		}
		if !slices.ContainsFunc(rep.Record.Runbook.Verify, func(s string) bool {
			return strings.HasPrefix(s, "logs: a template of WARN-or-worse lines the new version logs at more than 2× the old version's rate per request") && strings.HasSuffix(s, "holds its step: the step cannot pass and ends inconclusive")
		}) {
			t.Errorf("the runbook's How to verify does not describe the log-pattern rule: %q", rep.Record.Runbook.Verify)
		}
	})
}

// v2Logs wraps the plan's log source, passing v2's reads through fn.
func v2Logs(p *deploy.Plan, fn func(ctx context.Context, o verify.LogObservation, err error) (verify.LogObservation, error)) {
	src := p.Logs
	p.Logs = verify.LogSourceFunc(func(ctx context.Context, q verify.Query) (verify.LogObservation, error) {
		o, err := src.Patterns(ctx, q)
		if q.Version != "v2" {
			return o, err
		}
		return fn(ctx, o, err)
	})
}

func TestLogSourceFailures(t *testing.T) {
	t.Run("pre-flight names a failing log source", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, _, fleet := logPlan(false)
			p.Logs = verify.LogSourceFunc(func(context.Context, verify.Query) (verify.LogObservation, error) {
				return verify.LogObservation{}, errBoom
			})
			rep, err := deploy.Run(t.Context(), p)
			if !errors.Is(err, deploy.ErrPreflight) || !errors.Is(err, errBoom) || rep.Outcome != deploy.Aborted {
				t.Fatalf("err = %v (%v), want a pre-flight failure", err, rep.Outcome)
			}
			for _, want := range []string{"log baseline", "log source", `"v1" over`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			assertVersions(t, fleet, map[string]int{"v1": 8})
		})
	})
	t.Run("pre-flight refuses a log source without the old version", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, _, _ := logPlan(false)
			p.Logs = verify.LogSourceFunc(func(context.Context, verify.Query) (verify.LogObservation, error) {
				return verify.LogObservation{}, verify.ErrNoData
			})
			_, err := deploy.Run(t.Context(), p)
			if !errors.Is(err, deploy.ErrPreflight) || !errors.Is(err, verify.ErrNoData) {
				t.Fatalf("err = %v, want a pre-flight failure for no data", err)
			}
		})
	})
	for _, c := range []struct {
		action verify.PatternAction
		want   verify.Outcome
		reason string
	}{
		{verify.PatternHold, verify.Inconclusive, "new error patterns could not be looked for"},
		{verify.PatternRollback, verify.Fail, "log source failed 3 times in a row"},
	} {
		t.Run("failing reads under "+c.action.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _, _ := logPlan(false)
				p.Verify.Patterns.Action = c.action
				v2Logs(p, func(context.Context, verify.LogObservation, error) (verify.LogObservation, error) {
					return verify.LogObservation{}, errBoom
				})
				_, err := deploy.Run(t.Context(), p)
				var v *verify.Verdict
				if !errors.Is(err, deploy.ErrRolledBack) || !errors.As(err, &v) || v.Outcome != c.want || !strings.Contains(v.Reason, c.reason) {
					t.Fatalf("err = %v, want a rollback on a %v verdict saying %q", err, c.want, c.reason)
				}
			})
		})
	}
	t.Run("failing reads only reported under report", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, _, _ := logPlan(false)
			p.Verify.Patterns.Action = verify.PatternReport
			v2Logs(p, func(context.Context, verify.LogObservation, error) (verify.LogObservation, error) {
				return verify.LogObservation{}, errBoom
			})
			if _, err := deploy.Run(t.Context(), p); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("impossible counts are a failed read", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, rec, _ := logPlan(true)
			v2Logs(p, func(_ context.Context, o verify.LogObservation, err error) (verify.LogObservation, error) {
				for i := range o.Patterns {
					o.Patterns[i].Count = math.NaN()
				}
				return o, err
			})
			_, err := deploy.Run(t.Context(), p)
			if !errors.Is(err, deploy.ErrRolledBack) {
				t.Fatalf("err = %v, want a rollback", err)
			}
			if rec.index(deploy.KindMeasurement, "log source failed") < 0 {
				t.Error("NaN counts were not treated as a failed read")
			}
		})
	})
}
