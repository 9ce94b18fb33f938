package kubernetes

// Tests on a real control plane: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, with kwok for kubelets
// (internal/testserver/kubetest). They are skipped, saying what to run,
// when the binaries are missing, unless SAFEDEPLOY_INTEGRATION=1.

import (
	"context"
	"maps"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gateway "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/safedeploy/safedeploy/internal/testserver/kubetest"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m)) }

// A live is a namespace of a real cluster and a Config for it, whose pods'
// annotations (kubetest's readiness controls) are chosen per version.
type live struct {
	cluster  *kubetest.Cluster
	ns       string
	cfg      Config
	requests *atomic.Int64 // API requests made through cfg's clients

	mu          sync.Mutex
	annotations map[string]map[string]string // by version
}

// counting makes rc's clients count their requests in n.
func counting(rc *rest.Config, n *atomic.Int64) *rest.Config {
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = 1000, 2000 // measure the adapter, not client-go's rate limiter
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return rt.RoundTrip(r)
		})
	})
	return rc
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newLive returns a live namespace on c (the package's shared cluster when
// nil), whose clients act with rc (an administrator's when nil).
func newLive(t testing.TB, c *kubetest.Cluster, rc *rest.Config) *live {
	t.Helper()
	if c == nil {
		c = kubetest.Shared(t)
	}
	l := &live{cluster: c, ns: c.Namespace(t), requests: new(atomic.Int64), annotations: map[string]map[string]string{}}
	if rc == nil {
		rc = c.Config()
	}
	l.configure(t, rc)
	return l
}

// configure makes l's Config act with rc.
func (l *live) configure(t testing.TB, rc *rest.Config) {
	t.Helper()
	rc = counting(rc, l.requests)
	client, err := kubeclient.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	l.cfg = Config{
		Client: client, Gateway: gw, Namespace: l.ns, Service: "checkout",
		Template: func(version string) (corev1.PodTemplateSpec, error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			return corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: maps.Clone(l.annotations[version])},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/checkout:" + version,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			}, nil
		},
		Ports:       []corev1.ServicePort{{Name: "http", Port: 80}},
		ParentRefs:  []gatewayv1.ParentReference{{Name: "public"}},
		MetricsPort: 8080,
		RetryFor:    time.Minute,
	}
}

// set makes the pods of version created from now on carry annotation k=v.
func (l *live) set(version, k, v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.annotations[version] == nil {
		l.annotations[version] = map[string]string{}
	}
	l.annotations[version][k] = v
}

func (l *live) fleet(t testing.TB) *Fleet {
	t.Helper()
	f, err := NewFleet(l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (l *live) router(t testing.TB) *Router {
	t.Helper()
	r, err := NewRouter(l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (l *live) switcher(t testing.TB) *Switch {
	t.Helper()
	s, err := NewSwitch(l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startAll starts n pods of version at once.
func startAll(t testing.TB, f *Fleet, version string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = f.Start(t.Context(), version) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Start(%s) %d of %d = %q, %v", version, i+1, n, ids[i], err)
		}
	}
	return ids
}

func TestKubeConformance(t *testing.T) {
	strategytest.Run(t, "v1", func(t *testing.T) strategy.Fleet {
		l := newLive(t, nil, nil)
		f := l.fleet(t)
		startAll(t, f, "v1", 2)
		return f
	})
}

var _ = context.Background
