package goose

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pressly "github.com/pressly/goose/v3"

	"github.com/safedeploy/safedeploy/migrate"
)

// Config adapts a Runner to one database. The zero value runs goose as it
// is, with no lock timeouts recognised and no checks beyond the common
// ones; packages [github.com/safedeploy/safedeploy/migrate/postgres] and
// [github.com/safedeploy/safedeploy/migrate/sqlite] fill it in.
type Config struct {
	// Options are passed on to goose.NewProvider: the version table's name
	// (goose.WithTableName), files to leave out (goose.WithExcludeNames),
	// Go migrations (goose.WithGoMigrations), out-of-order migrations,
	// locking. The runner turns goose's verbose log on and listens to it
	// to learn which statement runs, so set Logger rather than goose's
	// logging options: goose.WithLogger is refused, and goose.WithSlog and
	// goose.WithVerbose are overridden. Versioning must stay on.
	Options []pressly.ProviderOption
	// Logger, if set, receives goose's log: what it applied (Info) and
	// each statement before it runs (Debug).
	Logger *slog.Logger
	// IsLockTimeout reports whether an error from the database means a
	// statement gave up waiting for a lock. Apply reports such a failure
	// as safe to retry (wrapping migrate.ErrLockTimeout) when nothing of
	// the migration is left. Nil means no error is one.
	IsLockTimeout func(error) bool
	// Check, if set, is a further health check for Verify, run once the
	// database answers. It returns nil when healthy.
	Check func(ctx context.Context, db *sql.DB) error
	// Guard, if set, is called before each SQL migration that runs outside
	// a transaction. If the migration then fails, Apply calls the undo
	// function Guard returned (with a context that is not cancelled, and
	// bounded to a minute) to remove what the failed statement left
	// behind, so that a retry starts clean; undo says what it did, or ""
	// for nothing. If undo fails, the next Apply of the migration calls it
	// again before anything else.
	Guard func(ctx context.Context, db *sql.DB) (undo func(context.Context) (string, error), err error)
	// Locker, if set, makes runners that share the database apply
	// migrations one at a time, across processes: Apply holds it from
	// before it reads what is pending until it is done. Packages
	// migrate/postgres and migrate/sqlite set one; without one, two
	// runners can both find a migration pending and both apply it. Do not
	// also give goose a locker (goose.WithSessionLocker, goose.WithLocker)
	// in Options: goose would wait for the lock the runner holds.
	Locker Locker
	// LockWait bounds how long Apply waits for Locker while another
	// runner holds it, after which Apply returns an error wrapping ErrBusy
	// and migrate.ErrLockTimeout, so that the executor retries with
	// backoff. Zero means DefaultLockWait; negative is an error.
	LockWait time.Duration
	// OneStatementOutsideTransaction makes Pending and Apply refuse a SQL
	// migration that runs outside a transaction (-- +goose NO
	// TRANSACTION) with more than one statement besides SET and RESET.
	// Such a migration is retried whole after a lock timeout; with one
	// statement, that is retrying exactly the statement that failed.
	OneStatementOutsideTransaction bool
}

// cleanupTimeout bounds Config.Guard's undo.
const cleanupTimeout = time.Minute

// A Runner is a [migrate.Runner] over a goose v3 Provider: the migrations
// are goose's files (or registered Go migrations) and what is applied is
// recorded in goose's version table, so a project that uses goose keeps
// both. Goose applies every migration; the runner chooses which, says
// which statement failed, and tells lock timeouts that are safe to retry
// from other failures.
//
// A Runner's methods are safe for concurrent use; Apply calls run one at
// a time.
type Runner struct {
	p       *pressly.Provider
	db      *sql.DB
	fsys    fs.FS
	dialect pressly.Dialect
	c       Config
	log     *capture
	sources map[string]*pressly.Source // by ID

	mu       sync.Mutex                                       // serializes Apply
	leftover map[string]func(context.Context) (string, error) // by ID; guarded by mu

	plansMu sync.Mutex
	plans   map[string]cachedPlan // by path; guarded by plansMu
}

type cachedPlan struct {
	contents string
	plan     plan
}

// New returns a Runner that applies the goose migrations in fsys to db,
// in dialect. fsys holds the migration files at its root, as goose reads
// them: os.DirFS("db/migrations") for a directory, or an embed.FS
// narrowed with fs.Sub. Closing the Runner closes db.
//
// New fails for a nil db or a negative Config.LockWait, and as
// goose.NewProvider does: an unknown dialect, a bad option, duplicate
// versions, no migrations at all (goose.ErrNoMigrations). It does not
// touch the database.
func New(dialect pressly.Dialect, db *sql.DB, fsys fs.FS, c Config) (*Runner, error) {
	if db == nil {
		return nil, errors.New("migrate/goose: nil database")
	}
	if c.LockWait < 0 {
		return nil, fmt.Errorf("migrate/goose: negative LockWait %s", c.LockWait)
	}
	c.LockWait = cmp.Or(c.LockWait, DefaultLockWait)
	log := &capture{}
	if c.Logger != nil {
		log.next = c.Logger.Handler()
	}
	opts := append(slices.Clone(c.Options), pressly.WithVerbose(true), pressly.WithSlog(slog.New(log)))
	p, err := pressly.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate/goose: %w", err)
	}
	r := &Runner{
		p: p, db: db, fsys: fsys, dialect: dialect, c: c, log: log,
		sources:  map[string]*pressly.Source{},
		leftover: map[string]func(context.Context) (string, error){},
		plans:    map[string]cachedPlan{},
	}
	for _, s := range p.ListSources() {
		r.sources[id(s)] = s
	}
	return r, nil
}

// id names a migration: its file name, or its version for a Go migration
// registered without one.
func id(s *pressly.Source) string {
	if s.Path == "" {
		return strconv.FormatInt(s.Version, 10)
	}
	return path.Base(s.Path)
}

// Provider returns the goose Provider the runner uses, for what the
// runner does not do: status reports, rolling back with Down. Applying
// migrations through it bypasses the runner's checks.
func (r *Runner) Provider() *pressly.Provider { return r.p }

// Close closes the database the runner was given.
func (r *Runner) Close() error { return r.p.Close() }

// Pending implements migrate.Runner: it returns goose's pending migrations
// in the order goose applies them. A migration's ID is its file name
// ("00042_add_status.sql"), or its version for a Go migration registered
// without a file; SQL is the file's contents for a SQL migration.
//
// It fails when the database cannot be read, when goose refuses the
// state (a migration older than the latest applied one, unless goose
// allows out-of-order migrations), when a file cannot be read or parsed,
// and, with Config.OneStatementOutsideTransaction, when a migration
// outside a transaction holds several statements — naming every such
// migration at once. Like any goose command, it creates the version table
// if the database has none.
func (r *Runner) Pending(ctx context.Context) ([]migrate.Migration, error) {
	srcs, err := r.pending(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate/goose: pending: %w", err)
	}
	out := make([]migrate.Migration, 0, len(srcs))
	var problems []error
	for _, s := range srcs {
		m := migrate.Migration{ID: id(s)}
		if s.Type == pressly.TypeSQL {
			b, err := fs.ReadFile(r.fsys, s.Path)
			if err != nil {
				return nil, fmt.Errorf("migrate/goose: pending: %w", err)
			}
			m.SQL = string(b)
			if err := r.check(s, b); err != nil {
				problems = append(problems, err)
			}
		}
		out = append(out, m)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("migrate/goose: pending: %w", join(problems))
	}
	return out, nil
}

// pending returns goose's pending migrations in version order.
func (r *Runner) pending(ctx context.Context) ([]*pressly.Source, error) {
	// HasPending refuses out-of-order migrations as goose's Up would.
	has, err := r.p.HasPending(ctx)
	if err != nil || !has {
		return nil, err
	}
	status, err := r.p.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []*pressly.Source
	for _, s := range status {
		if s.State == pressly.StatePending {
			out = append(out, s.Source)
		}
	}
	return out, nil
}

// planFor returns how goose applies the SQL migration s, whose file holds
// contents.
func (r *Runner) planFor(s *pressly.Source, contents []byte) (plan, error) {
	r.plansMu.Lock()
	defer r.plansMu.Unlock()
	if c, ok := r.plans[s.Path]; ok && c.contents == string(contents) {
		return c.plan, nil
	}
	p, err := analyze(r.dialect, s.Path, contents)
	if err != nil {
		return plan{}, fmt.Errorf("%s: %w", id(s), err)
	}
	r.plans[s.Path] = cachedPlan{string(contents), p}
	return p, nil
}

// Statements returns how goose applies the SQL migration m (matched by
// ID, applied or not): its Up statements, as goose's parser splits them,
// with environment variables substituted where the file asks
// (-- +goose ENVSUB ON), and whether it runs them in a transaction. It
// reads the file again, so it describes the file as it is now. It fails
// for a migration the runner does not know, a Go migration (which has no
// SQL) and a file goose cannot read or parse.
func (r *Runner) Statements(m migrate.Migration) (statements []string, inTransaction bool, err error) {
	s, ok := r.sources[m.ID]
	switch {
	case !ok:
		return nil, false, fmt.Errorf("migrate/goose: statements of %q: unknown migration", m.ID)
	case s.Type != pressly.TypeSQL:
		return nil, false, fmt.Errorf("migrate/goose: statements of %s: a Go migration has no SQL", m.ID)
	}
	b, err := fs.ReadFile(r.fsys, s.Path)
	if err != nil {
		return nil, false, fmt.Errorf("migrate/goose: statements of %s: %w", m.ID, err)
	}
	p, err := r.planFor(s, b)
	if err != nil {
		return nil, false, fmt.Errorf("migrate/goose: statements of %w", err)
	}
	return slices.Clone(p.statements), p.tx, nil
}

// check parses the SQL migration s and, with
// Config.OneStatementOutsideTransaction, refuses it if it runs several
// statements outside a transaction.
func (r *Runner) check(s *pressly.Source, contents []byte) error {
	p, err := r.planFor(s, contents)
	if err != nil || p.tx || !r.c.OneStatementOutsideTransaction {
		return err
	}
	n := 0
	for _, st := range p.statements {
		if !sessionOnly(st) {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%s runs %d statements outside a transaction (-- +goose NO TRANSACTION); after a lock timeout it would be retried whole, running again what already succeeded: put each such statement in a migration of its own (SET and RESET may accompany it)", id(s), n)
	}
	return nil
}

// Apply implements migrate.Runner: goose applies migration m (matched by
// ID), which must be the next pending one, and records it in its version
// table. With Config.Locker, Apply first waits its turn — for about
// Config.LockWait, while another runner applies migrations to the same
// database — and holds the lock until it is done, so that no migration is
// applied twice.
//
// A migration that is already applied — by this runner, by another one
// while this one waited its turn, or by the goose command — is left as it
// is: Apply returns nil, as the database is then as the caller wants it.
// Two deployments that share a database can thus both apply their pending
// migrations; each migration runs once.
//
// It returns ctx's error if ctx is done, and refuses, naming the next
// pending migration, a migration that is unknown or not next. When it
// gives up waiting for its turn, its error wraps ErrBusy and
// migrate.ErrLockTimeout. If goose fails, the error is an *ApplyError
// naming the migration and the statement; it wraps migrate.ErrLockTimeout
// when the statement gave up waiting for a lock and retrying is safe: the
// migration ran in a transaction, so nothing of it is left, or outside one
// with nothing but SET or RESET before the failed statement. A migration
// outside a transaction is guarded by Config.Guard.
func (r *Runner) Apply(ctx context.Context, m migrate.Migration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s, ok := r.sources[m.ID]
	if !ok {
		return fmt.Errorf("migrate/goose: apply %q: unknown migration", m.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c.Locker != nil {
		release, err := acquire(ctx, r.c.Locker, r.c.LockWait)
		if err != nil {
			return fmt.Errorf("migrate/goose: apply %s: %w", m.ID, err)
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if err := release(rctx); err != nil && r.c.Logger != nil {
				r.c.Logger.WarnContext(ctx, "releasing the migration lock failed", "migration", m.ID, "err", err)
			}
		}()
	}
	pending, err := r.pending(ctx)
	if err != nil {
		return fmt.Errorf("migrate/goose: apply %s: %w", m.ID, err)
	}
	switch {
	case !slices.ContainsFunc(pending, func(p *pressly.Source) bool { return p.Version == s.Version }):
		r.logf(ctx, "already applied; nothing to do", m.ID, "applied before its turn came, by this runner or another one")
		return nil
	case pending[0].Version != s.Version:
		return fmt.Errorf("migrate/goose: apply %s out of order: the next pending migration is %s", m.ID, id(pending[0]))
	}
	var p *plan
	if s.Type == pressly.TypeSQL {
		b, err := fs.ReadFile(r.fsys, s.Path)
		if err == nil {
			err = r.check(s, b)
		}
		if err != nil {
			return fmt.Errorf("migrate/goose: apply %s: %w", m.ID, err)
		}
		pl, _ := r.planFor(s, b)
		p = &pl
	}
	if undo := r.leftover[m.ID]; undo != nil {
		did, err := undo(ctx)
		if err != nil {
			return &ApplyError{
				Migration: m.ID, Statement: -1, Err: err,
				Cleanup: "cleaning up after the previous attempt failed again",
				retry:   r.isLockTimeout(err),
			}
		}
		delete(r.leftover, m.ID)
		r.logf(ctx, "cleaned up after the previous attempt", m.ID, did)
	}
	var undo func(context.Context) (string, error)
	if p != nil && !p.tx && r.c.Guard != nil {
		if undo, err = r.c.Guard(ctx, r.db); err != nil {
			return &ApplyError{Migration: m.ID, Statement: -1, Err: fmt.Errorf("before running it outside a transaction: %w", err), retry: r.isLockTimeout(err)}
		}
	}

	r.log.start()
	_, err = r.p.ApplyVersion(ctx, s.Version, true)
	ran := r.log.stop()
	if err == nil {
		return nil
	}
	e := &ApplyError{Migration: m.ID, Statement: -1, Err: err, ran: true}
	if n := len(ran); n > 0 {
		e.Statement, e.SQL = n-1, ran[n-1]
	}
	if p != nil {
		e.Statements, e.InTransaction = len(p.statements), p.tx
		before := ran[:max(e.Statement, 0)]
		e.changed = !p.tx && slices.ContainsFunc(before, func(s string) bool { return !sessionOnly(s) })
		e.retry = r.isLockTimeout(err) && !e.changed
		if !p.tx && recordingFailed(err) {
			// Every statement ran; goose could not record the version.
			// Running the migration again would run them twice.
			e.Statement, e.SQL, e.retry, e.Unrecorded = -1, "", false, true
		}
	}
	if undo != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		did, err := undo(uctx)
		cancel()
		if err != nil {
			r.leftover[m.ID] = undo
			e.Cleanup = fmt.Sprintf("cleaning up what it left failed too, and is tried again before the next attempt (%v)", err)
		} else {
			e.Cleanup = did
		}
	}
	return e
}

func (r *Runner) isLockTimeout(err error) bool {
	return r.c.IsLockTimeout != nil && r.c.IsLockTimeout(err)
}

func (r *Runner) logf(ctx context.Context, msg, migration, detail string) {
	if r.c.Logger != nil && detail != "" {
		r.c.Logger.InfoContext(ctx, msg, "migration", migration, "detail", detail)
	}
}

// Verify implements migrate.Runner: it returns nil when the database
// answers (a ping and SELECT 1), no migration is pending and Config.Check
// passes. Otherwise it returns one error naming every problem found: the
// pending migrations (how many, and the first), Check's finding, or why
// the database did not answer (then nothing else is checked).
func (r *Runner) Verify(ctx context.Context) error {
	var one int
	err := r.db.PingContext(ctx)
	if err == nil {
		err = r.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
	if err != nil {
		return fmt.Errorf("migrate/goose: database unhealthy: it does not answer: %w", err)
	}
	var problems []error
	pending, err := r.pending(ctx)
	switch {
	case err != nil:
		problems = append(problems, fmt.Errorf("reading the pending migrations: %w", err))
	case len(pending) > 0:
		problems = append(problems, fmt.Errorf("%d migration(s) pending, first %s", len(pending), id(pending[0])))
	}
	if r.c.Check != nil {
		if err := r.c.Check(ctx, r.db); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("migrate/goose: database unhealthy: %w", join(problems))
	}
	return nil
}

// join joins errors on one line, separated by semicolons; all of them
// answer errors.Is and errors.As.
func join(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(strings.Repeat("%w; ", len(errs)-1)+"%w", args...)
}

// recordingFailed reports whether err is goose failing to record an applied
// version in its table, after the migration's statements ran. goose wraps
// only that error with this text (database.Store.Insert); the statements'
// own errors come back unwrapped. TestNoTransactionRecordingFailure pins it.
func recordingFailed(err error) bool {
	return strings.Contains(err.Error(), "failed to insert version")
}
