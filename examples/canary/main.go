// Command canary deploys v2 of a service to a simulated fleet through canary
// steps of 1%, 5%, 25%, 50% and 100% of traffic. A good v2 completes; with
// -bad, v2 fails 8% of requests, verification catches it at the first step,
// traffic returns to v1 and the command exits 1.
package main

import (
	"os"

	"github.com/safedeploy/safedeploy/internal/demo"
)

func main() {
	os.Exit(demo.Canary().Main(os.Args, os.Stdout))
}
