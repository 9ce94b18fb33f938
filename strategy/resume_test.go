package strategy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// A resumable is a Resumer with the target it is given.
type resumable struct {
	name   string
	s      strategy.Resumer
	target func(f *strategytest.Fleet) strategy.Target
}

func resumables() []resumable {
	routed := func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Router: f} }
	switched := func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Switch: f} }
	plain := func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f} }
	return []resumable{
		{"canary/router", strategy.Canary{StepWindow: time.Minute}, routed},
		{"canary/instances", strategy.Canary{StepWindow: time.Minute}, plain},
		{"rolling", strategy.Rolling{BatchWindow: time.Minute, MaxSurge: "1", MaxUnavailable: "0"}, plain},
		{"rolling/unavailable", strategy.Rolling{MaxSurge: "0", MaxUnavailable: "2"}, plain},
		{"bluegreen/switch", strategy.BlueGreen{PreviewWindow: time.Minute}, switched},
		{"bluegreen/router", strategy.BlueGreen{}, routed},
		{"direct", strategy.Direct{}, plain},
	}
}

// StepsFor names exactly the steps Deploy asks its Gate about: the
// executor finds an interrupted run's step by its name.
func TestStepsForMatchesDeploy(t *testing.T) {
	for _, r := range resumables() {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(6)
				g := newGate(f)
				if _, err := r.s.Deploy(t.Context(), r.target(f), rel, g); err != nil {
					t.Fatal(err)
				}
				seen, _ := g.seen()
				if diff := cmp.Diff(seen, r.s.StepsFor(r.target(f), 6)); diff != "" {
					t.Errorf("StepsFor differs from Deploy's steps (-Deploy +StepsFor):\n%s", diff)
				}
			})
		})
	}
}

// A deployment stopped dead at each of its steps (its Gate fails and its
// undo is never run, as when its process is killed) is resumed there: the
// Gate is asked about that step and the ones after it only, the fleet ends
// on the new version, and a failure after the resume is undone back to
// the fleet as it was before the interrupted deployment.
func TestResumeAtEveryStep(t *testing.T) {
	for _, r := range resumables() {
		for at := range r.s.StepsFor(r.target(newFleet(6)), 6) {
			t.Run(fmt.Sprintf("%s/step %d", r.name, at+1), func(t *testing.T) {
				for _, fail := range []bool{false, true} {
					synctest.Test(t, func(t *testing.T) {
						f := newFleet(6)
						tr := track(t, f)
						target := r.target(f)
						target.Fleet = tr
						before := ids(t, f)
						if _, err := r.s.Deploy(t.Context(), target, rel, failing(f, at)); !errors.Is(err, errGate) {
							t.Fatalf("the interrupted deploy: %v", err)
						}
						g := newGate(f)
						if fail {
							g = failing(f, 0)
						}
						undo, err := r.s.Resume(t.Context(), target, rel, strategy.Position{Step: at, Before: before}, g)
						seen, _ := g.seen()
						want := r.s.StepsFor(target, 6)[at:]
						if fail {
							want = want[:1]
						}
						if diff := cmp.Diff(want, seen); diff != "" {
							t.Errorf("steps asked after resuming at %d (-want +got):\n%s", at, diff)
						}
						if fail {
							if !errors.Is(err, errGate) {
								t.Fatalf("resume with a failing gate: %v", err)
							}
							if err := undo(t.Context()); err != nil {
								t.Fatalf("undo: %v", err)
							}
							assertOriginal(t, f, 6)
							return
						}
						if err != nil {
							t.Fatalf("resume: %v", err)
						}
						assertVersions(t, f, map[string]int{rel.To: 6})
						if rs, ok := r.s.(strategy.Rolling); ok {
							maxTotal, minReady := tr.bounds()
							surge, _ := map[strategy.Amount]int{"1": 1, "0": 0}[rs.MaxSurge]
							unavailable, _ := map[strategy.Amount]int{"0": 0, "2": 2}[rs.MaxUnavailable]
							if maxTotal > 6+surge || minReady < 6-unavailable {
								t.Errorf("the fleet reached %d instances and %d ready, outside 6+%d and 6-%d", maxTotal, minReady, surge, unavailable)
							}
						}
					})
				}
			})
		}
	}
}

// A target whose state fits no step is refused with ErrCannotResume, and
// left as it was.
func TestResumeRefusesATargetThatFitsNoStep(t *testing.T) {
	cases := []struct {
		name  string
		r     resumable
		at    int
		setup func(t *testing.T, f *strategytest.Fleet)
	}{
		{"a third version", resumables()[0], 1, func(t *testing.T, f *strategytest.Fleet) { start(t, f, "v3") }},
		{"too many canaries", resumables()[0], 0, func(t *testing.T, f *strategytest.Fleet) { start(t, f, rel.To); start(t, f, rel.To) }},
		{"an old instance gone under a router", resumables()[0], 1, func(t *testing.T, f *strategytest.Fleet) { stopOne(t, f, rel.From) }},
		{"a new side not whole at the switch", resumables()[4], 1, func(t *testing.T, f *strategytest.Fleet) { start(t, f, rel.To) }},
		{"rolling beyond its batch", resumables()[2], 0, func(t *testing.T, f *strategytest.Fleet) {
			for range 3 {
				start(t, f, rel.To)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(6)
				before := ids(t, f)
				c.setup(t, f)
				was := snap(f)
				g := newGate(f)
				undo, err := c.r.s.Resume(t.Context(), c.r.target(f), rel, strategy.Position{Step: c.at, Before: before}, g)
				if !errors.Is(err, strategy.ErrCannotResume) || undo != nil {
					t.Fatalf("Resume = %v (undo %v); want ErrCannotResume and no undo", err, undo != nil)
				}
				if diff := cmp.Diff(was, snap(f)); diff != "" {
					t.Errorf("a refused resume changed the fleet (-before +after):\n%s", diff)
				}
				if steps, _ := g.seen(); len(steps) > 0 {
					t.Errorf("a refused resume asked the gate about %d step(s)", len(steps))
				}
			})
		})
	}
}

// ids returns the IDs of f's instances, sorted.
func ids(t *testing.T, f *strategytest.Fleet) []string {
	t.Helper()
	insts, err := f.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range insts {
		out = append(out, in.ID)
	}
	slices.Sort(out)
	return out
}

// stopOne stops one instance of version.
func stopOne(t *testing.T, f *strategytest.Fleet, version string) {
	t.Helper()
	insts, _ := f.Instances(t.Context())
	for _, in := range insts {
		if in.Version == version {
			if err := f.Stop(t.Context(), in.ID); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// start starts one instance of version.
func start(t *testing.T, f *strategytest.Fleet, version string) {
	t.Helper()
	if _, err := f.Start(t.Context(), version); err != nil {
		t.Fatal(err)
	}
}

// switches records the versions a Switch is asked for.
type switches struct {
	sw    strategy.Switch
	asked []string
}

func (s *switches) Switch(ctx context.Context, version string) error {
	s.asked = append(s.asked, version)
	return s.sw.Switch(ctx, version)
}

// Blue/green without a preview resumed while its switch was observed:
// the new side is whole and may already serve; traffic is switched to it,
// never back to the old side first.
func TestBlueGreenResumeDoesNotSwitchBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(6)
		bg := strategy.BlueGreen{Window: time.Minute}
		before := ids(t, f)
		if _, err := bg.Deploy(t.Context(), strategy.Target{Fleet: f, Switch: f}, rel, failing(f, 0)); !errors.Is(err, errGate) {
			t.Fatalf("the interrupted deploy: %v", err)
		}
		sw := &switches{sw: f}
		if _, err := bg.Resume(t.Context(), strategy.Target{Fleet: f, Switch: sw}, rel, strategy.Position{Step: 0, Before: before}, newGate(f)); err != nil {
			t.Fatalf("resume: %v", err)
		}
		if !slices.Equal(sw.asked, []string{"v2"}) {
			t.Errorf("the resumed switch was asked for %v, want only [v2]", sw.asked)
		}
		assertVersions(t, f, map[string]int{"v2": 6})
	})
}

// Weights that three significant digits would name alike get names with
// as many digits as tell them apart: a resumed run finds its step by name.
func TestCanaryStepNamesAreDistinct(t *testing.T) {
	c := strategy.Canary{Steps: []float64{5, 33.31, 33.33, 99.95, 100}}
	f := newFleet(6)
	var names []string
	for _, s := range c.StepsFor(strategy.Target{Fleet: f, Router: f}, 6) {
		names = append(names, s.Name)
	}
	want := []string{"canary 5%", "canary 33.31%", "canary 33.33%", "canary 99.95%", "canary 100%"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("step names (-want +got):\n%s", diff)
	}
}
