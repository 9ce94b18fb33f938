// Command rolling deploys v2 of a service to a simulated fleet by a rolling
// update, 25% surge and 25% unavailable, each batch health-gated and
// observed. A rolling update goes back only by redeploying, so the change is
// guarded by a kill switch: with -bad, verification fails, the switch is
// turned off first and the replaced instances are rolled back; the command
// exits 1. -report FILE.html writes the run's report, an HTML page.
package main

import (
	"os"

	"github.com/safedeploy/safedeploy/internal/demo"
)

func main() {
	os.Exit(demo.Rolling().Main(os.Args, os.Stdout))
}
