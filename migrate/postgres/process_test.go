package postgres_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3/lock"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/internal/testserver/pgtest"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/goose"
	"github.com/safedeploy/safedeploy/migrate/postgres"
)

// childDSN is set in the environment of the processes
// TestTwoProcessesApplyOnce starts: the database to deploy to.
const childDSN = "SAFEDEPLOY_TEST_MIGRATE_CHILD_DSN"

// credit holds a data migration that must run exactly once: run twice, the
// balance is 120 and goose has two rows for version 2. It takes a second,
// so that two deployments starting together overlap.
func credit() fstest.MapFS {
	return fstest.MapFS{
		"00001_accounts.sql": file("-- +goose Up\nCREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);\nINSERT INTO accounts VALUES (1, 100);\n"),
		"00002_credit.sql":   file("-- +goose Up\nUPDATE accounts SET balance = balance + 10;\nSELECT pg_sleep(1);\n"),
		"00003_refunds.sql":  file("-- +goose Up\nCREATE TABLE refunds (id int PRIMARY KEY);\n"),
	}
}

// Two deployments, each in its own process with its own runner, apply the
// same pending migrations to one database at the same moment: each
// migration runs once, and both deployments complete.
func TestTwoProcessesApplyOnce(t *testing.T) {
	if dsn := os.Getenv(childDSN); dsn != "" {
		deployChild(dsn)
		return
	}
	dsn := pgtest.Database(t)
	// The version table and the accounts exist before the race.
	r, err := postgres.Open(dsn, credit(), postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Apply(t.Context(), pending(t, r)[0]); err != nil {
		t.Fatal(err)
	}

	type result struct {
		out string
		err error
	}
	const n = 2
	results := make([]result, n)
	gos := make([]func(), n)
	var started sync.WaitGroup
	for i := range n {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTwoProcessesApplyOnce$", "-test.count=1")
		cmd.Env = append(os.Environ(), childDSN+"="+dsn)
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
		started.Add(1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			lines := bufio.NewScanner(stdout)
			var out strings.Builder
			for lines.Scan() {
				if lines.Text() == "ready" {
					started.Done()
				}
				fmt.Fprintln(&out, lines.Text())
			}
			err := cmd.Wait()
			if err != nil {
				err = fmt.Errorf("%w: %s", err, stderr.String())
			}
			results[i] = result{out.String(), err}
		}()
		gos[i] = func() { fmt.Fprintln(stdin, "go"); stdin.Close(); <-done }
	}
	// Both have opened their runner and listed what is pending: let them go.
	started.Wait()
	var wg sync.WaitGroup
	for _, g := range gos {
		wg.Go(g)
	}
	wg.Wait()

	for i, res := range results {
		t.Logf("process %d:\n%s", i, res.out)
		if res.err != nil {
			t.Errorf("process %d: %v", i, res.err)
		}
		if !strings.Contains(res.out, "outcome: completed") {
			t.Errorf("process %d did not complete its deployment", i)
		}
	}
	db, err := sql.Open("pgx", dsn)
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
	if !hasTable(t, db, "refunds") {
		t.Error("the last migration is not applied")
	}
}

// deployChild deploys with a runner of its own on dsn, once told to go on
// stdin, and prints what happened.
func deployChild(dsn string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := postgres.Open(dsn, credit(), postgres.Config{})
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	defer r.Close()
	ms, err := r.Pending(ctx)
	fmt.Printf("pending: %d %v\n", len(ms), err)
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	plan, _, ev := newPlan(r)
	rep, err := deploy.Run(ctx, plan)
	for _, e := range ev.all {
		if e.Kind == deploy.KindMigration {
			fmt.Printf("event: %s %v\n", e.Message, e.Err)
		}
	}
	fmt.Printf("outcome: %s\nerror: %v\n", rep.Outcome, err)
}

// A session holding the migration lock makes Apply wait LockTimeout, then
// give up naming the session; once it lets go, Apply proceeds.
func TestWaitsForTheMigrationLock(t *testing.T) {
	ctx := t.Context()
	r, db := setup(t, credit(), postgres.Config{LockTimeout: 200 * time.Millisecond})
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET application_name = 'other-deploy'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", postgres.LockID); err != nil {
		t.Fatal(err)
	}
	ms := pending(t, r)
	err = r.Apply(ctx, ms[0])
	t.Log(err)
	if !errors.Is(err, goose.ErrBusy) || !errors.Is(err, migrate.ErrLockTimeout) {
		t.Fatalf("Apply while another session holds the lock = %v, want ErrBusy and ErrLockTimeout", err)
	}
	for _, want := range []string{"00001_accounts.sql", "gave up after 200ms", "backend", "(other-deploy, from 127.0.0.1, connected", "holds the lock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q", want)
		}
	}
	if hasTable(t, db, "accounts") {
		t.Error("the migration ran without the lock")
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", postgres.LockID); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, ms[0]); err != nil {
		t.Fatalf("Apply once the lock is free = %v", err)
	}
	// The runner let go of it.
	var free bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", postgres.LockID).Scan(&free); err != nil || !free {
		t.Errorf("the lock is still held after Apply (%v)", err)
	}
}

// goose's own session locker and the runner take turns: they use one key.
func TestTakesTurnsWithGooseSessionLocker(t *testing.T) {
	ctx := t.Context()
	r, db := setup(t, credit(), postgres.Config{LockTimeout: 100 * time.Millisecond})
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		t.Fatal(err)
	}
	if err := locker.SessionLock(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, pending(t, r)[0]); !errors.Is(err, goose.ErrBusy) {
		t.Errorf("Apply while goose's session locker holds the lock = %v, want ErrBusy", err)
	}
	if err := locker.SessionUnlock(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, pending(t, r)[0]); err != nil {
		t.Errorf("Apply once goose let go = %v", err)
	}
}
