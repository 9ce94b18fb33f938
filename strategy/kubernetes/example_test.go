package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kubeclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gateway "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/kubernetes"
)

// A canary of checkout v2 on the cluster KUBECONFIG names, by HTTPRoute
// weights, undone if any step fails. It needs a cluster, so it has no
// output to check.
func Example() {
	rc, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		log.Fatal(err)
	}
	client, err := kubeclient.NewForConfig(rc)
	if err != nil {
		log.Fatal(err)
	}
	gw, err := gateway.NewForConfig(rc)
	if err != nil {
		log.Fatal(err)
	}
	cfg := kubernetes.Config{
		Client: client, Gateway: gw, Namespace: "shop", Service: "checkout",
		Template: func(version string) (corev1.PodTemplateSpec, error) {
			return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "checkout", Image: "registry.example/checkout:" + version,
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
			}}}}, nil
		},
		Ports:       []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		ParentRefs:  []gatewayv1.ParentReference{{Name: "public"}},
		MetricsPort: 8080,
	}
	fleet, err := kubernetes.NewFleet(cfg)
	if err != nil {
		log.Fatal(err)
	}
	router, err := kubernetes.NewRouter(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	gate := strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
		fmt.Println("step:", s.Name)
		return nil // the deploy executor's gate judges the step's metrics
	})
	undo, err := strategy.Canary{}.Deploy(ctx, strategy.Target{Fleet: fleet, Router: router}, strategy.Release{From: "v1", To: "v2"}, gate)
	if err != nil && undo != nil {
		err = errors.Join(err, undo(context.WithoutCancel(ctx)))
	}
	if err != nil {
		log.Fatal(err)
	}
}

// The Router writes the HTTPRoute's weights and reads them back, here on
// fake clientsets.
func ExampleRouter() {
	client, gw := fake.NewClientset(), gatewayfake.NewClientset()
	router, err := kubernetes.NewRouter(kubernetes.Config{
		Client: client, Gateway: gw, Namespace: "shop", Service: "checkout",
		Ports:      []corev1.ServicePort{{Name: "http", Port: 80}},
		ParentRefs: []gatewayv1.ParentReference{{Name: "public"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := router.Route(ctx, "v1", "v2", 5); err != nil {
		log.Fatal(err)
	}
	route, err := gw.GatewayV1().HTTPRoutes("shop").Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range route.Spec.Rules[0].BackendRefs {
		fmt.Printf("backend %s:%d weight %d\n", b.Name, *b.Port, *b.Weight)
	}
	stable, canary, weight, err := router.Routing(ctx)
	fmt.Println(stable, canary, weight, err)
	// Output:
	// backend checkout-v1:80 weight 9500
	// backend checkout-v2:80 weight 500
	// v1 v2 5 <nil>
}

// A Start whose pod never becomes ready names the pod and Kubernetes'
// reason.
func ExamplePodError() {
	err := error(&kubernetes.PodError{Namespace: "shop", Pod: "checkout-v2-x7k2p9", Version: "v2", Reason: "ImagePullBackOff",
		Message: `container checkout: Back-off pulling image "registry.example/checkout:v2"`})
	var pe *kubernetes.PodError
	if errors.As(err, &pe) {
		fmt.Println(pe.Reason)
	}
	fmt.Println(err)
	// Output:
	// ImagePullBackOff
	// kubernetes: pod "checkout-v2-x7k2p9" (version "v2") in namespace "shop" not ready: ImagePullBackOff: container checkout: Back-off pulling image "registry.example/checkout:v2"
}
