package goose_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	pressly "github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/goose"
)

// errLock stands for a database's lock timeout: a statement reading a
// table named lock_… fails with "no such table: lock_…", which the test
// config takes for one.
func isLock(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table: lock_")
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// open returns a runner over fsys on a new SQLite file, and a second
// handle on the file.
func open(t *testing.T, fsys fstest.MapFS, c goose.Config) (*goose.Runner, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if c.IsLockTimeout == nil {
		c.IsLockTimeout = isLock
	}
	r, err := goose.New(pressly.DialectSQLite3, db, fsys, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	look, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { look.Close() })
	return r, look
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// next applies the next pending migration.
func next(t *testing.T, r *goose.Runner) error {
	t.Helper()
	ms, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("nothing pending")
	}
	return r.Apply(t.Context(), ms[0])
}

func TestRetryOnlyWhatIsSafeToRetry(t *testing.T) {
	for _, tt := range []struct {
		name      string
		file      string
		retry     bool
		statement int
		left      bool // the first table stays
		says      string
	}{
		{
			name:      "in a transaction, rolled back",
			file:      "-- +goose Up\nCREATE TABLE a (x int);\nINSERT INTO lock_t VALUES (1);\n",
			retry:     true,
			statement: 1,
			says:      "statement 2 of 2 (INSERT INTO lock_t VALUES (1);) failed; the migration was rolled back; a lock timeout, safe to retry",
		},
		{
			name:      "outside a transaction, the first statement",
			file:      "-- +goose NO TRANSACTION\n-- +goose Up\nINSERT INTO lock_t VALUES (1);\nCREATE TABLE a (x int);\n",
			retry:     true,
			statement: 0,
			says:      "statement 1 of 2 (INSERT INTO lock_t VALUES (1);) failed; a lock timeout, safe to retry",
		},
		{
			name:      "outside a transaction, after a statement that ran",
			file:      "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE TABLE a (x int);\nINSERT INTO lock_t VALUES (1);\n",
			statement: 1,
			left:      true,
			says:      "statement 2 of 2 (INSERT INTO lock_t VALUES (1);) failed outside a transaction; statement 1 ran and stays applied; it stays pending and is applied first next time, so fix this migration itself (a new migration would only run after it), and take out the statements that ran, or make them safe to run again (IF NOT EXISTS): ",
		},
		{
			name:      "not a lock timeout",
			file:      "-- +goose Up\nCREATE TABLE a (x int);\nINSERT INTO missing VALUES (1);\n",
			statement: 1,
			says:      "failed; the migration was rolled back; it stays pending and is applied first next time, so fix this migration itself (a new migration would only run after it): SQL logic error: no such table: missing",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, db := open(t, fstest.MapFS{"00001_x.sql": file(tt.file)}, goose.Config{})
			err := next(t, r)
			t.Log(err)
			if got := errors.Is(err, migrate.ErrLockTimeout); got != tt.retry {
				t.Errorf("errors.Is(err, ErrLockTimeout) = %t, want %t", got, tt.retry)
			}
			var ae *goose.ApplyError
			if !errors.As(err, &ae) || ae.Migration != "00001_x.sql" || ae.Statement != tt.statement || ae.Statements != 2 {
				t.Fatalf("ApplyError = %+v, want 00001_x.sql, statement %d of 2", ae, tt.statement)
			}
			var pe *pressly.PartialError
			if !errors.As(err, &pe) {
				t.Error("error does not unwrap to goose's PartialError")
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error does not say %q", tt.says)
			}
			if got := tableExists(t, db, "a"); got != tt.left {
				t.Errorf("table a exists: %t, want %t", got, tt.left)
			}
		})
	}
}

func TestGoMigrationLockTimeoutIsNotRetried(t *testing.T) {
	errLock := errors.New("no such table: lock_x")
	m := pressly.NewGoMigration(1, &pressly.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return errLock }}, nil)
	r, _ := open(t, nil, goose.Config{Options: []pressly.ProviderOption{pressly.WithGoMigrations(m)}})
	ms, err := r.Pending(t.Context())
	if err != nil || len(ms) != 1 || ms[0].ID != "1" || ms[0].SQL != "" {
		t.Fatalf("Pending = %+v, %v; want the Go migration, ID 1, no SQL", ms, err)
	}
	err = r.Apply(t.Context(), ms[0])
	var ae *goose.ApplyError
	if !errors.As(err, &ae) || ae.Statement != -1 || ae.Statements != 0 || !errors.Is(err, errLock) {
		t.Fatalf("Apply = %v (%+v), want an ApplyError with no statement, wrapping the migration's error", err, ae)
	}
	if errors.Is(err, migrate.ErrLockTimeout) {
		t.Error("a Go migration's lock timeout is retried, but the runner cannot know what it left")
	}
}

func TestGuard(t *testing.T) {
	fsys := fstest.MapFS{
		"00001_tx.sql":   file("-- +goose Up\nCREATE TABLE a (x int);\n"),
		"00002_notx.sql": file("-- +goose NO TRANSACTION\n-- +goose Up\nINSERT INTO lock_t VALUES (1);\n"),
	}
	var guarded, undone int
	undoErr := errors.New("no such table: lock_undo") // a lock timeout too
	failUndo := 2
	r, db := open(t, fsys, goose.Config{
		Guard: func(ctx context.Context, db *sql.DB) (func(context.Context) (string, error), error) {
			guarded++
			return func(ctx context.Context) (string, error) {
				if ctx.Err() != nil {
					return "", ctx.Err()
				}
				undone++
				if failUndo > 0 {
					failUndo--
					return "", undoErr
				}
				return "undid it", nil
			}, nil
		},
	})
	if err := next(t, r); err != nil {
		t.Fatal(err)
	}
	if guarded != 0 {
		t.Errorf("Guard called %d times for a migration in a transaction, want 0", guarded)
	}

	// The migration fails, and so does the undo: the error says so, and it
	// is still safe to retry.
	err := next(t, r)
	var ae *goose.ApplyError
	if !errors.As(err, &ae) || !errors.Is(err, migrate.ErrLockTimeout) || !strings.Contains(ae.Cleanup, "tried again before the next attempt") {
		t.Fatalf("Apply = %v, want a lock timeout whose clean-up is left for the next attempt", err)
	}
	if guarded != 1 || undone != 1 {
		t.Errorf("guarded %d, undone %d; want 1, 1", guarded, undone)
	}

	// The next attempt undoes first; that fails again, so the migration
	// does not run.
	err = next(t, r)
	if !errors.As(err, &ae) || !errors.Is(err, migrate.ErrLockTimeout) || !errors.Is(err, undoErr) || ae.Statement != -1 {
		t.Fatalf("Apply = %v, want the failed clean-up as a lock timeout before any statement", err)
	}
	if guarded != 1 || undone != 2 {
		t.Errorf("guarded %d, undone %d; want 1, 2", guarded, undone)
	}

	// Then the undo succeeds, the migration runs again, fails again and is
	// undone at once.
	if _, err := db.Exec("CREATE TABLE other (x int)"); err != nil {
		t.Fatal(err)
	}
	err = next(t, r)
	if !errors.As(err, &ae) || ae.Statement != 0 || ae.Cleanup != "undid it" {
		t.Fatalf("Apply = %v, want the migration to have run and been undone", err)
	}
	if guarded != 2 || undone != 4 {
		t.Errorf("guarded %d, undone %d; want 2, 4", guarded, undone)
	}
}

func TestVerify(t *testing.T) {
	checkErr := errors.New("half-built")
	var check error
	r, _ := open(t, fstest.MapFS{
		"00001_a.sql": file("-- +goose Up\nCREATE TABLE a (x int);\n"),
		"00002_b.sql": file("-- +goose Up\nCREATE TABLE b (x int);\n"),
	}, goose.Config{Check: func(ctx context.Context, db *sql.DB) error { return check }})
	ctx := t.Context()

	check = checkErr
	err := r.Verify(ctx)
	if err == nil || !strings.Contains(err.Error(), "2 migration(s) pending, first 00001_a.sql") || !errors.Is(err, checkErr) {
		t.Errorf("Verify = %v, want it to name the pending migrations and the check's finding", err)
	}
	for range 2 {
		if err := next(t, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Verify(ctx); !errors.Is(err, checkErr) || strings.Contains(err.Error(), "pending") {
		t.Errorf("Verify = %v, want only the check's finding", err)
	}
	check = nil
	if err := r.Verify(ctx); err != nil {
		t.Errorf("Verify = %v, want nil", err)
	}
	r.Close()
	if err := r.Verify(ctx); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("Verify on a closed database = %v, want it to say it does not answer", err)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, _ := open(t, fstest.MapFS{"00001_a.sql": file("-- +goose Up\nCREATE TABLE a (x int);\n")}, goose.Config{Logger: log})
	if err := next(t, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="executing statement"`,
		`statement="CREATE TABLE a (x int);"`,
		`level=INFO msg="migration completed"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not hold %s:\n%s", want, out)
		}
	}
}

func TestOutOfOrderIsRefusedAsGooseDoes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	runner := func(fsys fstest.MapFS) *goose.Runner {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := goose.New(pressly.DialectSQLite3, db, fsys, goose.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	fsys := fstest.MapFS{"00002_b.sql": file("-- +goose Up\nCREATE TABLE b (x int);\n")}
	if err := next(t, runner(fsys)); err != nil {
		t.Fatal(err)
	}

	// A migration older than the latest applied one appears.
	fsys["00001_a.sql"] = file("-- +goose Up\nCREATE TABLE a (x int);\n")
	r := runner(fsys)
	_, err := r.Pending(t.Context())
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Pending = %v, want goose's refusal of a missing migration", err)
	}
	if err := r.Verify(t.Context()); err == nil {
		t.Error("Verify = nil with a missing migration")
	}
}

func TestNewRefuses(t *testing.T) {
	fsys := fstest.MapFS{"00001_a.sql": file("-- +goose Up\nSELECT 1;\n")}
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := goose.New(pressly.DialectSQLite3, nil, fsys, goose.Config{}); err == nil {
		t.Error("New with a nil database: nil error")
	}
	if _, err := goose.New(pressly.DialectSQLite3, db, fsys, goose.Config{Options: []pressly.ProviderOption{pressly.WithLogger(pressly.NopLogger())}}); err == nil {
		t.Error("New with goose.WithLogger: nil error, want it refused (Config.Logger)")
	}
	if _, err := goose.New(pressly.DialectSQLite3, db, fstest.MapFS{}, goose.Config{}); !errors.Is(err, pressly.ErrNoMigrations) {
		t.Errorf("New without migrations = %v, want goose.ErrNoMigrations", err)
	}
}

// goose.WithSlog and goose.WithVerbose(false) do not stop the runner from
// learning which statement failed.
func TestGooseLoggingOptionsAreOverridden(t *testing.T) {
	var buf bytes.Buffer
	r, _ := open(t, fstest.MapFS{"00001_x.sql": file("-- +goose Up\nSELECT 1;\nINSERT INTO missing VALUES (1);\n")}, goose.Config{
		Options: []pressly.ProviderOption{pressly.WithSlog(slog.New(slog.NewTextHandler(&buf, nil))), pressly.WithVerbose(false)},
	})
	var ae *goose.ApplyError
	if err := next(t, r); !errors.As(err, &ae) || ae.Statement != 1 {
		t.Errorf("Apply = %v, want the failed statement named", err)
	}
}

// turns is a Locker shared by the runners of a test, standing for a lock
// in the database: TryLock takes it if it is free.
type turns struct {
	mu    sync.Mutex
	held  bool
	tries int
}

func (l *turns) TryLock(ctx context.Context) (func(context.Context) error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tries++
	if l.held {
		return nil, nil
	}
	l.held = true
	return func(context.Context) error { l.unlock(); return nil }, nil
}

func (l *turns) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held = false
}

func (l *turns) tried() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tries
}

func (l *turns) isHeld() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

func (l *turns) Holder(context.Context) (string, error) { return "the test holds the lock", nil }

// ledger is a data migration that fails if it runs twice: its row's key
// would repeat.
func ledger() fstest.MapFS {
	return fstest.MapFS{
		"00001_ledger.sql":  file("-- +goose Up\nCREATE TABLE ledger (id INTEGER PRIMARY KEY);\nCREATE TABLE accounts (balance INTEGER);\nINSERT INTO accounts VALUES (100);\n"),
		"00002_credit.sql":  file("-- +goose Up\nINSERT INTO ledger VALUES (2);\nUPDATE accounts SET balance = balance + 10;\n"),
		"00003_refunds.sql": file("-- +goose Up\nCREATE TABLE refunds (id INTEGER PRIMARY KEY);\n"),
	}
}

func balance(t *testing.T, db *sql.DB) int {
	t.Helper()
	var b int
	if err := db.QueryRow("SELECT balance FROM accounts").Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAlreadyAppliedIsLeftAlone(t *testing.T) {
	r, db := open(t, ledger(), goose.Config{})
	ms, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		if err := r.Apply(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms[:2] {
		if err := r.Apply(t.Context(), m); err != nil {
			t.Errorf("Apply(%s) again = %v, want nil: it is applied, as the caller wants", m.ID, err)
		}
	}
	if b := balance(t, db); b != 110 {
		t.Errorf("balance %d, want 110: the data migration ran again", b)
	}
	left, err := r.Pending(t.Context())
	if err != nil || len(left) != 1 || left[0].ID != "00003_refunds.sql" {
		t.Errorf("Pending = %v, %v; want only 00003_refunds.sql", left, err)
	}
}

// runners returns a function that opens runners on one SQLite file, with
// the given locker.
func runners(t *testing.T, fsys fstest.MapFS) (path string, open func(goose.Config) *goose.Runner) {
	path = filepath.Join(t.TempDir(), "db")
	return path, func(c goose.Config) *goose.Runner {
		db, err := sql.Open("sqlite", path+"?_busy_timeout=5000&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		r, err := goose.New(pressly.DialectSQLite3, db, fsys, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
}

// waitTries waits until lock has been tried n times.
func waitTries(t *testing.T, lock *turns, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		tries := lock.tried()
		if tries >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lock was tried %d times in 10s, want %d", tries, n)
		}
	}
}

// Another runner applies the migration while this one waits for its turn:
// this one then finds it applied and applies nothing.
func TestWaitsItsTurn(t *testing.T) {
	lock := &turns{}
	path, open := runners(t, ledger())
	a := open(goose.Config{Locker: lock, LockWait: time.Minute})
	other := open(goose.Config{}) // its turn is the test's
	ms, err := a.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(t.Context(), ms[0]); err != nil {
		t.Fatal(err)
	}
	if lock.isHeld() {
		t.Fatal("the lock is still held after Apply")
	}
	credit := ms[1]

	release, err := lock.TryLock(t.Context())
	if err != nil || release == nil {
		t.Fatalf("TryLock: released %t, %v", release != nil, err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Apply(t.Context(), credit) }()
	waitTries(t, lock, 3) // a is waiting
	if err := other.Apply(t.Context(), credit); err != nil {
		t.Fatal(err)
	}
	release(t.Context())
	if err := <-done; err != nil {
		t.Errorf("Apply of a migration another runner applied while it waited = %v, want nil", err)
	}
	look, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer look.Close()
	if got := balance(t, look); got != 110 {
		t.Errorf("balance %d, want 110", got)
	}
	if left, err := a.Pending(t.Context()); err != nil || len(left) != 1 {
		t.Errorf("Pending = %v, %v; want the last migration only", left, err)
	}
}

func TestGivesUpWaiting(t *testing.T) {
	lock := &turns{held: true}
	_, open := runners(t, ledger())
	r := open(goose.Config{Locker: lock, LockWait: 50 * time.Millisecond})
	ms, err := r.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Apply(t.Context(), ms[0])
	t.Log(err)
	if !errors.Is(err, goose.ErrBusy) || !errors.Is(err, migrate.ErrLockTimeout) {
		t.Errorf("Apply while another runner has the lock = %v, want ErrBusy and ErrLockTimeout", err)
	}
	for _, want := range []string{"00001_ledger.sql", "gave up after 50ms waiting for its turn", ": the test holds the lock; nothing of it ran", "nothing of it ran"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q", want)
		}
	}

	ctx, cancel := context.WithCancelCause(t.Context())
	r = open(goose.Config{Locker: lock, LockWait: time.Hour})
	done := make(chan error, 1)
	go func() { done <- r.Apply(ctx, ms[0]) }()
	waitTries(t, lock, lock.tried()+3)
	stop := errors.New("deployment aborted")
	cancel(stop)
	err = <-done
	t.Log(err)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, stop) || errors.Is(err, migrate.ErrLockTimeout) {
		t.Errorf("Apply cancelled while waiting = %v, want context.Canceled and its cause, not a lock timeout", err)
	}
	if left, err := r.Pending(t.Context()); err != nil || len(left) != 3 {
		t.Errorf("Pending = %v, %v; want all 3 still pending", left, err)
	}
}

// The lock is held while the migration runs.
func TestLockHeldWhileApplying(t *testing.T) {
	lock := &turns{}
	var heldDuring []bool
	m := pressly.NewGoMigration(1, &pressly.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		heldDuring = append(heldDuring, lock.isHeld())
		return nil
	}}, nil)
	r, _ := open(t, nil, goose.Config{Locker: lock, Options: []pressly.ProviderOption{pressly.WithGoMigrations(m)}})
	if err := next(t, r); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heldDuring, []bool{true}) || lock.isHeld() {
		t.Errorf("held while the migration ran: %v, after: %t; want [true], false", heldDuring, lock.isHeld())
	}
}

func TestStatements(t *testing.T) {
	t.Setenv("SAFEDEPLOY_TEST_TABLE", "envsubbed")
	fsys := fstest.MapFS{
		"00001_a.sql": file("-- +goose Up\n-- +goose ENVSUB ON\nCREATE TABLE ${SAFEDEPLOY_TEST_TABLE} (x int);\nINSERT INTO ${SAFEDEPLOY_TEST_TABLE} VALUES (1);\n"),
		"00002_b.sql": file("-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX i ON envsubbed (x);\n"),
	}
	r, _ := open(t, fsys, goose.Config{})
	stmts, tx, err := r.Statements(migrate.Migration{ID: "00001_a.sql"})
	if err != nil || !tx || !slices.Equal(stmts, []string{"CREATE TABLE envsubbed (x int);", "INSERT INTO envsubbed VALUES (1);"}) {
		t.Errorf("Statements(00001_a.sql) = %q, %t, %v", stmts, tx, err)
	}
	stmts, tx, err = r.Statements(migrate.Migration{ID: "00002_b.sql"})
	if err != nil || tx || len(stmts) != 1 {
		t.Errorf("Statements(00002_b.sql) = %q, %t, %v; want one statement outside a transaction", stmts, tx, err)
	}
	if _, _, err := r.Statements(migrate.Migration{ID: "00003_c.sql"}); err == nil {
		t.Error("Statements of an unknown migration: nil error")
	}
}
