package strategytest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// A Split is a router's setting: Weight percent of requests to Canary, the
// rest to Stable.
type Split struct {
	Stable, Canary string
	Weight         float64
}

// A State is the fleet at one moment: its instances, its router or switch
// and where requests go. It is small enough to compare whole in a test, and
// its String is one line.
type State struct {
	// Instances counts the instances of each version, ready or not.
	Instances map[string]int
	// Unready counts, by version, those of them that are not ready: still
	// starting, crashed, or never to be ready. It is nil when all are.
	Unready map[string]int
	// Route is the router's split; nil when none is set, or a Switch came
	// after it.
	Route *Split
	// Switched is the version the switch sends all traffic to; empty when
	// none is set, or a Route came after it.
	Switched string
	// Shares is the fraction of requests each version serves now; versions
	// that serve none are left out.
	Shares map[string]float64
}

// State returns the fleet's state now.
func (f *Fleet) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := State{Instances: maps.Clone(f.count), Switched: f.active, Shares: f.sharesLocked()}
	for v, n := range f.count {
		if u := n - f.ready[v]; u > 0 {
			if s.Unready == nil {
				s.Unready = map[string]int{}
			}
			s.Unready[v] = u
		}
	}
	if f.route != nil {
		r := *f.route
		s.Route = &r
	}
	return s
}

// AllOn returns nil when the fleet is settled on version: it runs at least
// one instance, every instance runs version and is ready, version serves
// every request, and the router or switch, if set, sends every request to
// it (a split with weight 0 on another canary, or 100 on version as the
// canary). Otherwise it returns an error holding the whole state and what
// is wrong with it.
func (s State) AllOn(version string) error {
	var wrong []string
	if s.Instances[version] == 0 {
		wrong = append(wrong, "no instance of "+version)
	}
	for _, v := range slices.Sorted(maps.Keys(s.Instances)) {
		if v != version {
			wrong = append(wrong, fmt.Sprintf("%d instance(s) of %s", s.Instances[v], v))
		}
	}
	if n := s.Unready[version]; n > 0 {
		wrong = append(wrong, fmt.Sprintf("%d instance(s) of %s not ready", n, version))
	}
	if r := s.Route; r != nil {
		switch {
		case r.Stable == version && r.Weight > 0:
			wrong = append(wrong, fmt.Sprintf("router sends %s to %s", percent(r.Weight), r.Canary))
		case r.Canary == version && r.Weight < 100:
			wrong = append(wrong, fmt.Sprintf("router sends %s to %s", percent(100-r.Weight), r.Stable))
		case r.Stable != version && r.Canary != version:
			wrong = append(wrong, fmt.Sprintf("router splits between %s and %s", r.Stable, r.Canary))
		}
	}
	if s.Switched != "" && s.Switched != version {
		wrong = append(wrong, "switch sends all traffic to "+s.Switched)
	}
	if s.Shares[version] != 1 {
		wrong = append(wrong, fmt.Sprintf("%s serves %s of requests", version, percent(100*s.Shares[version])))
	}
	if len(wrong) == 0 {
		return nil
	}
	return fmt.Errorf("strategytest: fleet not settled on %s: %s (%s)", version, strings.Join(wrong, "; "), s)
}

// String describes s on one line:
//
//	instances v1=4 v2=1 (1 unready v2); route v1→v2 at 25%; shares v1=75% v2=25%
func (s State) String() string {
	var b strings.Builder
	b.WriteString("instances")
	if len(s.Instances) == 0 {
		b.WriteString(" none")
	}
	for _, v := range slices.Sorted(maps.Keys(s.Instances)) {
		fmt.Fprintf(&b, " %s=%d", v, s.Instances[v])
	}
	if len(s.Unready) > 0 {
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(s.Unready)) {
			parts = append(parts, fmt.Sprintf("%d unready %s", s.Unready[v], v))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	if r := s.Route; r != nil {
		fmt.Fprintf(&b, "; route %s→%s at %s", r.Stable, r.Canary, percent(r.Weight))
	}
	if s.Switched != "" {
		fmt.Fprintf(&b, "; switched to %s", s.Switched)
	}
	b.WriteString("; shares")
	if len(s.Shares) == 0 {
		b.WriteString(" none")
	}
	for _, v := range slices.Sorted(maps.Keys(s.Shares)) {
		fmt.Fprintf(&b, " %s=%s", v, percent(100*s.Shares[v]))
	}
	return b.String()
}

// percent formats p, in percent, with up to four significant digits.
func percent(p float64) string { return fmt.Sprintf("%.4g%%", p) }
