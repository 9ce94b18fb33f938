// Package kubetest runs a real Kubernetes control plane for integration
// tests: etcd (Debian's etcd-server), kube-apiserver,
// kube-controller-manager and kube-scheduler, with kwok standing in for the
// kubelets, so that pods are scheduled onto nodes and become Running and
// Ready (or fail, as a test asks: see ReadyAnnotation). Everything listens
// on 127.0.0.1 only, at free ports, with its files in a temporary
// directory (etcd's data in /dev/shm when there is one) and keys and
// certificates generated at start; it is stopped — each process's whole
// group — when the test (or, under Run, the package's tests) ends.
//
// The Kubernetes binaries and kwok are built once from the Go module proxy
// into a cache by build-kube.sh:
//
//	bash internal/testserver/kubetest/build-kube.sh
//
// A test that needs them is skipped when they (or etcd) are missing,
// saying what to run, unless the environment variable
// SAFEDEPLOY_INTEGRATION is 1 (as in CI, which builds them): then it
// fails.
//
// # What runs
//
// kube-apiserver serves HTTPS with a certificate from a CA made at start,
// authenticates with a static token file and service-account tokens, and
// authorizes with RBAC. kube-controller-manager runs the deployment,
// replicaset, serviceaccount, serviceaccount-token, endpointslice,
// garbagecollector, nodelifecycle and namespace controllers. kwok manages
// the Nodes annotated kwok.x-k8s.io/node=fake that Start creates (option
// Nodes), and plays the kubelet for the pods bound to them: a pod becomes
// Running and Ready, with an IP from 10.244.0.0/16, as soon as it is
// scheduled, and is removed once deleted. No container runs: nothing
// listens on a pod's IP, and there is no kube-proxy, so Services route
// nothing (their EndpointSlices are kept, though). The Gateway API's
// standard-channel CRDs (HTTPRoute, Gateway, GatewayClass…) are installed
// from the sigs.k8s.io/gateway-api module this module requires, unless
// WithoutGatewayAPI is given; no Gateway controller runs.
//
// Debian's etcd 3.4 cannot report watch progress, so streaming lists
// (the WatchList feature) are off in the API server: a client asking for
// one gets the classic list and watch, as client-go's informers fall back
// to by themselves.
//
// # Sharing
//
// Starting takes seconds to tens of seconds, so a package's tests may share
// one cluster, each test in namespaces of its own:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		c := kubetest.Shared(t)
//		ns := c.Namespace(t) // deleted when the test ends
//		…
//	}
//
// A test that restarts or stops the API server (which the tests sharing
// the cluster would notice if they ran in parallel), or needs other
// options, starts a cluster of its own with Start.
package kubetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Require is the environment variable that, set to 1, makes missing
// binaries fail the test instead of skipping it.
const Require = proctest.Require

// BinDir names the environment variable that may give the directory of
// the binaries build-kube.sh builds, overriding the cache.
const BinDir = "SAFEDEPLOY_KUBE"

// Version is the Kubernetes release build-kube.sh builds by default, and
// whose cached binaries Start looks for.
const Version = "v1.37.2"

// NodeAnnotation is the annotation, with value "fake", that tells kwok to
// manage a Node.
const NodeAnnotation = "kwok.x-k8s.io/node"

// Addresses inside the cluster: Services' virtual IPs (the API server's
// own is the first) and kwok's pod IPs.
const (
	serviceRange = "10.96.0.0/16"
	serviceIP    = "10.96.0.1"
	podRange     = "10.244.0.0/16"
)

// startTimeout bounds Start: about 10 s on an idle machine, more on a
// loaded one.
const startTimeout = 4 * time.Minute

// stopGrace is how long a process has to exit after SIGTERM.
const stopGrace = 15 * time.Second

// Dir returns the directory holding kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok and kwok's stage files:
// $SAFEDEPLOY_KUBE, or the cache build-kube.sh fills,
// ${XDG_CACHE_HOME:-$HOME/.cache}/safedeploy/kubernetes-VERSION. It fails
// naming the first file missing there.
func Dir() (string, error) {
	dir := os.Getenv(BinDir)
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no %s, no XDG_CACHE_HOME and no home directory: %w", BinDir, err)
			}
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "safedeploy", "kubernetes-"+Version)
	}
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("no %s binary at %s", name, p)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not an executable file", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "stage", ".complete")); err != nil {
		return "", fmt.Errorf("no kwok stage files in %s", filepath.Join(dir, "stage"))
	}
	return dir, nil
}

// Etcd returns the path of the etcd binary: etcd in PATH, or Debian's
// /usr/bin/etcd.
func Etcd() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat("/usr/bin/etcd"); err == nil && fi.Mode()&0o111 != 0 {
		return "/usr/bin/etcd", nil
	}
	return "", errors.New("no etcd in PATH nor at /usr/bin/etcd")
}

// binaries returns Dir and Etcd, or skips or fails tb.
func binaries(tb testing.TB) (dir, etcd string) {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		msg := fmt.Sprintf("kubetest: %v; run `bash internal/testserver/kubetest/build-kube.sh` (builds Kubernetes %s and kwok from the Go module proxy into the cache, 10 to 30 minutes) or set %s to run this integration test", err, Version, BinDir)
		proctest.Missing(tb, msg)
	}
	etcd, err = Etcd()
	if err != nil {
		msg := fmt.Sprintf("kubetest: %v; install the Debian package etcd-server (apt-get install etcd-server) to run this integration test", err)
		proctest.Missing(tb, msg)
	}
	return dir, etcd
}

// An Option changes what Start starts.
type Option func(*options)

type options struct {
	nodes      int
	gatewayAPI bool
}

// Nodes makes Start create n Nodes for kwok to manage (default 1), named
// kwok-node-0, kwok-node-1…; n below 1 means 1.
func Nodes(n int) Option {
	return func(o *options) { o.nodes = max(n, 1) }
}

// WithoutGatewayAPI makes Start leave the Gateway API CRDs out, for tests
// of what happens when they are missing.
func WithoutGatewayAPI() Option {
	return func(o *options) { o.gatewayAPI = false }
}

// A Cluster is a running control plane.
type Cluster struct {
	// URL is the API server's, https://127.0.0.1:port.
	URL string
	// Kubeconfig is the path of a kubeconfig file for an administrator
	// (group system:masters), for tools and KUBECONFIG.
	Kubeconfig string
	// NodeNames are the Nodes kwok manages.
	NodeNames []string
	// StartDuration is how long starting took, from etcd's start to the
	// last check passing.
	StartDuration time.Duration

	dir    string // the cluster's files
	shmDir string // etcd's data, removed at Stop, if not under dir
	admin  *rest.Config
	client *kubernetes.Clientset
	seq    atomic.Int64 // for names

	mu        sync.Mutex // guards the processes
	procs     []*proctest.Process
	apiserver *proctest.Process
	apiArgs   []string
	apiBin    string
	stopped   bool
}

// Start starts a control plane for tb alone and returns once it is ready —
// the API server ready, the Nodes Ready, the default service account made,
// the controller manager and scheduler healthy and the Gateway API CRDs
// established — or fails tb. tb.Cleanup stops it; if tb failed, the end
// of each component's log is logged. It skips tb when the binaries are
// missing, unless SAFEDEPLOY_INTEGRATION=1.
func Start(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	dir, etcd := binaries(tb)
	c, err := start(dir, etcd, tb.TempDir(), opts)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("kubetest: %s", c.logs())
		}
		if err := c.Stop(); err != nil {
			tb.Errorf("kubetest: %v", err)
		}
	})
	tb.Logf("kubetest: control plane at %s ready in %s", c.URL, c.StartDuration.Round(time.Millisecond))
	return c
}

// start starts a cluster with its files in root. On failure it stops
// what it started and returns an error holding the end of each
// component's log.
func start(binDir, etcdBin, root string, opts []Option) (*Cluster, error) {
	o := options{nodes: 1, gatewayAPI: true}
	for _, opt := range opts {
		opt(&o)
	}
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		dir := filepath.Join(root, strconv.Itoa(attempt))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		c := &Cluster{dir: dir}
		err := c.launch(ctx, binDir, etcdBin, dir, o)
		if err == nil {
			c.StartDuration = time.Since(begin)
			return c, nil
		}
		err = fmt.Errorf("%w\n%s", err, c.logs())
		if serr := c.Stop(); serr != nil {
			return nil, errors.Join(err, serr)
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

// launch starts the processes one after the other and waits for each to
// be ready.
func (c *Cluster) launch(ctx context.Context, binDir, etcdBin, dir string, o options) error {
	var ports [5]int
	for i := range ports {
		p, err := proctest.FreePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	etcdClient, etcdPeer, apiPort, cmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]

	keys, err := writePKI(dir)
	if err != nil {
		return err
	}
	// Every component is an administrator, each under its own name in the
	// API server's log; tests get narrower identities from ConfigFor.
	users := []string{"kubetest-admin", "system:kube-controller-manager", "system:kube-scheduler", "kwok"}
	tokens := make(map[string]string, len(users))
	var tokenFile strings.Builder
	for i, u := range users {
		tokens[u] = newToken()
		fmt.Fprintf(&tokenFile, "%s,%s,kubetest-%d,\"system:masters\"\n", tokens[u], u, i)
	}
	tokenPath := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenPath, []byte(tokenFile.String()), 0o600); err != nil {
		return err
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := func(user string) (string, error) {
		path := filepath.Join(dir, strings.TrimPrefix(user, "system:")+".kubeconfig")
		return path, writeKubeconfig(path, c.URL, keys.caPEM, tokens[user])
	}
	if c.Kubeconfig, err = kubeconfig("kubetest-admin"); err != nil {
		return err
	}
	c.admin = &rest.Config{
		Host:            c.URL,
		BearerToken:     tokens["kubetest-admin"],
		TLSClientConfig: rest.TLSClientConfig{CAData: keys.caPEM},
		UserAgent:       "kubetest",
	}
	if c.client, err = kubernetes.NewForConfig(c.admin); err != nil {
		return err
	}

	// etcd keeps its data in memory when it can: fsync on a shared disk
	// is what slows a control plane most.
	etcdData := filepath.Join(dir, "etcd")
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "kubetest-etcd"); err == nil {
			c.shmDir, etcdData = d, filepath.Join(d, "data")
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := c.run(etcdBin, dir, "etcd.log",
		"--name=kubetest",
		"--data-dir="+etcdData,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--log-level=warn",
		"--logger=zap",
	); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, &http.Client{Timeout: 5 * time.Second}, etcdURL+"/health", "etcd"); err != nil {
		return err
	}

	c.apiBin = filepath.Join(binDir, "kube-apiserver")
	c.apiArgs = []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + keys.certFile,
		"--tls-private-key-file=" + keys.keyFile,
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--token-auth-file=" + tokenPath,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + keys.saPublicFile,
		"--service-account-signing-key-file=" + keys.saPrivateFile,
		"--service-cluster-ip-range=" + serviceRange,
		// The kubernetes Service's endpoint would be the advertised
		// address, which may not be loopback; nothing here needs it.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		featureGates,
	}
	if err := c.startAPIServer(ctx); err != nil {
		return err
	}

	cmConfig, err := kubeconfig("system:kube-controller-manager")
	if err != nil {
		return err
	}
	if err := c.run(filepath.Join(binDir, "kube-controller-manager"), dir, "kube-controller-manager.log",
		"--kubeconfig="+cmConfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(cmPort),
		"--cert-dir="+filepath.Join(dir, "controller-manager-certs"),
		"--leader-elect=false",
		"--controllers=deployment,replicaset,serviceaccount,serviceaccount-token,endpointslice,garbagecollector,nodelifecycle,namespace",
		"--service-account-private-key-file="+keys.saPrivateFile,
		"--root-ca-file="+keys.caFile,
		"--profiling=false",
		clientFeatureGates,
	); err != nil {
		return err
	}
	schedConfig, err := kubeconfig("system:kube-scheduler")
	if err != nil {
		return err
	}
	if err := c.run(filepath.Join(binDir, "kube-scheduler"), dir, "kube-scheduler.log",
		"--kubeconfig="+schedConfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
		"--cert-dir="+filepath.Join(dir, "scheduler-certs"),
		"--leader-elect=false",
		"--profiling=false",
		clientFeatureGates,
	); err != nil {
		return err
	}
	stages, err := stageFiles(filepath.Join(binDir, "stage"), dir)
	if err != nil {
		return err
	}
	kwokConfig, err := kubeconfig("kwok")
	if err != nil {
		return err
	}
	kwokArgs := []string{
		"--kubeconfig=" + kwokConfig,
		"--manage-nodes-with-annotation-selector=" + NodeAnnotation + "=fake",
		"--cidr=" + podRange,
		"--node-ip=127.0.0.1",
	}
	for _, s := range stages {
		kwokArgs = append(kwokArgs, "--config="+s)
	}
	if err := c.run(filepath.Join(binDir, "kwok"), dir, "kwok.log", kwokArgs...); err != nil {
		return err
	}

	for i := range o.nodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		c.NodeNames = append(c.NodeNames, name)
		if err := c.createNode(ctx, name); err != nil {
			return err
		}
	}
	// The controller manager and scheduler serve /healthz over TLS with a
	// certificate of their own making, on loopback.
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	defer insecure.CloseIdleConnections()
	if err := c.waitHTTP(ctx, insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", cmPort), "kube-controller-manager"); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort), "kube-scheduler"); err != nil {
		return err
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	if o.gatewayAPI {
		if err := c.installGatewayAPI(ctx); err != nil {
			return err
		}
	}
	return nil
}

// run starts a process of the cluster.
func (c *Cluster) run(bin, dir, log string, args ...string) error {
	p, err := proctest.StartProcess(command(bin, dir, args), filepath.Join(dir, log))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return nil
}

// command returns the command running bin with args in dir, with this
// process's environment but for KUBECONFIG.
func command(bin, dir string, args []string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// featureGates turns streaming lists off. etcd 3.4 cannot report watch
// progress, which the API server needs to serve them: with them on, it
// turns every watch from resource version 0 (kwok's pod watches) into a
// streaming list and refuses it, and the watcher sees events only when
// it lists again, seconds later. Off, such a watch is served the classic
// way; clients that ask for a streaming list fall back to list and watch.
const featureGates = "--feature-gates=WatchList=false,WatchListClient=false"

// clientFeatureGates turns streaming lists off in the controller manager
// and the scheduler, sparing them a refusal and a fallback per informer.
const clientFeatureGates = "--feature-gates=WatchListClient=false"

// startAPIServer starts kube-apiserver and waits for /readyz.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	p, err := proctest.StartProcess(command(c.apiBin, c.dir, c.apiArgs), filepath.Join(c.dir, "kube-apiserver.log"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.apiserver = p
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	hc, err := rest.HTTPClientFor(c.admin)
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	return c.waitHTTP(ctx, hc, c.URL+"/readyz", "kube-apiserver")
}

// waitHTTP polls url until it answers 200, a process of the cluster
// exits, or ctx ends.
func (c *Cluster) waitHTTP(ctx context.Context, hc *http.Client, url, what string) error {
	var last string
	return c.poll(ctx, what+" ready at "+url, func() (bool, error) {
		resp, err := hc.Get(url)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK, nil
	}, func() string { return last })
}

// poll calls ready every 100 ms until it returns true or an error, a
// process of the cluster exits (its log's end in the error), or ctx ends
// (the error says what was awaited and lastly seen).
func (c *Cluster) poll(ctx context.Context, what string, ready func() (bool, error), seen func() string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := ready()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := c.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("waiting for %s: %v", what, context.Cause(ctx))
			if seen != nil {
				if s := seen(); s != "" {
					msg += "; last seen: " + s
				}
			}
			return errors.New(msg)
		case <-tick.C:
		}
	}
}

// exited returns an error naming a process of the cluster that has
// exited, or nil.
func (c *Cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if err := p.Exited(); err != nil {
			if strings.Contains(err.Error(), "address already in use") {
				return fmt.Errorf("%w: %v", errPortTaken, err)
			}
			return err
		}
	}
	return nil
}

// createNode creates a Node for kwok to manage.
func (c *Cluster) createNode(ctx context.Context, name string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{NodeAnnotation: "fake"},
		Labels: map[string]string{
			"kubernetes.io/hostname": name,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
			"type":                   "kwok",
		},
	}}
	if _, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	return nil
}

// waitReady waits until the Nodes are Ready and untainted (kwok and the
// node lifecycle controller at work) and the default namespace has its
// service account (the serviceaccount controller at work): before, pods
// could not be created or scheduled.
func (c *Cluster) waitReady(ctx context.Context) error {
	var last string
	err := c.poll(ctx, "the nodes to be Ready and untainted", func() (bool, error) {
		for _, name := range c.NodeNames {
			n, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			ready := false
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			if !ready || len(n.Spec.Taints) > 0 {
				last = fmt.Sprintf("node %s: conditions %v, taints %v", name, n.Status.Conditions, n.Spec.Taints)
				return false, nil
			}
		}
		return true, nil
	}, func() string { return last })
	if err != nil {
		return err
	}
	return c.poll(ctx, "the default service account", func() (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			last = err.Error()
		}
		return err == nil, nil
	}, func() string { return last })
}

// Config returns a client configuration for an administrator (group
// system:masters): a copy the caller may change.
func (c *Cluster) Config() *rest.Config {
	return rest.CopyConfig(c.admin)
}

// Client returns a clientset for an administrator.
func (c *Cluster) Client() kubernetes.Interface {
	return c.client
}

// StopAPIServer stops kube-apiserver, leaving etcd and the other
// components running (and failing to reach it), for tests of an API
// server that goes away; StartAPIServer brings it back. The server gets
// SIGTERM and, a second later, another, on which it exits at once,
// dropping its connections. It fails tb if the server has not exited 15 s
// later (it is then killed).
func (c *Cluster) StopAPIServer(tb testing.TB) {
	tb.Helper()
	c.mu.Lock()
	p := c.apiserver
	c.mu.Unlock()
	if p == nil {
		return
	}
	select {
	case <-p.Done():
		return
	default:
	}
	if err := stopAPIServer(p); err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
}

// stopAPIServer stops kube-apiserver. On SIGTERM it stops listening at
// once but then waits, a minute or more, for its clients' connections to
// end; a second signal, sent after a second, makes it exit at once as a
// rule, and SIGKILL follows a few seconds later when it does not (seen
// after a restart). Either way the server is gone: a kill is no failure
// of a fixture stopped on purpose, and the error is only for a signal that
// could not be sent.
func stopAPIServer(p *proctest.Process) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	select {
	case <-p.Done():
		return nil
	case <-timer.C:
	}
	_ = p.Stop(5 * time.Second) // a second SIGTERM, then SIGKILL
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the
// same port, with the same etcd, certificates and tokens, and returns once
// it is ready, or fails tb. It does nothing if the server runs.
func (c *Cluster) StartAPIServer(tb testing.TB) {
	tb.Helper()
	c.mu.Lock()
	p := c.apiserver
	c.mu.Unlock()
	if p != nil {
		select {
		case <-p.Done():
		default:
			return
		}
	}
	// The old process's exit is expected: take it off the list that poll
	// watches.
	c.mu.Lock()
	for i, q := range c.procs {
		if q == p {
			c.procs = append(c.procs[:i:i], c.procs[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(tb.Context(), startTimeout)
	defer cancel()
	if err := c.startAPIServer(ctx); err != nil {
		tb.Fatalf("kubetest: restarting kube-apiserver: %v", err)
	}
}

// Restart stops kube-apiserver and starts it again (StopAPIServer, then
// StartAPIServer): what the cluster stores is kept, clients reconnect to
// the same URL. It returns once the server is ready, or fails tb.
func (c *Cluster) Restart(tb testing.TB) {
	tb.Helper()
	c.StopAPIServer(tb)
	c.StartAPIServer(tb)
}

// Namespace creates a namespace named after tb and returns its name; it is
// deleted (with everything in it, in the background) when tb ends. It
// fails tb if it cannot create it.
func (c *Cluster) Namespace(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("%s-%d", dnsLabel(tb.Name(), 50), c.seq.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubetest.safedeploy.dev/test": "true"}}}
	if _, err := c.client.CoreV1().Namespaces().Create(tb.Context(), ns, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: creating namespace %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := c.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !c.isStopped() {
			tb.Errorf("kubetest: deleting namespace %s: %v", name, err)
		}
	})
	return name
}

// dnsLabel turns s into a DNS label of at most n characters: lower case,
// runs of other characters as one '-'.
func dnsLabel(s string, n int) string {
	var b strings.Builder
	dash := true // no leading '-'
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if len(out) > n {
		out = strings.TrimRight(out[:n], "-")
	}
	if out == "" {
		out = "test"
	}
	return out
}

func (c *Cluster) isStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

// Stop stops the cluster's processes, kwok first and etcd last, each with
// SIGTERM and, 15 s later, SIGKILL, and removes etcd's data. It returns an
// error naming each process that had to be killed. Stopping a stopped
// cluster does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	procs := c.procs
	c.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		var err error
		if procs[i] == c.apiserver {
			err = stopAPIServer(procs[i])
		} else {
			err = procs[i].Stop(stopGrace)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.shmDir != "" {
		if err := os.RemoveAll(c.shmDir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stopping the control plane: %w", errors.Join(errs...))
	}
	return nil
}

// logs returns the end of each component's log.
func (c *Cluster) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	seen := map[string]bool{}
	for _, p := range c.procs {
		if seen[p.LogPath] {
			continue
		}
		seen[p.LogPath] = true
		fmt.Fprintf(&b, "the end of %s's log (%s):\n%s\n", p.Name, p.LogPath, proctest.Tail(p.LogPath, 15))
	}
	return b.String()
}

// insecureTLS is for the health checks of the controller manager and the
// scheduler, whose certificates are made up by themselves: on loopback.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true}
}

// writeKubeconfig writes a kubeconfig file for server, trusting ca, with a
// bearer token.
func writeKubeconfig(path, server string, ca []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["kubetest"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest", Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	return clientcmd.WriteToFile(*cfg, path)
}
