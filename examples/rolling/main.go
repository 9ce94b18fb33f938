// Command rolling deploys v2 of a service to a simulated fleet by a rolling
// update, 25% surge and 25% unavailable, each batch health-gated and
// observed. A rolling update goes back only by redeploying, so the change is
// guarded by a kill switch: with -bad, verification fails, the switch is
// turned off first and the replaced instances are rolled back; the command
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
		Strategy: strategy.Rolling{BatchWindow: 2 * time.Second, Window: 4 * time.Second},
		Target: func(f *strategytest.Fleet) strategy.Target {
			return strategy.Target{Fleet: f}
		},
		Windows:    "2s per batch, 4s for the whole fleet",
		KillSwitch: true,
	}.Main(os.Args, os.Stdout))
}
