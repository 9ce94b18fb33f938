package fleetdeploy_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/demo/fleetdeploy"
	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/journal"
)

// quick are options for a fast deployment on a synthetic metric source.
func quick(url string, j journal.Journal, store flags.Store, bad bool) fleetdeploy.Options {
	c := &fleethttp.Client{URL: url}
	return fleetdeploy.Options{
		Fleet: c, Journal: j, Flags: store, Bad: bad,
		Steps: []float64{5, 50, 100}, StepWindow: 300 * time.Millisecond, Interval: 100 * time.Millisecond,
		BaselineWindow: time.Second, LeaseTTL: time.Second,
		Metrics: newSynthetic(c, bad),
	}
}

// A good v2 completes and a rerun changes nothing; a bad one is rolled
// back with its kill switch off; a new deployment after it turns the kill
// switch on again.
func TestDeployRerunAndRollBack(t *testing.T) {
	srv, url := startFleet(t)
	var j journal.Memory
	var store flags.Memory
	var out bytes.Buffer
	if code := fleetdeploy.Run(t.Context(), quick(url, &j, &store, true), &out); code != fleetdeploy.ExitFailed {
		t.Log(out.String())
		t.Fatalf("bad v2: exit %d:\n%s", code, out.String())
	}
	assertFleet(t, url, "v1")
	if f, _ := store.Get(t.Context(), fleetdeploy.KillSwitch); f.Enabled {
		t.Error("kill switch on after a rollback")
	}

	out.Reset()
	if code := fleetdeploy.Run(t.Context(), quick(url, &j, &store, false), &out); code != fleetdeploy.ExitCompleted {
		t.Fatalf("good v2: exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "turned on again for a new deployment") {
		t.Errorf("the kill switch was not turned on for the new deployment:\n%s", out.String())
	}
	assertFleet(t, url, "v2")
	if f, _ := store.Get(t.Context(), fleetdeploy.KillSwitch); !f.Enabled {
		t.Error("kill switch off after completing")
	}

	before := srv.Changes()
	out.Reset()
	if code := fleetdeploy.Run(t.Context(), quick(url, &j, &store, false), &out); code != fleetdeploy.ExitCompleted || !strings.Contains(out.String(), "already completed") {
		t.Fatalf("rerun: exit %d:\n%s", code, out.String())
	}
	if after := srv.Changes(); after != before {
		t.Errorf("the rerun of a completed deployment changed the fleet %d times", after-before)
	}
}

// A live holder is a deployment in progress: the second deployer exits at
// once, naming it.
func TestLiveHolderIsInProgress(t *testing.T) {
	_, url := startFleet(t)
	var j journal.Memory
	key := journal.Key(fleetdeploy.Service, string(fleetdeploy.Environment))
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d", host, os.Getppid()) // alive: the go command, or a shell
	if _, err := j.Acquire(t.Context(), key, holder, time.Minute); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	start := time.Now()
	code := fleetdeploy.Run(t.Context(), quick(url, &j, &flags.Memory{}, false), &out)
	if code != fleetdeploy.ExitFailed || !strings.Contains(out.String(), "is held by "+holder) {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s: it waited for a live holder", took)
	}
	assertFleet(t, url, "v1")
}

// A dead holder's lease is waited out, and its run taken over.
func TestDeadHolderIsWaitedOut(t *testing.T) {
	_, url := startFleet(t)
	var j journal.Memory
	key := journal.Key(fleetdeploy.Service, string(fleetdeploy.Environment))
	holder := deadHolder(t)
	if _, err := j.Acquire(t.Context(), key, holder, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := fleetdeploy.Run(t.Context(), quick(url, &j, &flags.Memory{}, false), &out); code != fleetdeploy.ExitCompleted {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "no longer runs: waiting") {
		t.Errorf("output does not say it waited for the dead holder:\n%s", out.String())
	}
	assertFleet(t, url, "v2")
}

func TestDead(t *testing.T) {
	host, _ := os.Hostname()
	for _, c := range []struct {
		holder string
		dead   bool
	}{
		{deadHolder(t), true},
		{fmt.Sprintf("%s/%d", host, os.Getpid()), false},
		{fmt.Sprintf("%s/%d", host, os.Getppid()), false},
		{"elsewhere.example/1", false},
		{"ana", false},
		{host + "/notapid", false},
	} {
		if got := fleetdeploy.Dead(c.holder); got != c.dead {
			t.Errorf("Dead(%q) = %v, want %v", c.holder, got, c.dead)
		}
	}
}

// deadHolder returns the holder name of a process of this host that ran
// and was reaped.
func deadHolder(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, cmd.Process.Pid)
}

func TestInvalidOptions(t *testing.T) {
	var out bytes.Buffer
	code := fleetdeploy.Run(t.Context(), fleetdeploy.Options{StepWindow: -1, Recover: "later"}, &out)
	if code != fleetdeploy.ExitUsage {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"Fleet: required", "Journal: required", "Flags: required", "StepWindow = -1ns", `Recover = "later"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// assertFleet checks that every instance runs version, ready, and gets all
// the traffic.
func assertFleet(t *testing.T, url, version string) {
	t.Helper()
	s, err := (&fleethttp.Client{URL: url}).State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AllOn(version); err != nil {
		t.Error(err)
	}
	if n := len(s.Instances); n != 4 {
		t.Errorf("%d instances, want 4", n)
	}
}

// A killed process its parent has not reaped yet (a zombie) is dead.
func TestDeadZombie(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	cmd := exec.Command(sleep, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d", host, cmd.Process.Pid)
	if fleetdeploy.Dead(holder) {
		t.Error("a running process is dead")
	}
	cmd.Process.Kill()
	defer cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); !fleetdeploy.Dead(holder); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a killed, unreaped process is not dead")
		}
	}
}
