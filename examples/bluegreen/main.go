// Command bluegreen deploys v2 of a service to a simulated fleet by
// blue/green: a full v2 side comes up beside v1, traffic switches at once,
// and v1 stays warm until v2 has held. A good v2 completes; with -bad,
// verification fails, traffic switches back to v1 instantly and the command
// exits 1. -report FILE.html writes the run's report, an HTML page.
package main

import (
	"os"

	"github.com/safedeploy/safedeploy/internal/demo"
)

func main() {
	os.Exit(demo.BlueGreen().Main(os.Args, os.Stdout))
}
