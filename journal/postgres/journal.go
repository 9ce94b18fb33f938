package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
)

// An answer is the journal's refusal of a write (ErrHeld, ErrFenced,
// ErrNotFound, a finished run…), as opposed to a failure to answer.
type answer struct{ error }

func (a answer) Unwrap() error { return a.error }

// refuse returns the refusal of a write, as an answer.
func refuse(format string, args ...any) error { return answer{fmt.Errorf(format, args...)} }

// tx runs f in a transaction and commits it if f returns nil. what says
// what the transaction does, for errors.
func (j *Journal) tx(ctx context.Context, what string, f func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, j.pool, f)
	var a answer
	switch {
	case err == nil:
		return nil
	case errors.As(err, &a):
		return a.error
	}
	return j.fail(what, err)
}

// fail wraps err, from doing what.
func (j *Journal) fail(what string, err error) error {
	var c corruptError
	if errors.As(err, &c) {
		return err
	}
	return fmt.Errorf("journal/postgres: %s: %w", what, err)
}

// lease returns key's lease, or ErrNotFound, and the server's time once
// it has it. lock is "", "FOR SHARE" or "FOR UPDATE".
func lease(ctx context.Context, q pgx.Tx, key, lock string) (journal.Lease, time.Time, error) {
	b := &pgx.Batch{}
	l := journal.Lease{Key: key}
	var now time.Time
	found := false
	b.Queue("SELECT holder, token, expires FROM safedeploy_journal_leases WHERE key = $1 AND token > 0 "+lock, key).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			found = true
			if err := rows.Scan(&l.Holder, &l.Token, &l.Expires); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	// After the lock: a write that waited for a takeover is timed after it.
	b.Queue("SELECT clock_timestamp()").QueryRow(func(row pgx.Row) error { return row.Scan(&now) })
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return journal.Lease{}, time.Time{}, err
	}
	if !found {
		return journal.Lease{}, now, answer{fmt.Errorf("%w: no lease for %s", journal.ErrNotFound, key)}
	}
	return l, now, nil
}

// check returns ErrFenced unless l is its key's newest lease and has not
// expired, and else the server's time. It locks the lease's row until the
// transaction ends, FOR SHARE, or FOR UPDATE if update.
func check(ctx context.Context, tx pgx.Tx, l journal.Lease, update bool) (time.Time, error) {
	lock := "FOR SHARE"
	if update {
		lock = "FOR UPDATE"
	}
	cur, now, err := lease(ctx, tx, l.Key, lock)
	switch {
	case errors.Is(err, journal.ErrNotFound):
		return now, refuse("%w: %s token %d: the key was never leased", journal.ErrFenced, l.Key, l.Token)
	case err != nil:
		return now, err
	case cur.Token != l.Token:
		return now, refuse("%w: %s token %d (newest %d, held by %s)", journal.ErrFenced, l.Key, l.Token, cur.Token, cur.Holder)
	case !now.Before(cur.Expires):
		return now, refuse("%w: %s token %d expired at %s", journal.ErrFenced, l.Key, l.Token, cur.Expires.Format(time.RFC3339Nano))
	}
	return now, nil
}

// Acquire implements [journal.Leases].
func (j *Journal) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (journal.Lease, error) {
	if key == "" || holder == "" || ttl <= 0 {
		return journal.Lease{}, fmt.Errorf("journal/postgres: Acquire(%q, %q, %s): key and holder must be named and ttl positive", key, holder, ttl)
	}
	if err := texts("key", key, "holder", holder); err != nil {
		return journal.Lease{}, err
	}
	var l journal.Lease
	err := j.tx(ctx, "acquiring "+key, func(tx pgx.Tx) error {
		// A row to lock, for a key never leased: token 0 is no lease.
		if _, err := tx.Exec(ctx, `INSERT INTO safedeploy_journal_leases (key, holder, token, expires)
			VALUES ($1, '', 0, 'epoch') ON CONFLICT (key) DO NOTHING`, key); err != nil {
			return err
		}
		cur, now, err := lease(ctx, tx, key, "FOR UPDATE")
		switch {
		case errors.Is(err, journal.ErrNotFound):
		case err != nil:
			return err
		case now.Before(cur.Expires):
			return held(ctx, tx, cur)
		}
		l = journal.Lease{Key: key, Holder: holder}
		return tx.QueryRow(ctx, `UPDATE safedeploy_journal_leases SET holder = $2, token = token + 1, expires = $3
			WHERE key = $1 RETURNING token, expires`, key, holder, now.Add(ttl)).Scan(&l.Token, &l.Expires)
	})
	if err != nil {
		return journal.Lease{}, err
	}
	return l, nil
}

// held describes who holds l, with the key's newest unfinished run.
func held(ctx context.Context, tx pgx.Tx, l journal.Lease) error {
	e := &journal.HeldError{Lease: l}
	err := tx.QueryRow(ctx, `SELECT id, started FROM safedeploy_journal_runs
		WHERE key = $1 AND finished IS NULL ORDER BY n DESC LIMIT 1`, l.Key).Scan(&e.Run, &e.Started)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return answer{e}
}

// Renew implements [journal.Leases].
func (j *Journal) Renew(ctx context.Context, l journal.Lease, ttl time.Duration) (journal.Lease, error) {
	if ttl <= 0 {
		return journal.Lease{}, fmt.Errorf("journal/postgres: Renew(%s token %d, %s): ttl must be positive", l.Key, l.Token, ttl)
	}
	err := j.tx(ctx, "renewing "+l.Key, func(tx pgx.Tx) error {
		now, err := check(ctx, tx, l, true)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, "UPDATE safedeploy_journal_leases SET expires = $2 WHERE key = $1 RETURNING holder, expires",
			l.Key, now.Add(ttl)).Scan(&l.Holder, &l.Expires)
	})
	if err != nil {
		return journal.Lease{}, err
	}
	return l, nil
}

// Release implements [journal.Leases]. It ends l now, unless it has
// ended already or was superseded.
func (j *Journal) Release(ctx context.Context, l journal.Lease) error {
	return j.tx(ctx, "releasing "+l.Key, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE safedeploy_journal_leases SET expires = clock_timestamp()
			WHERE key = $1 AND token = $2 AND expires > clock_timestamp()`, l.Key, l.Token)
		return err
	})
}

// Begin implements [journal.Writer].
func (j *Journal) Begin(ctx context.Context, l journal.Lease, r journal.Run) error {
	switch {
	case r.ID == "":
		return errors.New("journal/postgres: Begin: run ID is empty")
	case r.Key != l.Key:
		return fmt.Errorf("journal/postgres: Begin: run %s has key %q, lease %q", r.ID, r.Key, l.Key)
	}
	if err := texts("Run.ID", r.ID, "Run.Key", r.Key, "Run.Service", r.Service, "Run.Environment", r.Environment,
		"Run.From", r.From, "Run.To", r.To, "Run.Strategy", r.Strategy, "Run.PlanHash", r.PlanHash, "Lease.Holder", l.Holder); err != nil {
		return err
	}
	return j.tx(ctx, "beginning run "+r.ID, func(tx pgx.Tx) error {
		now, err := check(ctx, tx, l, false)
		if err != nil {
			return err
		}
		started := r.Started
		if started.IsZero() {
			started = now
		}
		var n int64
		err = tx.QueryRow(ctx, `INSERT INTO safedeploy_journal_runs
			(id, key, service, environment, from_ver, to_ver, strategy, plan_hash, holder, token, started)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING RETURNING n`,
			r.ID, r.Key, r.Service, r.Environment, r.From, r.To, r.Strategy, r.PlanHash, l.Holder, l.Token, started).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			return refuse("journal/postgres: Begin: run %s already exists", r.ID)
		}
		return err
	})
}

// openRun locks run id, which must be l's key's and unfinished, and
// returns its row number and last Seq.
func openRun(ctx context.Context, tx pgx.Tx, l journal.Lease, id string) (n, last int64, err error) {
	var key string
	var finished *time.Time
	err = tx.QueryRow(ctx, "SELECT n, key, finished, last_seq FROM safedeploy_journal_runs WHERE id = $1 FOR UPDATE", id).Scan(&n, &key, &finished, &last)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, 0, refuse("%w: run %s", journal.ErrNotFound, id)
	case err != nil:
		return 0, 0, err
	case key != l.Key:
		return 0, 0, refuse("journal/postgres: run %s has key %q, lease %q", id, key, l.Key)
	case finished != nil:
		return 0, 0, refuse("journal/postgres: run %s finished at %s", id, finished.Format(time.RFC3339))
	}
	return n, last, nil
}

// insert adds es to run n after Seq last, at now, and returns the new
// last Seq.
func insert(ctx context.Context, tx pgx.Tx, n, last int64, now time.Time, es []journal.Entry) (int64, error) {
	if len(es) == 0 {
		return last, nil
	}
	types, messages, data := make([]string, len(es)), make([]string, len(es)), make([][]byte, len(es))
	for i, e := range es {
		types[i], messages[i] = e.Type, e.Message
		if len(e.Data) > 0 {
			data[i] = e.Data
		}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO safedeploy_journal_entries (run, seq, time, type, message, data)
		SELECT $1::bigint, $2::bigint + e.i, $3::timestamptz, e.type, e.message, e.data
		FROM unnest($4::text[], $5::text[], $6::bytea[]) WITH ORDINALITY AS e (type, message, data, i)`,
		n, last, now, types, messages, data)
	last += int64(len(es))
	b.Queue("UPDATE safedeploy_journal_runs SET last_seq = $2 WHERE n = $1", n, last)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	return last, nil
}

// Append implements [journal.Writer].
func (j *Journal) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	for i, e := range es {
		err := e.Validate()
		if err == nil {
			err = texts(fmt.Sprintf("entry %d Type", i), e.Type, fmt.Sprintf("entry %d Message", i), e.Message)
		}
		if err != nil {
			return 0, fmt.Errorf("journal/postgres: Append to %s, entry %d: %w", run, i, err)
		}
	}
	var last int64
	err := j.tx(ctx, "appending to run "+run, func(tx pgx.Tx) error {
		now, err := check(ctx, tx, l, false)
		if err != nil {
			return err
		}
		n, prev, err := openRun(ctx, tx, l, run)
		if err != nil {
			return err
		}
		last, err = insert(ctx, tx, n, prev, now, es)
		return err
	})
	if err != nil {
		return 0, err
	}
	return last, nil
}

// Finish implements [journal.Writer].
func (j *Journal) Finish(ctx context.Context, l journal.Lease, run, outcome, reason string, rec runbook.Record) error {
	if outcome == "" {
		return fmt.Errorf("journal/postgres: Finish %s: outcome is empty", run)
	}
	if err := texts("outcome", outcome, "reason", reason); err != nil {
		return err
	}
	data, err := rec.JSON()
	if err != nil {
		return fmt.Errorf("journal/postgres: Finish %s: %w", run, err)
	}
	return j.tx(ctx, "finishing run "+run, func(tx pgx.Tx) error {
		now, err := check(ctx, tx, l, false)
		if err != nil {
			return err
		}
		n, _, err := openRun(ctx, tx, l, run)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE safedeploy_journal_runs SET finished = $2, outcome = $3, reason = $4, record = $5 WHERE n = $1",
			n, now, outcome, reason, data)
		return err
	})
}

// Post implements [journal.Writer].
func (j *Journal) Post(ctx context.Context, run string, c journal.Control) (int64, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	if err := texts("Control.Who", c.Who, "Control.Why", c.Why); err != nil {
		return 0, err
	}
	e, err := journal.NewEntry(journal.TypeControl, fmt.Sprintf("%s asked to %s: %s", c.Who, c.Op, c.Why), c)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = j.tx(ctx, "posting to run "+run, func(tx pgx.Tx) error {
		var n, last int64
		var finished *time.Time
		var now time.Time
		err := tx.QueryRow(ctx, "SELECT n, finished, last_seq, clock_timestamp() FROM safedeploy_journal_runs WHERE id = $1 FOR UPDATE", run).
			Scan(&n, &finished, &last, &now)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || err == nil && finished != nil:
			return refuse("%w: no running run %s", journal.ErrNotFound, run)
		case err != nil:
			return err
		}
		seq, err = insert(ctx, tx, n, last, now, []journal.Entry{e})
		return err
	})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// Runs implements [journal.Reader].
func (j *Journal) Runs(ctx context.Context, key string, limit int) ([]journal.Run, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := j.pool.Query(ctx, `SELECT id, key, service, environment, from_ver, to_ver, strategy, plan_hash, holder, token, started, finished, outcome, reason
		FROM safedeploy_journal_runs WHERE key = $1 ORDER BY n DESC LIMIT $2`, key, lim)
	if err != nil {
		return nil, j.fail("listing runs of "+key, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (journal.Run, error) {
		var r journal.Run
		var finished *time.Time
		err := row.Scan(&r.ID, &r.Key, &r.Service, &r.Environment, &r.From, &r.To, &r.Strategy, &r.PlanHash, &r.Holder, &r.Token, &r.Started, &finished, &r.Outcome, &r.Reason)
		if finished != nil {
			r.Finished = *finished
		}
		return r, err
	})
	if err != nil {
		return nil, j.fail("listing runs of "+key, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Entries implements [journal.Reader].
func (j *Journal) Entries(ctx context.Context, run string, after int64) ([]journal.Entry, error) {
	// One statement, so that the run's existence and its entries are read
	// at one moment.
	rows, err := j.pool.Query(ctx, `SELECT e.seq, e.time, e.type, e.message, e.data
		FROM safedeploy_journal_runs r LEFT JOIN safedeploy_journal_entries e ON e.run = r.n AND e.seq > $2
		WHERE r.id = $1 ORDER BY e.seq`, run, after)
	if err != nil {
		return nil, j.fail("reading entries of run "+run, err)
	}
	found := false
	var out []journal.Entry
	var seq *int64
	var at *time.Time
	var typ, msg *string
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&seq, &at, &typ, &msg, &data}, func() error {
		found = true
		if seq == nil {
			return nil // a run without entries after after
		}
		e := journal.Entry{Seq: *seq, Time: *at, Type: *typ, Message: *msg}
		if len(data) > 0 {
			e.Data = append([]byte(nil), data...)
		}
		if err := e.Validate(); err != nil {
			return corruptError{fmt.Errorf("%w: table %s.safedeploy_journal_entries: entry %d of run %s: %w", journal.ErrCorrupt, j.schema, e.Seq, run, err)}
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, j.fail("reading entries of run "+run, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: run %s", journal.ErrNotFound, run)
	}
	return out, nil
}

// Record implements [journal.Reader].
func (j *Journal) Record(ctx context.Context, run string) (runbook.Record, error) {
	var data []byte
	err := j.pool.QueryRow(ctx, "SELECT record FROM safedeploy_journal_runs WHERE id = $1", run).Scan(&data)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return runbook.Record{}, fmt.Errorf("%w: no run %s", journal.ErrNotFound, run)
	case err != nil:
		return runbook.Record{}, j.fail("reading the record of run "+run, err)
	case data == nil:
		return runbook.Record{}, fmt.Errorf("%w: run %s has not finished", journal.ErrNotFound, run)
	}
	rec, err := runbook.ParseRecord(data)
	if err != nil {
		return runbook.Record{}, fmt.Errorf("%w: table %s.safedeploy_journal_runs: the record of run %s: %w", journal.ErrCorrupt, j.schema, run, err)
	}
	return *rec, nil
}

// Holder implements [journal.Reader].
func (j *Journal) Holder(ctx context.Context, key string) (journal.Lease, error) {
	l := journal.Lease{Key: key}
	err := j.pool.QueryRow(ctx, "SELECT holder, token, expires FROM safedeploy_journal_leases WHERE key = $1 AND token > 0", key).
		Scan(&l.Holder, &l.Token, &l.Expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return journal.Lease{}, fmt.Errorf("%w: no lease for %s", journal.ErrNotFound, key)
	case err != nil:
		return journal.Lease{}, j.fail("reading the lease of "+key, err)
	}
	return l, nil
}
