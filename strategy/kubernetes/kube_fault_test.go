package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/internal/testserver/kubetest"
	"github.com/safedeploy/safedeploy/strategy"
)

// canaryByRoute returns a live namespace running two v1 pods, and a plan
// for a canary of v2 by HTTPRoute weights whose router runs before before
// each Route.
func canaryByRoute(t *testing.T, l *live, before func(n int)) (*Fleet, strategy.Target, *deploy.Plan) {
	t.Helper()
	f := l.fleet(t)
	startAll(t, f, "v1", 2)
	m := traffic(false)
	target := strategy.Target{Fleet: f, Router: &teeRouter{Router: l.router(t), mirror: m, before: before}}
	return f, target, plan(target, strategy.Canary{Steps: []float64{10, 50}, StepWindow: time.Second, ReadyTimeout: kwokReady}, m)
}

// TestKubeBenignWriter has another client change the HTTPRoute and a
// Service in the middle of a canary, in fields the adapter does not write:
// the canary completes, and their changes stay.
func TestKubeBenignWriter(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil, nil)
	admin := l.cluster.Client()
	ctx := t.Context()
	var writeErr error
	f, target, p := canaryByRoute(t, l, func(n int) {
		if n != 3 { // between the 10% and the 50% step
			return
		}
		gw, _ := l.router(t).cfg.Gateway.GatewayV1().HTTPRoutes(l.ns).Get(ctx, "checkout", metav1.GetOptions{})
		gw.Annotations = map[string]string{"team": "payments"}
		_, err := l.cfg.Gateway.GatewayV1().HTTPRoutes(l.ns).Update(ctx, gw, metav1.UpdateOptions{FieldManager: "kubectl-annotate"})
		svc, gerr := admin.CoreV1().Services(l.ns).Get(ctx, "checkout-v2", metav1.GetOptions{})
		if gerr == nil {
			svc.Annotations = map[string]string{"team": "payments"}
			_, gerr = admin.CoreV1().Services(l.ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "kubectl-annotate"})
		}
		writeErr = errors.Join(err, gerr)
	})
	rep, err := deploy.Run(ctx, p)
	if writeErr != nil {
		t.Fatalf("the other client's writes: %v", writeErr)
	}
	if rep.Outcome != deploy.Completed {
		t.Fatalf("outcome %s (%s): %v", rep.Outcome, rep.Reason, err)
	}
	settled(t, l, f, target, "v2", 2)
	route, err := l.cfg.Gateway.GatewayV1().HTTPRoutes(l.ns).Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil || route.Annotations["team"] != "payments" {
		t.Errorf("HTTPRoute annotations %v (err %v): the other client's annotation was lost", route.Annotations, err)
	}
}

// TestKubeConflictingWriter has another controller take the HTTPRoute's
// rules (a forced server-side apply as "flagger") in the middle of a
// canary: the adapter does not overwrite them, the deployment stops, the
// undo runs, and the error names the conflict and the other manager.
func TestKubeConflictingWriter(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil, nil)
	ctx := t.Context()
	var writeErr error
	theirs := gwac.HTTPRoute("checkout", l.ns).WithSpec(gwac.HTTPRouteSpec().
		WithParentRefs(gwac.ParentReference().WithName("public")).
		WithRules(gwac.HTTPRouteRule().WithBackendRefs(
			gwac.HTTPBackendRef().WithName("checkout-v1").WithPort(80).WithWeight(7),
			gwac.HTTPBackendRef().WithName("checkout-v2").WithPort(80).WithWeight(3))))
	f, _, p := canaryByRoute(t, l, func(n int) {
		if n == 3 {
			_, writeErr = l.cfg.Gateway.GatewayV1().HTTPRoutes(l.ns).Apply(ctx, theirs, metav1.ApplyOptions{FieldManager: "flagger", Force: true})
		}
	})
	rep, err := deploy.Run(ctx, p)
	if writeErr != nil {
		t.Fatalf("the other controller's apply: %v", writeErr)
	}
	if rep.Outcome == deploy.Completed {
		t.Fatalf("outcome %s, want the deployment stopped", rep.Outcome)
	}
	var ke *Error
	if !errors.Is(err, ErrConflict) || !errors.As(err, &ke) || !strings.Contains(err.Error(), `"flagger"`) || ke.Resource != httproutes {
		t.Errorf("error %v, want an ErrConflict on the HTTPRoute naming flagger", err)
	}
	route, gerr := l.cfg.Gateway.GatewayV1().HTTPRoutes(l.ns).Get(ctx, "checkout", metav1.GetOptions{})
	if gerr != nil {
		t.Fatal(gerr)
	}
	if w := *route.Spec.Rules[0].BackendRefs[1].Weight; w != 3 {
		t.Errorf("canary weight %d after the deployment, want flagger's 3: the adapter overwrote it", w)
	}
	// The undo ran, and since it could not move traffic back it kept the
	// canary's pods (stopping them would leave 3% of requests nowhere to
	// go), v1's untouched, and said so.
	var ue *strategy.UndoError
	if rep.Outcome != deploy.RollbackFailed || !errors.As(err, &ue) || !strings.Contains(err.Error(), "router left") {
		t.Errorf("outcome %s, error %v; want a failed rollback naming the router", rep.Outcome, err)
	}
	if got := versions(t, f); got["v1"] != 2 || got["v2"] == 0 {
		t.Errorf("pods by version %v after the undo, want v1's 2 and the canary's kept", got)
	}
	t.Logf("outcome %s: %v", rep.Outcome, err)
}

// TestKubeAPIServerRestart restarts kube-apiserver in the middle of a
// blue/green deployment, just before the switch: the adapter retries
// until it is back, and the deployment completes. The cluster has no
// Gateway API CRDs, which the Router reports as such.
func TestKubeAPIServerRestart(t *testing.T) {
	c := kubetest.Start(t, kubetest.WithoutGatewayAPI())
	l := newLive(t, c, nil)
	ctx := t.Context()

	r := l.router(t)
	err := r.Route(ctx, "v1", "v2", 5)
	if !errors.Is(err, ErrNoAPI) || !strings.Contains(err.Error(), "install the Gateway API CRDs") {
		t.Errorf("Route without the CRDs = %v, want ErrNoAPI saying to install them", err)
	}
	if _, _, _, err := r.Routing(ctx); !errors.Is(err, ErrNoAPI) {
		t.Errorf("Routing without the CRDs = %v, want ErrNoAPI", err)
	}

	f := l.fleet(t)
	startAll(t, f, "v1", 2)
	sw := l.switcher(t)
	if err := sw.Switch(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	m := traffic(false)
	stopNow, stopped := make(chan struct{}), make(chan struct{})
	target := strategy.Target{Fleet: f, Switch: teeSwitch{sw: sw, mirror: m, before: func(v string) {
		if v == "v2" {
			close(stopNow)
			<-stopped
		}
	}}}
	p := plan(target, strategy.BlueGreen{Window: time.Second, KeepWarm: 100 * time.Millisecond, ReadyTimeout: kwokReady}, m)
	type result struct {
		rep *deploy.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := deploy.Run(ctx, p)
		done <- result{rep, err}
	}()
	select {
	case <-stopNow:
	case res := <-done:
		t.Fatalf("the deployment ended before its switch: %s: %v", res.rep.Outcome, res.err)
	}
	c.StopAPIServer(t)
	close(stopped)
	time.Sleep(2 * time.Second) // the switch meets no API server for a while
	c.StartAPIServer(t)
	res := <-done
	if res.rep.Outcome != deploy.Completed {
		t.Fatalf("outcome %s (%s): %v", res.rep.Outcome, res.rep.Reason, res.err)
	}
	settled(t, l, f, target, "v2", 2)
}

// TestKubeMinimalRole runs a canary by HTTPRoute weights as an identity
// holding exactly Rules, the package doc's Role.
func TestKubeMinimalRole(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil, nil)
	l.configure(t, l.cluster.ConfigFor(t, l.ns, Rules()))
	f, target, p := canaryByRoute(t, l, nil)
	rep, err := deploy.Run(t.Context(), p)
	if rep.Outcome != deploy.Completed {
		t.Fatalf("outcome %s (%s): %v", rep.Outcome, rep.Reason, err)
	}
	settled(t, l, f, target, "v2", 2)
}

// TestKubeMissingVerb takes each verb of Rules away in turn and checks
// that the call needing it fails with ErrForbidden naming the verb and
// the resource.
func TestKubeMissingVerb(t *testing.T) {
	ops := map[string]func(ctx context.Context, t *testing.T, l *live, pod string) error{
		"pods/get": func(ctx context.Context, t *testing.T, l *live, pod string) error { return l.fleet(t).Stop(ctx, pod) },
		"pods/list": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			_, err := l.fleet(t).Instances(ctx)
			return err
		},
		"pods/watch": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			_, err := l.fleet(t).Start(ctx, "v9")
			return err
		},
		"pods/create": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			_, err := l.fleet(t).Start(ctx, "v9")
			return err
		},
		"pods/delete": func(ctx context.Context, t *testing.T, l *live, pod string) error { return l.fleet(t).Stop(ctx, pod) },
		"services/get": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			_, err := l.switcher(t).Current(ctx)
			return err
		},
		"services/create": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			return l.switcher(t).Switch(ctx, "v9")
		},
		"services/patch": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			return l.switcher(t).Switch(ctx, "v9")
		},
		"controllerrevisions/get": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			_, err := l.fleet(t).Start(ctx, "v9")
			return err
		},
		"controllerrevisions/create": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			_, err := l.fleet(t).Start(ctx, "v9")
			return err
		},
		"controllerrevisions/patch": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			_, err := l.fleet(t).Start(ctx, "v9")
			return err
		},
		"httproutes/get": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			_, _, _, err := l.router(t).Routing(ctx)
			return err
		},
		"httproutes/create": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			return l.router(t).Route(ctx, "v1", "v9", 5)
		},
		"httproutes/patch": func(ctx context.Context, t *testing.T, l *live, pod string) error {
			return l.router(t).Route(ctx, "v1", "v9", 5)
		},
	}
	for i, rule := range Rules() {
		for _, verb := range rule.Verbs {
			op := rule.Resources[0] + "/" + verb
			t.Run(op, func(t *testing.T) {
				t.Parallel()
				do := ops[op]
				if do == nil {
					t.Fatalf("no operation needing %s", op)
				}
				l := newLive(t, nil, nil)
				ctx := t.Context()
				// What the operation acts on, made by an administrator: a
				// pod, and the route and Service for the gets.
				admin := l.fleet(t)
				sctx, cancel := context.WithTimeout(ctx, time.Second)
				pod, _ := admin.Start(sctx, "v1")
				cancel()
				if pod == "" {
					t.Fatal("the administrator could not create a pod")
				}
				if verb == "get" {
					if err := l.switcher(t).Switch(ctx, "v1"); err != nil {
						t.Fatal(err)
					}
					if err := l.router(t).Route(ctx, "v1", "v2", 0); err != nil {
						t.Fatal(err)
					}
				}
				rules := Rules()
				rules[i].Verbs = removed(rules[i].Verbs, verb)
				l.configure(t, l.cluster.ConfigFor(t, l.ns, rules))
				l.cfg.RetryFor = time.Second
				wctx, cancel := context.WithTimeout(ctx, kwokReady)
				defer cancel()
				err := do(wctx, t, l, pod)
				resource := rule.Resources[0]
				if g := rule.APIGroups[0]; g != "" {
					resource += "." + g
				}
				want := fmt.Sprintf("grant verb %q on resource %q", verb, resource)
				if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), want) {
					t.Errorf("without %s: error %v; want ErrForbidden saying %s", op, err, want)
				}
			})
		}
	}
}

func removed(s []string, x string) []string {
	var out []string
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// TestKubeForeignPods has a ReplicaSet run pods with the fleet's labels:
// the fleet refuses to count them, naming them.
func TestKubeForeignPods(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil, nil)
	ctx := t.Context()
	sel := labels("checkout", "v1")
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "checkout-legacy", Namespace: l.ns},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "legacy"}}}}}}
	if _, err := l.cluster.Client().AppsV1().ReplicaSets(l.ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f := l.fleet(t)
	var err error
	for deadline := time.Now().Add(kwokReady); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err = f.Instances(ctx); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "controlled by ReplicaSet checkout-legacy") {
		t.Errorf("Instances = %v, want ErrForeign naming the ReplicaSet's pod", err)
	}
}

// TestKubeMissingNamespace checks the error for a namespace that does not
// exist.
func TestKubeMissingNamespace(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil, nil)
	l.cfg.Namespace = "no-such-namespace"
	_, err := l.fleet(t).Start(t.Context(), "v1")
	if !errors.Is(err, ErrNoNamespace) || !strings.Contains(err.Error(), `create namespace "no-such-namespace"`) {
		t.Errorf("Start = %v, want ErrNoNamespace saying to create it", err)
	}
	err = l.switcher(t).Switch(t.Context(), "v1")
	if !errors.Is(err, ErrNoNamespace) {
		t.Errorf("Switch = %v, want ErrNoNamespace", err)
	}
}
