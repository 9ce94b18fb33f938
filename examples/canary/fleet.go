package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/demo/fleetdeploy"
	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/progress"
)

// fleetRun is the command line of a deployment to a fleet in another
// process (-fleet), kept in a journal (-journal).
type fleetRun struct {
	URL, Journal, Flags string
	Bad, Slow           bool
	Steps               []float64
	Step, Interval      time.Duration
	Report              string
}

// runFleet deploys v2 to the fleet examples/fleet serves at o.URL, through
// internal/demo/fleetdeploy: exit 0 when v2 serves all traffic (now, or
// already), 1 when it does not (rolled back; another deployer holds the
// service; this one lost its lease), 2 on a bad command line. Killed at
// any moment, the same command run again recovers the deployment.
func runFleet(ctx context.Context, o fleetRun, w io.Writer) int {
	if o.URL == "" || o.Journal == "" {
		fmt.Fprintln(w, "canary: -fleet and -journal go together: the fleet to deploy to, and the journal that keeps the deployment")
		return 2
	}
	path := o.Flags
	if path == "" {
		file, ok := strings.CutPrefix(o.Journal, "sqlite:")
		if !ok {
			fmt.Fprintln(w, "canary: -flags FILE is needed with a journal that is not a SQLite file: the kill switch lives in a file")
			return 2
		}
		path = strings.TrimPrefix(file, "//") + ".flags.json"
	}
	j, err := fleetdeploy.OpenJournal(ctx, o.Journal)
	if err != nil {
		fmt.Fprintln(w, "canary:", err)
		return 1
	}
	defer j.Close()
	fmt.Fprintf(w, "Deploying v2 of %s to the fleet at %s, kept in the journal; the kill switch %q in %s.\n",
		fleetdeploy.Service, o.URL, fleetdeploy.KillSwitch, path)
	fmt.Fprintf(w, "Windows are shortened for the demo: %s per canary step, metrics read every %s, a %s lease.\n", o.Step, o.Interval, fleetdeploy.DefaultLeaseTTL)
	fmt.Fprintf(w, "From another terminal: go run ./examples/ctl -journal %s -service %s status (or pause, resume, promote, abort).\n\n", shown(o.Journal), fleetdeploy.Service)
	return fleetdeploy.Run(ctx, fleetdeploy.Options{
		Fleet: &fleethttp.Client{URL: o.URL}, Journal: j, Flags: flags.NewFile(path),
		Bad: o.Bad, Slow: o.Slow, Steps: o.Steps, StepWindow: o.Step, Interval: o.Interval,
		Observers: []deploy.Observer{progress.New(w)}, Report: o.Report,
	}, w)
}

// shown is the DSN as the output may show it: a PostgreSQL URL may hold a
// password.
func shown(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	return "DSN"
}
