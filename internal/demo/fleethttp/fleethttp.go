// Package fleethttp puts a loopback fleet (internal/demo/loopback) in a process
// of its own and drives it from others, over HTTP on 127.0.0.1: Server
// serves a fleet's state and takes changes; Client is a strategy.Fleet, a
// strategy.RouterState and a strategy.SwitchState that make those changes
// from another process, and lists the instances' metrics pages for
// verify/scrape. The fleet outlives the deployer, so that a deployer killed
// in the middle of a deployment leaves a fleet its successor can find.
//
// The fleet's process cannot know how a version it has never run behaves:
// the deployer says so, in a Behavior sent with each start.
//
// The API, all JSON:
//
//	GET    /state            State: instances, traffic per version, routing
//	GET    /targets          [{"url", "version"}]: the instances' /metrics pages
//	POST   /instances        {"version", "behavior"} → {"id"} once it is ready
//	DELETE /instances/{id}   stop an instance (404: no such instance)
//	GET    /routing          Routing: the weighted split, zero when none
//	PUT    /routing          Routing: split traffic by weight
//	GET    /switch           {"version"}: where every request goes, empty when not switched
//	PUT    /switch           {"version"}: send every request to version
//
// An error is a status of 400 (bad input), 404 (no such instance) or 503
// (an instance that did not become ready, whose ID the body names) with
// {"error": "…"}.
package fleethttp

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
)

// ErrNotFound is matched (errors.Is) by the *Error of a request for an
// instance the fleet does not have.
var ErrNotFound = errors.New("fleethttp: no such instance")

// A Behavior says how the instances of a version serve requests.
type Behavior struct {
	// ErrorRate is the fraction of requests answered with a 500.
	ErrorRate float64 `json:"error_rate"`
	// LatencyMS is the median request duration in milliseconds; zero
	// means 2 ms.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// SlowShare of requests take SlowLatencyMS instead: a slow tail.
	SlowShare     float64 `json:"slow_share,omitempty"`
	SlowLatencyMS float64 `json:"slow_latency_ms,omitempty"`
	// BusinessRate is the fraction of successful requests that complete
	// an order.
	BusinessRate float64 `json:"business_rate,omitempty"`
}

// Validate returns nil, or one error naming every field out of range: the
// fractions must be in [0, 1], the latencies finite and not negative.
func (b Behavior) Validate() error {
	var errs []error
	fraction := func(name string, v float64) {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%s = %g: must be a fraction in [0, 1]", name, v))
		}
	}
	millis := func(name string, v float64) {
		if !(v >= 0 && v <= float64(time.Hour/time.Millisecond)) {
			errs = append(errs, fmt.Errorf("%s = %g: must be a duration in milliseconds from 0 to an hour", name, v))
		}
	}
	fraction("error_rate", b.ErrorRate)
	fraction("slow_share", b.SlowShare)
	fraction("business_rate", b.BusinessRate)
	millis("latency_ms", b.LatencyMS)
	millis("slow_latency_ms", b.SlowLatencyMS)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fleethttp: invalid behavior: %w", err)
	}
	return nil
}

// app returns the demo app's configuration for b.
func (b Behavior) app() demoapp.Config {
	ms := func(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }
	return demoapp.Config{
		ErrorRate: b.ErrorRate, Latency: ms(b.LatencyMS),
		SlowShare: b.SlowShare, SlowLatency: ms(b.SlowLatencyMS),
		BusinessRate: b.BusinessRate,
	}
}

// An Instance is one running instance.
type Instance struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	// Ready reports whether it has warmed up and takes requests.
	Ready bool `json:"ready"`
	// Metrics is the URL of its metrics page.
	Metrics string `json:"metrics"`
}

// Routing is a split of traffic by weight: Weight percent to Canary, the
// rest to Stable.
type Routing struct {
	Stable string  `json:"stable"`
	Canary string  `json:"canary"`
	Weight float64 `json:"weight"`
}

// A State is what the fleet does now.
type State struct {
	// Instances are the running instances, ready or warming up.
	Instances []Instance `json:"instances"`
	// Traffic is the percentage of new requests each version gets, by the
	// routing rules and the instances ready now. The shares sum to 100;
	// the map is empty when no instance is ready.
	Traffic map[string]float64 `json:"traffic"`
	// Routing is the weighted split, if traffic is split by weight.
	Routing *Routing `json:"routing,omitempty"`
	// Switch is where every request goes, if traffic is switched.
	Switch string `json:"switch,omitempty"`
	// Proxy is the URL users' requests go to.
	Proxy string `json:"proxy"`
	// Changes counts the changes the fleet has accepted: starts, stops,
	// routes and switches.
	Changes int64 `json:"changes"`
}

// AllOn returns nil when every instance runs version and is ready, there
// is at least one, and all traffic goes to version; else an error saying
// what is elsewhere.
func (s State) AllOn(version string) error {
	var errs []error
	if len(s.Instances) == 0 {
		errs = append(errs, errors.New("no instance runs"))
	}
	for _, in := range s.Instances {
		switch {
		case in.Version != version:
			errs = append(errs, fmt.Errorf("instance %s runs %s", in.ID, in.Version))
		case !in.Ready:
			errs = append(errs, fmt.Errorf("instance %s is not ready", in.ID))
		}
	}
	if s.Traffic[version] != 100 {
		errs = append(errs, fmt.Errorf("traffic is %v, not all on %s", s.Traffic, version))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fleet not all on %s: %w", version, err)
	}
	return nil
}

// Versions counts the instances of each version.
func (s State) Versions() map[string]int {
	out := map[string]int{}
	for _, in := range s.Instances {
		out[in.Version]++
	}
	return out
}

// An Error is a fleet's answer other than success.
type Error struct {
	// Method and Path name the request.
	Method, Path string
	// Status is the HTTP status; Message the fleet's explanation.
	Status  int
	Message string
	// ID names the instance a failed start created, if any.
	ID string
}

// Error says which request failed, with the fleet's status and message.
func (e *Error) Error() string {
	return fmt.Sprintf("fleethttp: %s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// Is reports whether target is ErrNotFound and the status was 404.
func (e *Error) Is(target error) bool { return target == ErrNotFound && e.Status == 404 }

// errorBody is the body of an error answer.
type errorBody struct {
	Error string `json:"error"`
	ID    string `json:"id,omitempty"`
}

// startBody is the body of POST /instances.
type startBody struct {
	Version  string    `json:"version"`
	Behavior *Behavior `json:"behavior,omitempty"`
}

// idBody is the answer to POST /instances.
type idBody struct {
	ID string `json:"id"`
}

// switchBody is the body of GET and PUT /switch.
type switchBody struct {
	Version string `json:"version"`
}

// Target is one instance's metrics page, in GET /targets.
type Target struct {
	URL     string `json:"url"`
	Version string `json:"version"`
}
