package fleethttp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/internal/demo/loopback"
)

// A fleet served in one process, driven from another: here both are one.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fleet, err := loopback.New(ctx, loopback.Config{Version: "v1", Instances: 2, Startup: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(fleethttp.NewServer(fleet)) // examples/fleet listens on -addr
	defer srv.Close()

	c := &fleethttp.Client{URL: srv.URL, Behaviors: map[string]fleethttp.Behavior{"v2": {ErrorRate: 0.005, LatencyMS: 5}}}
	if _, err := c.Start(ctx, "v2"); err != nil {
		panic(err)
	}
	if err := c.Route(ctx, "v1", "v2", 5); err != nil {
		panic(err)
	}
	s, err := c.State(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("instances:", s.Versions())
	fmt.Println("traffic:", s.Traffic)
	// Output:
	// instances: map[v1:2 v2:1]
	// traffic: map[v1:95 v2:5]
}
