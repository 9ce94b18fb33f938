package migratetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/safedeploy/safedeploy/internal/kit"
	"github.com/safedeploy/safedeploy/migrate"
)

// An Opener opens a runner over one database — the same database each time
// it is called, as each process of a deployment would open it — whose
// migrations are ms, in the order given, with the IDs given. A goose-based
// runner reads them as files: [FS] makes them.
type Opener func(ms []migrate.Migration) (migrate.Runner, error)

// FS returns ms as goose migration files: each migration a file named by
// its ID, holding its SQL.
func FS(ms []migrate.Migration) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, m := range ms {
		fsys[m.ID] = &fstest.MapFile{Data: []byte(m.SQL)}
	}
	return fsys
}

// The suite's migrations. Their IDs are goose file names and their SQL is
// goose's, in SQL that PostgreSQL, SQLite and MySQL all run.
var (
	accounts = migrate.Migration{ID: "00001_accounts.sql", SQL: `-- +goose Up
CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE ledger (id INTEGER PRIMARY KEY);
INSERT INTO accounts (id, balance) VALUES (1, 100);
`}
	// credit fails if it runs twice: its ledger row's key would repeat.
	credit = migrate.Migration{ID: "00002_credit.sql", SQL: `-- +goose Up
INSERT INTO ledger (id) VALUES (2);
UPDATE accounts SET balance = balance + 10;
`}
	refunds = migrate.Migration{ID: "00003_refunds.sql", SQL: `-- +goose Up
CREATE TABLE refunds (id INTEGER PRIMARY KEY, account_id INTEGER);
`}
	// broken fails at its second statement.
	broken = migrate.Migration{ID: "00002_broken.sql", SQL: `-- +goose Up
CREATE TABLE refunds (id INTEGER PRIMARY KEY);
INSERT INTO refunds (id) SELECT id FROM no_such_table;
`}
)

// Migrations returns the migrations the suite's checks open runners with,
// most of them with the first three, one check with the last two after
// the first: a table and a row; a data migration that fails if it runs
// twice; a table; and, for the check of a failure, a migration that fails
// at its second statement, reading the table no_such_table.
func Migrations() []migrate.Migration {
	return []migrate.Migration{accounts, credit, refunds, broken}
}

// Run tests the Runner contract as subtests of t, one per check, each named
// after its check. For each check it calls newDatabase, with the subtest's
// t, for an Opener over a new, empty database; use that t for clean-up, as
// in t.TempDir. Runners the checks open that implement io.Closer are
// closed when their check ends.
//
// The migrations the checks open runners with are [Migrations]: a runner
// over a real database must run their SQL (a migration that reads
// no_such_table fails as the database fails it); a fake such as [Memory]
// is told to fail that one.
//
// The checks are that Pending lists every migration in order, with its ID
// and SQL; that Apply in order empties it, after which Verify passes; that
// Apply of an applied migration changes nothing and returns nil (it was
// applied, as the caller wants); that a migration that is unknown or not
// next is refused, with an error that does not wrap migrate.ErrLockTimeout,
// and nothing changes; that a failing migration stays pending, with
// everything after it; that a second runner over the same database sees
// what the first applied; that runners over one database applying the
// same migrations at once apply each once, without failing (an error
// wrapping migrate.ErrLockTimeout is retried, as the executor retries
// it); and that a cancelled context either fails with an error wrapping
// context.Canceled or is ignored, and in both cases the runner reports
// truthfully what it did.
func Run(t *testing.T, newDatabase func(t *testing.T) Opener) {
	t.Helper()
	suite().Run(t, newDatabase)
}

// Check runs the checks of [Run] outside a test, with ctx, and returns nil
// or one error listing every failure, each prefixed with the name of its
// check (the name of its subtest under Run): "FailureStaysPending: …". It
// calls newDatabase once per check for an Opener over a new, empty
// database, and closes the runners it opens that implement io.Closer.
//
// If newDatabase fails, or ctx is done before a check starts, Check stops
// and returns the failures so far together with an error that wraps
// newDatabase's error or the context's cause.
func Check(ctx context.Context, newDatabase func() (Opener, error)) error {
	return suite().Check(ctx, newDatabase)
}

// suite returns the checks, in the order they run. Each opens runners
// over one new database and reports what it finds wrong to r; the runners
// it opened are closed when it ends.
func suite() kit.Suite[Opener] {
	check := func(name string, run func(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report)) kit.Check[Opener] {
		return kit.Check[Opener]{Name: name, Run: func(ctx context.Context, open Opener, r *kit.Report) {
			rep := &report{r}
			run(ctx, rep.opener(open), rep)
		}}
	}
	return kit.Suite[Opener]{Kit: "migratetest", New: "newDatabase", Subject: "Opener", Checks: []kit.Check[Opener]{
		check("PendingInOrder", checkPending),
		check("ApplyInOrder", checkApply),
		check("AppliedIsLeftAlone", checkApplied),
		check("OutOfOrder", checkOutOfOrder),
		check("Unknown", checkUnknown),
		check("FailureStaysPending", checkFailure),
		check("SecondRunner", checkSecondRunner),
		check("TakeTurns", checkTurns),
		check("CancelledContext", checkCancelled),
	}}
}

// A report collects what one check finds wrong.
type report struct{ *kit.Report }

// opener wraps open: it reports a failure to open (then returns nil) and
// has the runners it opens closed when the check ends.
func (r *report) opener(open Opener) func([]migrate.Migration) migrate.Runner {
	return func(ms []migrate.Migration) migrate.Runner {
		run, err := open(ms)
		if err == nil && run == nil {
			err = errors.New("returned a nil Runner")
		}
		if err != nil {
			r.Errorf("opening a runner: %v", err)
			return nil
		}
		if c, ok := run.(io.Closer); ok {
			r.CloseAtEnd(c)
		}
		return run
	}
}

var three = []migrate.Migration{accounts, credit, refunds}

func checkPending(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	run := open(three)
	if run == nil {
		return
	}
	got, ok := r.pending(ctx, run, "on a new database", ids(three))
	if !ok {
		return
	}
	for i, m := range got {
		if m.SQL != three[i].SQL {
			r.Errorf("Pending()[%d].SQL = %q, want the migration's SQL %q", i, m.SQL, three[i].SQL)
		}
	}
}

func checkApply(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	run := open(three)
	if run == nil {
		return
	}
	for i, m := range three {
		if !r.apply(ctx, run, m) {
			return
		}
		if _, ok := r.pending(ctx, run, "after applying "+m.ID, ids(three[i+1:])); !ok {
			return
		}
	}
	if err := run.Verify(ctx); err != nil {
		r.Errorf("Verify after applying every migration: %v", err)
	}
}

func checkApplied(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	run := open(three)
	if run == nil || !r.apply(ctx, run, accounts) || !r.apply(ctx, run, credit) {
		return
	}
	for _, m := range []migrate.Migration{credit, accounts} {
		if err := run.Apply(ctx, m); err != nil {
			r.Errorf("Apply(%s) of an applied migration = %v, want nil: it is applied, as the caller wants (another runner may have applied it first), and must not run again", m.ID, err)
		}
	}
	r.pending(ctx, run, "after applying applied migrations again", ids(three[2:]))
}

func checkOutOfOrder(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	run := open(three)
	if run == nil {
		return
	}
	r.refused(ctx, run, refunds, "a migration that is not the next pending one")
	if !r.apply(ctx, run, accounts) {
		return
	}
	r.refused(ctx, run, refunds, "a migration that is not the next pending one")
	r.pending(ctx, run, "after refusing "+refunds.ID, ids(three[1:]))
}

func checkUnknown(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	run := open(three)
	if run == nil {
		return
	}
	unknown := migrate.Migration{ID: "00009_unknown.sql", SQL: "-- +goose Up\nCREATE TABLE unknown (id INTEGER);\n"}
	r.refused(ctx, run, unknown, "an unknown migration")
	r.pending(ctx, run, "after refusing "+unknown.ID, ids(three))
}

func checkFailure(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	ms := []migrate.Migration{accounts, broken, refunds}
	run := open(ms)
	if run == nil || !r.apply(ctx, run, accounts) {
		return
	}
	err := run.Apply(ctx, broken)
	switch {
	case err == nil:
		r.Errorf("Apply(%s) = nil, but the migration fails at its second statement (no_such_table); want an error", broken.ID)
	case errors.Is(err, migrate.ErrLockTimeout):
		r.Errorf("Apply(%s) = %v, which wraps migrate.ErrLockTimeout: the executor would retry a migration that fails every time", broken.ID, err)
	}
	if _, ok := r.pending(ctx, run, "after "+broken.ID+" failed", ids(ms[1:])); !ok {
		return
	}
	r.refused(ctx, run, refunds, "the migration after one that failed")
}

func checkSecondRunner(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	first := open(three)
	if first == nil || !r.apply(ctx, first, accounts) {
		return
	}
	second := open(three)
	if second == nil {
		return
	}
	if _, ok := r.pending(ctx, second, "on a second runner, after the first applied "+accounts.ID, ids(three[1:])); !ok {
		return
	}
	if !r.apply(ctx, second, credit) {
		return
	}
	r.pending(ctx, first, "on the first runner, after the second applied "+credit.ID, ids(three[2:]))
}

// checkTurns has runners over one database apply the pending migrations
// at once, as deployments in several processes would: each lists what is
// pending, then all apply the first at the same moment, then the second…
func checkTurns(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	const n = 4
	var runners []migrate.Runner
	for range n {
		run := open(three)
		if run == nil {
			return
		}
		runners = append(runners, run)
	}
	// All runners arrive at step k before any applies its migration.
	steps := make([]sync.WaitGroup, len(three)+1)
	for k := range steps {
		steps[k].Add(n)
	}
	var (
		wg   sync.WaitGroup
		once sync.Once
	)
	for i, run := range runners {
		wg.Go(func() {
			steps[0].Done()
			steps[0].Wait()
			ms, err := run.Pending(ctx)
			if err != nil {
				once.Do(func() { r.Errorf("runner %d: Pending: %v", i, err) })
				ms = nil
			}
			for k := range three {
				steps[k+1].Done()
				steps[k+1].Wait()
				if k >= len(ms) {
					continue
				}
				if err := applyRetrying(ctx, run, ms[k]); err != nil {
					once.Do(func() {
						r.Errorf("runner %d of %d over one database, all applying at once: Apply(%s) = %v; want nil: each runner waits its turn, and a migration another runner applied meanwhile is left alone (run twice, each of these migrations fails)", i, n, ms[k].ID, err)
					})
					ms = nil
				}
			}
		})
	}
	wg.Wait()
	for i, run := range runners {
		if _, ok := r.pending(ctx, run, fmt.Sprintf("on runner %d after all applied", i), nil); !ok {
			return
		}
	}
	if err := runners[0].Verify(ctx); err != nil {
		r.Errorf("Verify after the runners applied every migration: %v", err)
	}
}

// applyRetrying applies m, retrying a lock timeout for up to a minute as
// the executor does.
func applyRetrying(ctx context.Context, run migrate.Runner, m migrate.Migration) error {
	deadline := time.Now().Add(time.Minute)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := run.Apply(ctx, m)
		if !errors.Is(err, migrate.ErrLockTimeout) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func checkCancelled(ctx context.Context, open func([]migrate.Migration) migrate.Runner, r *report) {
	run := open(three)
	if run == nil {
		return
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	// A runner may honour the cancellation or ignore it. If it fails, it
	// must say why; if it succeeds, it must have done the work.
	honoured := func(call string, err error) bool {
		if err != nil && !errors.Is(err, context.Canceled) {
			r.Errorf("%s with a cancelled context: error = %v, want nil or one wrapping context.Canceled", call, err)
		}
		return err != nil
	}
	if got, err := run.Pending(cancelled); !honoured("Pending", err) && !slices.Equal(ids(got), ids(three)) {
		r.Errorf("Pending with a cancelled context = %q, want %q", ids(got), ids(three))
	}
	want := ids(three[1:])
	if honoured("Apply("+accounts.ID+")", run.Apply(cancelled, accounts)) {
		want = ids(three)
	}
	r.pending(ctx, run, "after an Apply("+accounts.ID+") with a cancelled context", want)
	honoured("Verify", run.Verify(cancelled))
}

// apply applies m and reports whether it could.
func (r *report) apply(ctx context.Context, run migrate.Runner, m migrate.Migration) bool {
	if err := run.Apply(ctx, m); err != nil {
		r.Errorf("Apply(%s): %v", m.ID, err)
		return false
	}
	return true
}

// refused reports unless Apply(m) fails with an error that is not a lock
// timeout.
func (r *report) refused(ctx context.Context, run migrate.Runner, m migrate.Migration, what string) {
	err := run.Apply(ctx, m)
	switch {
	case err == nil:
		r.Errorf("Apply(%s) of %s = nil, want it refused", m.ID, what)
	case errors.Is(err, migrate.ErrLockTimeout):
		r.Errorf("Apply(%s) of %s = %v, which wraps migrate.ErrLockTimeout: the executor would retry what never succeeds", m.ID, what, err)
	}
}

// pending reports whether Pending lists exactly the migrations want, in
// order, and returns them.
func (r *report) pending(ctx context.Context, run migrate.Runner, when string, want []string) ([]migrate.Migration, bool) {
	got, err := run.Pending(ctx)
	if err != nil {
		r.Errorf("Pending %s: %v", when, err)
		return nil, false
	}
	if !slices.Equal(ids(got), want) {
		r.Errorf("Pending %s = %q, want %q", when, ids(got), want)
		return got, false
	}
	return got, true
}

func ids(ms []migrate.Migration) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}
