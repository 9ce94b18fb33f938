package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/pressly/goose/v3/lock"
)

// LockID is the key of the session-level advisory lock (pg_advisory_lock)
// a runner holds while it applies a migration, so that runners on one
// database — in one process or several — apply migrations one at a time.
// It is goose's own key (lock.DefaultLockID), so a goose Provider given
// goose's Postgres session locker takes turns with the runners too.
// Advisory locks belong to a database: runners on other databases of the
// same server do not wait for each other.
const LockID = lock.DefaultLockID

// advisory is the runner's goose.Locker: LockID, taken with
// pg_try_advisory_lock on a session of its own.
type advisory struct{ db *sql.DB }

func (a advisory) TryLock(ctx context.Context) (func(context.Context) error, error) {
	conn, err := a.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", LockID).Scan(&got); err != nil {
		// The lock may have been taken before the error: end the session.
		discard(conn)
		return nil, err
	}
	if !got {
		return nil, conn.Close()
	}
	return func(ctx context.Context) error {
		var released bool
		err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", LockID).Scan(&released)
		if err == nil && !released {
			err = errors.New("the session did not hold it")
		}
		if err != nil {
			// Ending the session releases its advisory locks.
			discard(conn)
			return fmt.Errorf("releasing the migration lock: %w; its session was closed instead, which releases it", err)
		}
		return conn.Close()
	}, nil
}

// discard closes conn's session rather than return it to the pool.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// holderQuery finds the session holding LockID in this database.
const holderQuery = `
SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'a unix socket'), a.backend_start
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
LIMIT 1`

// Holder says which session holds the lock: "backend 4242
// (safedeploy-migrate, from 10.0.0.7, connected 2025-03-01T12:00:00Z)
// holds the lock".
func (a advisory) Holder(ctx context.Context) (string, error) {
	var (
		pid         int
		app, from   string
		connectedAt time.Time
	)
	err := a.db.QueryRowContext(ctx, holderQuery, LockID).Scan(&pid, &app, &from, &connectedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if app == "" {
		app = "no application_name"
	}
	return fmt.Sprintf("backend %d (%s, from %s, connected %s) holds the lock", pid, app, from, connectedAt.UTC().Format(time.RFC3339)), nil
}
