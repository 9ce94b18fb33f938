package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gateway "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

func TestMissingBinaries(t *testing.T) {
	t.Setenv(BinDir, t.TempDir())
	start := func(require string) *proctest.Recorder {
		t.Setenv(Require, require)
		r := &proctest.Recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r)
		}()
		<-done
		return r
	}
	const advice = "bash internal/testserver/kubetest/build-kube.sh"
	if r := start(""); !strings.Contains(r.SkipMsg, advice) || r.FatalMsg != "" {
		t.Errorf("without %s: skipped %q, failed %q; want a skip saying to run %s", Require, r.SkipMsg, r.FatalMsg, advice)
	}
	if r := start("1"); !strings.Contains(r.FatalMsg, advice) || !strings.Contains(r.FatalMsg, Require+"=1") || r.SkipMsg != "" {
		t.Errorf("with %s=1: skipped %q, failed %q; want a failure saying to run %s", Require, r.SkipMsg, r.FatalMsg, advice)
	}
}

// TestStageFiles checks the Stage files kwok is given without running
// it: kwok's pod-ready stage keeps its own selector and gains the two that
// leave annotated pods to kubetest's stages, which are valid YAML.
func TestStageFiles(t *testing.T) {
	cache, dir := t.TempDir(), t.TempDir()
	podReady := `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: 'In'
      values: ['Pending']
  next:
    statusTemplate: "phase: Running"
`
	for name, text := range map[string]string{"pod-fast-pod-ready.yaml": podReady, "node-fast-node-initialize.yaml": "kind: Stage\n", "pod-fast-pod-delete.yaml": "kind: Stage\n"} {
		if err := os.WriteFile(filepath.Join(cache, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := stageFiles(cache, dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Metadata struct{ Name string }
			Spec     struct {
				Selector struct {
					MatchExpressions []struct {
						Key, Operator string
						Values        []string
					}
				}
			}
		}
		if err := yaml.UnmarshalStrict(b, &s); err != nil && !strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("%s: %v\n%s", f, err, b)
		}
		names = append(names, filepath.Base(f))
		if s.Metadata.Name != "pod-ready" {
			continue
		}
		var keys []string
		for _, e := range s.Spec.Selector.MatchExpressions {
			keys = append(keys, e.Key+" "+e.Operator+" "+strings.Join(e.Values, ","))
		}
		want := []string{
			".status.phase In Pending",
			`.metadata.annotations["kubetest.safedeploy.dev/ready"] NotIn never,crash-loop,image-pull`,
			`.metadata.annotations["kubetest.safedeploy.dev/ready-after"] DoesNotExist `,
		}
		if strings.Join(keys, "\n") != strings.Join(want, "\n") {
			t.Errorf("pod-ready's selector:\n%s\nwant:\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
		}
	}
	if len(files) != 3+len(ownStages) {
		t.Errorf("stage files %v; want the three given and %d of kubetest's", names, len(ownStages))
	}
	if _, err := stageFiles(t.TempDir(), dir); err == nil {
		t.Error("stageFiles of an empty directory succeeded")
	}
}

// waitFor polls cond every 200 ms until it holds, failing t after
// timeout with what cond last said.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still waiting for %s: %s", timeout, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podSpec(image string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}
}

// TestDeploymentReady: a Deployment of three replicas gets three Ready
// pods with IPs on kwok's node, and the kubeconfig file works.
func TestDeploymentReady(t *testing.T) {
	c := Shared(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       podSpec("example.invalid/web:1"),
			},
		},
	}
	if _, err := c.Client().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "3 ready replicas", func() (bool, string) {
		got, err := c.Client().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Status.ReadyReplicas == 3, fmt.Sprintf("%+v", got.Status)
	})

	// build-kube.sh stamps the release into the binaries.
	if v, err := c.Client().Discovery().ServerVersion(); err != nil || v.GitVersion != Version {
		t.Errorf("the API server reports version %v (%v), want %s", v, err, Version)
	}

	// Through the kubeconfig file, as a tool would.
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("%d pods, want 3", len(pods.Items))
	}
	ips := map[string]bool{}
	for _, p := range pods.Items {
		if !ready(&p) || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.Spec.NodeName != c.NodeNames[0] {
			t.Errorf("pod %s: phase %s, ready %v, IP %q, node %q; want Running, Ready, an IP, on %s", p.Name, p.Status.Phase, ready(&p), p.Status.PodIP, p.Spec.NodeName, c.NodeNames[0])
		}
		ips[p.Status.PodIP] = true
	}
	if len(ips) != 3 {
		t.Errorf("pod IPs %v, want 3 different", ips)
	}
}

// TestReadinessInjection: the annotations make pods fail as they say, and
// a pod without them becomes Ready.
func TestReadinessInjection(t *testing.T) {
	c := Shared(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	pods := c.Client().CoreV1().Pods(ns)
	create := func(name string, annotations map[string]string) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}, Spec: podSpec("example.invalid/app:" + name)}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create("never", map[string]string{ReadyAnnotation: NeverReady})
	create("crash", map[string]string{ReadyAnnotation: CrashLoop})
	create("image", map[string]string{ReadyAnnotation: ImagePull})
	create("later", map[string]string{ReadyAfterAnnotation: "3s"})
	create("plain", nil)

	get := func(name string) *corev1.Pod {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	waiting := func(p *corev1.Pod) string {
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return ""
		}
		return p.Status.ContainerStatuses[0].State.Waiting.Reason
	}
	describe := func(p *corev1.Pod) string {
		return fmt.Sprintf("phase %s, ready %v, IP %q, waiting %q, conditions %v", p.Status.Phase, ready(p), p.Status.PodIP, waiting(p), p.Status.Conditions)
	}
	var sawLaterRunning bool
	waitFor(t, 2*time.Minute, "every pod in its state", func() (bool, string) {
		var bad []string
		for name, ok := range map[string]func(*corev1.Pod) bool{
			"never": func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" },
			"crash": func(p *corev1.Pod) bool {
				return p.Status.Phase == corev1.PodRunning && waiting(p) == "CrashLoopBackOff"
			},
			"image": func(p *corev1.Pod) bool {
				return p.Status.Phase == corev1.PodPending && waiting(p) == "ImagePullBackOff"
			},
			"later": func(p *corev1.Pod) bool {
				if p.Status.Phase == corev1.PodRunning && !ready(p) && p.Status.PodIP != "" {
					sawLaterRunning = true
				}
				return ready(p)
			},
			"plain": ready,
		} {
			if p := get(name); !ok(p) {
				bad = append(bad, name+": "+describe(p))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	if !sawLaterRunning {
		t.Error("the pod with a readiness delay was never seen Running and not Ready")
	}
	later := get("later")
	var notReadyAt, readyAt time.Time
	for _, cond := range later.Status.Conditions {
		switch cond.Type {
		case corev1.PodInitialized:
			notReadyAt = cond.LastTransitionTime.Time
		case corev1.PodReady:
			readyAt = cond.LastTransitionTime.Time
		}
	}
	// Condition times have whole seconds: a 3 s delay shows as 2 s or
	// more.
	if d := readyAt.Sub(notReadyAt); d < 2*time.Second {
		t.Errorf("the pod with a 3s readiness delay became Ready %s after it ran", d)
	}
	// The failures last: well after the delayed pod became Ready, none of
	// the failing pods has.
	time.Sleep(3 * time.Second)
	for _, name := range []string{"never", "crash", "image"} {
		if p := get(name); ready(p) {
			t.Errorf("pod %s became Ready: %s", name, describe(p))
		}
	}
}

// TestWatch: a watch from resource version 0 with bookmarks, as kwok
// makes, delivers events instead of failing (as it does when the API
// server turns it into a streaming list that etcd 3.4 cannot serve), and an
// informer with client-go's defaults syncs and sees a new pod.
func TestWatch(t *testing.T) {
	c := Shared(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	pods := c.Client().CoreV1().Pods(ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: "0", AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	factory := informers.NewSharedInformerFactoryWithOptions(c.Client(), 0, informers.WithNamespace(ns))
	seen := make(chan string, 10)
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		seen <- obj.(*corev1.Pod).Name
	}}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer factory.Shutdown()
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the informer did not sync")
	}

	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "watched"}, Spec: podSpec("example.invalid/app:1")}
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(time.Minute)
	for gotWatch, gotInformer := false, false; !gotWatch || !gotInformer; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch ended")
			}
			if ev.Type == watch.Error {
				t.Fatalf("the watch failed: %v", apierrors.FromObject(ev.Object))
			}
			if pod, ok := ev.Object.(*corev1.Pod); ok && pod.Name == "watched" {
				gotWatch = true
			}
		case name := <-seen:
			gotInformer = gotInformer || name == "watched"
		case <-timeout:
			t.Fatalf("after a minute, the watch saw the pod: %v, the informer: %v", gotWatch, gotInformer)
		}
	}
}

// TestConfigFor: the identity ConfigFor makes may do what its Role
// allows, and is forbidden what it does not, with an error naming the
// verb.
func TestConfigFor(t *testing.T) {
	c := Shared(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	cfg := c.ConfigFor(t, ns, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
	})
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing pods, which the Role allows: %v", err)
	}
	if _, err := client.AppsV1().Deployments(ns).Get(ctx, "none", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("getting a missing deployment, which the Role allows: %v; want NotFound", err)
	}
	for what, call := range map[string]func() error{
		`cannot create resource "pods"`: func() error {
			_, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: podSpec("x")}, metav1.CreateOptions{})
			return err
		},
		`cannot list resource "deployments"`: func() error {
			_, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			return err
		},
		`cannot list resource "pods" in API group "" in the namespace "default"`: func() error {
			_, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			return err
		},
	} {
		err := call()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), "system:serviceaccount:"+ns+":") {
			t.Errorf("got %v; want Forbidden: ... %s", err, what)
		}
	}
}

// TestGatewayAPI: the Gateway API's CRDs are served, so that an HTTPRoute
// with weighted backends can be created and changed through the module's
// typed client.
func TestGatewayAPI(t *testing.T) {
	c := Shared(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	gw, err := gateway.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	backend := func(name string, weight int32) gatewayv1.HTTPBackendRef {
		return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: new(gatewayv1.PortNumber(80))},
			Weight:                 new(weight),
		}}
	}
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gw"}}},
			Rules:           []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{backend("stable", 90), backend("canary", 10)}}},
		},
	}
	got, err := gw.GatewayV1().HTTPRoutes(ns).Create(ctx, route, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Rules[0].BackendRefs[1].Weight = new(int32(50))
	if _, err := gw.GatewayV1().HTTPRoutes(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err = gw.GatewayV1().HTTPRoutes(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w := got.Spec.Rules[0].BackendRefs[1].Weight; w == nil || *w != 50 {
		t.Errorf("canary weight %v after the update, want 50", w)
	}
	// The CRDs validate: a negative weight is refused.
	got.Spec.Rules[0].BackendRefs[1].Weight = new(int32(-1))
	if _, err := gw.GatewayV1().HTTPRoutes(ns).Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("a negative weight: %v; want Invalid", err)
	}
	list, err := gw.Discovery().ServerResourcesForGroupVersion("gateway.networking.k8s.io/v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"gateways", "gatewayclasses", "httproutes", "grpcroutes", "referencegrants"} {
		found := false
		for _, r := range list.APIResources {
			found = found || r.Name == kind
		}
		if !found {
			t.Errorf("gateway.networking.k8s.io/v1 does not serve %s", kind)
		}
	}
}

// TestRestart: after kube-apiserver restarts, what was stored is there,
// and the other components, reconnected, still bring pods up. It runs on
// the shared cluster, as the package's tests do not run in parallel.
func TestRestart(t *testing.T) {
	c := Shared(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept", Namespace: ns}, Data: map[string]string{"k": "v"}}
	if _, err := c.Client().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.StopAPIServer(t)
	if _, err := c.Client().CoreV1().ConfigMaps(ns).Get(ctx, "kept", metav1.GetOptions{}); err == nil {
		t.Fatal("the API server answered while stopped")
	}
	c.StartAPIServer(t)
	got, err := c.Client().CoreV1().ConfigMaps(ns).Get(ctx, "kept", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Errorf("after the restart, data %v, want k=v", got.Data)
	}
	c.Restart(t)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "after"}, Spec: podSpec("example.invalid/app:1")}
	if _, err := c.Client().CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "a pod created after the restart to be Ready", func() (bool, string) {
		p, err := c.Client().CoreV1().Pods(ns).Get(ctx, "after", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return ready(p), fmt.Sprintf("node %q, phase %s, conditions %v", p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
	})
}

// TestOptions: Nodes makes that many Ready nodes, pods spread over them,
// and WithoutGatewayAPI leaves HTTPRoutes unknown to the API server.
func TestOptions(t *testing.T) {
	c := Start(t, Nodes(2), WithoutGatewayAPI())
	ctx := t.Context()
	if len(c.NodeNames) != 2 {
		t.Fatalf("nodes %v, want 2", c.NodeNames)
	}
	nodes, err := c.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 2 {
		t.Errorf("%d nodes in the API, want 2", len(nodes.Items))
	}
	gw, err := gateway.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.GatewayV1().HTTPRoutes("default").List(ctx, metav1.ListOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("listing HTTPRoutes without the CRDs: %v; want NotFound", err)
	}
	ns := c.Namespace(t)
	for i := range 4 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)}, Spec: podSpec("example.invalid/app:1")}
		// Keep the pods apart, so that both nodes must take some.
		p.Labels = map[string]string{"app": "spread"}
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: p.Labels},
		}}
		if _, err := c.Client().CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Minute, "4 Ready pods on both nodes", func() (bool, string) {
		pods, err := c.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		on := map[string]int{}
		readyPods := 0
		for _, p := range pods.Items {
			on[p.Spec.NodeName]++
			if ready(&p) {
				readyPods++
			}
		}
		return readyPods == 4 && on[c.NodeNames[0]] == 2 && on[c.NodeNames[1]] == 2, fmt.Sprintf("%d ready, per node %v", readyPods, on)
	})
}

// BenchmarkReplicas measures how long a Deployment of n replicas takes,
// on the shared cluster, from its creation until all n pods are Ready.
func BenchmarkReplicas(b *testing.B) {
	for _, n := range []int32{10, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := Shared(b)
			ctx := b.Context()
			for b.Loop() {
				ns := c.Namespace(b)
				labels := map[string]string{"app": "web"}
				d := &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
					Spec: appsv1.DeploymentSpec{
						Replicas: new(n),
						Selector: &metav1.LabelSelector{MatchLabels: labels},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec("example.invalid/web:1")},
					},
				}
				if _, err := c.Client().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				for {
					got, err := c.Client().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
					if err != nil {
						b.Fatal(err)
					}
					if got.Status.ReadyReplicas == n {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
}

// BenchmarkStart measures starting a control plane (with the Gateway API
// CRDs) and stopping it.
func BenchmarkStart(b *testing.B) {
	dir, etcd := binaries(b)
	var total time.Duration
	for b.Loop() {
		c, err := start(dir, etcd, b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		total += c.StartDuration
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "start-s/op")
}
