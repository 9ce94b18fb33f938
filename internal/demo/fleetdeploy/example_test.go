package fleetdeploy_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/demo/fleetdeploy"
	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/journal"
)

// A deployment of v2 to a fleet served over HTTP, kept in a journal; a
// rerun of it changes nothing. examples/canary -fleet does the same with
// the fleet in another process, a SQLite or PostgreSQL journal, a kill
// switch in a file and metrics scraped from the instances.
func Example() {
	ctx := context.Background()
	_, url, stop, err := serveFleet() // examples/fleet, in this process
	if err != nil {
		panic(err)
	}
	defer stop()

	var j journal.Memory
	var store flags.Memory
	fleet := &fleethttp.Client{URL: url}
	o := fleetdeploy.Options{
		Fleet: fleet, Journal: &j, Flags: &store,
		Steps: []float64{5, 50, 100}, StepWindow: 300 * time.Millisecond, Interval: 100 * time.Millisecond,
		BaselineWindow: time.Second, Metrics: newSynthetic(fleet, false),
	}
	fmt.Println("exit", fleetdeploy.Run(ctx, o, io.Discard))
	fmt.Println("rerun exit", fleetdeploy.Run(ctx, o, io.Discard))
	s, _ := fleet.State(ctx)
	fmt.Println(s.Versions(), s.Traffic)
	// Output:
	// exit 0
	// rerun exit 0
	// map[v2:4] map[v2:100]
}
