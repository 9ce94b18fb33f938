package loopback

import (
	"cmp"
	"slices"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
)

// SetApp says how instances of version started from now on behave,
// replacing what Config.Apps said; running instances keep their
// behaviour. It is how a process that runs the fleet learns the behaviour
// of a version only its deployer knows.
func (f *Fleet) SetApp(version string, c demoapp.Config) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.c.Apps[version] = c
}

// An InstanceState is one instance as State reports it.
type InstanceState struct {
	ID, Version string
	// Ready reports whether it has warmed up and takes requests.
	Ready bool
	// Metrics is the URL of its metrics page.
	Metrics string
}

// A State is what a Fleet is doing at one moment.
type State struct {
	// Instances are the running instances, in the order of Instances.
	Instances []InstanceState
	// Traffic is the percentage of new requests each version gets under
	// the routing rules and the instances ready now; the shares sum to 100,
	// or the map is empty when no instance is ready.
	Traffic map[string]float64
	// Stable, Canary and Weight are the last Route; all zero when the
	// traffic is not split by weight.
	Stable, Canary string
	Weight         float64
	// Active is the version the last Switch sent traffic to; empty when
	// the traffic is not switched.
	Active string
}

// State returns what the fleet is doing now.
func (f *Fleet) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s State
	ready := map[string]int{}
	for _, in := range f.instances {
		s.Instances = append(s.Instances, InstanceState{ID: in.id, Version: in.version, Ready: in.ready, Metrics: in.url.String() + "/metrics"})
		if in.ready {
			ready[in.version]++
		}
	}
	slices.SortFunc(s.Instances, func(a, b InstanceState) int { // v1-2 before v1-10, as Instances
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	if r := f.route; r != nil {
		s.Stable, s.Canary, s.Weight = r.stable, r.canary, r.weight
	}
	s.Active = f.active
	s.Traffic = f.trafficLocked(ready)
	return s
}

// trafficLocked returns the shares pick gives each version, given the
// number of ready instances of each.
func (f *Fleet) trafficLocked(ready map[string]int) map[string]float64 {
	out := map[string]float64{}
	switch r := f.route; {
	case f.active != "" && ready[f.active] > 0:
		out[f.active] = 100
	case r != nil && ready[r.stable]+ready[r.canary] > 0:
		switch {
		case ready[r.stable] == 0:
			out[r.canary] = 100
		case ready[r.canary] == 0 || r.weight == 0:
			out[r.stable] = 100
		case r.weight == 100:
			out[r.canary] = 100
		default:
			out[r.stable], out[r.canary] = 100-r.weight, r.weight
		}
	default:
		n := 0
		for _, k := range ready {
			n += k
		}
		for v, k := range ready {
			out[v] = 100 * float64(k) / float64(n)
		}
	}
	return out
}
