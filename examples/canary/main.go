// Command canary deploys v2 of a service to a simulated fleet through canary
// steps of 1%, 5%, 25%, 50% and 100% of traffic. A good v2 completes; with
// -bad, v2 fails 8% of requests, verification catches it at the first step,
// traffic returns to v1 and the command exits 1.
package main

import (
	"os"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

func main() {
	os.Exit(demo.Example{
		Strategy: strategy.Canary{StepWindow: 2 * time.Second},
		Target: func(f *strategytest.Fleet) strategy.Target {
			return strategy.Target{Fleet: f, Router: f}
		},
		Windows: "2s per canary step",
	}.Main(os.Args, os.Stdout))
}
