package fleethttp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/internal/demo/loopback"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// serve runs a loopback fleet of n instances of v1 behind a Server on
// 127.0.0.1 for the test, and returns a client of it.
func serve(t *testing.T, n int) (*fleethttp.Client, *fleethttp.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := loopback.New(ctx, loopback.Config{Version: "v1", Instances: n, Startup: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := fleethttp.NewServer(f)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); cancel() })
	return &fleethttp.Client{URL: hs.URL}, s
}

// The client is a strategy.Fleet by the strategies' contract.
func TestClientIsAFleet(t *testing.T) {
	strategytest.Run(t, "v1", func(t *testing.T) strategy.Fleet {
		c, _ := serve(t, 2)
		return c
	})
}

func TestRoutingSwitchAndState(t *testing.T) {
	c, srv := serve(t, 2)
	ctx := t.Context()
	s, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]float64{"v1": 100}, s.Traffic); diff != "" || s.Routing != nil || s.Switch != "" || s.Proxy == "" {
		t.Errorf("initial state %+v (traffic -want +got:\n%s)", s, diff)
	}
	if err := s.AllOn("v1"); err != nil {
		t.Error(err)
	}
	if stable, canary, w, err := c.Routing(ctx); err != nil || stable != "" || canary != "" || w != 0 {
		t.Errorf("Routing before any route = %q, %q, %g, %v", stable, canary, w, err)
	}
	id, err := c.Start(ctx, "v2")
	if err != nil || !strings.HasPrefix(id, "v2-") {
		t.Fatalf("Start = %q, %v", id, err)
	}
	if err := c.Route(ctx, "v1", "v2", 25); err != nil {
		t.Fatal(err)
	}
	if stable, canary, w, err := c.Routing(ctx); err != nil || stable != "v1" || canary != "v2" || w != 25 {
		t.Errorf("Routing = %q, %q, %g, %v", stable, canary, w, err)
	}
	s, _ = c.State(ctx)
	if diff := cmp.Diff(map[string]float64{"v1": 75, "v2": 25}, s.Traffic); diff != "" {
		t.Errorf("traffic at 25%% (-want +got):\n%s", diff)
	}
	if err := s.AllOn("v1"); err == nil || !strings.Contains(err.Error(), "runs v2") {
		t.Errorf("AllOn(v1) with a v2 instance = %v", err)
	}
	if got := s.Versions(); got["v1"] != 2 || got["v2"] != 1 {
		t.Errorf("versions %v", got)
	}
	if err := c.Switch(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Current(ctx); err != nil || v != "v2" {
		t.Errorf("Current = %q, %v", v, err)
	}
	s, _ = c.State(ctx)
	if s.Traffic["v2"] != 100 || s.Routing != nil || s.Switch != "v2" {
		t.Errorf("switched state %+v", s)
	}
	ts, err := c.Targets(ctx)
	if err != nil || len(ts) != 3 {
		t.Fatalf("Targets = %v, %v", ts, err)
	}
	for _, tg := range ts {
		resp, err := http.Get(tg.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(tg.URL, "http://127.0.0.1:") {
			t.Errorf("target %+v answered %d", tg, resp.StatusCode)
		}
	}
	if got := srv.Changes(); got != 3 {
		t.Errorf("%d changes counted, want 3 (start, route, switch)", got)
	}
}

// How a version behaves travels with its start: the fleet cannot know.
func TestBehaviorTravelsWithStart(t *testing.T) {
	c, _ := serve(t, 1)
	c.Behaviors = map[string]fleethttp.Behavior{"v2": {ErrorRate: 1}}
	ctx := t.Context()
	if _, err := c.Start(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Switch(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	s, _ := c.State(ctx)
	resp, err := http.Get(s.Proxy)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || resp.Header.Get("X-Version") != "v2" {
		t.Errorf("v2 with error_rate 1 answered %d from %q", resp.StatusCode, resp.Header.Get("X-Version"))
	}
}

func TestBadRequestsNameTheField(t *testing.T) {
	c, srv := serve(t, 1)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"weight", c.Route(ctx, "v1", "v2", 101), "weight = 101"},
		{"empty canary", c.Route(ctx, "v1", "", 5), `canary = ""`},
		{"version with a slash", c.Switch(ctx, "v/2"), `version = "v/2"`},
		{"behavior", func() error {
			bad := &fleethttp.Client{URL: c.URL, Behaviors: map[string]fleethttp.Behavior{"v2": {ErrorRate: 2, LatencyMS: -1}}}
			_, err := bad.Start(ctx, "v2")
			return err
		}(), "error_rate = 2"},
	} {
		var e *fleethttp.Error
		if !errors.As(tc.err, &e) || e.Status != 400 || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %v; want a 400 naming %q", tc.name, tc.err, tc.want)
		}
	}
	if err := c.Stop(ctx, "v9-1"); !errors.Is(err, fleethttp.ErrNotFound) {
		t.Errorf("Stop(unknown) = %v; want ErrNotFound", err)
	}
	resp, err := http.Post(c.URL+"/instances", "application/json", strings.NewReader(`{"version":"v2","extra":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("an unknown field answered %d", resp.StatusCode)
	}
	if got := srv.Changes(); got != 0 {
		t.Errorf("refused requests counted %d changes", got)
	}
	if err := (&fleethttp.Client{}).Stop(ctx, "x"); err == nil {
		t.Error("a client without a URL succeeded")
	}
}

// A start whose deployer goes away fails with the instance's ID, and the
// instance stays listed, warming up, for a successor to stop.
func TestAbandonedStartLeavesAListedInstance(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := loopback.New(ctx, loopback.Config{Version: "v1", Instances: 1, Startup: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(fleethttp.NewServer(f))
	defer hs.Close()
	c := &fleethttp.Client{URL: hs.URL}
	// The deployer goes away once the server has the start in hand: a
	// fixed timeout could end before the request reached the server on a
	// loaded machine, and nothing would have been started.
	sctx, scancel := context.WithCancel(t.Context())
	defer scancel()
	started := make(chan error, 1)
	go func() {
		_, err := c.Start(sctx, "v2")
		started <- err
	}()
	var s fleethttp.State
	for deadline := time.Now().Add(time.Minute); len(s.Instances) != 2; time.Sleep(10 * time.Millisecond) {
		if s, err = c.State(t.Context()); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %+v; the start of v2 never listed an instance", s)
		}
	}
	scancel()
	if err := <-started; err == nil {
		t.Fatal("a start abandoned before it could be ready succeeded")
	}
	if s, err = c.State(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := s.Versions(); got["v2"] != 1 || s.Traffic["v1"] != 100 {
		t.Fatalf("state %+v; want the abandoned v2 listed, taking no traffic", s)
	}
	for _, in := range s.Instances {
		if in.Version == "v2" {
			if in.Ready {
				t.Error("the abandoned instance is ready")
			}
			if err := c.Stop(t.Context(), in.ID); err != nil {
				t.Error(err)
			}
		}
	}
}
