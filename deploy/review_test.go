package deploy_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
)

// A regression that starts in the last canary step, at full traffic, is
// caught in that step although every step before it was good.
func TestLateRegressionCaught(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		late := healthy
		late.ErrorRate = 0.04 // 4× v1's, only from the 100% step on
		start := time.Now()
		time.AfterFunc(20*time.Minute, func() { fleet.SetBehavior("v2", late) })
		_, err := deploy.Run(t.Context(), p)
		var v *verify.Verdict
		if !errors.Is(err, deploy.ErrRolledBack) || !errors.As(err, &v) {
			t.Fatalf("err = %v, want the final step rolled back", err)
		}
		if took := time.Since(start); took <= 20*time.Minute || took >= 25*time.Minute {
			t.Errorf("rolled back after %s, want during the final step (20m to 25m)", took)
		}
		if m := v.Measurements[0]; m.Metric != "error-rate" || !m.Failed || m.Lower <= 1 {
			t.Errorf("measurement %s: want a failed error rate whose interval excludes 1", m)
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
	})
}

func TestBlueGreenPreviewAndKeepWarm(t *testing.T) {
	t.Run("preview is probed, not judged", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fleet := newFleet(healthy)
			p, rec := newPlan(fleet)
			p.Strategy, p.Target = strategy.BlueGreen{PreviewWindow: 2 * time.Minute}, strategy.Target{Fleet: fleet, Switch: fleet}
			probes := 0
			p.Verify.Probes = []verify.Probe{{Name: "home page", Check: func(context.Context) error { probes++; return nil }}}
			if _, err := deploy.Run(t.Context(), p); err != nil {
				t.Fatalf("a healthy blue/green with a preview: %v", err)
			}
			if rec.index(deploy.KindStep, "probing for 2m0s") < 0 || probes < 2 {
				t.Errorf("preview not probed (%d probes)", probes)
			}
		})
	})
	t.Run("failure while warm switches back", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fleet := newFleet(healthy)
			p, _ := newPlan(fleet)
			p.Strategy, p.Target = strategy.BlueGreen{KeepWarm: 5 * time.Minute}, strategy.Target{Fleet: fleet, Switch: fleet}
			time.AfterFunc(15*time.Minute+time.Second, func() { fleet.SetBehavior("v2", broken) })
			_, err := deploy.Run(t.Context(), p)
			if !errors.Is(err, deploy.ErrRolledBack) || !strings.Contains(err.Error(), "error-rate") {
				t.Fatalf("err = %v, want a rollback during keep-warm", err)
			}
			assertVersions(t, fleet, map[string]int{"v1": 8})
			if got := fleet.Shares(); got["v1"] != 1 {
				t.Errorf("shares = %v, want all traffic back on v1", got)
			}
		})
	})
}

// The old version's metrics are optional: failing to read them must not
// roll back a healthy deployment.
func TestControlReadFailureIsNotFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, rec := newPlan(fleet)
		time.AfterFunc(time.Second, func() {
			v1 := healthy
			v1.MetricsErr = errBoom
			fleet.SetBehavior("v1", v1)
		})
		if _, err := deploy.Run(t.Context(), p); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if rec.index(deploy.KindMeasurement, "no concurrent control") < 0 {
			t.Error("the failed control read is not reported")
		}
	})
}

// A source that fails and has gaps in turn still trips the consecutive-error
// limit: a gap is not a success.
func TestGapsDoNotResetSourceFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		var calls atomic.Int32
		p.Metrics = verify.MetricSourceFunc(func(ctx context.Context, q verify.Query) (verify.Observation, error) {
			if q.Version == "v1" && q.End.Sub(q.Start) > time.Minute { // the baseline
				return fleet.Observe(ctx, q)
			}
			if q.Version == "v1" {
				return verify.Observation{}, verify.ErrNoData
			}
			if calls.Add(1)%2 == 0 {
				return verify.Observation{}, verify.ErrNoData
			}
			return verify.Observation{}, errBoom
		})
		_, err := deploy.Run(t.Context(), p)
		var v *verify.Verdict
		if !errors.As(err, &v) || !strings.Contains(v.Reason, "failed 3 times in a row") {
			t.Fatalf("err = %v, want the consecutive-error limit", err)
		}
	})
}

// Starting blue/green instances exposes nobody: a failed switch with a
// data-mutating change is still a plain rollback.
func TestExposureNeedsTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		p.Strategy, p.Target = strategy.BlueGreen{}, strategy.Target{Fleet: fleet, Switch: &failingSwitch{next: fleet, fail: "v2"}}
		p.Change.MutatesData = true
		rep, err := deploy.Run(t.Context(), p)
		if !errors.Is(err, deploy.ErrRolledBack) || rep.Outcome != deploy.RolledBack {
			t.Fatalf("err = %v (%s), want a rollback: v2 never served", err, rep.Outcome)
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
	})
}

type failingSwitch struct {
	next strategy.Switch
	fail string
}

func (s *failingSwitch) Switch(ctx context.Context, version string) error {
	if version == s.fail {
		return errBoom
	}
	return s.next.Switch(ctx, version)
}

// A probe that fails because the deployment was cancelled is cancellation,
// not a broken path.
func TestCancelledProbeIsCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(healthy)
		p, _ := newPlan(fleet)
		p.Verify.MaxConsecutiveErrors = 1
		ctx, cancel := context.WithCancel(t.Context())
		p.Verify.Probes = []verify.Probe{{Name: "checkout", Check: func(ctx context.Context) error {
			if fleet.Versions()["v2"] > 0 {
				cancel()
				return ctx.Err()
			}
			return nil
		}}}
		_, err := deploy.Run(ctx, p)
		var v *verify.Verdict
		if !errors.Is(err, context.Canceled) || errors.As(err, &v) {
			t.Fatalf("err = %v, want cancellation and no verdict", err)
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
	})
}

// Bad input gets an error, never a panic.
func TestNoPanicOnBadInput(t *testing.T) {
	if _, err := deploy.Run(t.Context(), nil); !errors.Is(err, deploy.ErrInvalidPlan) {
		t.Errorf("Run(nil) = %v", err)
	}
	p, _ := newPlan(newFleet(healthy))
	p.Observers = append(p.Observers, nil)
	p.Strategy, p.Target.Fleet = customStrategy{}, nil
	err := p.Validate()
	for _, want := range []string{"Observers[1] = nil", "Target.Fleet = nil"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
}

type customStrategy struct{}

func (customStrategy) Deploy(ctx context.Context, t strategy.Target, r strategy.Release, g strategy.Gate) (strategy.Undo, error) {
	return nil, nil
}

// joinValidator is a strategy whose Validate combines its problems with
// errors.Join, as a user's might.
type joinValidator struct{ customStrategy }

func (joinValidator) Validate(t strategy.Target) error {
	return errors.Join(errors.New("Steps = []: need one"), errors.New("Pause = -1s: must not be negative"))
}

func TestValidateListsEveryProblemOnce(t *testing.T) {
	p, _ := newPlan(newFleet(healthy))
	p.Target.Fleet = nil
	err := p.Validate()
	if got := strings.Count(err.Error(), "Fleet = nil"); got != 1 {
		t.Errorf("a nil fleet reported %d times:\n%v", got, err)
	}
	if strings.Contains(err.Error(), "Strategy.Target") {
		t.Errorf("Validate names a field that does not exist:\n%v", err)
	}
	p, _ = newPlan(newFleet(healthy))
	p.Strategy = joinValidator{}
	p.AcceptRedeploy = "test"
	err = p.Validate()
	for _, want := range []string{"\n\t* Strategy.Steps = []: need one", "\n\t* Strategy.Pause = -1s: must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a line %q", err, want)
		}
	}
}
