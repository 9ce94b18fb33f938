package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	"github.com/safedeploy/safedeploy/strategy"
)

const httproutes = "httproutes.gateway.networking.k8s.io"

// weightScale is the sum of the two backend weights the Router writes:
// weights are integers, so a percentage is written in hundredths.
const weightScale = 10000

// A Router is a strategy.RouterState that splits traffic with a Gateway
// API HTTPRoute named after the service: one rule whose two backendRefs
// are the stable and canary versions' Services (each named after the
// service and version, selecting that version's pods), weighted in
// hundredths of a percent. It creates the Services and the HTTPRoute, and
// owns them: another field manager owning the route's rules, or a
// Service's selector, is an ErrConflict, never overwritten.
type Router struct {
	cfg Config
}

var _ strategy.RouterState = (*Router)(nil)

// NewRouter returns a Router for cfg, which needs Client, Gateway,
// Namespace, Service, Ports and ParentRefs. It makes no call to the
// cluster; it fails with a *ConfigError naming every missing or invalid
// field.
func NewRouter(cfg Config) (*Router, error) {
	if err := cfg.validate(need{gateway: true, ports: true}); err != nil {
		return nil, err
	}
	return &Router{cfg: cfg}, nil
}

// Route applies the version Services of stable and canary, then the
// HTTPRoute with weight percent (0 to 100, to a hundredth) on canary's.
// Both writes are server-side applies as field manager "safedeploy",
// retried while the API server is unavailable; each fails with an *Error
// naming the object.
func (r *Router) Route(ctx context.Context, stable, canary string, weight float64) error {
	if err := errors.Join(checkVersion(stable), checkVersion(canary)); err != nil {
		return err
	}
	if stable == canary {
		return fmt.Errorf("kubernetes: route: stable and canary are both version %q", stable)
	}
	if math.IsNaN(weight) || weight < 0 || weight > 100 {
		return fmt.Errorf("kubernetes: route: weight %v: not a percentage from 0 to 100", weight)
	}
	for _, v := range []string{stable, canary} {
		if err := applyService(ctx, r.cfg, versionName(r.cfg.Service, v), v); err != nil {
			return err
		}
	}
	w := int32(math.Round(weight * weightScale / 100))
	port := r.cfg.Ports[0].Port
	parents := make([]*gwac.ParentReferenceApplyConfiguration, len(r.cfg.ParentRefs))
	for i, p := range r.cfg.ParentRefs {
		ac := gwac.ParentReference().WithName(p.Name)
		if p.Group != nil {
			ac.WithGroup(*p.Group)
		}
		if p.Kind != nil {
			ac.WithKind(*p.Kind)
		}
		if p.Namespace != nil {
			ac.WithNamespace(*p.Namespace)
		}
		if p.SectionName != nil {
			ac.WithSectionName(*p.SectionName)
		}
		if p.Port != nil {
			ac.WithPort(*p.Port)
		}
		parents[i] = ac
	}
	spec := gwac.HTTPRouteSpec().WithParentRefs(parents...).WithRules(gwac.HTTPRouteRule().WithBackendRefs(
		gwac.HTTPBackendRef().WithName(gatewayv1.ObjectName(versionName(r.cfg.Service, stable))).WithPort(port).WithWeight(weightScale-w),
		gwac.HTTPBackendRef().WithName(gatewayv1.ObjectName(versionName(r.cfg.Service, canary))).WithPort(port).WithWeight(w),
	))
	if len(r.cfg.Hostnames) > 0 {
		spec.WithHostnames(r.cfg.Hostnames...)
	}
	ac := gwac.HTTPRoute(r.cfg.Service, r.cfg.Namespace).WithLabels(labels(r.cfg.Service, "")).WithSpec(spec)
	routes := r.cfg.Gateway.GatewayV1().HTTPRoutes(r.cfg.Namespace)
	return do(ctx, r.cfg.retryFor(), call{"patch", httproutes, r.cfg.Namespace, r.cfg.Service}, func(ctx context.Context) error {
		_, err := routes.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager})
		return err
	})
}

// Routing reads the HTTPRoute back: the versions of its two backends'
// Services and the weight on the second, in percent. With no HTTPRoute it
// returns "", "", 0 and nil. It fails with an *Error of kind ErrForeign
// when the route's backends are not two of the Router's Services.
func (r *Router) Routing(ctx context.Context) (stable, canary string, weight float64, err error) {
	ns, name := r.cfg.Namespace, r.cfg.Service
	var route *gatewayv1.HTTPRoute
	err = do(ctx, r.cfg.retryFor(), call{"get", httproutes, ns, name}, func(ctx context.Context) (err error) {
		route, err = r.cfg.Gateway.GatewayV1().HTTPRoutes(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	var e *Error
	if errors.As(err, &e) && e.Kind == ErrNotFound {
		return "", "", 0, nil
	} else if err != nil {
		return "", "", 0, err
	}
	foreign := func(why string) error {
		return &Error{Verb: "get", Resource: httproutes, Namespace: ns, Name: name, Kind: ErrForeign, Err: errors.New(why),
			Hint: "the route was changed by someone else; set it back with Route, or delete it"}
	}
	if len(route.Spec.Rules) != 1 || len(route.Spec.Rules[0].BackendRefs) != 2 {
		return "", "", 0, foreign("want one rule with two backendRefs")
	}
	var versions [2]string
	var weights [2]int32
	for i, b := range route.Spec.Rules[0].BackendRefs {
		weights[i] = 1 // the Gateway API's default
		if b.Weight != nil {
			weights[i] = *b.Weight
		}
		svc, err := getService(ctx, r.cfg, string(b.Name))
		if err != nil {
			return "", "", 0, err
		}
		if svc == nil || svc.Labels[LabelManagedBy] != ManagedBy || svc.Labels[LabelName] != r.cfg.Service || svc.Labels[LabelVersion] == "" {
			return "", "", 0, foreign(fmt.Sprintf("backend %q is not one of the Router's Services", b.Name))
		}
		versions[i] = svc.Labels[LabelVersion]
	}
	if sum := weights[0] + weights[1]; sum > 0 {
		weight = math.Round(float64(weights[1])*100*100/float64(sum)) / 100
	}
	return versions[0], versions[1], weight, nil
}

// A Switch is a strategy.SwitchState that sends all traffic to one version
// by setting the selector of the Service named after the service (blue/
// green). It creates the Service with cfg.Ports, and owns its selector:
// another field manager owning it is an ErrConflict, never overwritten.
type Switch struct {
	cfg Config
}

var _ strategy.SwitchState = (*Switch)(nil)

// NewSwitch returns a Switch for cfg, which needs Client, Namespace,
// Service and Ports. It makes no call to the cluster; it fails with a
// *ConfigError naming every missing or invalid field.
func NewSwitch(cfg Config) (*Switch, error) {
	if err := cfg.validate(need{ports: true}); err != nil {
		return nil, err
	}
	return &Switch{cfg: cfg}, nil
}

// Switch applies the Service with a selector of version's pods, as field
// manager "safedeploy", retried while the API server is unavailable; it
// fails with an *Error naming the Service.
func (s *Switch) Switch(ctx context.Context, version string) error {
	if err := checkVersion(version); err != nil {
		return err
	}
	return applyService(ctx, s.cfg, s.cfg.Service, version)
}

// Current returns the version the Service selects, or "" when there is no
// Service. It fails with an *Error of kind ErrForeign when the Service
// selects something else than one version of the service's pods.
func (s *Switch) Current(ctx context.Context) (string, error) {
	svc, err := getService(ctx, s.cfg, s.cfg.Service)
	if err != nil || svc == nil {
		return "", err
	}
	sel := svc.Spec.Selector
	if sel[LabelName] != s.cfg.Service || sel[LabelManagedBy] != ManagedBy || sel[LabelVersion] == "" || len(sel) != 3 {
		return "", &Error{Verb: "get", Resource: "services", Namespace: s.cfg.Namespace, Name: s.cfg.Service, Kind: ErrForeign,
			Err:  fmt.Errorf("selector %v is not one version of the fleet's pods", sel),
			Hint: "the Service was changed by someone else; set it back with Switch"}
	}
	return sel[LabelVersion], nil
}

// applyService applies the Service name selecting version's pods.
func applyService(ctx context.Context, cfg Config, name, version string) error {
	ports := make([]*corev1ac.ServicePortApplyConfiguration, len(cfg.Ports))
	for i, p := range cfg.Ports {
		target := p.TargetPort
		if target == (intstr.IntOrString{}) {
			target = intstr.FromInt32(p.Port)
		}
		ac := corev1ac.ServicePort().WithPort(p.Port).WithTargetPort(target)
		if p.Name != "" {
			ac.WithName(p.Name)
		}
		if p.Protocol != "" {
			ac.WithProtocol(p.Protocol)
		}
		if p.AppProtocol != nil {
			ac.WithAppProtocol(*p.AppProtocol)
		}
		ports[i] = ac
	}
	ac := corev1ac.Service(name, cfg.Namespace).WithLabels(labels(cfg.Service, version)).
		WithSpec(corev1ac.ServiceSpec().WithSelector(labels(cfg.Service, version)).WithPorts(ports...))
	services := cfg.Client.CoreV1().Services(cfg.Namespace)
	return do(ctx, cfg.retryFor(), call{"patch", "services", cfg.Namespace, name}, func(ctx context.Context) error {
		_, err := services.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager})
		return err
	})
}

// getService returns the Service name, or nil when there is none.
func getService(ctx context.Context, cfg Config, name string) (*corev1.Service, error) {
	var svc *corev1.Service
	err := do(ctx, cfg.retryFor(), call{"get", "services", cfg.Namespace, name}, func(ctx context.Context) (err error) {
		svc, err = cfg.Client.CoreV1().Services(cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	var e *Error
	if errors.As(err, &e) && e.Kind == ErrNotFound {
		return nil, nil
	}
	return svc, err
}
