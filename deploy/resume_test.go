package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// nthIntent matches the nth intent entry of op. Intents of one batch are
// written at once, from several goroutines.
func nthIntent(op string, n int) func(journal.Entry) bool {
	var seen atomic.Int32
	is := isIntent(op)
	return func(e journal.Entry) bool {
		return is(e) && seen.Add(1) == int32(n)
	}
}

// stepNamed matches the entry of the step reached named name.
func stepNamed(name string) func(journal.Entry) bool {
	return func(e journal.Entry) bool {
		c, err := journal.ChangeOf(e)
		return e.Type == journal.TypeStep && err == nil && c.Op == "step" && c.Name == name
	}
}

// resumed is what a test asserts about a resumed run.
type resumed struct {
	// step is the step the recovering run must observe first.
	step string
	// steps is how many steps it must observe in all.
	steps int
	// stored reports that the previous version served no traffic at the
	// takeover, so the interrupted run's baseline from the journal is used.
	stored bool
}

// assertResumed checks a recovery that resumed the interrupted run: it
// completed in the interrupted run (one run in the journal, whose takeover
// entry says where it resumed), observed want.step first — for its whole
// window, from after the takeover — and then the steps after it only, with
// a baseline read after the takeover unless want.stored.
func assertResumed(t *testing.T, j *journal.Memory, rep *deploy.Report, err error, rec *recorder, want resumed) {
	t.Helper()
	if err != nil || rep.Outcome != deploy.Completed {
		t.Fatalf("resume = %v, %v (%s)", rep.Outcome, err, rep.Reason)
	}
	if !strings.Contains(rep.Reason, "resumed at") {
		t.Errorf("the reason does not say the run was resumed: %s", rep.Reason)
	}
	runs, _ := j.Runs(t.Context(), "shop/staging", 0)
	if len(runs) != 1 || runs[0].Outcome != string(deploy.Completed) {
		t.Fatalf("journal runs %+v; want the interrupted run, completed", runs)
	}
	es, _ := j.Entries(t.Context(), runs[0].ID, 0)
	i := slices.IndexFunc(es, func(e journal.Entry) bool { return e.Type == journal.TypeTakeover })
	if i < 0 {
		t.Fatal("no takeover entry")
	}
	var td struct {
		Resume bool   `json:"resume"`
		Step   string `json:"step"`
	}
	if err := json.Unmarshal(es[i].Data, &td); err != nil || !td.Resume || !strings.Contains(td.Step, fmt.Sprintf("%q", want.step)) {
		t.Errorf("takeover entry %q %s: want a resume at %q", es[i].Message, es[i].Data, want.step)
	}
	takeover := es[i].Time

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var steps []deploy.Event
	var baseline *deploy.Event
	for _, e := range rec.events {
		switch {
		case e.Kind == deploy.KindStep && e.Phase == deploy.PhaseDeploy:
			steps = append(steps, e)
		case e.Kind == deploy.KindBaseline && e.Verdict != nil:
			baseline = &e
		}
	}
	if len(steps) != want.steps || steps[0].Step != want.step {
		names := make([]string, len(steps))
		for i, s := range steps {
			names[i] = s.Step
		}
		t.Fatalf("the recovering run observed %q; want %d step(s) from %q", names, want.steps, want.step)
	}
	first := steps[0]
	if first.Time.Before(takeover) {
		t.Errorf("step %q observed from %s, before the takeover at %s", first.Step, first.Time, takeover)
	}
	// The step ends with its verdict, or, with no traffic to judge, when
	// the next step begins.
	end := slices.IndexFunc(rec.events, func(e deploy.Event) bool {
		return e.Time.After(first.Time) && (e.Kind == deploy.KindVerdict && e.Step == first.Step ||
			e.Kind == deploy.KindStep && e.Phase == deploy.PhaseDeploy && e.Step != first.Step)
	})
	if end < 0 {
		t.Fatalf("step %q never ended", first.Step)
	}
	if got := rec.events[end].Time.Sub(first.Time); first.Window > 0 && got < first.Window {
		t.Errorf("step %q observed for %s, less than its window %s", first.Step, got, first.Window)
	}
	switch {
	case baseline == nil:
		t.Error("no baseline")
	case want.stored && !strings.Contains(baseline.Message, "the interrupted run's baseline"):
		t.Errorf("baseline %q: want the interrupted run's, as v1 serves no traffic", baseline.Message)
	case !want.stored && (strings.Contains(baseline.Message, "interrupted") || baseline.Verdict.Measurements[0].End.Before(takeover)):
		t.Errorf("baseline %q ending %s: want a fresh one, read after the takeover at %s", baseline.Message, baseline.Verdict.Measurements[0].End, takeover)
	}
}

// A canary interrupted at each of its steps — as the step's observation
// began, or between steps while the next step's changes were under way —
// resumes at that step: its window observed again in full, with a fresh
// baseline where v1 still serves, then the steps after it.
func TestResumeAtEachCanaryStep(t *testing.T) {
	names := []string{"canary 1%", "canary 5%", "canary 25%", "canary 50%", "canary 100%"}
	cases := []struct {
		name string
		at   func(journal.Entry) bool
		want resumed
	}{
		// Route intents: weight 0, then 1, 5, 25, 50, 100.
		{"before the first step", nthIntent("route", 1), resumed{step: names[0], steps: 5}},
		{"between steps 1 and 2", nthIntent("route", 3), resumed{step: names[1], steps: 4}},
		// The intent to route 100% counts as carried out: v1 may serve
		// nothing, so the interrupted run's baseline is used.
		{"between steps 4 and 5", nthIntent("route", 6), resumed{step: names[4], steps: 1, stored: true}},
		{"after the last step", nthIntent("stop", 1), resumed{step: "", steps: 0, stored: true}},
	}
	for i, n := range names {
		cases = append(cases, struct {
			name string
			at   func(journal.Entry) bool
			want resumed
		}{"observing step " + n, nthStep(i + 1), resumed{step: n, steps: 5 - i, stored: i == 4}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := newFreezing(c.at)
				p, _ := newPlan(newFleet(healthy))
				store := withFlag(t, p)
				p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
				rep, err, rec := crashAndRecover(t, j, p, deploy.RecoverResume)
				if c.want.steps == 0 {
					// Every step had passed: only stopping v1 was left.
					if err != nil || rep.Outcome != deploy.Completed || rec.count(deploy.KindStep) != 0 {
						t.Fatalf("resume after the last step = %v, %v, %d step(s) observed", rep.Outcome, err, rec.count(deploy.KindStep))
					}
				} else {
					assertResumed(t, j.Memory, rep, err, rec, c.want)
				}
				if f, _ := store.Get(t.Context(), "new-checkout"); !f.Enabled {
					t.Error("the resumed deployment completed with its kill switch off")
				}
				assertVersions(t, fleetOf(p), map[string]int{"v2": 8})
				if v, w, _ := fleetOf(p).Weight(); v != "v2" || w != 100 {
					t.Errorf("router at %g%% on %q", w, v)
				}
			})
		})
	}
}

// A broken v2 resumed at its step fails there again, and the resumed run
// rolls back everything, the interrupted run's changes included.
func TestResumedBadVersionRollsBackEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := newFreezing(nthIntent("start", 1)) // as the first canary starts
		p, _ := newPlan(newFleet(broken))
		store := withFlag(t, p)
		p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
		rep, err, rec := crashAndRecover(t, j, p, deploy.RecoverResume)
		if !errors.Is(err, deploy.ErrRolledBack) || rep.Outcome != deploy.RolledBack {
			t.Fatalf("resume of a broken v2 = %v, %v (%s)", rep.Outcome, err, rep.Reason)
		}
		if rec.index(deploy.KindStep, "1%") < 0 || !strings.Contains(rep.Reason, "resumed at") {
			t.Errorf("the recovery did not resume the run at its first step: %s", rep.Reason)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); f.Enabled {
			t.Error("kill switch left on")
		}
		assertVersions(t, fleetOf(p), map[string]int{"v1": 8})
		if _, w, _ := fleetOf(p).Weight(); w != 0 {
			t.Errorf("router at %g%%", w)
		}
	})
}

// Rolling, blue/green, a canary without a router and direct resume at
// their steps too.
func TestResumeOtherStrategies(t *testing.T) {
	cases := []struct {
		name  string
		strat strategy.Strategy
		at    func(journal.Entry) bool
		want  resumed
	}{
		// 8 instances, 25% surge and unavailable: two batches of 4.
		{"rolling/observing batch 1", strategy.Rolling{BatchWindow: 5 * time.Minute}, nthStep(1), resumed{step: "batch 1/2", steps: 2}},
		{"rolling/batch 2 under way", strategy.Rolling{BatchWindow: 5 * time.Minute}, nthIntent("stop", 5), resumed{step: "batch 2/2: all instances", steps: 1}},
		{"rolling/observing the whole fleet", strategy.Rolling{BatchWindow: 5 * time.Minute}, nthStep(2), resumed{step: "batch 2/2: all instances", steps: 1, stored: true}},
		{"bluegreen/new side starting", strategy.BlueGreen{}, nthIntent("start", 3), resumed{step: "switched", steps: 2}},
		{"bluegreen/switched", strategy.BlueGreen{}, nthStep(1), resumed{step: "switched", steps: 2, stored: true}},
		{"bluegreen/old side warm", strategy.BlueGreen{}, nthStep(2), resumed{step: "old side warm", steps: 1, stored: true}},
		{"bluegreen/preview", strategy.BlueGreen{PreviewWindow: time.Minute}, stepNamed("preview (no traffic)"), resumed{step: "preview (no traffic)", steps: 3}},
		// Without a router, canary splits by instance count: 12.5, 25, 50, 100%.
		{"canary without router/observing 25%", strategy.Canary{}, nthStep(2), resumed{step: "canary 25%", steps: 3}},
		{"canary without router/replacing for 50%", strategy.Canary{}, nthIntent("stop", 3), resumed{step: "canary 50%", steps: 2}},
		{"direct/stopping v1", strategy.Direct{}, nthIntent("stop", 3), resumed{step: "all instances", steps: 1}},
		{"direct/observing", strategy.Direct{}, nthStep(1), resumed{step: "all instances", steps: 1, stored: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := newFreezing(c.at)
				fleet := newFleet(healthy)
				p, _ := newPlan(fleet)
				p.Strategy, p.Target = c.strat, strategy.Target{Fleet: fleet}
				if _, ok := c.strat.(strategy.BlueGreen); ok {
					p.Target.Switch = fleet
				}
				withFlag(t, p)
				p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
				rep, err, rec := crashAndRecover(t, j, p, deploy.RecoverResume)
				assertResumed(t, j.Memory, rep, err, rec, c.want)
				assertVersions(t, fleet, map[string]int{"v2": 8})
			})
		})
	}
}

// plain hides every method of a strategy but Deploy: it cannot resume.
type plain struct{ strategy.Strategy }

// Where resuming is impossible — a target whose state fits no step, a
// strategy that cannot resume — the recovery rolls back, and the report
// and the journal say why.
func TestResumeImpossibleRollsBack(t *testing.T) {
	start := func(version string) func(t *testing.T, p *deploy.Plan) {
		return func(t *testing.T, p *deploy.Plan) {
			if _, err := fleetOf(p).Start(t.Context(), version); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name  string
		plain bool                               // both runs' strategy cannot resume
		setup func(t *testing.T, p *deploy.Plan) // changes the target after the crash
		why   string
	}{
		{"a third version runs", false, start("v3"), `runs "v3"`},
		{"an instance too many", false, start("v2"), "more than the step's"},
		{"a strategy that cannot resume", true, func(*testing.T, *deploy.Plan) {}, "not a strategy.Resumer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := newFreezing(nthStep(2))
				p, _ := newPlan(newFleet(healthy))
				store := withFlag(t, p)
				p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
				if c.plain {
					p.Strategy = plain{p.Strategy}
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					deploy.Run(t.Context(), p)
				}()
				<-j.frozen
				time.Sleep(2 * deploy.DefaultLeaseTTL)
				next, rec := journaledPlan(t, j.Memory, "next")
				next.Target, next.Metrics, next.Flags, next.Recover, next.Strategy = p.Target, p.Metrics, p.Flags, deploy.RecoverResume, p.Strategy
				c.setup(t, next)
				rep, err := deploy.Run(t.Context(), next)
				close(j.thaw)
				<-done
				if !errors.Is(err, deploy.ErrRolledBack) || rep.Outcome != deploy.RolledBack {
					t.Fatalf("recovery = %v, %v (%s)", rep.Outcome, err, rep.Reason)
				}
				if !strings.Contains(rep.Reason, "not resumed") || !strings.Contains(rep.Reason, c.why) {
					t.Errorf("the reason does not say why the run was not resumed (%q): %s", c.why, rep.Reason)
				}
				if rec.count(deploy.KindStep) != 0 {
					t.Error("the recovery observed a step")
				}
				if f, _ := store.Get(t.Context(), "new-checkout"); f.Enabled {
					t.Error("kill switch left on")
				}
				if got := fleetOf(p).Versions()["v2"]; got != 0 {
					t.Errorf("%d instance(s) of v2 left", got)
				}
			})
		})
	}
}

// post posts an operator's control to the newest run of j, failing t
// (from any goroutine) when it cannot.
func post(t *testing.T, j *journal.Memory, op string) {
	t.Helper()
	runs, _ := j.Runs(t.Context(), "shop/staging", 1)
	if _, err := j.Post(t.Context(), runs[0].ID, journal.Control{Op: op, Who: "ops", Why: "test"}); err != nil {
		t.Error(err)
	}
}

// A promote the interrupted run obeyed is not obeyed again: the resumed
// step is observed for its whole window.
func TestResumeDoesNotReplayAPromote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := newFreezing(nthStep(3))
		p, _ := newPlan(newFleet(healthy))
		withFlag(t, p)
		p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
		p.Observers = append(p.Observers, deploy.ObserverFunc(func(_ context.Context, e deploy.Event) {
			if e.Kind == deploy.KindStep && e.Step == "canary 5%" && e.Phase == deploy.PhaseDeploy {
				go post(t, j.Memory, journal.Promote)
			}
		}))
		rep, err, rec := crashAndRecover(t, j, p, deploy.RecoverResume)
		assertResumed(t, j.Memory, rep, err, rec, resumed{step: "canary 25%", steps: 3})
	})
}

// A pause that held the interrupted step still holds it once resumed,
// until an operator resumes it.
func TestResumeKeepsAPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := newFreezing(func(e journal.Entry) bool {
			return e.Type == journal.TypeStep && strings.Contains(e.Message, "asked to pause")
		})
		p, _ := newPlan(newFleet(healthy))
		withFlag(t, p)
		p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
		p.Observers = append(p.Observers, deploy.ObserverFunc(func(_ context.Context, e deploy.Event) {
			if e.Kind == deploy.KindStep && e.Step == "canary 5%" && e.Phase == deploy.PhaseDeploy {
				go post(t, j.Memory, journal.Pause)
			}
		}))
		done := make(chan struct{})
		go func() {
			defer close(done)
			deploy.Run(t.Context(), p)
		}()
		<-j.frozen
		time.Sleep(2 * deploy.DefaultLeaseTTL)
		next, rec := journaledPlan(t, j.Memory, "next")
		next.Target, next.Metrics, next.Flags, next.Recover = p.Target, p.Metrics, p.Flags, deploy.RecoverResume
		type result struct {
			rep *deploy.Report
			err error
		}
		res := make(chan result, 1)
		go func() {
			rep, err := deploy.Run(t.Context(), next)
			res <- result{rep, err}
		}()
		time.Sleep(time.Hour) // many times the step's window
		if rec.index(deploy.KindStep, "25%") >= 0 {
			t.Fatal("the resumed run went past the step an operator had paused")
		}
		post(t, j.Memory, journal.Resume)
		r := <-res
		close(j.thaw)
		<-done
		if r.err != nil || r.rep.Outcome != deploy.Completed {
			t.Fatalf("resume = %v, %v (%s)", r.rep.Outcome, r.err, r.rep.Reason)
		}
		assertVersions(t, fleetOf(p), map[string]int{"v2": 8})
	})
}

// A crash while an instance of the new version was starting leaves it
// listed, perhaps never to be ready: the resumed run does not adopt it, but
// stops it and starts a fresh one, and the journal says so.
func TestResumeStopsAnInstanceItDidNotSeeReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v2 := healthy
		v2.StartDelay = time.Second
		j := newFreezing(isIntent("start"))
		p, _ := newPlan(newFleet(v2))
		withFlag(t, p)
		p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
		fleet := fleetOf(p)
		done := make(chan struct{})
		go func() {
			defer close(done)
			deploy.Run(t.Context(), p)
		}()
		<-j.frozen
		// The start the crashed process asked for, cut short by its death.
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		half, err := fleet.Start(ctx, "v2")
		cancel()
		if err == nil || half == "" {
			t.Fatalf("a start cut short = %q, %v; want an instance listed but not ready", half, err)
		}
		time.Sleep(2 * deploy.DefaultLeaseTTL)
		next, rec := journaledPlan(t, j.Memory, "next")
		next.Target, next.Metrics, next.Flags, next.Recover, next.Strategy = p.Target, p.Metrics, p.Flags, deploy.RecoverResume, p.Strategy
		rep, err := deploy.Run(t.Context(), next)
		close(j.thaw)
		<-done
		if err != nil || rep.Outcome != deploy.Completed {
			t.Fatalf("recovery = %v, %v (%s)", rep.Outcome, err, rep.Reason)
		}
		insts, _ := fleet.Instances(t.Context())
		for _, in := range insts {
			if in.ID == half {
				t.Errorf("instance %s, never seen ready, was adopted", half)
			}
		}
		assertVersions(t, fleet, map[string]int{"v2": 8})
		if rec.index(deploy.KindAction, "did not see it become ready") < 0 {
			t.Error("the recovery does not say it stopped the half-started instance")
		}
	})
}

// What the interrupted run's journal says went wrong is never resumed: an
// operator's abort posted while no one held the lease, a failing verdict
// whose decision the crash cut off, an inconclusive one no one let go on.
// Each is rolled back, and the resumed strategy observes nothing.
func TestResumeRefusesWhatWentWrong(t *testing.T) {
	verdictWith := func(prefix string) func(journal.Entry) bool {
		return func(e journal.Entry) bool {
			return e.Type == journal.TypeVerdict && strings.HasPrefix(e.Message, prefix)
		}
	}
	for _, c := range []struct {
		name   string
		v2     strategytest.Behavior
		at     func(journal.Entry) bool
		before func(t *testing.T, j *journal.Memory) // after the crash
	}{
		{"abort posted after the crash", healthy, nthStep(2), func(t *testing.T, j *journal.Memory) { post(t, j, journal.Abort) }},
		{"failing verdict, no decision", broken, verdictWith("fail:"), nil},
		{"inconclusive verdict, no one said go on", healthy, verdictWith("inconclusive:"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := newFreezing(c.at)
				p, _ := newPlan(newFleet(c.v2))
				withFlag(t, p)
				p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
				if c.name == "inconclusive verdict, no one said go on" {
					p.Verify.MinRequests = 1e9 // the last step cannot be judged
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					deploy.Run(t.Context(), p)
				}()
				<-j.frozen
				if c.before != nil {
					c.before(t, j.Memory)
				}
				time.Sleep(2 * deploy.DefaultLeaseTTL)
				next, rec := journaledPlan(t, j.Memory, "next")
				next.Target, next.Metrics, next.Flags, next.Recover, next.Verify = p.Target, p.Metrics, p.Flags, deploy.RecoverResume, p.Verify
				rep, err := deploy.Run(t.Context(), next)
				close(j.thaw)
				<-done
				if !errors.Is(err, deploy.ErrRolledBack) || rep.Outcome != deploy.RolledBack {
					t.Fatalf("recovery = %v, %v (%s)", rep.Outcome, err, rep.Reason)
				}
				if n := rec.count(deploy.KindStep); n != 0 {
					t.Errorf("the recovery observed %d step(s): it resumed what had gone wrong", n)
				}
				assertVersions(t, fleetOf(p), map[string]int{"v1": 8})
			})
		})
	}
}
