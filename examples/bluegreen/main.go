// Command bluegreen deploys v2 of a service to a simulated fleet by
// blue/green: a full v2 side comes up beside v1, traffic switches at once,
// and v1 stays warm until v2 has held. A good v2 completes; with -bad,
// verification fails, traffic switches back to v1 instantly and the command
// exits 1.
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
		Strategy: strategy.BlueGreen{Window: 4 * time.Second, KeepWarm: time.Second},
		Target: func(f *strategytest.Fleet) strategy.Target {
			return strategy.Target{Fleet: f, Switch: f}
		},
		Windows: "4s after the switch, old side kept warm 1s",
	}.Main(os.Args, os.Stdout))
}
