package fleetdeploy_test

// The crash matrix: a child process (this test binary, re-executed) runs a
// real deployment over HTTP against a fleet served by the test process,
// which outlives it, with its journal in SQLite or PostgreSQL; it is
// SIGKILLed at every phase boundary and change to the target and at random
// points inside steps, then recovered by another child; and the test checks
// that the fleet, its traffic, the kill switch and the journal all describe
// the same end.
//
// Kill points are reproducible. Most are taken by the child itself, at an
// exact write to its journal: SIGKILL to itself right after the Nth entry of
// a kind is written (the change an intent announces is then not made), or
// right before (a done entry: the change was made, not recorded). The
// random ones are taken the same way, a delay drawn from a fixed seed after
// a step's entry is written: the child's own timer, so that a parent slow
// to notice the step (a loaded machine) cannot kill too late.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/demo/fleetdeploy"
	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/internal/testserver/pgtest"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
)

// childEnv names the environment variable that makes the test binary a
// deployer: it holds the child's configuration as JSON.
const childEnv = "FLEETDEPLOY_CRASH_CHILD"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(child(cfg))
	}
	os.Exit(pgtest.Run(m))
}

// A killPoint is where a child SIGKILLs itself: at the Nth journal entry
// of Type (and, for intents and dones, of change Op), after it is written
// or, with Before, before; Type "finish" is the run's Finish. With Delay,
// the child dies that long after the entry is written; with Stop, it stops
// itself (SIGSTOP) there instead, for the parent to continue.
type killPoint struct {
	Type   string        `json:"type"`
	Op     string        `json:"op,omitempty"`
	N      int           `json:"n"`
	Before bool          `json:"before,omitempty"`
	Delay  time.Duration `json:"delay,omitempty"`
	Stop   bool          `json:"stop,omitempty"`
}

func (k *killPoint) String() string {
	if k == nil {
		return "no kill"
	}
	s := k.Type
	if k.Op != "" {
		s += " " + k.Op
	}
	when := "after"
	switch {
	case k.Before:
		when = "before"
	case k.Delay > 0:
		when = k.Delay.String() + " after"
	}
	if k.Stop {
		when = "stopped " + when
	}
	return fmt.Sprintf("%s %s #%d", when, s, k.N)
}

func (k *killPoint) matches(typ string, data json.RawMessage) bool {
	if k.Type != typ {
		return false
	}
	if k.Op == "" {
		return true
	}
	var c journal.Change
	return json.Unmarshal(data, &c) == nil && c.Op == k.Op
}

// childConfig configures a child deployer.
type childConfig struct {
	Fleet   string          `json:"fleet"`
	Journal string          `json:"journal"`
	Flags   string          `json:"flags"`
	Bad     bool            `json:"bad"`
	Recover deploy.Recovery `json:"recover,omitempty"`
	Kill    *killPoint      `json:"kill,omitempty"`
}

// The demo's windows, compressed further for the matrix.
const (
	stepWindow = 300 * time.Millisecond
	interval   = 100 * time.Millisecond
	// leaseTTL is short, so that takeovers come quickly, but not so short
	// that a renewal slowed by a loaded machine (the race detector, other
	// packages' tests, fsyncs queued behind theirs) loses the lease: at 1s
	// and at 2s, renewals under the whole suite's load now and then did.
	leaseTTL = 4 * time.Second
)

// child runs one deployment as the crash matrix configures it, and returns
// its exit code; it may SIGKILL itself first.
func child(raw string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		fmt.Println("child:", err)
		return 3
	}
	ctx := context.Background()
	j, err := fleetdeploy.OpenJournal(ctx, c.Journal)
	if err != nil {
		fmt.Println("child:", err)
		return 3
	}
	defer j.Close()
	var jl journal.Journal = j
	if c.Kill != nil {
		jl = &killer{Journal: j, at: c.Kill}
	}
	fleet := &fleethttp.Client{URL: c.Fleet}
	return fleetdeploy.Run(ctx, fleetdeploy.Options{
		Fleet: fleet, Journal: jl, Flags: flags.NewFile(c.Flags), Bad: c.Bad,
		Steps: []float64{5, 50, 100}, StepWindow: stepWindow, Interval: interval,
		BaselineWindow: time.Second, LeaseTTL: leaseTTL, Recover: c.Recover,
		Metrics:   newSynthetic(fleet, c.Bad),
		Observers: []deploy.Observer{deploy.Printer(os.Stdout)},
	}, os.Stdout)
}

// killer is a journal that SIGKILLs this process at its kill point.
type killer struct {
	journal.Journal
	at   *killPoint
	mu   sync.Mutex
	seen int
}

func (k *killer) die() {
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

// after takes the kill point once its entry is written: at once, after the
// delay, or by stopping until the parent continues this process.
func (k *killer) after() {
	switch {
	case k.at.Stop:
		os.Stdout.Sync()
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	case k.at.Delay > 0:
		time.AfterFunc(k.at.Delay, k.die)
	default:
		k.die()
	}
}

// hit counts an entry of typ, and reports whether it is the kill point.
func (k *killer) hit(typ string, data json.RawMessage) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.at.matches(typ, data) {
		return false
	}
	k.seen++
	return k.seen == k.at.N
}

func (k *killer) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	kill := false
	for _, e := range es {
		if k.hit(e.Type, e.Data) {
			kill = true
		}
	}
	if kill && k.at.Before {
		k.die()
	}
	n, err := k.Journal.Append(ctx, l, run, es...)
	if kill && err == nil {
		k.after()
	}
	return n, err
}

func (k *killer) Finish(ctx context.Context, l journal.Lease, run, outcome, reason string, rec runbook.Record) error {
	kill := k.hit("finish", nil)
	if kill && k.at.Before {
		k.die()
	}
	err := k.Journal.Finish(ctx, l, run, outcome, reason, rec)
	if kill && err == nil {
		k.after()
	}
	return err
}

// A crashCase is one case of the matrix.
type crashCase struct {
	name string
	bad  bool
	// recover is the recovery; empty means the demo's, RecoverResume.
	recover deploy.Recovery
	// kills are where the first children die, one after another (a
	// recoverer can be killed too); the last child runs to its end.
	kills []*killPoint
	// randomStep, if set, kills the first child at a random point inside
	// that step (1-based), before kills.
	randomStep int
	// want is the outcome of the deployment's newest run.
	want deploy.Outcome
}

// matrix returns the cases: every phase boundary and every kind of change
// of a good and a bad deployment, recoverers killed in turn, random points
// inside steps, and the library's default recovery (roll back) for a few.
func matrix() []crashCase {
	after := func(typ, op string, n int) *killPoint { return &killPoint{Type: typ, Op: op, N: n} }
	before := func(typ, op string, n int) *killPoint { return &killPoint{Type: typ, Op: op, N: n, Before: true} }
	var cs []crashCase
	good := []*killPoint{
		after("phase", "", 1),       // pre-flight began
		after("phase", "", 2),       // deploying: baseline taken, nothing changed yet
		after("fleet", "", 1),       // the fleet before the first change recorded
		after("intent", "route", 1), // weight 0, asked for, not set
		after("intent", "start", 1), // a v2 instance asked for, not started
		before("done", "start", 1),  // started, not recorded
		after("intent", "route", 2), // 5% asked for
		before("done", "route", 2),  // 5% set, not recorded
		after("step", "", 1),        // observing 5%
		after("step", "", 2),        // observing 50%
		after("step", "", 3),        // observing 100%
		after("intent", "stop", 1),  // stopping v1 at the end
		before("done", "stop", 4),   // every v1 stopped, the last not recorded
		after("phase", "", 3),       // completing
		before("finish", "", 1),     // completed, not recorded
		after("finish", "", 1),      // recorded, before the process exits
	}
	for _, k := range good {
		cs = append(cs, crashCase{name: "good/" + k.String(), kills: []*killPoint{k}, want: deploy.Completed})
	}
	bad := []*killPoint{
		after("phase", "", 1),
		after("intent", "start", 1),
		before("done", "route", 2),
		after("step", "", 1),
		after("verdict", "", 1),     // failed, not yet decided
		after("decision", "", 1),    // decided to roll back
		after("intent", "flag", 1),  // kill switch off asked for, not done
		before("done", "flag", 1),   // kill switch off, not recorded
		after("intent", "route", 3), // traffic back to v1 asked for
		after("intent", "stop", 1),  // the canary stopping
		before("finish", "", 1),
	}
	for _, k := range bad {
		cs = append(cs, crashCase{name: "bad/" + k.String(), bad: true, kills: []*killPoint{k}, want: deploy.RolledBack})
	}
	// Recoverers killed too: at their takeover, and in their undo.
	cs = append(cs,
		crashCase{name: "good/recoverer killed at its takeover", kills: []*killPoint{after("step", "", 2), after("takeover", "", 1)}, want: deploy.Completed},
		crashCase{name: "good/recoverer killed moving traffic back", kills: []*killPoint{after("step", "", 2), after("intent", "route", 1)}, want: deploy.Completed},
		crashCase{name: "bad/recoverer killed turning the kill switch off", bad: true, kills: []*killPoint{after("decision", "", 1), after("intent", "flag", 1)}, want: deploy.RolledBack},
		crashCase{name: "bad/two recoverers killed", bad: true, kills: []*killPoint{after("step", "", 1), after("takeover", "", 1), before("done", "stop", 1)}, want: deploy.RolledBack},
		// Resumers killed: observing the step they resumed at, completing
		// its changes, and judging it.
		crashCase{name: "good/resumer killed observing its step", kills: []*killPoint{after("step", "", 2), after("step", "", 1)}, want: deploy.Completed},
		crashCase{name: "good/resumer killed starting an instance", kills: []*killPoint{after("step", "", 1), before("done", "start", 1)}, want: deploy.Completed},
		crashCase{name: "good/resumer killed in the last step", kills: []*killPoint{after("step", "", 1), after("step", "", 3)}, want: deploy.Completed},
		crashCase{name: "bad/resumer killed at its verdict", bad: true, kills: []*killPoint{after("step", "", 1), after("verdict", "", 1)}, want: deploy.RolledBack},
	)
	for i := range 4 {
		cs = append(cs, crashCase{name: fmt.Sprintf("good/random point %d in step %d", i+1, 1+i%3), randomStep: 1 + i%3, want: deploy.Completed})
	}
	for i := range 2 {
		cs = append(cs, crashCase{name: fmt.Sprintf("bad/random point %d in step 1", i+1), bad: true, randomStep: 1, want: deploy.RolledBack})
	}
	rb := deploy.RecoverRollBack
	cs = append(cs,
		crashCase{name: "rollback/good " + after("step", "", 2).String(), recover: rb, kills: []*killPoint{after("step", "", 2)}, want: deploy.RolledBack},
		crashCase{name: "rollback/good " + before("done", "stop", 4).String(), recover: rb, kills: []*killPoint{before("done", "stop", 4)}, want: deploy.RolledBack},
		crashCase{name: "rollback/good " + after("phase", "", 2).String(), recover: rb, kills: []*killPoint{after("phase", "", 2)}, want: deploy.Aborted},
		crashCase{name: "rollback/good " + after("finish", "", 1).String(), recover: rb, kills: []*killPoint{after("finish", "", 1)}, want: deploy.Completed},
		crashCase{name: "rollback/bad " + after("intent", "flag", 1).String(), recover: rb, bad: true, kills: []*killPoint{after("intent", "flag", 1)}, want: deploy.RolledBack},
	)
	return cs
}

// requireJournals skips t when this build cannot open a journal other
// processes share (see OpenJournal).
func requireJournals(t *testing.T) {
	t.Helper()
	j, err := fleetdeploy.OpenJournal(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "probe.db"))
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
}

// A backend is where a case's journal lives.
type backend struct {
	name string
	// dsn returns a new, empty journal's DSN for t.
	dsn func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "journal.db") }},
		{"postgres", func(t *testing.T) string { return pgURL(t, pgtest.Database(t)) }},
	}
}

// pgURL turns pgtest's key=value connection string into the postgres://
// URL the commands take.
func pgURL(t testing.TB, kv string) string {
	t.Helper()
	f := map[string]string{}
	for _, p := range strings.Fields(kv) {
		k, v, _ := strings.Cut(p, "=")
		f[k] = v
	}
	u := url.URL{Scheme: "postgres", User: url.User(f["user"]), Host: f["host"] + ":" + f["port"], Path: "/" + f["dbname"], RawQuery: "sslmode=disable"}
	return u.String()
}

// TestCrashMatrix kills deployers at every phase boundary, at every kind
// of change to the target (before and after it is recorded), at random
// points inside steps, and kills their recoverers too; each case must end
// consistent: one version on every instance and all traffic, the kill
// switch as the outcome implies, and a journal that says exactly that.
func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs deployers in child processes and kills them")
	}
	requireJournals(t)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			// The cases mostly wait, for windows and leases: run a few
			// at once, whatever -parallel says.
			var g errgroup.Group
			g.SetLimit(4)
			for i, c := range matrix() {
				g.Go(func() error {
					t.Run(c.name, func(t *testing.T) { runCase(t, b, c, uint64(i)) })
					return nil
				})
			}
			g.Wait()
		})
	}
}

// A deployer is one child process.
type deployer struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
	err  error
}

// start runs a child deployer.
func start(t *testing.T, c childConfig) *deployer {
	t.Helper()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	d := &deployer{out: &bytes.Buffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(os.Args[0], "-test.run=^$")
	d.cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	d.cmd.Stdout, d.cmd.Stderr = &lockedWriter{w: d.out}, &lockedWriter{w: d.out}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		d.err = d.cmd.Wait()
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
	return d
}

// wait waits for the child to end, at most a minute, and returns its exit
// code, or -1 when a signal killed it.
func (d *deployer) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(time.Minute):
		d.cmd.Process.Kill()
		<-d.done
		t.Fatalf("a deployer ran for a minute:\n%s", d.output())
	}
	return d.cmd.ProcessState.ExitCode()
}

func (d *deployer) killed() bool {
	ws, ok := d.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func (d *deployer) output() string {
	<-d.done
	return d.out.String()
}

// lockedWriter serializes writes to w, which exec's copying goroutines and
// the test share.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// env is one case's world: a fleet, a journal and a kill switch's file.
type env struct {
	srv   *fleethttp.Server
	fleet string
	dsn   string
	flags string
	j     fleetdeploy.Journal
	// initial is the fleet before any deployer ran: instance → version.
	initial map[string]string
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	srv, url := startFleet(t)
	e := &env{srv: srv, fleet: url, dsn: b.dsn(t), flags: filepath.Join(t.TempDir(), "flags.json")}
	j, err := fleetdeploy.OpenJournal(t.Context(), e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	e.j = j
	s, err := (&fleethttp.Client{URL: url}).State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.initial = map[string]string{}
	for _, in := range s.Instances {
		e.initial[in.ID] = in.Version
	}
	return e
}

func (e *env) config(bad bool, recovery deploy.Recovery, kill *killPoint) childConfig {
	return childConfig{Fleet: e.fleet, Journal: e.dsn, Flags: e.flags, Bad: bad, Recover: recovery, Kill: kill}
}

var key = journal.Key(fleetdeploy.Service, string(fleetdeploy.Environment))

func runCase(t *testing.T, b backend, c crashCase, seed uint64) {
	e := newEnv(t, b)
	var log []string
	kills := c.kills
	if c.randomStep > 0 {
		// A bad v2 fails its first step within two intervals.
		span := stepWindow
		if c.bad {
			span = interval
		}
		rng := rand.New(rand.NewPCG(seed, uint64(c.randomStep)))
		delay := 1 + time.Duration(rng.Int64N(int64(span)))
		kills = append([]*killPoint{{Type: journal.TypeStep, Op: "step", N: c.randomStep, Delay: delay}}, kills...)
	}
	want := c.want
	for _, k := range kills {
		d := start(t, e.config(c.bad, c.recover, k))
		d.wait(t)
		if !d.killed() {
			// A deployer stalled past its lease (a starved machine) is
			// fenced and stops untouched, leaving its run to the next: a
			// fault of its own, which the recovery below must also handle.
			if !e.unfinished(t) {
				t.Fatalf("the deployer was to die %s, but exited %d:\n%s\n%s", k, d.cmd.ProcessState.ExitCode(), strings.Join(log, "\n"), d.output())
			}
			t.Logf("the deployer to die %s stopped first, its run unfinished (fenced after a stall?); recovering it", k)
			if c.recover == deploy.RecoverRollBack {
				// Rolling back undoes the run wherever it stopped: it
				// ends rolled back, or aborted if it had changed nothing.
				want = ""
			}
		}
		log = append(log, fmt.Sprintf("killed %s:\n%s", k, d.output()))
	}
	var code int
	for attempt := 1; ; attempt++ {
		last := start(t, e.config(c.bad, c.recover, nil))
		code = last.wait(t)
		log = append(log, fmt.Sprintf("recovered, exit %d:\n%s", code, last.output()))
		// A recoverer fenced in turn, or whose Finish the journal did not
		// take in time, leaves the run for another (a starved machine: the
		// whole suite with two busy loops beside it needed three).
		if attempt == 5 || !e.unfinished(t) {
			break
		}
		t.Logf("recovery %d left the run unfinished (fenced after a stall?); recovering again", attempt)
	}
	if t.Failed() {
		return
	}
	if want == "" {
		want = deploy.RolledBack
		if runs, err := e.j.Runs(t.Context(), key, 1); err == nil && len(runs) == 1 && runs[0].Outcome == string(deploy.Aborted) {
			want = deploy.Aborted
		}
	}
	wantCode := fleetdeploy.ExitFailed
	if want == deploy.Completed {
		wantCode = fleetdeploy.ExitCompleted
	}
	if code != wantCode {
		t.Errorf("the recovering deployer exited %d, want %d", code, wantCode)
	}
	if err := e.consistent(t, want); err != nil {
		t.Errorf("inconsistent end: %v", err)
	}
	if c.recover == "" {
		if err := e.resumedInPlace(t); err != nil {
			t.Errorf("not resumed: %v", err)
		}
	}
	if t.Failed() {
		t.Logf("the deployers' output:\n%s", strings.Join(log, "\n"))
	}
}

// unfinished reports whether the journal's newest run has not finished.
func (e *env) unfinished(t *testing.T) bool {
	runs, err := e.j.Runs(t.Context(), key, 1)
	return err == nil && len(runs) == 1 && runs[0].Finished.IsZero()
}

// awaitStopped waits until the child has stopped itself at its kill point
// (state T in /proc).
func (d *deployer) awaitStopped(t *testing.T) {
	t.Helper()
	stat := fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case <-d.done:
			t.Fatalf("the deployer ended before it stopped itself:\n%s", d.output())
		default:
		}
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Fatal(err)
		}
		// The state follows the command's name in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && bytes.HasPrefix(b[i+1:], []byte(" T")) {
			return
		}
	}
	t.Fatalf("the deployer did not stop itself in 30s:\n%s", d.output())
}

// consistent checks the end of a case: the fleet all on one version, with
// all traffic; the kill switch as the outcome implies; every run finished,
// the newest with outcome want and a record that says so; and the journal's
// changes, replayed, giving exactly the fleet's instances and traffic.
func (e *env) consistent(t *testing.T, want deploy.Outcome) error {
	ctx := t.Context()
	var errs []error
	version := fleetdeploy.From
	if want == deploy.Completed {
		version = fleetdeploy.To
	}
	s, err := (&fleethttp.Client{URL: e.fleet}).State(ctx)
	if err != nil {
		return err
	}
	if err := s.AllOn(version); err != nil {
		errs = append(errs, err)
	}
	if n := len(s.Instances); n != 4 {
		errs = append(errs, fmt.Errorf("%d instances, want 4", n))
	}

	f, err := flags.NewFile(e.flags).Get(ctx, fleetdeploy.KillSwitch)
	wantOn := want != deploy.RolledBack
	if err != nil || f.Enabled != wantOn {
		errs = append(errs, fmt.Errorf("kill switch %+v (%v); want enabled = %v after %s", f, err, wantOn, want))
	}

	runs, err := e.j.Runs(ctx, key, 0)
	if err != nil || len(runs) == 0 {
		return errors.Join(append(errs, fmt.Errorf("journal runs: %v, %w", runs, err))...)
	}
	for _, r := range runs {
		if r.Finished.IsZero() {
			errs = append(errs, fmt.Errorf("run %s never finished", r.ID))
		}
	}
	if got := deploy.Outcome(runs[0].Outcome); got != want {
		errs = append(errs, fmt.Errorf("the newest run %s ended %s (%s), want %s", runs[0].ID, got, runs[0].Reason, want))
	}
	rec, err := e.j.Record(ctx, runs[0].ID)
	if err != nil || rec.Outcome != runs[0].Outcome || rec.Runbook.Version != fleetdeploy.To {
		errs = append(errs, fmt.Errorf("the newest run's record: outcome %q, version %q, %v", rec.Outcome, rec.Runbook.Version, err))
	}
	if l, err := e.j.Holder(ctx, key); err == nil && time.Now().Before(l.Expires.Add(-time.Millisecond)) && !fleetdeploy.Dead(l.Holder) {
		errs = append(errs, fmt.Errorf("the lease is still held by %s", l.Holder))
	}

	// Replay what the journal says was done, oldest run first.
	slices.Reverse(runs)
	var all []journal.Entry
	for _, r := range runs {
		es, err := e.j.Entries(ctx, r.ID, 0)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		all = append(all, es...)
	}
	actual := map[string]string{}
	for _, in := range s.Instances {
		actual[in.ID] = in.Version
	}
	fleet, route, err := replay(e.initial, actual, all)
	if err != nil {
		errs = append(errs, err)
	}
	if fmt.Sprint(fleet) != fmt.Sprint(actual) {
		errs = append(errs, fmt.Errorf("the journal's changes give instances %v; the fleet runs %v", fleet, actual))
	}
	switch {
	case route == nil && version == fleetdeploy.To:
		errs = append(errs, errors.New("the journal records no route"))
	case route == nil:
	case version == fleetdeploy.To && !(route.Version == fleetdeploy.To && route.Weight == 100),
		version == fleetdeploy.From && route.Weight != 0:
		errs = append(errs, fmt.Errorf("the journal's last route is %g%% on %s; the fleet is all on %s", route.Weight, route.Version, version))
	}
	return errors.Join(errs...)
}

// resumedInPlace checks a case recovered with deploy.RecoverResume: a run
// interrupted after it changed the fleet is finished in place, in one run
// of the journal, and — unless it had decided to roll back, or a verdict
// had failed the version — its first takeover resumed it at a step rather
// than rolling it back. (A run interrupted before any change is run again
// from its start.)
func (e *env) resumedInPlace(t *testing.T) error {
	runs, err := e.j.Runs(t.Context(), key, 0)
	if err != nil {
		return err
	}
	first := runs[len(runs)-1]
	es, err := e.j.Entries(t.Context(), first.ID, 0)
	if err != nil {
		return err
	}
	changed, decided := false, false
	for _, en := range es {
		switch en.Type {
		case journal.TypeIntent:
			changed = true
		case journal.TypeDecision:
			decided = true
		case journal.TypeVerdict:
			// A failed version is rolled back, even if the crash came
			// before the decision was written.
			decided = decided || strings.HasPrefix(en.Message, "fail:")
		case journal.TypeTakeover:
			var td struct {
				Resume bool   `json:"resume"`
				Why    string `json:"why"`
			}
			if err := json.Unmarshal(en.Data, &td); err != nil {
				return fmt.Errorf("takeover entry %d: %w", en.Seq, err)
			}
			switch {
			case !changed:
				return nil
			case len(runs) != 1:
				return fmt.Errorf("%d runs in the journal; the interrupted run should have been finished in place", len(runs))
			case !decided && !td.Resume:
				return fmt.Errorf("the first takeover rolled back (%s): %s", en.Message, td.Why)
			}
			return nil
		}
	}
	return nil // finished before it was killed: no takeover
}

// Two deployers start the same deployment at once: exactly one proceeds,
// and the other exits at once, naming the holder.
func TestConcurrentDeployers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs deployers in child processes")
	}
	requireJournals(t)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b)
			ds := []*deployer{start(t, e.config(false, "", nil)), start(t, e.config(false, "", nil))}
			codes := []int{ds[0].wait(t), ds[1].wait(t)}
			won := slices.Index(codes, fleetdeploy.ExitCompleted)
			if won < 0 || codes[1-won] != fleetdeploy.ExitFailed {
				t.Fatalf("exit codes %v; want one 0 and one 1:\n%s\n%s", codes, ds[0].output(), ds[1].output())
			}
			host, _ := os.Hostname()
			holder := fmt.Sprintf("%s/%d", host, ds[won].cmd.Process.Pid)
			if out := ds[1-won].output(); !strings.Contains(out, "is held by "+holder) || strings.Contains(out, "deploy    phase") {
				t.Errorf("the loser does not name the holder %s, or went on:\n%s", holder, out)
			}
			if runs, err := e.j.Runs(t.Context(), key, 0); err != nil || len(runs) != 1 {
				t.Errorf("%d runs (%v), want the winner's only", len(runs), err)
			}
			if err := e.consistent(t, deploy.Completed); err != nil {
				t.Error(err)
			}
		})
	}
}

// A holder stopped (SIGSTOP) past its lease is taken over; continued
// (SIGCONT), it finds its writes refused and stops without touching the
// fleet.
func TestStoppedHolderIsFenced(t *testing.T) {
	if testing.Short() {
		t.Skip("runs deployers in child processes")
	}
	requireJournals(t)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b)
			first := start(t, e.config(false, "", &killPoint{Type: journal.TypeStep, Op: "step", N: 2, Stop: true}))
			first.awaitStopped(t)
			e.stopIdle(t, first)
			time.Sleep(leaseTTL + 200*time.Millisecond) // its lease lapses
			second := start(t, e.config(false, "", nil))
			if code := second.wait(t); code != fleetdeploy.ExitCompleted {
				first.cmd.Process.Signal(syscall.SIGCONT)
				t.Fatalf("the deployer that took over exited %d:\n%s", code, second.output())
			}
			changes, entries := e.srv.Changes(), e.entries(t)

			first.cmd.Process.Signal(syscall.SIGCONT)
			code := first.wait(t)
			out := first.output()
			if code != fleetdeploy.ExitFailed || !strings.Contains(out, "lost its lease") || !strings.Contains(out, "superseded") {
				t.Errorf("the continued deployer exited %d:\n%s", code, out)
			}
			if got := e.srv.Changes(); got != changes {
				t.Errorf("the continued deployer changed the fleet %d time(s)", got-changes)
			}
			if got := e.entries(t); got != entries {
				t.Errorf("the continued deployer wrote %d journal entries", got-entries)
			}
			if err := e.consistent(t, deploy.Completed); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("the deployer that took over:\n%s", second.output())
			}
		})
	}
}

// entries counts the journal's entries of every run.
func (e *env) entries(t *testing.T) int {
	t.Helper()
	runs, err := e.j.Runs(t.Context(), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		es, err := e.j.Entries(t.Context(), r.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		n += len(es)
	}
	return n
}

// stopIdle stops d with SIGSTOP at a moment it holds no lock in the
// journal: a process stopped inside a write transaction would hold up
// every other writer (SQLite's write lock, PostgreSQL's row locks) until
// it continues, which is the database's behaviour, not the deployer's. A
// write that must lock the lease's row, refused at once as fenced, shows
// the journal free.
func (e *env) stopIdle(t *testing.T, d *deployer) {
	t.Helper()
	for range 50 {
		if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		_, err := e.j.Renew(ctx, journal.Lease{Key: key, Holder: "probe", Token: -1}, time.Second)
		cancel()
		if errors.Is(err, journal.ErrFenced) {
			return
		}
		d.cmd.Process.Signal(syscall.SIGCONT)
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("could not stop the deployer outside a journal transaction")
}

// replay applies the changes the entries record as done to the fleet
// initial, in order, and returns the fleet they give and the last route.
// A stop announced by an intent and never followed by its result (the
// deployer died in between) may or may not have happened: the instance
// counts as gone if the next run's fleet entry, or the fleet at the end,
// says so. Each
// fleet entry (what ran before a run's first change) must agree with the
// replay so far.
func replay(initial, end map[string]string, es []journal.Entry) (map[string]string, *journal.Change, error) {
	fleet := maps.Clone(initial)
	unsure := map[string]bool{} // stops asked for, with no result recorded
	var route *journal.Change
	var errs []error
	for _, en := range es {
		switch en.Type {
		case journal.TypeFleet:
			var f journal.Fleet
			if err := json.Unmarshal(en.Data, &f); err != nil {
				errs = append(errs, fmt.Errorf("fleet entry %d: %w", en.Seq, err))
				continue
			}
			listed := map[string]bool{}
			for _, id := range f.Instances {
				listed[id] = true
				if fleet[id] != f.Version {
					errs = append(errs, fmt.Errorf("fleet entry %d lists %s of %s, which the journal's changes do not give", en.Seq, id, f.Version))
				}
			}
			for id, v := range fleet {
				if v == f.Version && !listed[id] {
					if !unsure[id] {
						errs = append(errs, fmt.Errorf("fleet entry %d lacks %s of %s, which the journal's changes give", en.Seq, id, v))
					}
					delete(fleet, id)
				}
			}
		case journal.TypeIntent, journal.TypeDone, journal.TypeFailed:
			c, err := journal.ChangeOf(en)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			switch {
			case c.Op == "stop" && en.Type == journal.TypeIntent:
				unsure[c.Instance] = true
			case c.Op == "stop":
				delete(unsure, c.Instance)
				if en.Type == journal.TypeDone {
					delete(fleet, c.Instance) // one whose start was cut short was never in it
				}
			case c.Op == "start" && en.Type == journal.TypeDone:
				fleet[c.Instance] = c.Version
			case c.Op == "route" && en.Type == journal.TypeDone:
				route = &c
			}
		}
	}
	for id := range unsure {
		if _, ok := end[id]; !ok {
			delete(fleet, id) // the end decides
		}
	}
	return fleet, route, errors.Join(errs...)
}
