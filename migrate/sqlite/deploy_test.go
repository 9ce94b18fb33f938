package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/sqlite"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// newPlan returns a fast canary deployment of a healthy v2 to a simulated
// fleet of 4 v1 instances, migrating with r, and the fleet.
func newPlan(r migrate.Runner) (*deploy.Plan, *strategytest.Fleet) {
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 4, RPS: 1e6,
		Behaviors: map[string]strategytest.Behavior{"v1": {ErrorRate: 0.01}, "v2": {ErrorRate: 0.01}},
	})
	return &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change:         deploy.Change{Engineer: "ana", What: "order notes"},
		Tests:          deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil }),
		Migrations:     r,
		MigrationRetry: 30 * time.Second,
		Strategy:       strategy.Canary{Steps: []float64{50}, StepWindow: 20 * time.Millisecond},
		Target:         strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:        fleet,
		Verify:         verify.Policy{Interval: 5 * time.Millisecond},
	}, fleet
}

// The runner as the plan's linter: a migration that rebuilds orders
// without note, while the running version reads orders.note, stops the
// deployment in pre-flight; nothing changes. Without a linter nothing
// finds the removal, and the deployment drops the column.
func TestDeployRefusesRemovingWhatRunningUses(t *testing.T) {
	fsys := fstest.MapFS{
		"00001_orders.sql": {Data: []byte("-- +goose Up\nCREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, note TEXT);\n")},
		"00002_drop_note.sql": {Data: []byte(`-- +goose Up
CREATE TABLE orders_new (id INTEGER PRIMARY KEY, status TEXT);
INSERT INTO orders_new SELECT id, status FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
`)},
	}
	usage := migrate.Usage{Running: []string{"orders.id", "orders.note"}, New: []string{"orders.id", "orders.status"}}
	for _, linted := range []bool{true, false} {
		t.Run(fmt.Sprintf("linted=%t", linted), func(t *testing.T) {
			r, db := open(t, fsys, sqlite.Config{})
			pending, err := r.Pending(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Apply(t.Context(), pending[0]); err != nil {
				t.Fatal(err)
			}
			plan, fleet := newPlan(r)
			plan.Schema = usage
			if linted {
				plan.Linter = r
			} else {
				plan.Migrations = struct{ migrate.Runner }{r} // a runner that cannot lint
			}
			rep, err := deploy.Run(t.Context(), plan)
			t.Logf("Run: %v", err)
			if !linted {
				// Nothing can tell what the migration removes, and the plan
				// declares a schema: refused, the column kept.
				if !errors.Is(err, deploy.ErrPreflight) || !strings.Contains(err.Error(), "nothing can tell what") || !slices.Contains(columns(t, db, "orders"), "note") {
					t.Fatalf("without a linter: Run = %v, orders %v; want a refusal that keeps note", err, columns(t, db, "orders"))
				}
				return
			}
			if !errors.Is(err, deploy.ErrPreflight) || rep.Outcome != deploy.Aborted {
				t.Fatalf("Run = %v (outcome %s), want a pre-flight failure", err, rep.Outcome)
			}
			for _, want := range []string{"00002_drop_note.sql", "ban-drop-column", "orders.note", "running version still uses"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q", want)
				}
			}
			if !slices.Contains(columns(t, db, "orders"), "note") {
				t.Error("orders.note was dropped")
			}
			if left, err := r.Pending(t.Context()); err != nil || len(left) != 1 {
				t.Errorf("Pending = %v, %v; want the migration still pending", ids(left), err)
			}
			if got := fleet.Versions(); got["v1"] != 4 || len(got) != 1 {
				t.Errorf("fleet = %v, want untouched", got)
			}
		})
	}
}

// childPath is set in the environment of the processes
// TestTwoProcessesApplyOnce starts: the database file to deploy to.
const childPath = "SAFEDEPLOY_TEST_MIGRATE_CHILD_SQLITE"

// credit holds a data migration that must run exactly once: run twice, the
// balance is 120 and goose has two rows for version 2. It sleeps for a
// second inside its transaction (sleep_ms, which deployChild registers),
// so that two deployments starting together overlap.
func credit() fstest.MapFS {
	return fstest.MapFS{
		"00001_accounts.sql": {Data: []byte("-- +goose Up\nCREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);\nINSERT INTO accounts VALUES (1, 100);\n")},
		"00002_credit.sql": {Data: []byte(`-- +goose Up
UPDATE accounts SET balance = balance + 10;
SELECT sleep_ms(1000);
`)},
		"00003_refunds.sql": {Data: []byte("-- +goose Up\nCREATE TABLE refunds (id INTEGER PRIMARY KEY);\n")},
	}
}

// Two deployments, each in its own process with its own runner, apply the
// same pending migrations to one SQLite file at the same moment: each
// migration runs once, and both deployments complete.
func TestTwoProcessesApplyOnce(t *testing.T) {
	if path := os.Getenv(childPath); path != "" {
		deployChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "app.db")
	r, err := sqlite.Open(path, credit(), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pending, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(t.Context(), pending[0]); err != nil {
		t.Fatal(err)
	}

	const n = 2
	outs, errs := make([]string, n), make([]error, n)
	gos := make([]func(), n)
	var ready sync.WaitGroup
	for i := range n {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTwoProcessesApplyOnce$", "-test.count=1")
		cmd.Env = append(os.Environ(), childPath+"="+path)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready.Add(1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			var out strings.Builder
			lines := bufio.NewScanner(stdout)
			for lines.Scan() {
				if lines.Text() == "ready" {
					ready.Done()
				}
				fmt.Fprintln(&out, lines.Text())
			}
			if err := cmd.Wait(); err != nil {
				errs[i] = fmt.Errorf("%w: %s", err, stderr.String())
			}
			outs[i] = out.String()
		}()
		gos[i] = func() { fmt.Fprintln(stdin, "go"); stdin.Close(); <-done }
	}
	ready.Wait()
	var wg sync.WaitGroup
	for _, g := range gos {
		wg.Go(g)
	}
	wg.Wait()

	for i := range n {
		t.Logf("process %d:\n%s", i, outs[i])
		if errs[i] != nil {
			t.Errorf("process %d: %v", i, errs[i])
		}
		if !strings.Contains(outs[i], "outcome: completed") {
			t.Errorf("process %d did not complete its deployment", i)
		}
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var balance, rows int
	if err := db.QueryRow("SELECT balance FROM accounts").Scan(&balance); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM goose_db_version WHERE version_id = 2").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if balance != 110 || rows != 1 {
		t.Errorf("balance %d with %d goose row(s) for version 2; want 110 and 1: the data migration ran %d times", balance, rows, (balance-100)/10)
	}
}

// deployChild deploys with a runner of its own on the file at path, once
// told to go on stdin, and prints what happened.
func deployChild(path string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := msqlite.RegisterScalarFunction("sleep_ms", 1, func(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		ms, _ := args[0].(int64)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return nil, nil
	})
	if err != nil {
		fmt.Println("register sleep_ms:", err)
		return
	}
	r, err := sqlite.Open(path, credit(), sqlite.Config{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	defer r.Close()
	ms, err := r.Pending(ctx)
	fmt.Printf("pending: %d %v\n", len(ms), err)
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	plan, _ := newPlan(r)
	plan.Observers = []deploy.Observer{deploy.ObserverFunc(func(_ context.Context, e deploy.Event) {
		if e.Kind == deploy.KindMigration {
			fmt.Printf("event: %s %v\n", e.Message, e.Err)
		}
	})}
	rep, err := deploy.Run(ctx, plan)
	fmt.Printf("outcome: %s\nerror: %v\n", rep.Outcome, err)
}

// childLock is set in the environment of the process TestLockEndsWithProcess
// starts: the lock file to hold until killed.
const childLock = "SAFEDEPLOY_TEST_MIGRATE_CHILD_SQLITE_LOCK"

// A runner waits for the process that holds the migration lock, and gives
// up naming the lock file; once that process dies, however it dies, the
// lock is free.
func TestLockEndsWithProcess(t *testing.T) {
	if path := os.Getenv(childLock); path != "" {
		db, err := sql.Open("sqlite", path)
		if err == nil {
			_, err = db.Exec("BEGIN EXCLUSIVE")
		}
		fmt.Println("locked", err)
		time.Sleep(time.Minute)
		return
	}
	path := filepath.Join(t.TempDir(), "app.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLockEndsWithProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childLock+"="+path+sqlite.LockSuffix)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked <nil>\n" {
		t.Fatalf("child: %q, %v", line, err)
	}

	r, err := sqlite.Open(path, credit(), sqlite.Config{LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pending, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Apply(t.Context(), pending[0])
	t.Log(err)
	if !errors.Is(err, migrate.ErrLockTimeout) || !strings.Contains(err.Error(), path+sqlite.LockSuffix) {
		t.Fatalf("Apply while another process holds the lock = %v, want a lock timeout naming the lock file", err)
	}
	cmd.Process.Kill() // SIGKILL: nothing of the child's runs after it
	cmd.Wait()
	if err := r.Apply(t.Context(), pending[0]); err != nil {
		t.Errorf("Apply once the process holding the lock died = %v, want nil", err)
	}
}
