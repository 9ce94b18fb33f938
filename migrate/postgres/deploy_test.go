package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/goose"
	"github.com/safedeploy/safedeploy/migrate/postgres"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// events is an Observer that keeps every event and signals each
// migration event on a channel, without blocking the run.
type events struct {
	mu  sync.Mutex
	all []deploy.Event
	ch  chan deploy.Event
}

func newEvents() *events { return &events{ch: make(chan deploy.Event, 100)} }

func (e *events) Observe(_ context.Context, ev deploy.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
	if ev.Kind == deploy.KindMigration {
		select {
		case e.ch <- ev:
		default:
		}
	}
}

// index returns the position of the first event of kind whose message
// contains substr, or -1.
func (e *events) index(kind deploy.Kind, substr string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.IndexFunc(e.all, func(ev deploy.Event) bool {
		return ev.Kind == kind && strings.Contains(ev.Message, substr)
	})
}

func (e *events) count(kind deploy.Kind, substr string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Kind == kind && strings.Contains(ev.Message, substr) {
			n++
		}
	}
	return n
}

// newPlan returns a fast canary deployment of a healthy v2 to a simulated
// fleet of 4 v1 instances, migrating with r.
func newPlan(r migrate.Runner) (*deploy.Plan, *strategytest.Fleet, *events) {
	fleet := strategytest.NewFleet(strategytest.Config{
		Version: "v1", Instances: 4, RPS: 1e6,
		Behaviors: map[string]strategytest.Behavior{"v1": {ErrorRate: 0.01}, "v2": {ErrorRate: 0.01}},
	})
	ev := newEvents()
	return &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change: deploy.Change{Engineer: "ana", What: "order notes"},
		Tests: deploy.CheckFunc(func(ctx context.Context, p *deploy.Plan) error {
			return nil
		}),
		Migrations:     r,
		MigrationRetry: 30 * time.Second,
		Strategy:       strategy.Canary{Steps: []float64{50}, StepWindow: 20 * time.Millisecond},
		Target:         strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:        fleet,
		Verify:         verify.Policy{Interval: 5 * time.Millisecond},
		Observers:      []deploy.Observer{ev},
	}, fleet, ev
}

// readers runs n readers of table t on db, each on its own session, until
// stop is called, and returns the longest time one read waited for its
// lock and ran, as the server measured it, and as the client did.
//
// The server's measurement is the one to judge the migration by: the
// client's adds the time the test process took to notice the answer,
// which on a loaded machine (a race-instrumented binary among many, on two
// cores) has been seen to add a quarter of a second.
func readers(t *testing.T, db *sql.DB, n int) (stop func() (server, client time.Duration)) {
	t.Helper()
	// read_t takes t's lock after it read the clock, so what it returns
	// is the wait for the lock and the read, and nothing of the client's.
	if _, err := db.ExecContext(t.Context(), `CREATE FUNCTION read_t() RETURNS double precision LANGUAGE plpgsql AS $$
		DECLARE start timestamptz := clock_timestamp();
		BEGIN
			PERFORM count(*) FROM t;
			RETURN extract(epoch FROM clock_timestamp() - start);
		END $$`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		longest, seen time.Duration
		queries       int
	)
	db.SetMaxOpenConns(n + 4)
	for range n {
		wg.Go(func() {
			conn, err := db.Conn(ctx)
			if err != nil {
				return
			}
			defer conn.Close()
			// Bounded in count and time: the test's deadline, or 100k queries.
			for i := 0; i < 100_000 && ctx.Err() == nil; i++ {
				start := time.Now()
				var secs float64
				err := conn.QueryRowContext(ctx, "SELECT read_t()").Scan(&secs)
				took := time.Since(start)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("reader: %v", err)
					}
					return
				}
				mu.Lock()
				longest = max(longest, time.Duration(secs*float64(time.Second)))
				seen = max(seen, took)
				queries++
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	return func() (time.Duration, time.Duration) {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		t.Logf("%d readers ran %d queries", n, queries)
		return longest, seen
	}
}

// A deployment whose migration meets a lock held by a long transaction:
// the migration gives up within lock_timeout each time, so the queries
// queued behind it wait no longer than that; the executor retries with
// backoff, and once the transaction ends the migration and then the
// deployment complete.
func TestDeployRetriesLockContention(t *testing.T) {
	ctx := t.Context()
	const lockTimeout = 500 * time.Millisecond
	r, db := setup(t, fstest.MapFS{
		"00001_t.sql":    file("-- +goose Up\nCREATE TABLE t (id int);\nINSERT INTO t SELECT generate_series(1, 100);\n"),
		"00002_note.sql": file("-- +goose Up\nALTER TABLE t ADD COLUMN note text;\n"),
	}, postgres.Config{LockTimeout: lockTimeout})
	if err := r.Apply(ctx, pending(t, r)[0]); err != nil {
		t.Fatal(err)
	}
	plan, fleet, ev := newPlan(r)

	// A long transaction that read t; readers of t that start while the
	// migration waits queue behind it.
	release := hold(t, db, "SELECT count(*) FROM t")
	stopReaders := readers(t, db, 4)

	// Release the lock after the second lock timeout.
	released := make(chan time.Time, 1)
	go func() {
		defer close(released)
		timeouts := 0
		for {
			select {
			case e := <-ev.ch:
				if strings.Contains(e.Message, "met lock contention") {
					if timeouts++; timeouts == 2 {
						release()
						released <- time.Now()
						return
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	start := time.Now()
	rep, err := deploy.Run(ctx, plan)
	took := time.Since(start)
	longest, seen := stopReaders()
	release()
	if err != nil {
		t.Fatalf("Run = %v (outcome %s)", err, rep.Outcome)
	}
	at, ok := <-released
	if !ok {
		t.Fatal("the migration never met lock contention twice")
	}

	retries := ev.count(deploy.KindMigration, "met lock contention")
	t.Logf("deployment completed in %s; %d lock timeouts, lock released %s after the start; longest a reader was blocked: %s (%s as its client saw it; lock_timeout %s)",
		took.Round(time.Millisecond), retries, at.Sub(start).Round(time.Millisecond), longest.Round(time.Millisecond), seen.Round(time.Millisecond), lockTimeout)
	if rep.Outcome != deploy.Completed {
		t.Errorf("outcome %s, want completed", rep.Outcome)
	}
	if retries < 2 {
		t.Errorf("%d lock timeouts, want at least 2", retries)
	}
	const slack = 400 * time.Millisecond
	if longest > lockTimeout+slack {
		t.Errorf("a reader was blocked for %s, longer than lock_timeout %s + %s", longest, lockTimeout, slack)
	}
	if longest < lockTimeout/2 {
		t.Errorf("the longest read took %s: readers were never queued behind the migration, so the test proves nothing", longest)
	}
	if !hasColumn(t, db, "t", "note") {
		t.Error("the migration is not applied")
	}
	healthy, firstAction := ev.index(deploy.KindMigration, "database healthy"), ev.index(deploy.KindAction, "")
	if healthy < 0 || firstAction < healthy {
		t.Errorf("database healthy at event %d, first code change at %d: the migration must come first", healthy, firstAction)
	}
	if got := fleet.Versions(); got["v2"] != 4 || len(got) != 1 {
		t.Errorf("fleet = %v, want all on v2", got)
	}
}

// A migration whose second statement fails leaves the schema as it was,
// and the deployment stops before any code changes.
func TestDeployStopsOnFailedMigration(t *testing.T) {
	r, db := setup(t, fstest.MapFS{
		"00001_orders.sql": file("-- +goose Up\nCREATE TABLE orders (id int PRIMARY KEY);\n"),
		"00002_refunds.sql": file(`-- +goose Up
CREATE TABLE refunds (id int PRIMARY KEY, order_id int REFERENCES orders);
INSERT INTO refunds SELECT id, id FROM order_lines;
ALTER TABLE orders ADD COLUMN refunded bool NOT NULL DEFAULT false;
`),
	}, postgres.Config{})
	plan, fleet, ev := newPlan(r)

	rep, err := deploy.Run(t.Context(), plan)
	t.Logf("Run: %v", err)
	if !errors.Is(err, deploy.ErrMigration) {
		t.Fatalf("Run = %v, want ErrMigration", err)
	}
	if rep.Outcome != deploy.FixForwardRequired {
		t.Errorf("outcome %s, want %s", rep.Outcome, deploy.FixForwardRequired)
	}
	var ae *goose.ApplyError
	if !errors.As(err, &ae) || ae.Migration != "00002_refunds.sql" || ae.Statement != 1 || ae.Statements != 3 || !strings.Contains(ae.SQL, "order_lines") {
		t.Errorf("ApplyError = %+v, want 00002_refunds.sql failing at statement 1 of 3", ae)
	}
	for _, want := range []string{"00002_refunds.sql", "statement 2 of 3", "order_lines", "rolled back"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q", want)
		}
	}
	if !hasTable(t, db, "orders") {
		t.Error("the first migration is not applied")
	}
	if hasTable(t, db, "refunds") || hasColumn(t, db, "orders", "refunded") {
		t.Error("the failed migration's first statement was not rolled back")
	}
	if n := ev.count(deploy.KindAction, ""); n != 0 {
		t.Errorf("%d actions on the fleet after a failed migration, want none", n)
	}
	if got := fleet.Versions(); got["v1"] != 4 || len(got) != 1 {
		t.Errorf("fleet = %v, want untouched on v1", got)
	}
	if got := ids(pending(t, r)); !slices.Equal(got, []string{"00002_refunds.sql"}) {
		t.Errorf("Pending = %v, want the failed migration still pending", got)
	}
}
