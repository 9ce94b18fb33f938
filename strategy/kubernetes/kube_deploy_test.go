package kubernetes

import (
	"context"
	"errors"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/internal/testserver/kubetest"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

// kwokReady bounds how long a pod the test expects to become ready may
// take: kwok on a loaded machine can take tens of seconds.
const kwokReady = 2 * time.Minute

// teeRouter routes with the adapter's Router and mirrors every change into
// a scripted metric source, so that each version serves the share of
// requests the HTTPRoute gives it. before, if set, runs before each Route
// with the number of the call (1, 2…).
type teeRouter struct {
	*Router
	mirror *verifytest.Routed
	before func(n int)
	mu     sync.Mutex
	n      int
}

func (t *teeRouter) Route(ctx context.Context, stable, canary string, weight float64) error {
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()
	if t.before != nil {
		t.before(n)
	}
	if err := t.Router.Route(ctx, stable, canary, weight); err != nil {
		return err
	}
	return t.mirror.Route(ctx, stable, canary, weight)
}

// teeSwitch does for a Switch what teeRouter does for a Router.
type teeSwitch struct {
	sw     *Switch
	mirror *verifytest.Routed
	before func(version string)
}

func (t teeSwitch) Current(ctx context.Context) (string, error) { return t.sw.Current(ctx) }

func (t teeSwitch) Switch(ctx context.Context, version string) error {
	if t.before != nil {
		t.before(version)
	}
	if err := t.sw.Switch(ctx, version); err != nil {
		return err
	}
	return t.mirror.Switch(ctx, version)
}

// mirrorFleet is a Fleet whose instances' shares of versions are
// mirrored into a scripted metric source, as traffic spread evenly over
// the pods of a Service selecting them all would be.
type mirrorFleet struct {
	*Fleet
	mirror   *verifytest.Routed
	from, to string
}

func (m mirrorFleet) Start(ctx context.Context, version string) (string, error) {
	id, err := m.Fleet.Start(ctx, version)
	if err == nil {
		err = m.sync(ctx)
	}
	return id, err
}

func (m mirrorFleet) Stop(ctx context.Context, id string) error {
	if err := m.Fleet.Stop(ctx, id); err != nil {
		return err
	}
	return m.sync(ctx)
}

func (m mirrorFleet) sync(ctx context.Context) error {
	insts, err := m.Fleet.Instances(ctx)
	if err != nil || len(insts) == 0 {
		return err
	}
	n := 0
	for _, in := range insts {
		if in.Version == m.to {
			n++
		}
	}
	return m.mirror.Route(ctx, m.from, m.to, 100*float64(n)/float64(len(insts)))
}

// traffic returns a scripted source of 10,000 requests a second, all on
// v1 until routed; v1 fails 1% of requests, v2 1% or, when bad, 8%.
func traffic(bad bool) *verifytest.Routed {
	v2 := 0.01
	if bad {
		v2 = 0.08
	}
	return &verifytest.Routed{RPS: 10000, Serving: "v1", Script: verifytest.Script{
		"v1": {{ErrorRate: 0.01, BusinessRate: 0.2}},
		"v2": {{ErrorRate: v2, BusinessRate: 0.2}},
	}}
}

// A kind of deployment on Kubernetes.
type kind struct {
	name     string
	strategy strategy.Strategy
	target   func(t testing.TB, l *live, f *Fleet, m *verifytest.Routed) strategy.Target
}

func kinds() []kind {
	routed := func(t testing.TB, l *live, f *Fleet, m *verifytest.Routed) strategy.Target {
		return strategy.Target{Fleet: f, Router: &teeRouter{Router: l.router(t), mirror: m}}
	}
	split := func(t testing.TB, l *live, f *Fleet, m *verifytest.Routed) strategy.Target {
		return strategy.Target{Fleet: mirrorFleet{Fleet: f, mirror: m, from: "v1", to: "v2"}}
	}
	switched := func(t testing.TB, l *live, f *Fleet, m *verifytest.Routed) strategy.Target {
		return strategy.Target{Fleet: f, Switch: teeSwitch{sw: l.switcher(t), mirror: m}}
	}
	return []kind{
		{"CanaryByRoute", strategy.Canary{Steps: []float64{10, 50}, StepWindow: time.Second, ReadyTimeout: kwokReady}, routed},
		{"CanaryBySplit", strategy.Canary{Steps: []float64{50}, StepWindow: time.Second, ReadyTimeout: kwokReady}, split},
		{"Rolling", strategy.Rolling{MaxSurge: "1", MaxUnavailable: "0", BatchWindow: time.Second, Window: time.Second, ReadyTimeout: kwokReady}, split},
		{"BlueGreen", strategy.BlueGreen{Window: time.Second, KeepWarm: 100 * time.Millisecond, ReadyTimeout: kwokReady}, switched},
	}
}

// plan returns a plan deploying v2 over v1 on target, judged on m.
func plan(target strategy.Target, s strategy.Strategy, m *verifytest.Routed) *deploy.Plan {
	return &deploy.Plan{
		Service: "checkout", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change:   deploy.Change{Engineer: "ana@example.com", What: "basket rendered server-side", Why: "faster first paint", Expected: "same error rate"},
		Tests:    deploy.Named("CI passed for v2", deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil })),
		Strategy: s, Target: target, Metrics: m,
		Verify: verify.Policy{Interval: 250 * time.Millisecond, BaselineWindow: time.Minute},
		// Rolling, and Canary by instance split, go back by starting v1's
		// pods again: seconds here.
		AcceptRedeploy: "a v1 pod starts in seconds",
	}
}

// versions counts the fleet's instances by version.
func versions(t testing.TB, f *Fleet) map[string]int {
	t.Helper()
	insts, err := f.Instances(context.WithoutCancel(t.Context()))
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	out := map[string]int{}
	for _, in := range insts {
		out[in.Version]++
	}
	return out
}

// settled checks that the cluster serves only version: every pod of the
// fleet runs it, and the HTTPRoute or Service, if any, sends it all
// traffic.
func settled(t testing.TB, l *live, f *Fleet, target strategy.Target, version string, pods int) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	if got := versions(t, f); len(got) != 1 || got[version] != pods {
		t.Errorf("pods by version = %v, want %d of %s only", got, pods, version)
	}
	if target.Router != nil {
		stable, canary, w, err := l.router(t).Routing(ctx)
		ok := err == nil && ((stable == version && w == 0) || (canary == version && w == 100))
		if !ok {
			t.Errorf("HTTPRoute routes %v%% to %q, the rest to %q (err %v); want all on %s", w, canary, stable, err, version)
		}
	}
	if target.Switch != nil {
		if cur, err := l.switcher(t).Current(ctx); cur != version || err != nil {
			t.Errorf("Service selects %q (err %v), want %s", cur, err, version)
		}
	}
}

// TestKubeDeployments runs each kind of deployment on the cluster to
// completion, and to a rollback for a version whose pods never become
// ready and for one the judge fails.
func TestKubeDeployments(t *testing.T) {
	for _, k := range kinds() {
		for _, c := range []struct {
			name    string
			bad     bool   // the judge fails v2
			never   string // v2's pods fail this way (kubetest.ReadyAnnotation)
			outcome deploy.Outcome
		}{
			{"Completes", false, "", deploy.Completed},
			{"JudgeFails", true, "", deploy.RolledBack},
			{"NeverReady", false, kubetest.NeverReady, deploy.RolledBack},
		} {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				l := newLive(t, nil, nil)
				if c.never != "" {
					l.set("v2", kubetest.ReadyAnnotation, c.never)
				}
				f := l.fleet(t)
				startAll(t, f, "v1", 2)
				m := traffic(c.bad)
				target := k.target(t, l, f, m)
				p := plan(target, k.strategy, m)
				if c.never == kubetest.NeverReady {
					// A pod that never becomes ready is only given up on
					// at the ready timeout: keep it short here.
					p.Strategy = withReadyTimeout(k.strategy, 10*time.Second)
				}
				rep, err := deploy.Run(t.Context(), p)
				if rep.Outcome != c.outcome {
					t.Fatalf("outcome %s (%s), want %s; error: %v", rep.Outcome, rep.Reason, c.outcome, err)
				}
				switch c.outcome {
				case deploy.Completed:
					settled(t, l, f, target, "v2", 2)
				default:
					if !errors.Is(err, deploy.ErrRolledBack) {
						t.Errorf("error %v, want deploy.ErrRolledBack", err)
					}
					var v *verify.Verdict
					if c.bad && !errors.As(err, &v) {
						t.Errorf("error %v, want a failing verdict", err)
					}
					if c.never != "" && !errors.Is(err, strategy.ErrUnhealthy) {
						t.Errorf("error %v, want strategy.ErrUnhealthy", err)
					}
					settled(t, l, f, target, "v1", 2)
				}
			})
		}
	}
}

// withReadyTimeout returns s with its ReadyTimeout set to d.
func withReadyTimeout(s strategy.Strategy, d time.Duration) strategy.Strategy {
	switch s := s.(type) {
	case strategy.Canary:
		s.ReadyTimeout = d
		return s
	case strategy.Rolling:
		s.ReadyTimeout = d
		return s
	case strategy.BlueGreen:
		s.ReadyTimeout = d
		return s
	}
	return s
}

// TestKubeStartFailures checks Start's reasons on real pods.
func TestKubeStartFailures(t *testing.T) {
	for _, c := range []struct {
		annotation, value string
		wait              time.Duration
		reason            string
	}{
		{kubetest.ReadyAnnotation, kubetest.ImagePull, kwokReady, "ImagePullBackOff"},
		{kubetest.ReadyAnnotation, kubetest.CrashLoop, kwokReady, "CrashLoopBackOff"},
	} {
		t.Run(c.value, func(t *testing.T) {
			t.Parallel()
			l := newLive(t, nil, nil)
			l.set("v2", c.annotation, c.value)
			f := l.fleet(t)
			ctx, cancel := context.WithTimeout(t.Context(), c.wait)
			defer cancel()
			id, err := f.Start(ctx, "v2")
			var pe *PodError
			if !errors.As(err, &pe) || pe.Reason != c.reason || pe.Pod != id || id == "" {
				t.Fatalf("Start = %q, %v; want a *PodError with reason %s naming the pod", id, err, c.reason)
			}
			if err := f.Stop(t.Context(), id); err != nil {
				t.Errorf("Stop(%s): %v", id, err)
			}
		})
	}
	t.Run("never", func(t *testing.T) {
		// Start gives up on a pod that runs but is never ready only when
		// its context ends: end it once kwok runs the pod.
		t.Parallel()
		l := newLive(t, nil, nil)
		l.set("v2", kubetest.ReadyAnnotation, kubetest.NeverReady)
		f := l.fleet(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			defer cancel()
			for ctx.Err() == nil {
				pods, err := l.cluster.Client().CoreV1().Pods(l.ns).List(ctx, metav1.ListOptions{})
				if err == nil && len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodRunning {
					time.Sleep(time.Second)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		id, err := f.Start(ctx, "v2")
		var pe *PodError
		if !errors.As(err, &pe) || pe.Reason != "NotReady" || pe.Pod != id || !errors.Is(err, context.Canceled) {
			t.Fatalf("Start = %q, %v; want a *PodError with reason NotReady naming the pod", id, err)
		}
	})
	t.Run("unschedulable", func(t *testing.T) {
		t.Parallel()
		l := newLive(t, nil, nil)
		tpl := l.cfg.Template
		l.cfg.Template = func(v string) (corev1.PodTemplateSpec, error) {
			p, err := tpl(v)
			p.Spec.NodeSelector = map[string]string{"zone": "nowhere"}
			return p, err
		}
		f := l.fleet(t)
		// The scheduler says so at once; Start waits for its context.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		id, err := f.Start(ctx, "v2")
		var pe *PodError
		if !errors.As(err, &pe) || pe.Reason != "Unschedulable" || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start = %q, %v; want a *PodError with reason Unschedulable after the deadline", id, err)
		}
		if !strings.Contains(pe.Message, "node") {
			t.Errorf("message %q, want the scheduler's", pe.Message)
		}
	})
	t.Run("ready later", func(t *testing.T) {
		t.Parallel()
		l := newLive(t, nil, nil)
		l.set("v2", kubetest.ReadyAfterAnnotation, "3s")
		f := l.fleet(t)
		ctx, cancel := context.WithTimeout(t.Context(), kwokReady)
		defer cancel()
		if id, err := f.Start(ctx, "v2"); err != nil {
			t.Fatalf("Start = %q, %v", id, err)
		}
	})
}
