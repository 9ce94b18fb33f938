package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// memory is a journal.Memory with a Close.
type memory struct{ *journal.Memory }

func (memory) Close() error { return nil }

// ctlOn runs the command on j and returns its exit code and output.
func ctlOn(j *journal.Memory, args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	open := func(ctx context.Context, dsn string) (closer, error) {
		if dsn != "mem:" {
			return nil, errors.New("unknown dsn")
		}
		return memory{j}, nil
	}
	code := run(context.Background(), append([]string{"-journal", "mem:", "-service", "shop"}, args...), &out, &errs, open)
	return code, out.String(), errs.String()
}

// deployment starts a canary of a healthy v2 (5 min steps) kept in j, and
// returns its fleet, its flags and a channel that delivers Run's error.
func deployment(t *testing.T, j *journal.Memory) (*strategytest.Fleet, chan error) {
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 4, RPS: 1000,
		Behaviors: map[string]strategytest.Behavior{
			"v1": {ErrorRate: 0.01, Latency: 20 * time.Millisecond},
			"v2": {ErrorRate: 0.01, Latency: 20 * time.Millisecond},
		},
	})
	var store flags.Memory
	store.Set(t.Context(), flags.Flag{Name: "basket", Enabled: true})
	p := &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change:   deploy.Change{Engineer: "ana", What: "server-side basket", Why: "speed"},
		Tests:    deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil }),
		Strategy: strategy.Canary{Steps: []float64{5, 50, 100}},
		Target:   strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:  fleet, Flags: &store, KillSwitch: "basket",
		Journal: j, Holder: "deployer/1",
	}
	done := make(chan error, 1)
	go func() {
		_, err := deploy.Run(t.Context(), p)
		done <- err
	}()
	return fleet, done
}

func TestStatusPauseResumeAbort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal.Memory
		if code, out, _ := ctlOn(&j, "status"); code != 0 || !strings.Contains(out, "shop in staging: no deployment in the journal") {
			t.Errorf("status of nothing: %d\n%s", code, out)
		}
		if code, _, errs := ctlOn(&j, "abort"); code != 1 || !strings.Contains(errs, "no deployment running: shop has no deployment in staging") {
			t.Errorf("abort of nothing: %d\n%s", code, errs)
		}
		fleet, done := deployment(t, &j)
		time.Sleep(2 * time.Minute) // observing the 5% step
		code, out, errs := ctlOn(&j, "status")
		for _, want := range []string{
			"shop in staging: deploying v1 → v2 by canary, run ",
			"phase:        deploy (deploying v2 by canary)",
			"step:         canary 5% (5% on v2)",
			"traffic:      5% on v2, the rest on v1 (last route)",
			"measurement:  continue: ",
			"error-rate 1% vs baseline 1%",
			"lease:        held by deployer/1, token 1, until ",
			"(live, ",
		} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("status lacks %q (exit %d):\n%s%s", want, code, out, errs)
			}
		}

		if code, out, errs := ctlOn(&j, "pause", "-why", "looking at the dashboards"); code != 0 || !strings.Contains(out, "to pause, as ") {
			t.Errorf("pause: %d\n%s%s", code, out, errs)
		}
		time.Sleep(20 * time.Minute) // far past the step's window
		_, out, _ = ctlOn(&j, "status")
		if !strings.Contains(out, "step:         canary 5%") || !strings.Contains(out, "paused:       by ") || !strings.Contains(out, ": looking at the dashboards") {
			t.Errorf("status while paused:\n%s", out)
		}
		ctlOn(&j, "resume")
		_, out, _ = ctlOn(&j, "status")
		if strings.Contains(out, "paused:") {
			t.Errorf("status after resume:\n%s", out)
		}

		code, out, _ = ctlOn(&j, "-json", "abort")
		var posted struct {
			Run     string          `json:"run"`
			Seq     int64           `json:"seq"`
			Control journal.Control `json:"control"`
		}
		if err := json.Unmarshal([]byte(out), &posted); code != 0 || err != nil || posted.Control.Op != "abort" || posted.Seq == 0 || !strings.Contains(posted.Control.Who, "@") {
			t.Errorf("abort -json: %d %v\n%s", code, err, out)
		}
		if err := <-done; !errors.Is(err, deploy.ErrOperatorAbort) {
			t.Errorf("the deployment ended %v; want an operator's abort", err)
		}
		if err := fleet.State().AllOn("v1"); err != nil {
			t.Error(err)
		}

		_, out, _ = ctlOn(&j, "status")
		if !strings.Contains(out, "no deployment running; the last, run "+posted.Run) || !strings.Contains(out, "), rolled back at ") {
			t.Errorf("status after the abort:\n%s", out)
		}
		if code, _, errs := ctlOn(&j, "promote"); code != 1 || !strings.Contains(errs, "no deployment running: shop in staging; the last, run "+posted.Run+", rolled back at") {
			t.Errorf("promote after the end: %d\n%s", code, errs)
		}
	})
}

func TestStatusAndHistoryJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal.Memory
		_, done := deployment(t, &j)
		time.Sleep(7 * time.Minute) // at 50%
		code, out, _ := ctlOn(&j, "status", "-json")
		var s Status
		if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil {
			t.Fatalf("status -json: %d %v\n%s", code, err, out)
		}
		if !s.Running || s.Phase != "deploy" || s.Step != "canary 50%" || s.StepWeight != 50 || s.Traffic == nil || s.Traffic.Weight != 50 ||
			s.Lease == nil || !s.Lease.Live || s.Lease.Holder != "deployer/1" || s.Verdict == nil || len(s.Verdict.Numbers) == 0 {
			t.Errorf("status -json:\n%s", out)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		code, out, _ = ctlOn(&j, "-json", "history")
		var runs []journal.Run
		if err := json.Unmarshal([]byte(out), &runs); code != 0 || err != nil || len(runs) != 1 || runs[0].Outcome != "completed" {
			t.Errorf("history -json: %d %v\n%s", code, err, out)
		}
		code, out, _ = ctlOn(&j, "history")
		if code != 0 || !strings.Contains(out, runs[0].ID+"  v1 → v2 by canary  completed") {
			t.Errorf("history:\n%s", out)
		}
	})
}

func TestBadCommandLines(t *testing.T) {
	var j journal.Memory
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"launch"}, `unknown command "launch"`},
		{[]string{"status", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"-env", "", "status"}, "-env must not be empty"},
		{[]string{"-n", "-1", "history"}, "-n -1: must not be negative"},
	} {
		if code, _, errs := ctlOn(&j, c.args...); code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, want 2 saying %q:\n%s", c.args, code, c.want, errs)
		}
	}
	var out, errs bytes.Buffer
	if code := run(t.Context(), []string{"status"}, &out, &errs, nil); code != 2 || !strings.Contains(errs.String(), "-journal is required; -service is required") {
		t.Errorf("without -journal and -service: %d\n%s", code, errs.String())
	}
	if code, _, errs := ctlOn(&j, "-journal", "nope:", "status"); code != 1 || !strings.Contains(errs, "unknown dsn") {
		t.Errorf("a journal that does not open: %d\n%s", code, errs)
	}
}

// The command opens the journals its DSN names.
func TestOpensTheJournal(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/shop.db"
	if j, err := openJournal(t.Context(), db); err != nil {
		t.Fatal(err)
	} else {
		j.Close()
	}
	var out, errs bytes.Buffer
	if code := run(t.Context(), []string{"-journal", db, "-service", "shop", "status"}, &out, &errs, openJournal); code != 0 || !strings.Contains(out.String(), "no deployment in the journal") {
		t.Errorf("status on a new SQLite journal: %d\n%s%s", code, out.String(), errs.String())
	}
	out.Reset()
	errs.Reset()
	if code := run(t.Context(), []string{"-journal", db, "-service", "shop", "abort"}, &out, &errs, openJournal); code != 1 || !strings.Contains(errs.String(), "no deployment running") {
		t.Errorf("abort on a new SQLite journal: %d\n%s%s", code, out.String(), errs.String())
	}
	errs.Reset()
	if code := run(t.Context(), []string{"-journal", "mysql://x", "-service", "shop", "status"}, &out, &errs, openJournal); code != 1 || !strings.Contains(errs.String(), "sqlite:PATH") {
		t.Errorf("an unknown DSN: %d\n%s", code, errs.String())
	}
}
