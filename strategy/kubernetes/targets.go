package kubernetes

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/safedeploy/safedeploy/verify/scrape"
)

// Targets lists the metrics pages of the fleet's ready pods, for a
// scrape.Source's Targets: "http://<pod IP>:<port><path>" with the pod's
// version. The port is Config.MetricsPort, or else the pod's
// prometheus.io/port annotation; the path Config.MetricsPath, or else its
// prometheus.io/path annotation, or else "/metrics". Pods not ready or
// without an IP yet are left out: they serve no traffic. It fails as
// Instances does, and with an error naming the pod when a pod has no port
// to scrape.
func (f *Fleet) Targets(ctx context.Context) ([]scrape.Target, error) {
	pods, err := f.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []scrape.Target
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.PodIP == "" || !podStatus(&p).ready {
			continue
		}
		port := strconv.Itoa(int(f.cfg.MetricsPort))
		if f.cfg.MetricsPort == 0 {
			port = p.Annotations["prometheus.io/port"]
			if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("kubernetes: pod %q in namespace %q: no metrics port: set Config.MetricsPort or the pod's prometheus.io/port annotation (now %q)", p.Name, p.Namespace, port)
			}
		}
		path := cmp.Or(f.cfg.MetricsPath, p.Annotations["prometheus.io/path"], "/metrics")
		out = append(out, scrape.Target{URL: "http://" + net.JoinHostPort(p.Status.PodIP, port) + path, Version: p.Labels[LabelVersion]})
	}
	return out, nil
}
