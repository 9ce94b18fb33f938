// Package loopback runs a real fleet on the loopback interface: instances
// of internal/demo/demoapp as HTTP servers on 127.0.0.1, a weighted reverse proxy
// in front of them as the traffic router, and a load generator. It
// implements strategy.Fleet, strategy.Router and strategy.Switch, and lists
// its instances as scrape targets, so that a deployment, its metrics and
// its rollback all happen over real HTTP.
package loopback

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify/scrape"
)

// ErrStopped is returned by a Fleet that has been closed.
var ErrStopped = errors.New("loopback: fleet stopped")

// Config describes a fleet.
type Config struct {
	// Version is what the initial Instances run.
	Version   string
	Instances int
	// Apps says how each version behaves; the Version field is filled in.
	Apps map[string]demoapp.Config
	// Startup is how long a new instance takes to become ready, as a real
	// process's start and warm-up would. The initial instances are ready
	// at once.
	Startup time.Duration
}

// A Fleet is a set of demoapp instances on 127.0.0.1 behind a proxy.
// All methods are safe for concurrent use.
type Fleet struct {
	c     Config
	ctx   context.Context // the fleet's lifetime
	proxy string          // the proxy's base URL

	mu        sync.Mutex
	instances map[string]*instance
	next      int
	route     *split // nil: by instance count
	active    string // blue/green target; "" when unset
	rng       *rand.Rand
	routedAt  map[string]time.Time // version → when traffic last moved fully to it
	first     map[string]time.Time // version → first request served by a stopped instance
}

type instance struct {
	id, version string
	app         *demoapp.App
	url         *url.URL
	stop        context.CancelFunc
	ready       bool
}

type split struct {
	stable, canary string
	weight         float64
}

// New starts a fleet and its proxy; both stop when ctx ends.
func New(ctx context.Context, c Config) (*Fleet, error) {
	c.Apps = maps.Clone(c.Apps) // SetApp changes the fleet's own copy
	if c.Apps == nil {
		c.Apps = map[string]demoapp.Config{}
	}
	f := &Fleet{c: c, ctx: ctx, instances: map[string]*instance{}, rng: rand.New(rand.NewPCG(1, 2)), routedAt: map[string]time.Time{}, first: map[string]time.Time{}}
	for range c.Instances {
		in, err := f.launch(c.Version)
		if err != nil {
			return nil, err
		}
		in.ready = true
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if u := f.pick(); u != nil {
				pr.SetURL(u)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "no backend: "+err.Error(), http.StatusBadGateway)
		},
	}
	u, _, err := demoapp.Serve(ctx, proxy)
	if err != nil {
		return nil, err
	}
	f.proxy = u
	return f, nil
}

// URL returns the proxy's base URL: where users' requests go.
func (f *Fleet) URL() string { return f.proxy }

// launch starts an instance of version, not yet ready.
func (f *Fleet) launch(version string) (*instance, error) {
	f.mu.Lock()
	cfg := f.c.Apps[version]
	cfg.Version = version
	f.next++
	id := fmt.Sprintf("%s-%d", version, f.next)
	cfg.Seed = uint64(f.next)
	f.mu.Unlock()
	ctx, stop := context.WithCancel(f.ctx)
	app := demoapp.New(cfg)
	raw, _, err := demoapp.Serve(ctx, app)
	if err != nil {
		stop()
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	u, _ := url.Parse(raw)
	in := &instance{id: id, version: version, app: app, url: u, stop: stop}
	f.mu.Lock()
	f.instances[id] = in
	f.mu.Unlock()
	return in, nil
}

// pick chooses the instance for one request: a version by the routing
// rules, then one of its ready instances at random.
func (f *Fleet) pick() *url.URL {
	f.mu.Lock()
	defer f.mu.Unlock()
	byVersion := map[string][]*instance{}
	for _, in := range f.instances {
		if in.ready {
			byVersion[in.version] = append(byVersion[in.version], in)
		}
	}
	version := ""
	switch r := f.route; {
	case f.active != "" && len(byVersion[f.active]) > 0:
		version = f.active
	case r != nil && len(byVersion[r.canary])+len(byVersion[r.stable]) > 0:
		version = r.stable
		if len(byVersion[r.stable]) == 0 || len(byVersion[r.canary]) > 0 && f.rng.Float64()*100 < r.weight {
			version = r.canary
		}
	default:
		n := 0
		for _, ins := range byVersion {
			n += len(ins)
		}
		if n == 0 {
			return nil
		}
		k := f.rng.IntN(n)
		for v, ins := range byVersion {
			if k < len(ins) {
				version = v
				break
			}
			k -= len(ins)
		}
	}
	ins := byVersion[version]
	if len(ins) == 0 {
		return nil
	}
	return ins[f.rng.IntN(len(ins))].url
}

// Instances implements strategy.Fleet.
func (f *Fleet) Instances(ctx context.Context) ([]strategy.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]strategy.Instance, 0, len(f.instances))
	for _, in := range f.instances {
		out = append(out, strategy.Instance{ID: in.id, Version: in.version})
	}
	slices.SortFunc(out, func(a, b strategy.Instance) int { // v1-2 before v1-10
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Start implements strategy.Fleet: it starts a server for version and
// returns once it has warmed up for Config.Startup.
func (f *Fleet) Start(ctx context.Context, version string) (string, error) {
	if f.ctx.Err() != nil {
		return "", ErrStopped
	}
	in, err := f.launch(version)
	if err != nil {
		return "", err
	}
	t := time.NewTimer(f.c.Startup)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return in.id, fmt.Errorf("instance %s not ready: %w", in.id, context.Cause(ctx))
	case <-t.C:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.instances[in.id] != in {
		return in.id, fmt.Errorf("instance %s stopped before it was ready", in.id)
	}
	in.ready = true
	return in.id, nil
}

// Stop implements strategy.Fleet: the instance leaves the proxy at once and
// its server shuts down gracefully.
func (f *Fleet) Stop(ctx context.Context, id string) error {
	f.mu.Lock()
	in, ok := f.instances[id]
	delete(f.instances, id)
	if ok {
		f.first[in.version] = earliest(f.first[in.version], in.app.FirstRequest())
	}
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("stop %s: no such instance", id)
	}
	in.stop()
	return nil
}

// Route implements strategy.Router.
func (f *Fleet) Route(ctx context.Context, stable, canary string, weight float64) error {
	if !(weight >= 0 && weight <= 100) {
		return fmt.Errorf("route: weight %g outside [0, 100]", weight)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.route, f.active = &split{stable: stable, canary: canary, weight: weight}, ""
	switch weight {
	case 0:
		f.routedAt[stable] = time.Now()
	case 100:
		f.routedAt[canary] = time.Now()
	}
	return nil
}

// Switch implements strategy.Switch.
func (f *Fleet) Switch(ctx context.Context, version string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active, f.route = version, nil
	f.routedAt[version] = time.Now()
	return nil
}

// RoutedTo returns when all traffic was last routed to version (by a
// weight of 0 or 100, or a switch), or the zero time.
func (f *Fleet) RoutedTo(version string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.routedAt[version]
}

// FirstRequest returns when an instance of version first served a
// request, or the zero time.
func (f *Fleet) FirstRequest(version string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.first[version]
	for _, in := range f.instances {
		if in.version == version {
			first = earliest(first, in.app.FirstRequest())
		}
	}
	return first
}

// earliest returns the earlier of two times, a zero time counting as none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// Targets lists the instances as scrape targets.
func (f *Fleet) Targets(ctx context.Context) ([]scrape.Target, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]scrape.Target, 0, len(f.instances))
	for _, in := range f.instances {
		out = append(out, scrape.Target{URL: in.url.String() + "/metrics", Version: in.version})
	}
	return out, nil
}

var _ interface {
	strategy.Fleet
	strategy.Router
	strategy.Switch
} = (*Fleet)(nil)
