package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
)

// The times a journal can store: Unix nanoseconds fit in an int64.
var (
	minTime = time.Unix(0, -1<<63).Add(time.Second)
	maxTime = time.Unix(0, 1<<63-1).Add(-time.Second)
)

// nanos returns t as stored, or an error naming field if it cannot be.
func nanos(field string, t time.Time) (int64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("journal/sqlite: %s = %s: outside the years 1678 to 2262, which the journal can store", field, t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

// fromNanos returns a stored time.
func fromNanos(n int64) time.Time { return time.Unix(0, n) }

// Acquire implements [journal.Leases].
func (j *Journal) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (journal.Lease, error) {
	if key == "" || holder == "" || ttl <= 0 {
		return journal.Lease{}, fmt.Errorf("journal/sqlite: Acquire(%q, %q, %s): key and holder must be named and ttl positive", key, holder, ttl)
	}
	var l journal.Lease
	err := j.tx(ctx, "acquiring "+key, func(tx *sql.Tx, now time.Time) error {
		cur, err := lease(ctx, tx, key)
		switch {
		case errors.Is(err, journal.ErrNotFound):
		case err != nil:
			return err
		case now.Before(cur.Expires):
			return held(ctx, tx, cur)
		}
		expires, err := nanos("expiry", now.Add(ttl))
		if err != nil {
			return err
		}
		l = journal.Lease{Key: key, Holder: holder, Token: cur.Token + 1, Expires: fromNanos(expires)}
		_, err = tx.ExecContext(ctx, `INSERT INTO leases (key, holder, token, expires) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires = excluded.expires`,
			key, holder, l.Token, expires)
		return err
	})
	if err != nil {
		return journal.Lease{}, err
	}
	return l, nil
}

// lease returns key's lease, or ErrNotFound.
func lease(ctx context.Context, q querier, key string) (journal.Lease, error) {
	l := journal.Lease{Key: key}
	var expires int64
	err := q.QueryRowContext(ctx, "SELECT holder, token, expires FROM leases WHERE key = ?", key).Scan(&l.Holder, &l.Token, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return journal.Lease{}, fmt.Errorf("%w: no lease for %s", journal.ErrNotFound, key)
	}
	l.Expires = fromNanos(expires)
	return l, err
}

// held describes who holds l, with the key's newest unfinished run.
func held(ctx context.Context, tx *sql.Tx, l journal.Lease) error {
	e := &journal.HeldError{Lease: l}
	var started int64
	err := tx.QueryRowContext(ctx, "SELECT id, started FROM runs WHERE key = ? AND finished IS NULL ORDER BY n DESC LIMIT 1", l.Key).Scan(&e.Run, &started)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		e.Started = fromNanos(started)
	}
	return e
}

// check returns ErrFenced unless l is its key's newest lease and has not
// expired at now. It runs in the transaction of the write it guards.
func check(ctx context.Context, tx *sql.Tx, l journal.Lease, now time.Time) error {
	cur, err := lease(ctx, tx, l.Key)
	switch {
	case errors.Is(err, journal.ErrNotFound):
		return fmt.Errorf("%w: %s token %d: the key was never leased", journal.ErrFenced, l.Key, l.Token)
	case err != nil:
		return err
	case cur.Token != l.Token:
		return fmt.Errorf("%w: %s token %d (newest %d, held by %s)", journal.ErrFenced, l.Key, l.Token, cur.Token, cur.Holder)
	case !now.Before(cur.Expires):
		return fmt.Errorf("%w: %s token %d expired at %s", journal.ErrFenced, l.Key, l.Token, cur.Expires.Format(time.RFC3339Nano))
	}
	return nil
}

// Renew implements [journal.Leases].
func (j *Journal) Renew(ctx context.Context, l journal.Lease, ttl time.Duration) (journal.Lease, error) {
	if ttl <= 0 {
		return journal.Lease{}, fmt.Errorf("journal/sqlite: Renew(%s token %d, %s): ttl must be positive", l.Key, l.Token, ttl)
	}
	err := j.tx(ctx, "renewing "+l.Key, func(tx *sql.Tx, now time.Time) error {
		if err := check(ctx, tx, l, now); err != nil {
			return err
		}
		expires, err := nanos("expiry", now.Add(ttl))
		if err != nil {
			return err
		}
		l.Expires = fromNanos(expires)
		_, err = tx.ExecContext(ctx, "UPDATE leases SET expires = ? WHERE key = ?", expires, l.Key)
		return err
	})
	if err != nil {
		return journal.Lease{}, err
	}
	return l, nil
}

// Release implements [journal.Leases]. It ends l now, unless it has
// ended already or was superseded.
func (j *Journal) Release(ctx context.Context, l journal.Lease) error {
	return j.tx(ctx, "releasing "+l.Key, func(tx *sql.Tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, "UPDATE leases SET expires = ? WHERE key = ? AND token = ? AND expires > ?", now.UnixNano(), l.Key, l.Token, now.UnixNano())
		return err
	})
}

// Begin implements [journal.Writer].
func (j *Journal) Begin(ctx context.Context, l journal.Lease, r journal.Run) error {
	switch {
	case r.ID == "":
		return errors.New("journal/sqlite: Begin: run ID is empty")
	case r.Key != l.Key:
		return fmt.Errorf("journal/sqlite: Begin: run %s has key %q, lease %q", r.ID, r.Key, l.Key)
	}
	started, err := nanos("Run.Started", r.Started)
	if err != nil && !r.Started.IsZero() {
		return err
	}
	return j.tx(ctx, "beginning run "+r.ID, func(tx *sql.Tx, now time.Time) error {
		if err := check(ctx, tx, l, now); err != nil {
			return err
		}
		var n int64
		switch err := tx.QueryRowContext(ctx, "SELECT n FROM runs WHERE id = ?", r.ID).Scan(&n); {
		case err == nil:
			return fmt.Errorf("journal/sqlite: Begin: run %s already exists", r.ID)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if r.Started.IsZero() {
			started = now.UnixNano()
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO runs (id, key, service, environment, from_ver, to_ver, strategy, plan_hash, holder, token, started)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Key, r.Service, r.Environment, r.From, r.To, r.Strategy, r.PlanHash, l.Holder, l.Token, started)
		return err
	})
}

// openRun returns the row number and last Seq of run id, which must be
// l's key's and unfinished.
func openRun(ctx context.Context, tx *sql.Tx, l journal.Lease, id string) (n, last int64, err error) {
	var key string
	var finished sql.NullInt64
	err = tx.QueryRowContext(ctx, "SELECT n, key, finished, last_seq FROM runs WHERE id = ?", id).Scan(&n, &key, &finished, &last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, 0, fmt.Errorf("%w: run %s", journal.ErrNotFound, id)
	case err != nil:
		return 0, 0, err
	case key != l.Key:
		return 0, 0, fmt.Errorf("journal/sqlite: run %s has key %q, lease %q", id, key, l.Key)
	case finished.Valid:
		return 0, 0, fmt.Errorf("journal/sqlite: run %s finished at %s", id, fromNanos(finished.Int64).Format(time.RFC3339))
	}
	return n, last, nil
}

// insert adds es to run n after Seq last, at now, and returns the new
// last Seq.
func insert(ctx context.Context, tx *sql.Tx, n, last int64, now time.Time, es []journal.Entry) (int64, error) {
	if len(es) == 0 {
		return last, nil
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO entries (run, seq, time, type, message, data) VALUES (?, ?, ?, ?, ?, ?)")
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	for _, e := range es {
		last++
		var data any
		if len(e.Data) > 0 {
			data = []byte(e.Data)
		}
		if _, err := stmt.ExecContext(ctx, n, last, now.UnixNano(), e.Type, e.Message, data); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE runs SET last_seq = ? WHERE n = ?", last, n); err != nil {
		return 0, err
	}
	return last, nil
}

// Append implements [journal.Writer].
func (j *Journal) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	for i, e := range es {
		if err := e.Validate(); err != nil {
			return 0, fmt.Errorf("journal/sqlite: Append to %s, entry %d: %w", run, i, err)
		}
	}
	var last int64
	err := j.tx(ctx, "appending to run "+run, func(tx *sql.Tx, now time.Time) error {
		if err := check(ctx, tx, l, now); err != nil {
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
		return fmt.Errorf("journal/sqlite: Finish %s: outcome is empty", run)
	}
	data, err := rec.JSON()
	if err != nil {
		return fmt.Errorf("journal/sqlite: Finish %s: %w", run, err)
	}
	return j.tx(ctx, "finishing run "+run, func(tx *sql.Tx, now time.Time) error {
		if err := check(ctx, tx, l, now); err != nil {
			return err
		}
		n, _, err := openRun(ctx, tx, l, run)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE runs SET finished = ?, outcome = ?, reason = ?, record = ? WHERE n = ?", now.UnixNano(), outcome, reason, data, n)
		return err
	})
}

// Post implements [journal.Writer].
func (j *Journal) Post(ctx context.Context, run string, c journal.Control) (int64, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	e, err := journal.NewEntry(journal.TypeControl, fmt.Sprintf("%s asked to %s: %s", c.Who, c.Op, c.Why), c)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = j.tx(ctx, "posting to run "+run, func(tx *sql.Tx, now time.Time) error {
		var n, last int64
		var finished sql.NullInt64
		err := tx.QueryRowContext(ctx, "SELECT n, finished, last_seq FROM runs WHERE id = ?", run).Scan(&n, &finished, &last)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && finished.Valid:
			return fmt.Errorf("%w: no running run %s", journal.ErrNotFound, run)
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
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := j.db.QueryContext(ctx, `SELECT id, key, service, environment, from_ver, to_ver, strategy, plan_hash, holder, token, started, finished, outcome, reason
		FROM runs WHERE key = ? ORDER BY n DESC LIMIT ?`, key, limit)
	if err != nil {
		return nil, j.fail("listing runs of "+key, err)
	}
	defer rows.Close()
	var out []journal.Run
	for rows.Next() {
		var r journal.Run
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Key, &r.Service, &r.Environment, &r.From, &r.To, &r.Strategy, &r.PlanHash, &r.Holder, &r.Token, &started, &finished, &r.Outcome, &r.Reason); err != nil {
			return nil, j.fail("listing runs of "+key, err)
		}
		r.Started = fromNanos(started)
		if finished.Valid {
			r.Finished = fromNanos(finished.Int64)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, j.fail("listing runs of "+key, err)
	}
	return out, nil
}

// Entries implements [journal.Reader].
func (j *Journal) Entries(ctx context.Context, run string, after int64) ([]journal.Entry, error) {
	// One statement, so that the run's existence and its entries are read
	// at one moment.
	rows, err := j.db.QueryContext(ctx, `SELECT e.seq, e.time, e.type, e.message, e.data
		FROM runs r LEFT JOIN entries e ON e.run = r.n AND e.seq > ?
		WHERE r.id = ? ORDER BY e.seq`, after, run)
	if err != nil {
		return nil, j.fail("reading entries of run "+run, err)
	}
	defer rows.Close()
	found := false
	var out []journal.Entry
	for rows.Next() {
		found = true
		var seq, at sql.NullInt64
		var typ, msg sql.NullString
		var data []byte
		if err := rows.Scan(&seq, &at, &typ, &msg, &data); err != nil {
			return nil, j.fail("reading entries of run "+run, err)
		}
		if !seq.Valid {
			continue // a run without entries after after
		}
		e := journal.Entry{Seq: seq.Int64, Time: fromNanos(at.Int64), Type: typ.String, Message: msg.String}
		if len(data) > 0 {
			e.Data = data
		}
		if err := e.Validate(); err != nil {
			return nil, j.corrupt(fmt.Sprintf("entry %d of run %s", e.Seq, run), err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
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
	err := j.db.QueryRowContext(ctx, "SELECT record FROM runs WHERE id = ?", run).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return runbook.Record{}, fmt.Errorf("%w: no run %s", journal.ErrNotFound, run)
	case err != nil:
		return runbook.Record{}, j.fail("reading the record of run "+run, err)
	case data == nil:
		return runbook.Record{}, fmt.Errorf("%w: run %s has not finished", journal.ErrNotFound, run)
	}
	rec, err := runbook.ParseRecord(data)
	if err != nil {
		return runbook.Record{}, j.corrupt("the record of run "+run, err)
	}
	return *rec, nil
}

// Holder implements [journal.Reader].
func (j *Journal) Holder(ctx context.Context, key string) (journal.Lease, error) {
	l, err := lease(ctx, j.db, key)
	if err != nil && !errors.Is(err, journal.ErrNotFound) {
		return journal.Lease{}, j.fail("reading the lease of "+key, err)
	}
	return l, err
}
