// Command ctl is for operators of deployments kept in a journal (see
// deploy.Plan.Journal): it shows what a service's deployment is doing, and
// pauses, resumes, promotes or aborts it from any process.
//
//	ctl -journal DSN -service NAME [-env ENV] [-json] COMMAND
//
//	status    the newest deployment: phase, step, traffic, last verdict
//	          and its numbers, the lease's holder
//	history   the deployments, newest first (-n how many)
//	pause     hold at the current step; observation goes on, and a failing
//	          verdict still rolls back
//	resume    undo a pause
//	promote   end the current step's observation now, and go on
//	abort     roll back now
//
// DSN is sqlite:PATH or a postgres:// URL (journal/dsn). The running
// deployment obeys a control within one of its verify intervals. A control
// for a service with no deployment running says so and exits 1; so does
// any failure to read or write the journal. -json prints one JSON value for
// scripts; -why says why, recorded with who asked ($USER@host).
//
// The crash-proof demo (examples/fleet, examples/canary -fleet) deploys the
// service shop in staging, the default -env:
//
//	go run ./examples/ctl -journal sqlite:/tmp/shop.db -service shop abort -why "checkout errors"
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo/fleetdeploy"
	"github.com/safedeploy/safedeploy/journal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, openJournal))
}

// A closer is a journal that holds a file or connections until closed.
type closer = fleetdeploy.Journal

// opener opens the journal a DSN names.
type opener func(ctx context.Context, dsn string) (closer, error)

// openJournal opens the journal a DSN names.
func openJournal(ctx context.Context, dsn string) (closer, error) {
	return fleetdeploy.OpenJournal(ctx, dsn)
}

const usage = `usage: ctl -journal DSN -service NAME [-env ENV] [-json] [-why TEXT] [-n N] COMMAND

COMMAND is status, history, pause, resume, promote or abort.
DSN is sqlite:PATH or a postgres:// URL.
`

// run is the command, testable: it returns the exit code, 0 on success, 1
// when the command could not be carried out, 2 on a bad command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, open opener) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	dsn := fs.String("journal", "", "the journal: sqlite:PATH or a postgres:// URL")
	service := fs.String("service", "", "the service")
	env := fs.String("env", "staging", "the environment")
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	why := fs.String("why", "", "why you ask, recorded with the control")
	n := fs.Int("n", 10, "how many deployments history lists (0: all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Flags may follow the command too: ctl -journal … abort -why "…".
	cmd := fs.Arg(0)
	if err := fs.Parse(fs.Args()[min(1, fs.NArg()):]); err != nil {
		return 2
	}
	var problems []string
	switch cmd {
	case "status", "history", journal.Pause, journal.Resume, journal.Promote, journal.Abort:
	case "":
		problems = append(problems, "no command")
	default:
		problems = append(problems, fmt.Sprintf("unknown command %q", cmd))
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if *dsn == "" {
		problems = append(problems, "-journal is required")
	}
	if *service == "" {
		problems = append(problems, "-service is required")
	}
	if *env == "" {
		problems = append(problems, "-env must not be empty")
	}
	if *n < 0 {
		problems = append(problems, fmt.Sprintf("-n %d: must not be negative", *n))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "ctl: %s\n", strings.Join(problems, "; "))
		fs.Usage()
		return 2
	}

	j, err := open(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(stderr, "ctl:", err)
		return 1
	}
	defer j.Close()
	c := &ctl{j: j, service: *service, env: *env, json: *asJSON, out: stdout}
	switch cmd {
	case "status":
		err = c.status(ctx)
	case "history":
		err = c.history(ctx, *n)
	default:
		err = c.control(ctx, journal.Control{Op: cmd, Who: who(), Why: *why})
	}
	if err != nil {
		fmt.Fprintln(stderr, "ctl:", err)
		return 1
	}
	return 0
}

// ctl carries out one command.
type ctl struct {
	j            journal.Journal
	service, env string
	json         bool
	out          io.Writer
}

func (c *ctl) print(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *ctl) status(ctx context.Context) error {
	s, err := status(ctx, c.j, c.service, c.env)
	if err != nil {
		return err
	}
	if c.json {
		return c.print(s)
	}
	s.print(c.out, time.Now())
	return nil
}

func (c *ctl) history(ctx context.Context, n int) error {
	key := journal.Key(c.service, c.env)
	runs, err := c.j.Runs(ctx, key, n)
	if err != nil {
		return fmt.Errorf("read the runs of %s: %w", key, err)
	}
	if c.json {
		if runs == nil {
			runs = []journal.Run{}
		}
		return c.print(runs)
	}
	if len(runs) == 0 {
		fmt.Fprintf(c.out, "%s in %s: no deployment in the journal\n", c.service, c.env)
		return nil
	}
	for _, r := range runs {
		took := "running"
		outcome := "running"
		if !r.Finished.IsZero() {
			took = r.Finished.Sub(r.Started).Round(time.Millisecond).String()
			outcome = strings.ReplaceAll(r.Outcome, "_", " ")
		}
		fmt.Fprintf(c.out, "%s  %s  %s → %s by %s  %-13s %9s  %s\n", r.Started.Local().Format("2006-01-02 15:04:05"), r.ID, r.From, r.To, r.Strategy, outcome, took, r.Holder)
		if r.Reason != "" {
			fmt.Fprintf(c.out, "    %s\n", r.Reason)
		}
	}
	return nil
}

// errNotRunning is returned by a control for a service with no
// deployment running.
var errNotRunning = errors.New("no deployment running")

func (c *ctl) control(ctx context.Context, ctrl journal.Control) error {
	key := journal.Key(c.service, c.env)
	runs, err := c.j.Runs(ctx, key, 1)
	if err != nil {
		return fmt.Errorf("read the runs of %s: %w", key, err)
	}
	if len(runs) == 0 {
		return fmt.Errorf("%w: %s has no deployment in %s", errNotRunning, c.service, c.env)
	}
	r := runs[0]
	if !r.Finished.IsZero() {
		return fmt.Errorf("%w: %s in %s; the last, run %s, %s at %s", errNotRunning, c.service, c.env, r.ID,
			strings.ReplaceAll(r.Outcome, "_", " "), r.Finished.Local().Format(time.RFC3339))
	}
	seq, err := c.j.Post(ctx, r.ID, ctrl)
	if errors.Is(err, journal.ErrNotFound) {
		return fmt.Errorf("%w: run %s of %s in %s finished meanwhile", errNotRunning, r.ID, c.service, c.env)
	}
	if err != nil {
		return fmt.Errorf("post %s to run %s: %w", ctrl.Op, r.ID, err)
	}
	if c.json {
		return c.print(struct {
			Run     string          `json:"run"`
			Seq     int64           `json:"seq"`
			Control journal.Control `json:"control"`
		}{r.ID, seq, ctrl})
	}
	fmt.Fprintf(c.out, "Asked run %s (%s %s → %s in %s) to %s, as %s (entry %d): it obeys within one verify interval.\n",
		r.ID, c.service, r.From, r.To, c.env, ctrl.Op, ctrl.Who, seq)
	return nil
}

// who names the operator: $USER@host.
func who() string {
	name := os.Getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return cmp.Or(name, "unknown") + "@" + host
}
