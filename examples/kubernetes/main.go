// Command kubernetes deploys v2 of a service by canary on a Kubernetes
// cluster, with strategy/kubernetes: v2's pods start beside v1's, a Gateway
// API HTTPRoute sends them 10%, then 50%, then all of the traffic, and each
// step is judged. A good v2 completes (exit 0); with -bad the judge fails it
// and the route goes back to v1 and v2's pods are stopped (exit 1).
//
// It deploys to the cluster KUBECONFIG names (the namespace must exist, the
// Gateway API CRDs be installed and the identity hold the package doc's
// Role), or, with -local, to a control plane it starts on 127.0.0.1 from
// the binaries internal/testserver/kubetest/build-kube.sh builds (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, whose
// simulated nodes run the pods). The pods run no code here, so the
// traffic the judge reads is simulated: 10,000 requests a second split as
// the HTTPRoute says, v1 failing 1%, v2 1% (or 8% with -bad). Point
// a verify/scrape Source at Fleet.Targets to judge real pods.
//
//	go run ./examples/kubernetes -local
//	go run ./examples/kubernetes -local -bad
//	KUBECONFIG=~/.kube/config go run ./examples/kubernetes -namespace shop
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gateway "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/progress"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/kubernetes"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/verifytest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

// run is the command: it returns the exit code.
func run(ctx context.Context, args []string, w io.Writer) int {
	fs := flag.NewFlagSet("kubernetes", flag.ContinueOnError)
	fs.SetOutput(w)
	local := fs.Bool("local", false, "start a local control plane (kubetest) instead of using KUBECONFIG")
	bad := fs.Bool("bad", false, "deploy a v2 that fails 8% of requests (v1: 1%): rolled back")
	namespace := fs.String("namespace", "shop", "the namespace to deploy in (made with -local)")
	service := fs.String("service", "checkout", "the service's name")
	pods := fs.Int("pods", 3, "pods of v1 to start with")
	parent := fs.String("gateway", "public", "the Gateway the HTTPRoute attaches to")
	step := fs.Duration("step", 3*time.Second, "observation window of each canary step (default 5m outside demos)")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	var rc *rest.Config
	if *local {
		cluster, done, err := startLocal(w)
		if err != nil {
			fmt.Fprintln(w, "kubernetes:", err)
			return 1
		}
		defer done()
		rc = cluster.Config()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *namespace}}
		if _, err := cluster.Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			fmt.Fprintln(w, "kubernetes: creating the namespace:", err)
			return 1
		}
	} else {
		loading := clientcmd.NewDefaultClientConfigLoadingRules()
		var err error
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, nil).ClientConfig()
		if err != nil {
			fmt.Fprintln(w, "kubernetes: reading KUBECONFIG (or use -local):", err)
			return 1
		}
	}
	client, err := kubeclient.NewForConfig(rc)
	if err != nil {
		fmt.Fprintln(w, "kubernetes:", err)
		return 1
	}
	gw, err := gateway.NewForConfig(rc)
	if err != nil {
		fmt.Fprintln(w, "kubernetes:", err)
		return 1
	}
	cfg := kubernetes.Config{
		Client: client, Gateway: gw, Namespace: *namespace, Service: *service,
		Template: func(version string) (corev1.PodTemplateSpec, error) {
			return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "registry.example/" + *service + ":" + version,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}}}}, nil
		},
		Ports:       []corev1.ServicePort{{Name: "http", Port: 80}},
		ParentRefs:  []gatewayv1.ParentReference{{Name: gatewayv1.ObjectName(*parent)}},
		MetricsPort: 8080,
	}
	fleet, err := kubernetes.NewFleet(cfg)
	if err != nil {
		fmt.Fprintln(w, "kubernetes:", err)
		return 1
	}
	router, err := kubernetes.NewRouter(cfg)
	if err != nil {
		fmt.Fprintln(w, "kubernetes:", err)
		return 1
	}

	// v1 runs first: start what is missing.
	insts, err := fleet.Instances(ctx)
	if err != nil {
		fmt.Fprintln(w, "kubernetes:", err)
		return 1
	}
	have := 0
	for _, in := range insts {
		if in.Version == "v1" {
			have++
		}
	}
	if have < *pods {
		fmt.Fprintf(w, "Starting %d pod(s) of v1 in namespace %s…\n", *pods-have, *namespace)
	}
	began := time.Now()
	for range *pods - have {
		if id, err := fleet.Start(ctx, "v1"); err != nil {
			fmt.Fprintf(w, "kubernetes: starting v1 (pod %q): %v\n", id, err)
			return 1
		}
	}
	if err := router.Route(ctx, "v1", "v2", 0); err != nil {
		fmt.Fprintln(w, "kubernetes:", err)
		return 1
	}
	fmt.Fprintf(w, "v1 serves on %d pod(s) (ready in %s), behind HTTPRoute %s/%s.\n", *pods, time.Since(began).Round(time.Millisecond), *namespace, *service)

	v2 := 0.01
	if *bad {
		v2 = 0.08
	}
	traffic := &verifytest.Routed{RPS: 10000, Serving: "v1", Script: verifytest.Script{
		"v1": {{ErrorRate: 0.01, BusinessRate: 0.2}},
		"v2": {{ErrorRate: v2, BusinessRate: 0.2}},
	}}
	fmt.Fprintf(w, "Simulated traffic: 10,000 req/s split as the HTTPRoute says; v1 fails 1%%, v2 %g%%.\n", 100*v2)
	fmt.Fprintf(w, "Windows are shortened for the demo: %s per canary step, metrics read every 500ms (defaults: 5m, 1m).\n\n", *step)

	plan := &deploy.Plan{
		Service: *service, Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change: deploy.Change{
			Engineer: "ana@example.com",
			What:     "checkout renders the basket server-side",
			Why:      "halve time to first paint on mobile",
			Expected: "same error rate; same orders per request",
		},
		Tests: deploy.Named("CI passed for v2", deploy.CheckFunc(func(context.Context, *deploy.Plan) error {
			return nil // a real plan asks the CI system about exactly p.Version
		})),
		Strategy:  strategy.Canary{Steps: []float64{10, 50}, StepWindow: *step},
		Target:    strategy.Target{Fleet: fleet, Router: mirrored{router, traffic}},
		Metrics:   traffic,
		Verify:    verify.Policy{Interval: 500 * time.Millisecond, BaselineWindow: time.Minute},
		Observers: []deploy.Observer{progress.New(w)},
	}
	start := time.Now()
	rep, runErr := deploy.Run(ctx, plan)
	fmt.Fprintf(w, "\n%s after %s: %s\n", rep.Outcome, time.Since(start).Round(time.Millisecond), rep.Reason)
	var v *verify.Verdict
	if errors.As(runErr, &v) {
		fmt.Fprintf(w, "the verdict that decided it: %s\n", v.Reason)
	} else if runErr != nil {
		fmt.Fprintln(w, "error:", runErr)
	}
	if insts, err := fleet.Instances(context.WithoutCancel(ctx)); err == nil {
		count := map[string]int{}
		for _, in := range insts {
			count[in.Version]++
		}
		fmt.Fprintf(w, "pods now: %v\n", count)
	}
	if stable, canary, weight, err := router.Routing(context.WithoutCancel(ctx)); err == nil {
		fmt.Fprintf(w, "HTTPRoute now: %g%% to %s, the rest to %s\n", weight, canary, stable)
	}
	if runErr != nil {
		return 1
	}
	return 0
}

// mirrored routes with the HTTPRoute and has the simulated traffic follow.
type mirrored struct {
	*kubernetes.Router
	traffic *verifytest.Routed
}

func (m mirrored) Route(ctx context.Context, stable, canary string, weight float64) error {
	if err := m.Router.Route(ctx, stable, canary, weight); err != nil {
		return err
	}
	return m.traffic.Route(ctx, stable, canary, weight)
}
