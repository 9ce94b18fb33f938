package kubernetes

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gateway "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// Labels the adapter sets on everything it creates. Pods, per-version
// Services, per-version ControllerRevisions and the Switch's Service carry
// all three (the Switch's Service names the version it selects); the
// HTTPRoute carries the name and managed-by labels.
const (
	// LabelName holds Config.Service.
	LabelName = "app.kubernetes.io/name"
	// LabelVersion holds the version a pod or per-version Service is for.
	// Instances reads a pod's version from it, and Prometheus can carry it
	// into series (see the package doc).
	LabelVersion = "app.kubernetes.io/version"
	// LabelManagedBy holds ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on what the adapter
	// creates.
	ManagedBy = "safedeploy"
	// FieldManager is the server-side apply field manager the adapter
	// writes as.
	FieldManager = "safedeploy"
	// AnnotationStart is set on each pod to the random token of the Start
	// that created it, so that a create retried after a lost answer finds
	// its own pod rather than making a second.
	AnnotationStart = "safedeploy.dev/start"
)

// A Config says where a service lives in a cluster and how to run and
// route it. [NewFleet], [NewRouter] and [NewSwitch] each read the fields
// they need and name every missing or invalid one.
type Config struct {
	// Client talks to the cluster. Required.
	Client kubernetes.Interface
	// Gateway talks to the Gateway API; required by NewRouter.
	Gateway gateway.Interface
	// Namespace holds everything the adapter creates. Required.
	Namespace string
	// Service names the service: the value of the app.kubernetes.io/name
	// label, the Switch's Service, the HTTPRoute, and the prefix of every
	// other name. A DNS-1035 label of at most 40 characters. Required.
	Service string
	// Template returns the pod template of a version; required by
	// NewFleet. The adapter adds its labels, an owner reference and a
	// name to a copy of it. Its containers should have a readiness probe:
	// Start returns when the pod is Ready.
	Template func(version string) (corev1.PodTemplateSpec, error)
	// Ports are the ports of the Services the Router and Switch create
	// (TargetPort defaults to Port). The HTTPRoute sends traffic to the
	// first. Required by NewRouter and NewSwitch.
	Ports []corev1.ServicePort
	// ParentRefs are the Gateways the HTTPRoute attaches to; required by
	// NewRouter.
	ParentRefs []gatewayv1.ParentReference
	// Hostnames are the HTTPRoute's hostnames; empty matches every
	// hostname of its parents.
	Hostnames []gatewayv1.Hostname
	// MetricsPort is the port of each pod's metrics page, for
	// [Fleet.Targets]; zero reads the pod's prometheus.io/port annotation.
	MetricsPort int32
	// MetricsPath is the path of the metrics page; empty reads the pod's
	// prometheus.io/path annotation, or else "/metrics".
	MetricsPath string
	// RetryFor bounds how long a call is retried while the API server is
	// unreachable or unavailable; zero means DefaultRetryFor.
	RetryFor time.Duration
}

// need names what a constructor requires of a Config.
type need struct{ template, gateway, ports bool }

// validate returns a *ConfigError naming every invalid field, or nil.
func (c Config) validate(n need) error {
	var p []string
	bad := func(field string, value any, why string) {
		p = append(p, fmt.Sprintf("%s %q: %s", field, fmt.Sprint(value), why))
	}
	if c.Client == nil {
		p = append(p, "Client: required")
	}
	if n.gateway && c.Gateway == nil {
		p = append(p, "Gateway: required by a Router")
	}
	if c.Namespace == "" {
		bad("Namespace", c.Namespace, "required")
	} else if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		bad("Namespace", c.Namespace, strings.Join(errs, ", "))
	}
	if c.Service == "" {
		bad("Service", c.Service, "required")
	} else if errs := validation.IsDNS1035Label(c.Service); len(errs) > 0 {
		bad("Service", c.Service, strings.Join(errs, ", "))
	} else if len(c.Service) > 40 {
		bad("Service", c.Service, "longer than 40 characters, which leaves no room for the version in the names made from it")
	}
	if n.template && c.Template == nil {
		p = append(p, "Template: required by a Fleet")
	}
	if n.ports && len(c.Ports) == 0 {
		p = append(p, "Ports: at least one required by a Router or Switch")
	}
	for i, port := range c.Ports {
		if port.Port <= 0 || port.Port > 65535 {
			bad(fmt.Sprintf("Ports[%d].Port", i), port.Port, "not a port number")
		}
	}
	if n.gateway && len(c.ParentRefs) == 0 {
		p = append(p, "ParentRefs: at least one Gateway required by a Router")
	}
	if c.MetricsPort < 0 || c.MetricsPort > 65535 {
		bad("MetricsPort", c.MetricsPort, "not a port number")
	}
	if c.MetricsPath != "" && !strings.HasPrefix(c.MetricsPath, "/") {
		bad("MetricsPath", c.MetricsPath, `must start with "/"`)
	}
	if c.RetryFor < 0 {
		bad("RetryFor", c.RetryFor, "negative")
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

func (c Config) retryFor() time.Duration { return cmp.Or(c.RetryFor, DefaultRetryFor) }

// checkVersion returns an error when v cannot be a label value.
func checkVersion(v string) error {
	if v == "" {
		return fmt.Errorf("kubernetes: version %q: empty", v)
	}
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		return fmt.Errorf("kubernetes: version %q cannot be the value of label %s: %s", v, LabelVersion, strings.Join(errs, ", "))
	}
	return nil
}

// versionName returns a DNS-1035 label naming service's version: the
// service, a dash, the version lower-cased with anything but letters and
// digits turned into dashes, shortened to fit, and, when that changed the
// version, a hash of it so that two versions never share a name
// ("checkout-v1-2-3-5f2a9c").
func versionName(service, version string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(version) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	slug := strings.Trim(b.String(), "-")
	if slug != version || len(service)+1+len(slug) > 50 {
		sum := sha256.Sum256([]byte(version))
		max := 50 - len(service) - 1 - 7
		if len(slug) > max {
			slug = strings.TrimRight(slug[:max], "-")
		}
		slug = strings.Trim(slug+"-"+hex.EncodeToString(sum[:])[:6], "-")
	}
	return service + "-" + slug
}

// labels returns the labels of what the adapter creates for service, with
// the version's when version is not empty.
func labels(service, version string) map[string]string {
	l := map[string]string{LabelName: service, LabelManagedBy: ManagedBy}
	if version != "" {
		l[LabelVersion] = version
	}
	return l
}
