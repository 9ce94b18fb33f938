package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

const testNS = "shop"

// A kubelet stands in for the nodes with a fake clientset: each pod is
// given, as it is created, the status its version's behaviour says.
type kubelet struct {
	mu       sync.Mutex
	behavior map[string]func(*corev1.Pod) // by version; nil: Ready at once
}

func (k *kubelet) set(version string, f func(*corev1.Pod)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.behavior[version] = f
}

func ready(p *corev1.Pod) {
	p.Spec.NodeName = "node-1"
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.7",
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
}

func waiting(reason string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "back-off pulling image \"shop:nope\""}}}}}
	}
}

func probeFailing(p *corev1.Pod) {
	p.Spec.NodeName = "node-1"
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.8", ContainerStatuses: []corev1.ContainerStatus{{Name: "app",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
}

// initializing has the pod's init container running, and not ready: a
// plain init container runs to its end; a sidecar (restart policy Always)
// has a readiness probe of its own.
func initializing(restart *corev1.ContainerRestartPolicy) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "shop/migrate", RestartPolicy: restart}}
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
	}
}

func unschedulable(p *corev1.Pod) {
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
		Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu."}}}
}

func pending(p *corev1.Pod) { p.Status = corev1.PodStatus{Phase: corev1.PodPending} }

func (k *kubelet) react(a k8stesting.Action) (bool, runtime.Object, error) {
	p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
	k.mu.Lock()
	f := k.behavior[p.Labels[LabelVersion]]
	k.mu.Unlock()
	if f == nil {
		f = ready
	}
	f(p)
	return false, nil, nil
}

type env struct {
	client  *fake.Clientset
	gateway *gatewayfake.Clientset
	kubelet *kubelet
	cfg     Config
}

// A pod whose containers have ended for good (evicted, or Failed under
// restartPolicy Never) is no running instance.
func TestInstancesLeavesOutEnded(t *testing.T) {
	e := newEnv(t)
	f := e.fleet(t)
	ids := start(t, f, "v1", 3)
	for i, phase := range []corev1.PodPhase{corev1.PodFailed, corev1.PodSucceeded} {
		p, _ := e.client.CoreV1().Pods(testNS).Get(t.Context(), ids[i], metav1.GetOptions{})
		p.Status.Phase = phase
		if _, err := e.client.CoreV1().Pods(testNS).UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]strategy.Instance{{ID: ids[2], Version: "v1"}}, got); diff != "" {
		t.Errorf("Instances (-want +got):\n%s", diff)
	}
}

// A version's ControllerRevision adopted by another controller (a
// StatefulSet whose selector matches its labels) is refused: deleting that
// controller would delete the version's pods.
func TestStartRefusesAnAdoptedRevision(t *testing.T) {
	e := newEnv(t)
	start(t, e.fleet(t), "v1", 1)
	name := versionName("checkout", "v1")
	rev, err := e.client.AppsV1().ControllerRevisions(testNS).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	rev.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "cache", UID: "u1", Controller: &yes}}
	if _, err := e.client.AppsV1().ControllerRevisions(testNS).Update(t.Context(), rev, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.fleet(t).Start(t.Context(), "v1") // a new Fleet, with nothing cached
	if !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "StatefulSet cache") {
		t.Errorf("Start with an adopted revision = %v, want ErrForeign naming StatefulSet cache", err)
	}
}

func newEnv(t testing.TB, objs ...runtime.Object) *env {
	t.Helper()
	e := &env{client: fake.NewClientset(objs...), gateway: gatewayfake.NewClientset(), kubelet: &kubelet{behavior: map[string]func(*corev1.Pod){}}}
	e.client.PrependReactor("create", "pods", e.kubelet.react)
	e.cfg = Config{
		Client: e.client, Gateway: e.gateway, Namespace: testNS, Service: "checkout",
		Template: func(version string) (corev1.PodTemplateSpec, error) {
			return corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "payments"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/checkout:" + version}}},
			}, nil
		},
		Ports:       []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intOrString(8080)}},
		ParentRefs:  []gatewayv1.ParentReference{{Name: "public"}},
		MetricsPort: 9090,
		RetryFor:    200 * time.Millisecond,
	}
	return e
}

func (e *env) fleet(t testing.TB) *Fleet {
	t.Helper()
	f, err := NewFleet(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func start(t testing.TB, f *Fleet, version string, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		id, err := f.Start(t.Context(), version)
		if err != nil {
			t.Fatalf("Start(%s) = %q, %v", version, id, err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestConformanceFake(t *testing.T) {
	strategytest.Run(t, "v1", func(t *testing.T) strategy.Fleet {
		f := newEnv(t).fleet(t)
		start(t, f, "v1", 3)
		return f
	})
}

func TestStartLabelsAndOwner(t *testing.T) {
	e := newEnv(t)
	f := e.fleet(t)
	id := start(t, f, "v1.2.0", 1)[0]
	p, err := e.client.CoreV1().Pods(testNS).Get(t.Context(), id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{LabelName: "checkout", LabelVersion: "v1.2.0", LabelManagedBy: ManagedBy, "team": "payments"}
	if diff := cmp.Diff(want, p.Labels); diff != "" {
		t.Errorf("pod labels (-want +got):\n%s", diff)
	}
	owner := metav1.GetControllerOf(p)
	rev, err := e.client.AppsV1().ControllerRevisions(testNS).Get(t.Context(), versionName("checkout", "v1.2.0"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if owner == nil || owner.Kind != "ControllerRevision" || owner.UID != rev.UID {
		t.Errorf("pod controller = %+v, want ControllerRevision %s (UID %s)", owner, rev.Name, rev.UID)
	}
	if rev.Labels[LabelManagedBy] != ManagedBy || rev.Labels[LabelVersion] != "v1.2.0" {
		t.Errorf("ControllerRevision labels = %v", rev.Labels)
	}
	if !strings.HasPrefix(id, "checkout-v1-2-0-") {
		t.Errorf("pod name %q, want it to start with checkout-v1-2-0-", id)
	}
}

func TestStartFailures(t *testing.T) {
	for _, c := range []struct {
		name       string
		behavior   func(*corev1.Pod)
		wait       time.Duration // how long Start may wait; 0: it must fail at once
		wantReason string
	}{
		{"image pull", waiting("ImagePullBackOff"), 0, "ImagePullBackOff"},
		{"invalid image", waiting("InvalidImageName"), 0, "InvalidImageName"},
		{"crash loop", waiting("CrashLoopBackOff"), 0, "CrashLoopBackOff"},
		{"failed", func(p *corev1.Pod) {
			p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory"}
		}, 0, "Failed (Evicted)"},
		{"readiness failing", probeFailing, 100 * time.Millisecond, "NotReady"},
		{"unschedulable", unschedulable, 100 * time.Millisecond, "Unschedulable"},
		{"pulling", waiting("ErrImagePull"), 100 * time.Millisecond, "ErrImagePull"},
		{"initializing", initializing(nil), 100 * time.Millisecond, "PodInitializing"},
		{"sidecar not ready", initializing(ptr(corev1.ContainerRestartPolicyAlways)), 100 * time.Millisecond, "NotReady"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.kubelet.set("v2", c.behavior)
			f := e.fleet(t)
			ctx := t.Context()
			if c.wait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.wait)
				defer cancel()
			}
			id, err := f.Start(ctx, "v2")
			var pe *PodError
			if !errors.As(err, &pe) {
				t.Fatalf("Start = %q, %v; want a *PodError", id, err)
			}
			if id == "" || pe.Pod != id || pe.Version != "v2" || pe.Reason != c.wantReason {
				t.Errorf("Start = %q, %#v; want the pod's name and reason %q", id, pe, c.wantReason)
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != (c.wait > 0) {
				t.Errorf("errors.Is(%v, context.DeadlineExceeded) = %v, want %v", err, got, c.wait > 0)
			}
			if err := f.Stop(t.Context(), id); err != nil {
				t.Errorf("Stop(%s) after a failed Start: %v", id, err)
			}
		})
	}
}

// A started is Start's result.
type started struct {
	id  string
	err error
}

// startWatched has Start add a v2 pod that stays pending, and returns once
// Start watches it, with a channel for Start's result. What changes the pod
// after that reaches the watch: the fake tracker delivers every change after
// the resourceVersion Start watches from, even one made before the watch
// registers.
func startWatched(t *testing.T, e *env) <-chan started {
	t.Helper()
	e.kubelet.set("v2", pending)
	f := e.fleet(t)
	watching := make(chan struct{}, 1)
	e.client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watchInterface, error) {
		select {
		case watching <- struct{}{}:
		default:
		}
		return false, nil, nil
	})
	done := make(chan started, 1)
	go func() {
		id, err := f.Start(t.Context(), "v2")
		done <- started{id, err}
	}()
	<-watching
	return done
}

// TestStartWaitsForReady has a pod become ready only after Start watches
// it, so Start must follow the watch to return.
func TestStartWaitsForReady(t *testing.T) {
	e := newEnv(t)
	done := startWatched(t, e)
	name := e.readyTheOnlyPod(t)
	if r := <-done; r.err != nil || r.id != name {
		t.Errorf("Start = %q, %v; want %q, nil", r.id, r.err, name)
	}
	// The watch said Ready: nothing is read again, no backoff waited for.
	for _, a := range e.client.Actions() {
		if a.Matches("get", "pods") {
			t.Errorf("Start read the pod again (%v) after its watch saw it Ready", a)
		}
	}
}

// readyTheOnlyPod makes the one pod there is Ready, and returns its name.
func (e *env) readyTheOnlyPod(t *testing.T) string {
	t.Helper()
	pods, err := e.client.CoreV1().Pods(testNS).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("List = %v, %v; want one pod", pods, err)
	}
	p := pods.Items[0]
	ready(&p)
	if _, err := e.client.CoreV1().Pods(testNS).UpdateStatus(t.Context(), &p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return p.Name
}

func TestStartPodDeleted(t *testing.T) {
	e := newEnv(t)
	done := startWatched(t, e)
	pods, err := e.client.CoreV1().Pods(testNS).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("List = %v, %v; want one pod", pods, err)
	}
	if err := e.client.CoreV1().Pods(testNS).Delete(t.Context(), pods.Items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var pe *PodError
	if r := <-done; !errors.As(r.err, &pe) || pe.Reason != "Deleted" {
		t.Errorf("Start = %v, want a *PodError with reason Deleted", r.err)
	}
}

// A watch whose connection died without a word delivers nothing and never
// ends: Start gives it up past its timeout and reads the pod, which has
// become ready meanwhile.
func TestStartOutlivesASilentWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.kubelet.set("v2", pending)
		f := e.fleet(t)
		e.client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watchInterface, error) {
			return true, watch.NewFake(), nil // never sends, never ends
		})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		began := time.Now()
		done := make(chan error, 1)
		var id string
		go func() {
			var err error
			id, err = f.Start(ctx, "v2")
			done <- err
		}()
		synctest.Wait() // Start is waiting on its watch
		name := e.readyTheOnlyPod(t)
		if err := <-done; err != nil || id != name {
			t.Fatalf("Start = %q, %v; want %q, nil", id, err, name)
		}
		if took := time.Since(began); took < silentAfter || took > silentAfter+5*time.Second {
			t.Errorf("Start returned after %s; want it soon after the watch counts as silent (%s)", took, silentAfter)
		}
	})
}

// A watch that ends as soon as it opens (a proxy that closes it) is
// reopened after a growing backoff, not at once in a busy loop.
func TestStartBacksOffAWatchThatEndsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.kubelet.set("v2", pending)
		f := e.fleet(t)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var watches int
		e.client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watchInterface, error) {
			watches++ // Start's one goroutine watches
			if watches == 1000 {
				cancel() // a busy loop: stop it, to fail below rather than hang
			}
			w := watch.NewFake()
			w.Stop()
			return true, w, nil
		})
		_, err := f.Start(ctx, "v2")
		var pe *PodError
		if !errors.As(err, &pe) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Start = %v; want a *PodError at the context's deadline", err)
		}
		// 100ms doubling (with jitter) up to 2s: about a dozen in 10s.
		if watches > 25 {
			t.Errorf("%d watches in 10s; want a backoff between them", watches)
		}
	})
}

// The fleet is listed in pages; a continue token the API server calls
// expired (410: etcd compacted the first page's snapshot) starts the list
// over, a bounded number of times.
func TestInstancesRelistsAfterAnExpiredContinue(t *testing.T) {
	for _, c := range []struct {
		name    string
		expired int // continue tokens refused before one is taken
		wantErr bool
	}{
		{"once", 1, false},
		{"always", 100, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fleet(t)
			ids := start(t, f, "v1", 3)
			pods, err := e.client.CoreV1().Pods(testNS).List(t.Context(), metav1.ListOptions{})
			if err != nil || len(pods.Items) != 3 {
				t.Fatalf("List = %v, %v; want three pods", pods, err)
			}
			var asked []string
			listings := 0
			e.client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				cont := a.(k8stesting.ListActionImpl).GetListOptions().Continue
				asked = append(asked, cont)
				if cont == "" {
					listings++
					page := &corev1.PodList{Items: pods.Items[:2]}
					page.Continue = fmt.Sprintf("token-%d", listings)
					return true, page, nil
				}
				if listings <= c.expired {
					return true, nil, apierrors.NewResourceExpired("the provided continue parameter is too old")
				}
				return true, &corev1.PodList{Items: pods.Items[2:]}, nil
			})
			got, err := f.Instances(t.Context())
			if c.wantErr {
				var ke *Error
				if !errors.As(err, &ke) || !apierrors.IsResourceExpired(err) || listings != 1+maxRelists {
					t.Fatalf("Instances = %v, %v after %d listings; want an *Error saying the token expired after %d", got, err, listings, 1+maxRelists)
				}
				return
			}
			var gotIDs []string
			for _, in := range got {
				gotIDs = append(gotIDs, in.ID)
			}
			slices.Sort(ids)
			if err != nil || !slices.Equal(gotIDs, ids) {
				t.Errorf("Instances = %v, %v; want %v", gotIDs, err, ids)
			}
			if want := []string{"", "token-1", "", "token-2"}; !slices.Equal(asked, want) {
				t.Errorf("continue tokens asked for: %q; want %q", asked, want)
			}
		})
	}
}

func TestStopExactlyTheNamedPod(t *testing.T) {
	e := newEnv(t)
	f := e.fleet(t)
	ids := start(t, f, "v1", 3)
	if err := f.Stop(t.Context(), ids[1]); err != nil {
		t.Fatal(err)
	}
	got, err := f.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []strategy.Instance{{ID: ids[0], Version: "v1"}, {ID: ids[2], Version: "v1"}}
	if ids[0] > ids[2] {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Instances after Stop(%s) (-want +got):\n%s", ids[1], diff)
	}
	var deleted []string
	for _, a := range e.client.Actions() {
		if a.GetVerb() == "delete" {
			deleted = append(deleted, a.(k8stesting.DeleteAction).GetName())
		}
	}
	if diff := cmp.Diff([]string{ids[1]}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}

// TestStopRefusesOthersPods checks that Stop deletes nothing that is not
// the fleet's, even by its exact name.
func TestStopRefusesOthersPods(t *testing.T) {
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "checkout-legacy", Namespace: testNS, Labels: map[string]string{LabelName: "checkout"}}}
	e := newEnv(t, other)
	f := e.fleet(t)
	err := f.Stop(t.Context(), "checkout-legacy")
	var ke *Error
	if !errors.As(err, &ke) || !errors.Is(err, ErrNotFound) || ke.Name != "checkout-legacy" {
		t.Errorf("Stop of another's pod = %v, want an *Error of kind ErrNotFound naming it", err)
	}
	if _, err := e.client.CoreV1().Pods(testNS).Get(t.Context(), "checkout-legacy", metav1.GetOptions{}); err != nil {
		t.Errorf("the other pod is gone: %v", err)
	}
}

func TestInstancesRefusesForeignPods(t *testing.T) {
	yes := true
	foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "checkout-7d9f-abcde", Namespace: testNS,
		Labels:          map[string]string{LabelName: "checkout", LabelManagedBy: ManagedBy, LabelVersion: "v1"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "checkout-7d9f", UID: "u", Controller: &yes}}}}
	e := newEnv(t, foreign)
	f := e.fleet(t)
	_, err := f.Instances(t.Context())
	if !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "checkout-7d9f-abcde (controlled by ReplicaSet checkout-7d9f)") {
		t.Errorf("Instances = %v, want ErrForeign naming the pod and its controller", err)
	}
	if _, err := f.Targets(t.Context()); !errors.Is(err, ErrForeign) {
		t.Errorf("Targets = %v, want ErrForeign", err)
	}
}

func TestInstancesLeavesOutTerminating(t *testing.T) {
	e := newEnv(t)
	f := e.fleet(t)
	ids := start(t, f, "v1", 2)
	p, _ := e.client.CoreV1().Pods(testNS).Get(t.Context(), ids[0], metav1.GetOptions{})
	now := metav1.Now()
	p.DeletionTimestamp = &now
	if _, err := e.client.CoreV1().Pods(testNS).Update(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := f.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]strategy.Instance{{ID: ids[1], Version: "v1"}}, got); diff != "" {
		t.Errorf("Instances (-want +got):\n%s", diff)
	}
	if err := f.Stop(t.Context(), ids[0]); err != nil {
		t.Errorf("Stop of a terminating pod = %v, want nil", err)
	}
}

func TestTargets(t *testing.T) {
	e := newEnv(t)
	e.kubelet.set("v2", probeFailing)
	f := e.fleet(t)
	start(t, f, "v1", 2)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	f.Start(ctx, "v2") // never ready: not a target
	cancel()
	got, err := f.Targets(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].URL != "http://10.0.0.7:9090/metrics" || got[0].Version != "v1" {
		t.Errorf("Targets = %v, want two ready v1 pods at http://10.0.0.7:9090/metrics", got)
	}

	e.cfg.MetricsPort = 0
	f2 := e.fleet(t)
	if _, err := f2.Targets(t.Context()); err == nil || !strings.Contains(err.Error(), "prometheus.io/port") {
		t.Errorf("Targets without a port = %v, want an error naming prometheus.io/port", err)
	}
}

func TestRouter(t *testing.T) {
	e := newEnv(t)
	r, err := NewRouter(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s, c, w, err := r.Routing(t.Context()); s != "" || c != "" || w != 0 || err != nil {
		t.Errorf("Routing with no route = %q, %q, %v, %v; want empty", s, c, w, err)
	}
	if err := r.Route(t.Context(), "v1", "v2.0_build", 12.5); err != nil {
		t.Fatal(err)
	}
	route, err := e.gateway.GatewayV1().HTTPRoutes(testNS).Get(t.Context(), "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs := route.Spec.Rules[0].BackendRefs
	type backend struct {
		Name   string
		Weight int32
	}
	var got []backend
	for _, b := range refs {
		got = append(got, backend{string(b.Name), *b.Weight})
	}
	canarySvc := versionName("checkout", "v2.0_build")
	if diff := cmp.Diff([]backend{{"checkout-v1", 8750}, {canarySvc, 1250}}, got); diff != "" {
		t.Errorf("backendRefs (-want +got):\n%s", diff)
	}
	svc, err := e.client.CoreV1().Services(testNS).Get(t.Context(), canarySvc, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(labels("checkout", "v2.0_build"), svc.Spec.Selector); diff != "" {
		t.Errorf("canary Service selector (-want +got):\n%s", diff)
	}
	if s, c, w, err := r.Routing(t.Context()); s != "v1" || c != "v2.0_build" || w != 12.5 || err != nil {
		t.Errorf("Routing = %q, %q, %v, %v; want v1, v2.0_build, 12.5", s, c, w, err)
	}
	if err := r.Route(t.Context(), "v1", "v2.0_build", 0); err != nil {
		t.Fatal(err)
	}
	if s, c, w, err := r.Routing(t.Context()); s != "v1" || c != "v2.0_build" || w != 0 || err != nil {
		t.Errorf("Routing after back to 0 = %q, %q, %v, %v", s, c, w, err)
	}
	for _, bad := range []float64{-1, 101} {
		if err := r.Route(t.Context(), "v1", "v2", bad); err == nil {
			t.Errorf("Route(weight %v) = nil, want an error", bad)
		}
	}
}

func TestSwitch(t *testing.T) {
	e := newEnv(t)
	s, err := NewSwitch(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Current(t.Context()); v != "" || err != nil {
		t.Errorf("Current with no Service = %q, %v", v, err)
	}
	for _, v := range []string{"blue", "green", "blue"} {
		if err := s.Switch(t.Context(), v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Current(t.Context()); got != v || err != nil {
			t.Errorf("Current after Switch(%s) = %q, %v", v, got, err)
		}
	}
	svc, _ := e.client.CoreV1().Services(testNS).Get(t.Context(), "checkout", metav1.GetOptions{})
	if p := svc.Spec.Ports[0]; p.Port != 80 || p.TargetPort.IntValue() != 8080 {
		t.Errorf("Service port = %+v, want 80 → 8080", p)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := NewRouter(Config{Namespace: "Bad_NS", Service: "9lives", Ports: []corev1.ServicePort{{Port: 0}}, MetricsPath: "metrics", RetryFor: -1})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("NewRouter = %v, want a *ConfigError", err)
	}
	for _, field := range []string{"Client", "Gateway", `Namespace "Bad_NS"`, `Service "9lives"`, `Ports[0].Port "0"`, "ParentRefs", `MetricsPath "metrics"`, `RetryFor "-1ns"`} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("NewRouter error %q does not name %s", err, field)
		}
	}
	if _, err := NewFleet(Config{}); err == nil || !strings.Contains(err.Error(), "Template") {
		t.Errorf("NewFleet(Config{}) = %v, want it to name Template", err)
	}
	f := newEnv(t).fleet(t)
	for _, v := range []string{"", "v 2", strings.Repeat("x", 64)} {
		if id, err := f.Start(t.Context(), v); err == nil || id != "" {
			t.Errorf("Start(%q) = %q, %v; want an error", v, id, err)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	gr := func(r string) schema.GroupResource { return schema.GroupResource{Resource: r} }
	for _, c := range []struct {
		name     string
		verb     string
		resource string
		err      error
		kind     error
		want     []string
	}{
		{"forbidden", "create", "pods", apierrors.NewForbidden(gr("pods"), "", errors.New(`User "deployer" cannot create resource "pods"`)), ErrForbidden, []string{`grant verb "create" on resource "pods"`}},
		{"no namespace", "create", "pods", apierrors.NewNotFound(gr("namespaces"), testNS), ErrNoNamespace, []string{`create namespace "shop"`}},
		{"unavailable", "create", "pods", apierrors.NewServiceUnavailable("etcd down"), ErrUnavailable, []string{"did not answer"}},
		{"invalid", "create", "pods", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "x", nil), ErrInvalid, []string{"pod template"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.client.PrependReactor(c.verb, c.resource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, c.err })
			_, err := e.fleet(t).Start(t.Context(), "v1")
			var ke *Error
			if !errors.As(err, &ke) || !errors.Is(err, c.kind) || ke.Verb != c.verb || ke.Resource != c.resource || ke.Namespace != testNS {
				t.Fatalf("Start = %v, want an *Error of kind %v for %s %s", err, c.kind, c.verb, c.resource)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestRetriesUnavailable checks that a call the API server answers
// "unavailable" is retried, and succeeds once it answers.
func TestRetriesUnavailable(t *testing.T) {
	e := newEnv(t)
	e.cfg.RetryFor = 10 * time.Second
	fails := 3
	var mu sync.Mutex
	e.client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return true, nil, apierrors.NewServiceUnavailable("restarting")
		}
		return false, nil, nil
	})
	if _, err := e.fleet(t).Instances(t.Context()); err != nil || fails != 0 {
		t.Errorf("Instances = %v with %d failures left, want nil after 3 retries", err, fails)
	}
}

// A create whose answer is lost (the pod made, an error returned) is
// retried; the retry finds the pod already there, and a read of it that
// fails for a while is retried too: Start returns the pod it made, ready,
// rather than an error without its name, which no undo could stop.
func TestStartRetriedCreateFindsItsPod(t *testing.T) {
	e := newEnv(t)
	e.cfg.RetryFor = 10 * time.Second
	var mu sync.Mutex
	lostCreate, failedGets := true, 2
	e.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if !lostCreate {
			return false, nil, nil
		}
		lostCreate = false
		e.kubelet.react(a)
		p := a.(k8stesting.CreateAction).GetObject()
		if err := e.client.Tracker().Create(corev1.SchemeGroupVersion.WithResource("pods"), p, testNS); err != nil {
			t.Error(err)
		}
		return true, nil, apierrors.NewServiceUnavailable("the answer was lost")
	})
	e.client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if !lostCreate && failedGets > 0 {
			failedGets--
			return true, nil, apierrors.NewServiceUnavailable("overloaded")
		}
		return false, nil, nil
	})
	id, err := e.fleet(t).Start(t.Context(), "v1")
	if err != nil || id == "" {
		t.Fatalf("Start = %q, %v; want the pod the lost create made", id, err)
	}
	got, err := e.fleet(t).Instances(t.Context())
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Errorf("Instances = %v, %v; want only %s", got, err, id)
	}
}

func TestRouterErrors(t *testing.T) {
	t.Run("missing CRD", func(t *testing.T) {
		e := newEnv(t)
		e.gateway.PrependReactor("patch", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
			// What client-go makes of the API server's 404 for a resource it does not serve.
			return true, nil, apierrors.NewGenericServerResponse(404, "patch", schema.GroupResource{Group: "gateway.networking.k8s.io", Resource: "httproutes"}, "checkout", "404 page not found", 0, true)
		})
		r, _ := NewRouter(e.cfg)
		err := r.Route(t.Context(), "v1", "v2", 5)
		if !errors.Is(err, ErrNoAPI) || !strings.Contains(err.Error(), "install the Gateway API CRDs") {
			t.Errorf("Route = %v, want ErrNoAPI saying to install the CRDs", err)
		}
	})
	t.Run("apply forbidden to create", func(t *testing.T) {
		// A server-side apply that would create needs "create" too: the
		// hint names the verb RBAC denied, not the apply's "patch".
		e := newEnv(t)
		e.client.PrependReactor("patch", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "checkout-v1",
				errors.New(`User "system:serviceaccount:shop:deployer" cannot create resource "services" in API group "" in the namespace "shop"`))
		})
		r, _ := NewRouter(e.cfg)
		err := r.Route(t.Context(), "v1", "v2", 5)
		var ke *Error
		if !errors.As(err, &ke) || ke.Verb != "patch" || !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), `grant verb "create" on resource "services"`) {
			t.Errorf("Route = %v, want ErrForbidden saying to grant create on services", err)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		e := newEnv(t)
		e.gateway.PrependReactor("patch", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewApplyConflict([]metav1.StatusCause{{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "flagger" using gateway.networking.k8s.io/v1`, Field: ".spec.rules"}}, "Apply failed with 1 conflict")
		})
		r, _ := NewRouter(e.cfg)
		err := r.Route(t.Context(), "v1", "v2", 5)
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "flagger") || !strings.Contains(err.Error(), `httproutes.gateway.networking.k8s.io "checkout"`) {
			t.Errorf("Route = %v, want ErrConflict naming the route and the other manager", err)
		}
	})
}

func TestVersionName(t *testing.T) {
	seen := map[string]string{}
	for _, v := range []string{"v1", "V1", "v1.2.3", "v1-2-3", "v1_2_3", strings.Repeat("a", 63), strings.Repeat("a", 62) + "b"} {
		n := versionName("checkout", v)
		if len(n) > 50 {
			t.Errorf("versionName(%q) = %q, longer than 50", v, n)
		}
		if prev, ok := seen[n]; ok {
			t.Errorf("versions %q and %q share the name %q", prev, v, n)
		}
		seen[n] = v
	}
	if n := versionName("checkout", "v1"); n != "checkout-v1" {
		t.Errorf("versionName(checkout, v1) = %q", n)
	}
}

type watchInterface = watch.Interface

func intOrString(i int32) intstr.IntOrString { return intstr.FromInt32(i) }

// TestRulesMatchDoc checks that the Role in the package doc is Rules.
func TestRulesMatchDoc(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(src), "//\t", "")
	for _, r := range Rules() {
		group := r.APIGroups[0]
		if group == "" {
			group = `""`
		}
		want := fmt.Sprintf("- apiGroups: [%s]\n  resources: [%s]\n  verbs: [%s]\n", group, strings.Join(r.Resources, ", "), strings.Join(r.Verbs, ", "))
		if !strings.Contains(doc, want) {
			t.Errorf("the package doc's Role lacks the rule\n%s", want)
		}
	}
	if n := strings.Count(doc, "- apiGroups:"); n != len(Rules()) {
		t.Errorf("the package doc's Role has %d rules, Rules %d", n, len(Rules()))
	}
}
