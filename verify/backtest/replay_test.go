package backtest_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/backtest"
	"github.com/safedeploy/safedeploy/verify/backtest/backtesttest"
)

func replay(t *testing.T, d *backtest.Data, o backtest.Options) *backtest.Result {
	t.Helper()
	res, err := backtest.Replay(d, o)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if len(res.Steps) == 0 || !res.Final().Final {
		t.Fatalf("Replay: %d steps, the last not Final", len(res.Steps))
	}
	for i, s := range res.Steps[:len(res.Steps)-1] {
		if s.Final || s.Decision == backtest.Rollback {
			t.Fatalf("step %d of %d is %s (final %v): a replay ends at its first rollback", i, len(res.Steps), s.Decision, s.Final)
		}
	}
	return res
}

func measurement(t *testing.T, s backtest.Step, metric string) verify.Measurement {
	t.Helper()
	for _, m := range s.Measurements {
		if m.Metric == metric {
			return m
		}
	}
	t.Fatalf("no %s measurement in %+v", metric, s)
	return verify.Measurement{}
}

const seeds = 5

func TestReplayGoodCanaryCompletes(t *testing.T) {
	for seed := range uint64(seeds) {
		res := replay(t, backtesttest.Scenario{Seed: seed, Before: 15}.Data(), backtest.Options{})
		if f := res.Final(); f.Decision != backtest.Complete {
			t.Errorf("seed %d: %s: %s, want complete", seed, f.Decision, f.Reason)
		}
		if len(res.Steps) != 61 {
			t.Errorf("seed %d: %d steps, want 60 intervals and the conclusion", seed, len(res.Steps))
		}
		if w := res.Window; !w.Start.Equal(minute(15)) || w.Length != time.Hour || math.Abs(w.Weight-5) > 1 {
			t.Errorf("seed %d: window %+v, want from 12:15 for an hour at about 5%%", seed, w)
		}
		if b := res.Baseline; !b.Start.Equal(minute(0)) || !b.End.Equal(minute(15)) || b.Requests < 14000 || b.Requests > 16000 {
			t.Errorf("seed %d: baseline %s–%s with %.0f requests, want 12:00–12:15 with about 15,000", seed, b.Start, b.End, b.Requests)
		}
		if res.Gaps != 0 {
			t.Errorf("seed %d: %d gaps, want none", seed, res.Gaps)
		}
	}
}

func TestReplayRollsBackFiveTimesTheErrors(t *testing.T) {
	for seed := range uint64(seeds) {
		d := backtesttest.Scenario{Seed: seed, Before: 15, Share: 0.05, ErrorRatio: 5}.Data()
		res := replay(t, d, backtest.Options{})
		f := res.Final()
		if f.Decision != backtest.Rollback {
			t.Errorf("seed %d: %s: %s, want rollback", seed, f.Decision, f.Reason)
			continue
		}
		if len(res.Steps) > 30 {
			t.Errorf("seed %d: rolled back after %d intervals, want within 30", seed, len(res.Steps))
		}
		if want := d.Intervals[15+len(res.Steps)-1].Time; !f.Time.Equal(want) {
			t.Errorf("seed %d: rollback at %s, want at the interval's time %s", seed, f.Time, want)
		}
		m := measurement(t, f, "error-rate")
		if !m.Failed || m.Evidence < m.EvidenceBar || m.Limit != 2 || m.Ratio < 2.5 || m.Lower < 2/1.19 ||
			m.Value < 0.02 || m.Baseline > 0.02 || m.Value <= m.Threshold {
			t.Errorf("seed %d: error-rate measurement %v, want a failure with the numbers", seed, m)
		}
		if !strings.Contains(f.Reason, m.String()) {
			t.Errorf("seed %d: reason %q does not give the failed measurement %q", seed, f.Reason, m)
		}
	}
}

func TestReplayStopsAtFirstRollback(t *testing.T) {
	// A judge that fails at its third interval, and would pass after.
	j := &recorder{failAt: 3}
	d := backtesttest.Scenario{Before: 2, Intervals: 10}.Data()
	res := replay(t, d, backtest.Options{Policy: verify.Policy{Judge: j.make}})
	if got := decisions(res); !cmp.Equal(got, []backtest.Decision{"observe", "observe", "rollback"}) {
		t.Errorf("decisions %v, want two observes and the rollback", got)
	}
	if len(j.observed) != 3 || j.concluded != 0 {
		t.Errorf("judge observed %d intervals and concluded %d times, want 3 and none", len(j.observed), j.concluded)
	}
}

func TestReplayLowTrafficIsInconclusive(t *testing.T) {
	// About 1 canary request a minute for 10 minutes: not the 100 needed.
	d := backtesttest.Scenario{Before: 15, Requests: 100, Share: 0.01, Intervals: 10}.Data()
	res := replay(t, d, backtest.Options{})
	if f := res.Final(); f.Decision != backtest.Inconclusive || !strings.Contains(f.Reason, "of the 100 requests needed") {
		t.Errorf("%s: %s, want inconclusive for too few requests", f.Decision, f.Reason)
	}
}

func TestReplayGapsAreInconclusive(t *testing.T) {
	gaps := []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25}
	d := backtesttest.Scenario{Before: 15, Gaps: gaps}.Data()
	// A time with a baseline row only is a gap in the canary's data too.
	d.Intervals[15+30].Canary = nil
	res := replay(t, d, backtest.Options{})
	f := res.Final()
	if f.Decision != backtest.Inconclusive || res.Gaps != 17 ||
		!strings.Contains(f.Reason, "data covered only 72% of the window (17 interval(s) without canary data in this window)") {
		t.Errorf("%s: %s (%d gaps), want inconclusive for 17 gaps", f.Decision, f.Reason, res.Gaps)
	}
	if n := len(res.Steps); n != 60-17+1 {
		t.Errorf("%d steps, want one per interval with canary data and the conclusion", n)
	}
}

func TestReplayPassesCounterResetsToTheJudge(t *testing.T) {
	d := backtesttest.Scenario{Before: 15, Resets: []int{7}}.Data()
	if c := d.Intervals[15+7].Canary; c.Requests >= 0 {
		t.Fatalf("scenario's reset has %v requests, want a negative delta", c.Requests)
	}
	res := replay(t, d, backtest.Options{})
	if s := res.Steps[7]; s.Decision != backtest.Observe || !strings.Contains(s.Reason, "impossible counts") {
		t.Errorf("reset interval: %s: %s, want the judge to drop it", s.Decision, s.Reason)
	}
	if f := res.Final(); f.Decision != backtest.Complete {
		t.Errorf("%s: %s, want complete: one dropped interval of 60", f.Decision, f.Reason)
	}
}

func TestReplayWeight(t *testing.T) {
	d := backtesttest.Scenario{Before: 15, Share: 0.05}.Data()
	res := replay(t, d, backtest.Options{Weight: 50})
	if f := res.Final(); f.Decision != backtest.Inconclusive || !strings.Contains(f.Reason, "sample-ratio mismatch") {
		t.Errorf("meant 50%%, got 5%%: %s: %s, want inconclusive for a sample-ratio mismatch", f.Decision, f.Reason)
	}
	if res.Window.Weight != 50 {
		t.Errorf("window weight %g, want the one given", res.Window.Weight)
	}
	if f := replay(t, d, backtest.Options{Weight: 5}).Final(); f.Decision != backtest.Complete {
		t.Errorf("meant 5%%, got 5%%: %s: %s, want complete", f.Decision, f.Reason)
	}
}

// recorder is a judge that records how it is called, and fails at the
// failAt-th interval it observes (never if 0).
type recorder struct {
	failAt    int
	base      verify.Baseline
	windows   []verify.Window
	observed  []verify.Interval
	concluded int
}

func (r *recorder) make(p verify.Policy, b verify.Baseline) verify.Judge {
	r.base = b
	return r
}

func (r *recorder) Begin(w verify.Window) { r.windows = append(r.windows, w) }

func (r *recorder) Observe(iv verify.Interval) verify.Verdict {
	r.observed = append(r.observed, iv)
	if len(r.observed) == r.failAt {
		return verify.Verdict{Outcome: verify.Fail, Reason: "told to"}
	}
	return verify.Verdict{Outcome: verify.Continue, Reason: "waiting"}
}

func (r *recorder) Conclude() verify.Verdict {
	r.concluded++
	return verify.Verdict{Outcome: verify.Pass, Reason: "done"}
}

func decisions(res *backtest.Result) []backtest.Decision {
	var ds []backtest.Decision
	for _, s := range res.Steps {
		ds = append(ds, s.Decision)
	}
	return ds
}

func TestReplayCallsTheJudgeAsTheExecutorWould(t *testing.T) {
	d := &backtest.Data{Length: time.Minute, Intervals: []backtest.Interval{
		{Time: minute(0), Baseline: obs(1000, 50)},                    // before BaselineWindow: left out
		{Time: minute(1), Baseline: obs(1000, 10)},                    // the baseline…
		{Time: minute(2), Baseline: obs(-5, 0)},                       // …but not a counter reset
		{Time: minute(3), Baseline: obs(1000, 20), Canary: obs(0, 0)}, // …no canary traffic yet
		{Time: minute(4), Baseline: obs(900, 9), Canary: obs(100, 2), Line: 7},
		{Time: minute(5), Baseline: obs(900, 9)}, // no canary data: a gap
		// 12:06 missing: a gap
		{Time: minute(7), Canary: obs(100, 1), Line: 9}, // no control
	}}
	j := &recorder{}
	res := replay(t, d, backtest.Options{Policy: verify.Policy{Judge: j.make, BaselineWindow: 3 * time.Minute}})

	wantBase := verify.Baseline{Version: "baseline", Start: minute(1), End: minute(4), Observation: verify.Observation{Requests: 2000, Errors: 30}}
	if diff := cmp.Diff(wantBase, j.base); diff != "" {
		t.Errorf("baseline (-want +got):\n%s", diff)
	}
	wantWindow := []verify.Window{{Name: "backtest", Start: minute(4), Length: 4 * time.Minute, Weight: 10, Final: true}}
	if diff := cmp.Diff(wantWindow, j.windows); diff != "" {
		t.Errorf("windows (-want +got):\n%s", diff)
	}
	wantObserved := []verify.Interval{
		{Start: minute(4), End: minute(5), Canary: *obs(100, 2), Control: obs(900, 9)},
		{Start: minute(7), End: minute(8), Canary: *obs(100, 1)},
	}
	if diff := cmp.Diff(wantObserved, j.observed); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	if j.concluded != 1 {
		t.Errorf("concluded %d times, want once", j.concluded)
	}
	wantSteps := []backtest.Step{
		{Time: minute(4), Decision: backtest.Observe, Reason: "waiting", Line: 7},
		{Time: minute(7), Decision: backtest.Observe, Reason: "waiting", Line: 9},
		{Time: minute(7), Decision: backtest.Complete, Reason: "done", Final: true},
	}
	if diff := cmp.Diff(wantSteps, res.Steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if res.Gaps != 2 {
		t.Errorf("%d gaps, want 2 (12:05 without canary data, 12:06 missing)", res.Gaps)
	}
}

func TestReplayBaselineWithoutPreDeployPeriod(t *testing.T) {
	d := &backtest.Data{Length: time.Minute, Intervals: []backtest.Interval{
		{Time: minute(0), Canary: obs(10, 0)},
		{Time: minute(1), Canary: obs(10, 0), Baseline: obs(-3, 0)},
		{Time: minute(2), Canary: obs(10, 0), Baseline: obs(90, 1)},
		{Time: minute(3), Canary: obs(10, 0), Baseline: obs(80, 2)},
	}}
	j := &recorder{}
	replay(t, d, backtest.Options{Policy: verify.Policy{Judge: j.make}})
	want := verify.Baseline{Version: "baseline", Start: minute(2), End: minute(3), Observation: *obs(90, 1)}
	if diff := cmp.Diff(want, j.base); diff != "" {
		t.Errorf("baseline (-want +got): the first possible baseline row with requests\n%s", diff)
	}
	if len(j.observed) != 4 {
		t.Errorf("observed %d intervals, want all 4", len(j.observed))
	}
}

func TestReplayNoCanaryTraffic(t *testing.T) {
	// The canary never served: the intervals from its first row are the
	// window, and the judge says it could not decide.
	d := &backtest.Data{Length: time.Minute, Intervals: []backtest.Interval{
		{Time: minute(0), Baseline: obs(1000, 10)},
		{Time: minute(1), Baseline: obs(1000, 10), Canary: obs(0, 0)},
		{Time: minute(2), Baseline: obs(1000, 10), Canary: obs(0, 0)},
	}}
	res := replay(t, d, backtest.Options{})
	if f := res.Final(); f.Decision != backtest.Inconclusive || !strings.Contains(f.Reason, "served no requests") || len(res.Steps) != 3 {
		t.Errorf("%d steps, final %s: %s; want 2 observed and inconclusive for no traffic", len(res.Steps), f.Decision, f.Reason)
	}
	if !res.Window.Start.Equal(minute(1)) || res.Baseline.Requests != 1000 {
		t.Errorf("window from %s, baseline %.0f requests; want from 12:01 with the 12:00 baseline", res.Window.Start, res.Baseline.Requests)
	}
}

func TestReplayErrors(t *testing.T) {
	good := backtesttest.Scenario{Intervals: 3}.Data()
	tests := []struct {
		name string
		d    *backtest.Data
		o    backtest.Options
		is   error
		want string
	}{
		{"nil data", nil, backtest.Options{}, backtest.ErrInvalid, "no intervals"},
		{"no intervals", &backtest.Data{Length: time.Minute}, backtest.Options{}, backtest.ErrInvalid, "no intervals"},
		{"no length", &backtest.Data{Intervals: good.Intervals}, backtest.Options{}, backtest.ErrInvalid, "interval length 0s is not positive"},
		{"overlap", &backtest.Data{Length: 2 * time.Minute, Intervals: good.Intervals}, backtest.Options{}, backtest.ErrInvalid,
			"intervals of 2m0s starting at 2025-03-01T12:00:00Z and 2025-03-01T12:01:00Z would overlap"},
		{"out of order", &backtest.Data{Length: time.Minute, Intervals: []backtest.Interval{good.Intervals[1], good.Intervals[0]}}, backtest.Options{}, backtest.ErrInvalid,
			"2025-03-01T12:00:00Z is not after 2025-03-01T12:01:00Z"},
		{"no baseline", backtesttest.Scenario{Intervals: 3, Share: 1}.Data(), backtest.Options{}, backtest.ErrNoBaseline, "never with zero"},
		{"bad policy", good, backtest.Options{Policy: verify.Policy{MaxErrorRatio: 0.5}}, nil, "backtest: policy: 1 problem(s):"},
		{"bad weight", good, backtest.Options{Weight: 101}, nil, "backtest: weight 101: must be a percentage in (0, 100]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := backtest.Replay(tt.d, tt.o)
			if err == nil {
				t.Fatalf("Replay = %+v, want an error", res.Final())
			}
			if (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Replay error %q, want one matching %v and saying %q", err, tt.is, tt.want)
			}
		})
	}
}

func TestReplayIsPure(t *testing.T) {
	d := backtesttest.Scenario{Before: 15, ErrorRatio: 2, Slower: 1.2, BusinessRate: 0.1}.Data()
	a, b := replay(t, d, backtest.Options{}), replay(t, d, backtest.Options{})
	if diff := cmp.Diff(a, b, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("two replays of the same data differ (-first +second):\n%s", diff)
	}
}

func TestDecisionOf(t *testing.T) {
	for o, want := range map[verify.Outcome]backtest.Decision{
		verify.Continue:     "observe",
		verify.Fail:         "rollback",
		verify.Pass:         "complete",
		verify.Inconclusive: "inconclusive",
		verify.Outcome(9):   "Outcome(9)",
	} {
		if got := backtest.DecisionOf(o); got != want {
			t.Errorf("DecisionOf(%v) = %q, want %q", o, got, want)
		}
	}
}
